"""Every script run for real, as a user would: training in --dry-run, predict / evaluate / benchmark."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from digitlab.models import artifacts
from digitlab.paths import ROOT

CARD_FIELDS = {
    "builder", "config", "seed", "data", "metrics", "params", "file_bytes", "train_seconds", "command",
    "versions", "preprocess_version", "date",
}


@pytest.mark.parametrize("script", ["training/train_baseline.py", "training/train_cnn.py", "training/train_advanced.py"])
def test_training_script_help_shows_defaults(run_script, script):
    out = run_script(script, "--help").stdout
    for flag in ("--epochs", "--batch-size", "--seed", "--out", "--dry-run"):
        assert flag in out
    assert "(default" in out


@pytest.mark.parametrize("script, name", [
    ("training/train_cnn.py", "mnist_cnn"),
    ("training/train_advanced.py", "mnist_advanced"),
])
@pytest.mark.slow
def test_keras_training_dry_run_writes_model_and_card(run_main, tmp_path, script, name):
    run_main(script, "--dry-run", "--out", tmp_path, "--epochs", "2", "--seed", "3")
    card = json.loads((tmp_path / f"{name}.json").read_text())
    assert set(card) >= CARD_FIELDS and card["dry_run"] and card["seed"] == 3
    assert card["config"]["epochs"] == 2 and card["data"]["fingerprint"].startswith("sha256:")
    assert 0 <= card["metrics"]["test_accuracy"] <= 1 and card["epochs_run"] == 2
    for suffix in (".keras", ".history.json", ".metrics.json", ".curves.png"):
        assert (tmp_path / f"{name}{suffix}").is_file()
    [entry] = artifacts.list_models(tmp_path)
    assert entry.usable, entry.reason


@pytest.mark.slow
def test_baseline_keras_copy_predicts_like_scikit_learn(run_main, tmp_path):
    out = run_main("training/train_baseline.py", "--dry-run", "--out", tmp_path).stdout
    card = json.loads((tmp_path / "mnist_baseline.json").read_text())
    assert card["metrics"]["sklearn_agreement"] == 1.0, out
    assert card["metrics"]["test_accuracy"] > 0.75  # even 1,024 training digits give a real classifier


def test_training_rejects_bad_flags(run_main, tmp_path):
    proc = run_main("training/train_cnn.py", "--epochs", "0", "--out", tmp_path, check=False)
    assert proc.returncode == 2 and "--epochs must be at least 1" in proc.stderr
    proc = run_main("training/train_cnn.py", "--dry-run", "--out", tmp_path, check=False, env={"DIGITLAB_MNIST": str(tmp_path / "none.npz")})
    assert proc.returncode != 0 and "DIGITLAB_MNIST" in proc.stderr + proc.stdout
    assert not list(tmp_path.glob("*.keras"))


def test_width_flag_sets_the_builders_width_where_it_has_one(capsys):
    from digitlab.models import builders
    from digitlab.training import cli as training_cli
    from digitlab.training import presets

    config, _ = training_cli.parse_args(presets.ADVANCED, None, ["--width", "96"])
    assert config.model_kwargs == {**presets.ADVANCED.model_kwargs, "width": 96} and presets.ADVANCED.model_kwargs["width"] == 64
    wide, default = (builders.build(c.builder, **c.model_kwargs).count_params() for c in (config, presets.ADVANCED))
    assert wide > 1.8 * default  # stages 96/192/288 against 64/128/192: about (3/2)^2 the weights
    assert training_cli.parse_args(presets.CNN, None, [])[0].model_kwargs == presets.CNN.model_kwargs
    with pytest.raises(SystemExit) as e:
        training_cli.parse_args(presets.CNN, None, ["--width", "0"])
    assert e.value.code == 2 and "--width must be at least 1" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:  # a builder without a width has no such flag
        training_cli.parse_args(presets.ROBUST, None, ["--width", "96"])
    assert e.value.code == 2 and "--width" in capsys.readouterr().err


@pytest.fixture(scope="module")
def png_folder(tmp_path_factory, mnist_test):
    """200 real MNIST test digits as PNG files (half dark-on-light, like scans), a broken file, a blank."""
    folder = tmp_path_factory.mktemp("pngs")
    x, y = mnist_test[0][:200], mnist_test[1][:200]
    for i, (img, label) in enumerate(zip(x, y)):
        Image.fromarray(255 - img if i % 2 else img).save(folder / f"{i:04d}_{label}.png")
    (folder / "0500_broken.png").write_bytes(b"\x89PNG\r\n\x1a\n this file was cut short")
    Image.new("L", (64, 64), 255).save(folder / "0501_blank.png")
    (folder / "notes.txt").write_text("not an image: skipped by the directory listing")
    return folder, y


@pytest.fixture(scope="module")
def committed(committed_models) -> dict[str, artifacts.ModelEntry]:
    """The committed models by name; a missing or unusable one fails the test (tests/conftest.py)."""
    return {e.name: e for e in committed_models}


def test_predict_cli_on_a_folder_with_a_broken_file(run_script, png_folder, committed):
    folder, y = png_folder
    model = committed["mnist_baseline"]
    proc = run_script("evaluation/predict.py", folder, "--model", model.name, "--format", "json", check=False)
    assert proc.returncode == 1  # one file was unreadable
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(lines) == 202 and [line["path"] for line in lines] == sorted(line["path"] for line in lines)
    broken = [line for line in lines if "error" in line]
    assert len(broken) == 1 and broken[0]["path"].endswith("0500_broken.png") and ("decode" in broken[0]["error"] or "not an image" in broken[0]["error"])
    blank = next(line for line in lines if line["path"].endswith("0501_blank.png"))
    assert blank["label"] is None
    preds = [line for line in lines if "error" not in line and line["label"] is not None]
    assert len(preds) == 200 and all(len(p["probabilities"]) == 10 for p in preds)
    acc = np.mean([p["label"] == int(p["path"].rsplit("_", 1)[1][0]) for p in preds])
    assert acc > 0.85, acc  # the baseline on real digits, half of them inverted scans


def test_predict_cli_text_and_errors(run_script, run_main, png_folder, tmp_path, committed):
    folder, _ = png_folder
    model = committed["mnist_baseline"]
    proc = run_script("evaluation/predict.py", folder / "0000_7.png", "--model", model.name)
    assert proc.stdout.split("\t")[1] == "7"
    proc = run_main("evaluation/predict.py", folder / "0000_7.png", "--model", "no_such_model", check=False)
    assert proc.returncode == 2 and "no model 'no_such_model'" in proc.stderr
    proc = run_main("evaluation/predict.py", tmp_path / "missing.png", "--model", model.name, "--format", "json", check=False)
    assert proc.returncode == 1 and "no such file" in json.loads(proc.stdout)["error"]


@pytest.mark.slow
def test_evaluate_writes_report(run_main, tmp_path, committed):
    model = committed["mnist_baseline"]
    proc = run_main("evaluation/evaluate.py", "--model", model.name, "--limit", "500", "--out", tmp_path)
    summary = json.loads(proc.stdout.splitlines()[-1])
    report = json.loads((tmp_path / model.name / "metrics.json").read_text())
    assert summary["accuracy"] == round(report["accuracy"], 4) and report["n"] == 500
    assert report["accuracy"] > 0.85 and len(report["per_class"]) >= 10 and report["most_confused"]
    for png in ("confusion.png", "misclassified.png", "per_class_f1.png"):
        assert (tmp_path / model.name / png).stat().st_size > 1000
    # the smoke mode every script has: the first 256 digits, its report in a temporary folder
    proc = run_main("evaluation/evaluate.py", "--model", model.name, "--dry-run")
    summary = json.loads(proc.stdout.splitlines()[-1])
    assert summary["n"] == 256 and not Path(summary["report"]).is_relative_to(ROOT)


@pytest.mark.slow
def test_benchmark_quick(run_main, tmp_path, committed):
    model = committed["mnist_cnn"]
    out = tmp_path / "bench.json"
    run_main("evaluation/benchmark.py", "--dry-run", "--model", model.name, "--out", out)
    r = json.loads(out.read_text())
    lat = r["latency"]
    assert lat["Classifier (tf.function)"]["p50_ms"] < lat["model.predict"]["p50_ms"]
    assert {race["name"] for race in r["race"]} == {"train_cnn.py recipe", "keras-io mnist_convnet"}
    for race in r["race"]:  # both clocks, side by side; boundaries only ever add to the wall clock
        assert 0 < race["first_step_seconds"] <= race["in_epoch_seconds"] <= race["wall_seconds"]
        assert race["wall_seconds"] == pytest.approx(race["in_epoch_seconds"] + race["boundary_seconds"])
    assert r["speedup"] is None or set(r["speedup"]) == {"epochs", "in_epoch", "wall"}
    costs = r["step_cost"]
    assert len(costs) == 3 and all(c["median_ms"] > 0 and c["s_per_epoch"] > 0 for c in costs.values())
    assert len({c["params"] for c in costs.values()}) == 2  # the two cnn orders have the same weights, the reference fewer


def test_mnist_pngs_compare_tells_same_answers_from_changed_ones(run_script, tmp_path):
    row = {"path": "a/00000_7.png", "label": 7, "confidence": 0.9, "probabilities": [0.01] * 9 + [0.91], "abstain": False, "reason": "r"}
    before, same, moved = tmp_path / "before.jsonl", tmp_path / "same.jsonl", tmp_path / "moved.jsonl"
    before.write_text(json.dumps(row) + "\n")
    same.write_text(json.dumps(dict(row, probabilities=[0.01] * 9 + [0.9100004])) + "\n")
    moved.write_text(json.dumps(dict(row, label=1)) + "\n")
    ok = run_script("evaluation/mnist_pngs.py", "compare", before, same)
    assert json.loads(ok.stdout)["same"] is True
    changed = run_script("evaluation/mnist_pngs.py", "compare", before, moved, check=False)
    assert changed.returncode == 1 and json.loads(changed.stdout)["label_differs"] == 1
    drift = run_script("evaluation/mnist_pngs.py", "compare", before, same, "--max-dp", "1e-9", check=False)
    assert drift.returncode == 1 and json.loads(drift.stdout)["max_abs_dp"] > 1e-9


@pytest.mark.parametrize("script, report", [("evaluation/photo_cases.py", "photo_cases.json"), ("evaluation/fuzz.py", "fuzz.json"),
                                            ("evaluation/benchmark.py", "benchmark.json"), ("evaluation/app_benchmark.py", "app_benchmark.json")])
def test_a_folder_given_for_a_report_file_is_refused_before_the_run(script, report, run_main, tmp_path):
    """--out names the report's file (cli.report_file): a folder is refused at once with the file it could be, and
    nothing is written (it used to be a traceback when the report was written, after minutes of measuring)."""
    proc = run_main(script, "--out", tmp_path, check=False)
    assert proc.returncode == 2 and "is a folder" in proc.stderr and str(tmp_path / report) in proc.stderr
    assert list(tmp_path.iterdir()) == []
