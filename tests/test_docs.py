"""The README and docs/ as a reference: figures generated from docs/results.json, links that resolve, no lab log.

Fast (no model, no TensorFlow): the files are read, never written; the generator runs on scratch copies.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from digitlab.paths import ROOT
from digitlab.report import extractors, prose, results, schema

DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [ROOT / "README.md", *DOCS]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.M | re.S)
# A work session or round with its number, a tracker issue's number, a decision note's id (a capital RULE or MEASURE
# and a number), a path into a session's scratch folder (runs/ and s or r and a number). "session" alone is a product
# word (Streamlit's, ONNX Runtime's), and an upstream project's issue link (keras-team/keras#20585) is a reference a
# reader can follow. Written in pieces so that this file's own source does not match it.
DIARY = re.compile(r"(?<![-\w])sessions? \d+|\brounds? \d+|\bissues? ?#?\d+|\b(?:RU" r"LE|MEA" r"SURE)\d+|\brule \d+|"
                   r"runs/[sr]" r"\d+", re.I)


def _prose(path: Path) -> str:
    """A Markdown page without its fenced code blocks (commands there are not links)."""
    return FENCE.sub("", path.read_text())


def _anchors(path: Path) -> set[str]:
    return {prose._slug(h.replace("`", "")) for h in re.findall(r"^#+ (.+)$", _prose(path), re.M)}


def test_readme_and_results_page_agree_with_the_results_file():
    stale = results.check()
    assert stale == [], f"{stale} disagree with docs/results.json: run python -m digitlab.report.results --write"


def test_readme_is_a_front_door_of_at_most_300_lines():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 300


def test_readme_quotes_no_figure_outside_the_generated_block():
    text = (ROOT / "README.md").read_text()
    outside = text[: text.index(prose.BEGIN)] + text[text.index(prose.END):]
    typed = re.findall(r"[^\s|]*\d+(?:\.\d+)?\s?%[^\s|]*", outside)
    assert typed == [], f"percentages typed into the README by hand (record them in docs/results.json): {typed}"


SOURCE_DIRS = ("digitlab", "training", "evaluation", "app", "web", "tests")


def _tracked_sources(everything: bool = False) -> list[Path]:
    """The files git tracks under SOURCE_DIRS (``everything``: anywhere in the repository; web/node_modules left out);
    without git, the files found there (bytecode caches left out too)."""
    if shutil.which("git") and (ROOT / ".git").exists():
        listed = subprocess.run(["git", "ls-files", "-z", *(() if everything else SOURCE_DIRS)], cwd=ROOT, capture_output=True,
                                check=True).stdout
        paths = [ROOT / name for name in listed.decode().split("\0") if name]
    else:
        paths = [p for d in (("",) if everything else SOURCE_DIRS) for p in (ROOT / d).rglob("*") if p.is_file()]
    return [p for p in paths if not {"node_modules", "__pycache__"} & set(p.relative_to(ROOT).parts) and p.is_file()]


def test_the_diary_pattern_finds_what_it_must_and_nothing_else():
    for text in ("as session" + " 41 found", "round" + "s 2-3", "RULE" + "43 kept", "see issue" + " #12", "runs/" + "s42/note.md",
                 "measure" + "44", "by rule" + " 43", "issue" + " 71"):
        assert DIARY.search(text), text
    for text in ("st.session_state", "an InferenceSession of the model", "a rounded 5", "#000000", "one session's pages",
                 "runs/rebuild/cnn_a.keras", "runs/cache", "rounding 3.5", "keras-team/keras#20585", "--sessions 10"):
        assert not DIARY.search(text), text


def test_nothing_under_runs_is_tracked():
    """runs/ is scratch (training state, caches, the tracker's records): git history keeps the past, the tree does not."""
    if shutil.which("git") and (ROOT / ".git").exists():
        listed = subprocess.run(["git", "ls-files", "-z", "runs"], cwd=ROOT, capture_output=True, check=True).stdout
        assert listed == b""


def test_no_tracked_file_speaks_of_sessions_rounds_issues_or_note_ids():
    """Docstrings, comments, docs, cards and tests say what a thing is or why it is there, not which work session,
    round, tracker issue or decision note it came from: those mean nothing to a reader of the repository."""
    sources = _tracked_sources(everything=True)
    assert any(p.name == "test_docs.py" for p in sources), "the source listing missed this file"
    hits = []
    for path in sources:
        if path.stat().st_size > 2_000_000:
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:  # a binary file (a PNG, an ONNX model)
            continue
        rel = path.relative_to(ROOT).as_posix()
        for n, line in enumerate(text.splitlines(), 1):
            if m := DIARY.search(line):
                hits.append(f"{rel}:{n}: {m[0]!r} in {line.strip()[:100]}")
    assert hits == [], "tracked files speak of the lab's history a reader cannot follow:\n" + "\n".join(hits[:40])


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_relative_links_and_their_anchors_resolve(page):
    broken = []
    for target in LINK.findall(_prose(page)):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        file, _, anchor = target.partition("#")
        dest = (page.parent / file).resolve() if file else page
        if not dest.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            broken.append(f"{target} (no such heading)")
    assert broken == [], f"{page.name}: broken links {broken}"


def test_every_figure_names_its_command_and_date_and_a_known_format():
    data = results.load(ROOT / "docs" / "results.json")
    assert data["figures"], "the results file holds no figure"
    for section, rows in data["figures"].items():
        assert section in schema.SECTIONS
        for row, keys in rows.items():
            for key, e in keys.items():
                where = f"{section}/{row}/{key}"
                assert e["command"].strip(), where
                assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", e["date"]), where
                assert e["fmt"] in schema.FORMATS, where
                assert isinstance(e["value"], (str, bool)) or math.isfinite(e["value"]), where


def test_a_model_figure_names_the_committed_file_it_was_measured_on():
    """A figure with a sha is the committed model's only while that file is unchanged; one measured on an earlier
    model says so instead of carrying today's sha."""
    from digitlab.files import sha256

    data = results.load(ROOT / "docs" / "results.json")
    current = {p.stem: sha256(p, 16) for p in (ROOT / "models").glob("*.keras")}
    for section, rows in data["figures"].items():
        for row, keys in rows.items():
            for key, e in keys.items():
                if e.get("model_sha") and e.get("model") in current:
                    assert e["model_sha"] == current[e["model"]], (
                        f"{section}/{row}/{key} was measured on another {e['model']}: measure it again")


def test_stale_names_the_commands_that_measured_an_earlier_model_file(tmp_path):
    """After a model in the folder is replaced, --stale's list is every command whose figures name its earlier file
    (retired ones too), and none whose figures name the file there now or another model."""
    from digitlab.files import sha256

    models = tmp_path / "models"
    models.mkdir()
    (models / "net.keras").write_bytes(b"the first file")
    first = sha256(models / "net.keras", 16)
    path = tmp_path / "results.json"
    data = {"schema": results.SCHEMA, "figures": {"numbers": {}, "handwriting": {}}}

    def entry(command, model, sha, note=None):
        return {"value": 0.5, "fmt": "pct1", "command": command, "date": "2026-11-25", "model": model, "model_sha": sha,
                **({"note": note} if note else {})}

    data["figures"]["numbers"]["net"] = {"a": entry("python evaluation/numbers.py", "net", first),
                                         "b": entry("python evaluation/numbers.py", "net", first)}
    data["figures"]["handwriting"]["net"] = {"a": entry("python evaluation/handwriting.py", "net", first)}
    data["figures"]["handwriting"]["other"] = {"a": entry("python evaluation/handwriting.py --model other", "other", "sha256:0")}
    path.write_text(json.dumps(data))
    assert results.stale(path, models) == {}, "every figure names the file there now"
    (models / "net.keras").write_bytes(b"a retrained file")
    found = results.stale(path, models)
    assert {c: dict(n) for c, n in found.items()} == {"python evaluation/numbers.py": {"numbers": 2},
                                                       "python evaluation/handwriting.py": {"handwriting": 1}}
    assert results.stale_lines(found)[0] == "python evaluation/numbers.py    # 2 figures: numbers"
    retired = json.loads(path.read_text())  # a figure --from-cards retired has lost its sha; its note still tells
    e = retired["figures"]["numbers"]["net"]["a"]
    e.pop("model_sha")
    e["note"] = f"{results.EARLIER} net ({first})"
    path.write_text(json.dumps(retired))
    assert dict(results.stale(path, models)["python evaluation/numbers.py"]) == {"numbers": 2}


def test_record_writes_one_figure_and_keeps_the_others(tmp_path):
    path = tmp_path / "results.json"
    results.record("numbers", "whole numbers right", 0.5, command="python evaluation/numbers.py --n 1", row="a",
                   fmt="pct1", path=path)
    results.record("numbers", "digits right", 0.75, command="python evaluation/numbers.py --n 1", row="a",
                   fmt="pct1", model="mnist_cnn", path=path)
    results.record("numbers", "whole numbers right", 0.625, command="python evaluation/numbers.py --n 1", row="a",
                   fmt="pct1", path=path)
    data = results.load(path)
    row = data["figures"]["numbers"]["a"]
    assert row["whole numbers right"]["value"] == 0.625, "the same command measures again: its figure replaces the last"
    assert row["digits right"]["value"] == 0.75
    # the committed model's file is hashed, so the figure says which mnist_cnn it was
    from digitlab.files import sha256
    assert row["digits right"]["model_sha"] == sha256(ROOT / "models" / "mnist_cnn.keras", 16)
    assert schema.shown_value(row["whole numbers right"]) == "62.5%"


def test_a_run_with_other_settings_keeps_the_documented_figure_unless_told(tmp_path, monkeypatch, capsys):
    """A quick run (--n 2) must not replace what the docs quote from the full run (--n 1000); it says so, and
    DIGITLAB_RECORD=replace (or replace=True) records it anyway."""
    path = tmp_path / "results.json"
    monkeypatch.delenv(results.RECORD_ENV, raising=False)
    assert results.record("numbers", "whole numbers right", 0.9, command="python evaluation/numbers.py --n 1000", row="a", path=path) == 1
    assert results.record("numbers", "whole numbers right", 0.5, command="python evaluation/numbers.py --n 2", row="a", path=path) == 0
    entry = results.load(path)["figures"]["numbers"]["a"]["whole numbers right"]
    assert (entry["value"], entry["command"]) == (0.9, "python evaluation/numbers.py --n 1000")
    err = capsys.readouterr().err
    assert "keeps 1 figure measured by `python evaluation/numbers.py --n 1000`" in err and "DIGITLAB_RECORD=replace" in err
    # a figure the file does not hold yet is written whatever the command
    assert results.record("numbers", "digits right", 0.7, command="python evaluation/numbers.py --n 2", row="a", path=path) == 1
    monkeypatch.setenv(results.RECORD_ENV, "replace")
    assert results.record("numbers", "whole numbers right", 0.5, command="python evaluation/numbers.py --n 2", row="a", path=path) == 1
    entry = results.load(path)["figures"]["numbers"]["a"]["whole numbers right"]
    assert (entry["value"], entry["command"]) == (0.5, "python evaluation/numbers.py --n 2")


@pytest.mark.parametrize("bad, message", [
    (dict(section="nowhere"), "unknown results section"),
    (dict(command=" "), "needs the command"),
    (dict(value=float("nan")), "finite number"),
    (dict(value=[1, 2]), "finite number"),
    (dict(fmt="percent"), "unknown format"),
    (dict(key=""), "non-empty key"),
])
def test_record_refuses_a_bad_figure_and_writes_nothing(tmp_path, bad, message):
    path = tmp_path / "results.json"
    good = schema.Figure("numbers", "digits right", 0.9, "python evaluation/numbers.py", row="a", fmt="pct1")
    broken = schema.Figure(**{**good.__dict__, **bad})
    with pytest.raises(schema.ResultsError, match=message):
        results.record_all([good, broken], path)
    assert not path.exists(), "one bad figure must write none"


def test_a_damaged_results_file_is_a_clear_error_and_stays_as_it_was(tmp_path):
    path = tmp_path / "results.json"
    path.write_text('{"schema": 1, "figures": ')
    with pytest.raises(schema.ResultsError, match="cannot read the results file"):
        results.record("numbers", "digits right", 0.9, command="python evaluation/numbers.py", path=path)
    assert path.read_text() == '{"schema": 1, "figures": '


def test_remeasure_runs_each_stale_command_as_a_project_script_and_refuses_any_other(tmp_path):
    """--remeasure's loop on a scratch project: every command --stale lists runs as its own process from the
    project's root, its output in its own log, the ones after a failure too; a command that is not
    `python <a script of the project>` is refused, not run."""
    from digitlab.files import sha256

    root, models = tmp_path / "project", tmp_path / "models"
    (root / "evaluation").mkdir(parents=True)
    models.mkdir()
    (root / "evaluation" / "probe.py").write_text("import os, sys\nprint('probe', sys.argv[1:], os.getcwd())\n")
    (root / "evaluation" / "broken.py").write_text("import sys\nprint('broken')\nsys.exit(3)\n")
    (models / "net.keras").write_bytes(b"the first file")
    first = sha256(models / "net.keras", 16)
    (models / "net.keras").write_bytes(b"a retrained file")
    victim = tmp_path / "victim.txt"
    victim.write_text("kept")
    commands = ["python evaluation/broken.py", "python evaluation/probe.py --n 5", f"rm {victim}", "python ../outside.py",
                "python evaluation/missing.py"]
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"schema": results.SCHEMA, "figures": {"s": {"net": {
        f"k{i}": {"value": 0.5, "fmt": "pct1", "command": c, "date": "2026-11-25", "model": "net", "model_sha": first}
        for i, c in enumerate(commands)}}}}))
    said = []
    ran = dict(results.remeasure(tmp_path / "logs", path, models, root, say=said.append))
    assert ran == {"python evaluation/broken.py": 3, "python evaluation/probe.py --n 5": 0, f"rm {victim}": -1,
                   "python ../outside.py": -1, "python evaluation/missing.py": -1}
    logs = sorted((tmp_path / "logs").iterdir())
    assert [p.read_text() for p in logs] == ["broken\n", f"probe ['--n', '5'] {root}\n"]
    assert victim.read_text() == "kept" and sum("refused" in line for line in said) == 3
    with pytest.raises(results.RemeasureError, match="not `python <a script"):
        results.measuring_argv("bash -c 'echo hi'", root)


def test_the_browser_tests_that_refresh_the_docs_are_measuring_commands_with_their_setting():
    """The web page's figures are measured by its browser test under DIGITLAB_REFRESH_DOCS=1: --remeasure runs it
    with that setting and this interpreter; another setting, a value other than 1, or pytest outside tests/ is refused."""
    argv, env = results.measuring_argv(extractors.WEB_PAGE_COMMAND)
    assert argv == [sys.executable, "-m", "pytest", "-q", "tests/browser/test_web_page.py"] and env == {"DIGITLAB_REFRESH_DOCS": "1"}
    assert results.measuring_argv("python evaluation/handwriting.py --n 5") == ([sys.executable, "evaluation/handwriting.py", "--n", "5"], {})
    for refused in ("DIGITLAB_REFRESH_DOCS=0 python -m pytest -q tests/browser", "PATH=/tmp python evaluation/handwriting.py",
                    "python -m pytest -q evaluation/handwriting.py", "python -m pytest -q tests/../evaluation", "python -m http.server",
                    "python -m pytest -q tests/no_such_test.py"):
        with pytest.raises(results.RemeasureError):
            results.measuring_argv(refused)


def test_a_new_figure_makes_the_pages_stale_until_they_are_written_again(tmp_path):
    """The real README and results file on a scratch copy: change one figure the README quotes, and the check
    names both pages; --write brings them back in line and the new value is what they show."""
    (tmp_path / "docs").mkdir()
    shutil.copy(ROOT / "README.md", tmp_path / "README.md")
    shutil.copy(ROOT / "docs" / "results.json", tmp_path / "docs" / "results.json")
    shutil.copy(ROOT / "docs" / "results.md", tmp_path / "docs" / "results.md")
    assert results.check(tmp_path) == []
    data = json.loads((tmp_path / "docs" / "results.json").read_text())
    entry = data["figures"]["latency"]["Classifier (tf.function)"]["p50 ms"]
    results.record("latency", "p50 ms", entry["value"] + 1.0, command=entry["command"],
                   row="Classifier (tf.function)", fmt=entry["fmt"], path=tmp_path / "docs" / "results.json")
    assert len(results.check(tmp_path)) == 2
    results.write(tmp_path)
    assert results.check(tmp_path) == []
    shown = schema.FORMATS[entry["fmt"]](entry["value"] + 1.0)
    assert shown in (tmp_path / "README.md").read_text()
    assert shown in (tmp_path / "docs" / "results.md").read_text()
    assert (ROOT / "README.md").read_text() != (tmp_path / "README.md").read_text()


def test_the_readme_refuses_to_quote_a_figure_the_file_lacks(tmp_path):
    data = results.load(ROOT / "docs" / "results.json")
    del data["figures"]["photo_cases"]
    with pytest.raises(schema.ResultsError, match="photo_cases/phone/accuracy"):
        prose.render_readme_block(data)


def test_a_measuring_command_records_its_figures_with_its_command_and_model(run_script, tmp_path):
    """photo_cases.py, as a user runs it, writes its figures into the results file $DIGITLAB_RESULTS names."""
    from digitlab.files import sha256

    scratch = tmp_path / "results.json"
    run_script("evaluation/photo_cases.py", "--n", "2", "--cases", "plain", "--model", "mnist_cnn",
               "--out", tmp_path / "photo_cases.json", env={"DIGITLAB_RESULTS": str(scratch)})
    entry = results.load(scratch)["figures"]["photo_cases"]["plain"]["accuracy"]
    report = json.loads((tmp_path / "photo_cases.json").read_text())
    assert entry["value"] == report["cases"]["plain"]["accuracy"]
    assert entry["command"].startswith("python evaluation/photo_cases.py --n 2 --cases plain")
    assert entry["model"] == "mnist_cnn"
    assert entry["model_sha"] == sha256(ROOT / "models" / "mnist_cnn.keras", 16)


def test_the_fuzzing_section_documents_every_option_of_the_fuzzer():
    """Each flag evaluation/fuzz.py takes is explained in docs/evaluation.md's Fuzzing section (--model-files was not)."""
    flags = re.findall(r'add_argument\(\s*"(--[a-z-]+)"', (ROOT / "evaluation" / "fuzz.py").read_text())
    section = (ROOT / "docs" / "evaluation.md").read_text().split("## Fuzzing", 1)[1].split("\n## ", 1)[0]
    assert "--model-files" in flags
    assert [f for f in flags if f not in section] == []
