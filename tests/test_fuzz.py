"""The fuzz suite (evaluation/fuzz.py, digitlab/hardening/fuzz.py): CI's seeded slice of 600 hostile
pictures, run for real, must show 0 crashes, 0 hangs, 0 wrong refusals and 0 lines that are not JSON; one
cycle of every kind of hostile file beside a model (digitlab/hardening/hostile_files.py: serving files and
records, cards, side files) must show no crash, hang, wrong acceptance or wrong refusal either; and the
harness itself counts what it is there to count.

    python -m pytest -q tests/test_fuzz.py
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from digitlab.hardening import fuzz, hostile_pictures, tally

SEED = 2024  # CI's slice; the full run in docs/evaluation.md#fuzzing uses seed 0


@pytest.mark.slow
def test_ci_slice_of_600_hostile_pictures(run_script, tmp_path):
    out = tmp_path / "fuzz.json"
    proc = run_script("evaluation/fuzz.py", "--n", "600", "--seed", SEED, "--out", out,
                      timeout=900, check=False)
    assert out.is_file(), proc.stderr[-3000:]
    report = json.loads(out.read_text())
    p = report["pictures"]
    found = {k: p[k] for k in ("crashes", "hangs", "wrong_refusals", "wrong_acceptances", "non_json_lines", "harness_errors")}
    assert found == dict.fromkeys(found, 0), json.dumps(p["problems"][:10], indent=1)
    assert report["ok"] and proc.returncode == 0 and json.loads(proc.stdout.splitlines()[-1])["ok"]
    assert p["files"] == 600 and set(p["kinds"]) == set(hostile_pictures.KINDS)  # every kind was made and run
    assert p["read"] > 180 and p["refused"] > 120  # both outcomes really happen (30% and 20% of the pictures)
    assert p["valid"]["right_label"] > 0.9  # valid pictures are real digits, read as such
    assert p["largest_rise_mb"] < 200, p["top_peaks"]  # decode budget 80 MB (digitlab.pictures); a generous bound
    cli, text = p["cli_json_run"], p["cli_text_run"]
    assert cli["lines"] == cli["entries"] >= 600 and cli["in_order"] and cli["exit_code"] == 1 and not cli["hung"], cli
    assert text["lines"] == text["files"] > 0 and text["lines_with_control_bytes"] == 0 and text["valid_utf8"], text


def test_the_same_seed_makes_the_same_files(tmp_path, mnist_test):
    """A problem found in a run can be remade from (seed, index) alone (--only)."""
    digits, labels = mnist_test[0][:1000], mnist_test[1][:1000]
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    for i in range(len(hostile_pictures.SCHEDULE)):  # one full cycle: every kind at least once
        ca, cb = hostile_pictures.generate(7, i, a, digits, labels), hostile_pictures.generate(7, i, b, digits, labels)
        assert (ca.kind, ca.expect, ca.path.name, ca.what) == (cb.kind, cb.expect, cb.path.name, cb.what)
        if ca.path.is_file() and not ca.path.is_symlink() and ca.path.stat().st_mode & 0o444:
            assert ca.path.read_bytes() == cb.path.read_bytes(), ca


def test_check_line_refuses_what_breaks_the_cli_contract():
    path = Path("/tmp/x.png")
    good = {"path": str(path), "label": 7, "confidence": 0.9, "probabilities": [0.01] * 10, "abstain": False, "reason": "r"}
    assert tally.check_line(json.dumps(good), path) is None
    assert tally.check_line(json.dumps({"path": str(path), "error": "cannot decode image"}), path) is None
    assert "not JSON" in tally.check_line(json.dumps({**good, "confidence": float("nan")}), path)
    assert "one line" in tally.check_line(json.dumps(good) + "\n" + json.dumps(good), path)
    assert "no ['probabilities']" in tally.check_line(json.dumps({k: v for k, v in good.items() if k != "probabilities"}), path)
    assert "path" in tally.check_line(json.dumps({**good, "path": "/tmp/y.png"}), path)
    assert "not JSON" in tally.check_line("Traceback (most recent call last):", path)


def _answer(outcome: str, label=7, app: str = "ok", problem=None) -> dict:
    return {"seconds": 0.01, "peak_mb": 100.0, "rise_mb": 5.0, "text_problem": None,
            "cli": {"outcome": outcome, "problem": problem, "error": None if outcome == "ok" else "refused", "label": label},
            "app": {"outcome": app, "error": "boom"}}


def test_the_tally_counts_crashes_hangs_and_wrong_answers():
    t = tally.Tally()
    valid = hostile_pictures.Case(0, Path("v.png"), "valid_png", "valid", 7)
    refuse = hostile_pictures.Case(1, Path("r.png"), "refuse_garbage", "refuse")
    any_ = hostile_pictures.Case(2, Path("a.png"), "any_byte_flips", "any")
    tally.count_picture(valid, _answer("ok"), t, 0)
    tally.count_picture(valid, _answer("error", app="error"), t, 0)
    tally.count_picture(refuse, _answer("ok"), t, 0)
    tally.count_picture(any_, None, t, 0)
    tally.count_picture(any_, _answer("ok", app="internal"), t, 0)
    tally.count_picture(any_, {"died": -11}, t, 0)
    tally.count_picture(any_, _answer("ok", problem="not JSON"), t, 0)
    tally.count_picture(any_, {"crash": "TypeError: from predict_lines"}, t, 0)
    tally.count_picture(any_, {"harness": "struct.error: from the generator"}, t, 0)
    assert (t.items, t.wrong_refusals, t.wrong_acceptances, t.hangs, t.crashes, t.non_json_lines) == (9, 1, 1, 1, 3, 1)
    assert t.harness_errors == 1  # the suite's own bug is not counted as a crash of the code under test
    assert all("reproduce" in p and "--only" in p["reproduce"] for p in t.problems)


@pytest.mark.slow
def test_models_flag(run_script, tmp_path):
    """--models N fuzzes N hostile model files (digitlab.hardening.hostile_models) besides the pictures."""
    out = tmp_path / "fuzz.json"
    args = ("evaluation/fuzz.py", "--n", "1", "--no-cli-run", "--workers", "1", "--models", "6", "--out", out)
    proc = run_script(*args, timeout=900, check=False)
    assert proc.returncode in (0, 1) and out.exists(), proc.stderr[-3000:]  # 1: something found, reported below
    m = json.loads(out.read_text())["models"]
    assert m["files"] == 6 and m["crashes"] == 0 and m["hangs"] == 0, json.dumps(m["problems"][:5], indent=1)
    assert isinstance(m["list_models"], dict) and m["list_models"]["entries"] >= 1


def _clean(report: dict) -> dict:
    return {k: report[k] for k in ("crashes", "hangs", "wrong_refusals", "wrong_acceptances", "non_json_lines", "harness_errors")}


def test_one_cycle_of_every_hostile_file_beside_a_model(tmp_path):
    """Every kind of damaged serving file and record, card and side file once (seed 2024), run by the harness's
    worker processes through the listing, the load, the predict command's lines and the Models page's panels."""
    report = fuzz.fuzz_files(SEED, len(tally.FILE_KINDS), tmp_path / "files", timeout=60, workers=2, log=lambda m: None)
    assert _clean(report) == dict.fromkeys(_clean(report), 0), json.dumps(report["problems"][:5], indent=1)
    assert report["items"] == len(tally.FILE_KINDS) and set(report["kinds"]) == set(tally.FILE_KINDS)
    assert report["read"] >= 10 and report["refused"] >= 20  # both outcomes really happen
    assert tally.passed({"pictures": _NO_PICTURES, "model_files": report})


_NO_PICTURES = {"crashes": 0, "hangs": 0, "wrong_refusals": 0, "non_json_lines": 0, "harness_errors": 0}


def test_judging_a_file_case_counts_what_was_served_against_what_was_expected():
    t = tally.Tally()
    served = {"seconds": 0.1, "peak_mb": 90.0, "load": "served", "labels": [7, 2], "expected_labels": [7, 2], "outcomes": ["ok"],
              "reasons": ["calibrated confidence 99%"], "warnings": [], "problems": []}
    refused = {"seconds": 0.1, "peak_mb": 90.0, "load": "refused", "reason": "its serving file x.onnx is refused: ..."}
    cases = [
        ({**served, "kind": "good", "target": "classifier", "expect": "usable"}, None),
        ({**refused, "kind": "good", "target": "classifier", "expect": "usable"}, "wrong refusal"),
        ({**refused, "kind": "nan_output", "target": "classifier", "expect": "refuse"}, None),
        ({**served, "kind": "nan_output", "target": "classifier", "expect": "refuse"}, "wrong acceptance"),
        ({**served, "kind": "gate_nan", "target": "gate", "expect": "degrade"}, "wrong acceptance"),  # the gate was used
        ({**served, "kind": "gate_nan", "target": "gate", "expect": "degrade",
          "reasons": ["confidence 99% (...; digit gate unavailable)"] * 2, "warnings": ["digit gate unavailable for ..."]}, None),
        ({**served, "kind": "card_claims_best", "target": "card", "expect": "not_default", "default": "model"}, "wrong acceptance"),
        ({**served, "kind": "confusion_bad", "target": "side", "expect": "refuse", "panel": "shown"}, "wrong acceptance"),
        ({**served, "kind": "confusion_bad", "target": "side", "expect": "refuse", "panel": "refused", "panel_reason": "x"}, None),
        ({**served, "kind": "good", "target": "classifier", "expect": "usable", "outcomes": ["internal", "ok"]}, "crash"),
        ({"crash": "AttributeError: 'list' object has no attribute 'get'"}, "crash"),
        (None, "hang"),
    ]
    for i, (answer, problem) in enumerate(cases):
        before = len(t.problems)
        tally.count_file(answer, {"i": i}, t, SEED)
        found = t.problems[before]["what"] if len(t.problems) > before else None
        assert found == problem, (i, answer, t.problems[before:])
    assert (t.items, t.wrong_refusals, t.wrong_acceptances, t.crashes, t.hangs) == (12, 1, 4, 2, 1)


@pytest.mark.slow
def test_model_files_flag(run_script, tmp_path):
    """--model-files N runs N cases beside the pictures and counts them into the verdict and the headline."""
    out = tmp_path / "fuzz.json"
    proc = run_script("evaluation/fuzz.py", "--n", "1", "--no-cli-run", "--workers", "2", "--model-files", str(2 * len(tally.FILE_KINDS)),
                      "--out", out, "--seed", "7", timeout=900, check=False)
    assert out.is_file() and proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    f = report["model_files"]
    assert f["files"] == 2 * len(tally.FILE_KINDS) and _clean(f) == dict.fromkeys(_clean(f), 0), json.dumps(f["problems"][:5], indent=1)
    headline = json.loads(proc.stdout.splitlines()[-1])
    assert headline["ok"] and headline["model_files"]["crashes"] == 0 and headline["files"] == 1
