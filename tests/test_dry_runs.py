"""The --dry-run of the scripts that had no smoke test, run for real as a user would (a subprocess),
with assertions on what each wrote, and on what it must not touch: a dry run without --out writes
into a new temporary folder, never over the committed web/model/ or evaluation/reports/.

Under test, each takes seconds to a minute (TensorFlow's start-up included)."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest

from digitlab.paths import REPORTS_DIR, ROOT

WEB_MODEL = ROOT / "web" / "model"


@pytest.fixture(autouse=True)
def _committed(committed_models):
    """Every test here runs committed models: a missing one fails (the fixture says which)."""


def snapshot(*paths: Path) -> dict[str, str]:
    """sha256 of every file under ``paths`` (files or folders), to prove a dry run left them alone."""
    files = [f for p in paths for f in ([p] if p.is_file() else sorted(p.rglob("*")) if p.is_dir() else []) if f.is_file()]
    return {str(f): hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


def written_to(stdout: str, pattern: str) -> Path:
    """The file a script says it wrote (``pattern`` has one group: the path); it must lie outside the repository."""
    match = re.search(pattern, stdout, re.MULTILINE)
    assert match, f"no {pattern!r} in the output:\n{stdout[-2000:]}"
    path = Path(match.group(1))
    assert path.is_file(), path
    assert not path.resolve().is_relative_to(ROOT), f"a dry run without --out wrote into the repository: {path}"
    return path


@pytest.mark.slow
def test_drawn_digits_dry_run(run_main, tmp_path, mnist_path):
    proc = run_main("evaluation/drawn_digits.py", "--dry-run", "--model", "mnist_cnn", "--model", "mnist_baseline",
                      "--mnist", mnist_path, "--out", tmp_path)
    report = json.loads((tmp_path / "drawn_digits.json").read_text())
    assert report["dry_run"] and report["n"] == 20
    assert set(report["results"]) == {"mnist_cnn", "mnist_baseline"}
    for table in report["results"].values():
        assert list(table) == [f"drawn, brush {w:.2f}" for w in (0.04, 0.07, 0.11, 0.2, 0.3)] + ["photo", "MNIST as is"]
        assert all(set(accs) == {"naive", "recipe", "recipe + stroke"} and all(0 <= v <= 1 for v in accs.values()) for accs in table.values())
    cnn = report["results"]["mnist_cnn"]
    assert cnn["MNIST as is"]["recipe"] >= 0.95, cnn  # a real model on the first 20 test digits
    # What the script exists to show, already visible on 20 digits: squashing a small, off-centre
    # photo to 28x28 loses it (0% measured), the MNIST recipe reads it (100% measured).
    assert cnn["photo"]["recipe"] >= cnn["photo"]["naive"] + 0.5, cnn["photo"]
    assert "| set | naive | recipe | recipe + stroke |" in proc.stdout and f"written {tmp_path / 'drawn_digits.json'}" in proc.stdout


def test_drawn_digits_bad_flags_are_usage_errors(run_main, tmp_path):
    proc = run_main("evaluation/drawn_digits.py", "--n", "0", "--out", tmp_path, check=False)
    assert proc.returncode == 2 and "--n must be at least 1" in proc.stderr
    proc = run_main("evaluation/drawn_digits.py", "--dry-run", "--model", "no_such_model", "--out", tmp_path, check=False)
    assert proc.returncode == 2 and "no_such_model" in proc.stderr
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
def test_finetune_study_dry_run_writes_a_temporary_report(run_main, mnist_path):
    committed = REPORTS_DIR / "finetune_study.json"
    before = snapshot(committed)
    proc = run_main("evaluation/finetune_study.py", "--dry-run", "--base", "mnist_robust", "--replay", "1", "--mnist", mnist_path)
    out = written_to(proc.stdout, r"^wrote (.+finetune_study\.json)$")
    try:
        report = json.loads(out.read_text())
    finally:
        shutil.rmtree(out.parent)
    assert snapshot(committed) == before, "the dry run touched evaluation/reports/finetune_study.json"
    assert report["dry_run"] and report["base"] == "mnist_robust" and "--dry-run" in report["command"]
    [row] = report["rows"]  # the first --per-class, --replay and --seeds only
    assert (row["per_class"], row["replay"], row["seed"]) == (2, 1.0, 0)
    assert row["pictures"] == 20 and row["train"] + row["holdout"] == 20 and row["fresh_n"] == 20
    assert row["config"]["dry_run"] and row["config"]["mnist_path"] == str(mnist_path)
    assert row["mnist_n"] == 256  # digitlab.training.finetune.DRY_RUN
    for key in ("holdout_before", "holdout_after", "fresh_before", "fresh_after", "mnist_after"):
        assert 0 <= row[key] <= 1, (key, row)
    assert row["mnist_before"] >= 0.95, row  # the committed mnist_robust on 256 real MNIST test digits
    assert len(report["table"]) == 3 and report["table"][2].startswith("| 20 (")
    # what a full run records in docs/results.json (a dry run records nothing): six figures per row, on the base's file
    from digitlab.report import extractors

    figures = extractors.from_finetune_study(report, ROOT / "models" / "mnist_robust.keras")
    assert {(f.row, f.key): f.value for f in figures} == {("20 user digits, replay 1", f"{k} {w}"): row[f"{field}_{w}"]
                                                          for k, field in (("held-out", "holdout"), ("new drawings", "fresh"), ("MNIST test", "mnist"))
                                                          for w in ("before", "after")}
    assert {f.model_sha for f in figures} == {extractors.model_sha("mnist_robust")} and all(f.model == "mnist_robust" for f in figures)


@pytest.mark.slow
def test_web_build_dry_run_never_touches_the_page_model(run_script, mnist_path):
    before = snapshot(WEB_MODEL)
    assert before, f"{WEB_MODEL} holds the committed page model"
    proc = run_script("web/build.py", "--dry-run", "--mnist", mnist_path)
    onnx = written_to(proc.stdout, r"^(.+mnist_cnn\.onnx): ")
    try:
        out = onnx.parent
        from digitlab.serving import export

        # both runtimes' files where the TF.js converter is set up (python evaluation/export.py --setup-tfjs), else ONNX's
        tfjs = ["mnist_cnn_tfjs", "not_a_digit_tfjs"] if export.tfjs_converter() is not None else []
        assert sorted(p.name for p in out.iterdir()) == sorted(["gate.json", "index.json", "mnist_cnn.json", "mnist_cnn.onnx", "not_a_digit.onnx", *tfjs])
        assert ("TF.js files not built" in proc.stderr) == (not tfjs)
        from digitlab.serving import web_manifest

        info = web_manifest.read(out / "mnist_cnn.json", "model")  # the schema the page reads, nothing else
        web_manifest.read(out / "gate.json", "gate")
        index = web_manifest.read(out / "index.json", "index")
        onnx_sha = "sha256:" + hashlib.sha256(onnx.read_bytes()).hexdigest()
    finally:
        shutil.rmtree(onnx.parent)
    assert snapshot(WEB_MODEL) == before, "web/build.py --dry-run changed web/model/"
    assert index == {"default": "mnist_cnn", "models": ["mnist_cnn"]}
    assert info["parity_digits"] == 50 and info["parity_max_abs_dp"] <= 1e-5
    assert info["onnx_sha256"] == onnx_sha
    assert info["keras_sha256"] == "sha256:" + hashlib.sha256((ROOT / "models" / "mnist_cnn.keras").read_bytes()).hexdigest()


def test_web_build_errors_are_usage_errors_and_write_nothing(run_main, tmp_path):
    out = tmp_path / "page"
    proc = run_main("web/build.py", "--dry-run", "--model", "no_such_model", "--out", out, check=False)
    assert proc.returncode == 2 and "no_such_model" in proc.stderr
    proc = run_main("web/build.py", "--dry-run", "--out", out, check=False, env={"DIGITLAB_MNIST": str(tmp_path / "none.npz")})
    assert proc.returncode == 2 and "MNIST is needed for the parity check" in proc.stderr
    assert not out.exists()


@pytest.mark.slow
def test_finetune_memory_measures_a_fine_tune_in_its_own_process(run_script, run_main, mnist_path, tmp_path):
    """The fine-tune as the Collect page starts it, its peak memory read by /usr/bin/time; a dry run records nothing."""
    recorded = tmp_path / "results.json"
    proc = run_script("evaluation/finetune_memory.py", "--dry-run", "--base", "mnist_robust", "--per-class", "2", "--mnist", mnist_path,
                      timeout=600, env={"DIGITLAB_RESULTS": str(recorded)})
    m = re.search(r"^fine-tuning mnist_robust on 20 pictures: peak RSS (\d+) MiB, ([\d.]+) s$", proc.stdout, re.MULTILINE)
    assert m, proc.stdout
    assert 150 <= int(m.group(1)) <= 8000  # TensorFlow alone holds ~680 MB; far below the machine's 24 GiB
    assert not recorded.exists() and "recorded" not in proc.stdout
    bad = run_main("evaluation/finetune_memory.py", "--dry-run", "--base", "no_such_model", check=False)
    assert bad.returncode == 2 and "no_such_model" in bad.stderr
    short = run_main("evaluation/finetune_memory.py", "--per-class", "1", check=False)
    assert short.returncode == 2 and "--per-class must be at least 2" in short.stderr
