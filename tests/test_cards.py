"""Model cards: every key of every committed card is one the code writes; commands are full; promote records provenance."""

from __future__ import annotations

import json
import subprocess

import pytest

from digitlab.models import artifacts, cards
from digitlab.paths import ROOT


def committed_cards() -> list:
    """The cards tracked by git (not whatever a user added to models/)."""
    tracked = subprocess.run(["git", "ls-files", "models"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    return [ROOT / f for f in tracked if f.endswith(".json") and not f.endswith((".history.json", ".metrics.json"))
            and not f.startswith("models/serving/")]  # conversion records (tests/test_serving.py checks them)


def test_every_committed_card_holds_only_keys_the_code_writes():
    found = committed_cards()
    assert {p.stem for p in found} >= {"mnist_baseline", "mnist_cnn", "mnist_advanced", "mnist_robust", "not_a_digit"}
    for path in found:
        card = json.loads(path.read_text())
        cards.check(card)
        assert card["command"].startswith("python "), path


def test_a_hand_written_key_is_refused_before_anything_is_written(tmp_path, committed_models):
    with pytest.raises(cards.CardError, match="notes"):
        cards.check({"name": "x", "notes": "typed in by hand"})
    with pytest.raises(cards.CardError, match="stronger_attacks"):
        cards.check({"name": "x", "adversarial": {"n": 10, "pgd40_eps0.3": 0.8, "stronger_attacks": {}}})
    cards.check({"name": "x", "adversarial": {"n": 10, "fgsm_eps0.1": 0.9, "pgd100_margin_eps0.3": 0.7, "command": "python ..."}})
    model = committed_models[0].model
    with pytest.raises(cards.CardError):
        artifacts.save_model(model, {"name": "probe", "notes": "by hand"}, "probe", tmp_path)
    assert not list(tmp_path.iterdir())


def test_command_line_is_the_full_command_from_the_repository_root():
    line = cards.command_line(["--model", "mnist_cnn", "--out", "my reports"], str(ROOT / "evaluation" / "calibrate.py"))
    assert line == "python evaluation/calibrate.py --model mnist_cnn --out 'my reports'"


def test_promote_copies_model_card_and_side_files_and_records_where_from(run_script, tmp_path, committed_models):
    cnn = next(e for e in committed_models if e.name == "mnist_cnn")
    elsewhere = tmp_path / "runs" / "candidates"
    elsewhere.mkdir(parents=True)
    for suffix in (".keras", ".json", ".metrics.json", ".history.json", ".curves.png"):
        (elsewhere / f"mnist_cnn{suffix}").write_bytes((ROOT / "models" / f"mnist_cnn{suffix}").read_bytes())
    out = tmp_path / "models"
    run_script("training/promote.py", elsewhere / "mnist_cnn.keras", "--name", "cnn_copy", "--out", out)
    card = json.loads((out / "cnn_copy.json").read_text())
    assert card["name"] == "cnn_copy" and card["command"] == cnn.card["command"]
    assert card["promoted"]["from"] == str((elsewhere / "mnist_cnn.keras").resolve())
    assert card["promoted"]["command"].startswith("python training/promote.py ")
    assert (out / "cnn_copy.keras").read_bytes() == (elsewhere / "mnist_cnn.keras").read_bytes()  # copied, not re-saved
    assert (out / "cnn_copy.metrics.json").read_bytes() == (elsewhere / "mnist_cnn.metrics.json").read_bytes()
    [entry] = artifacts.list_models(out)
    assert entry.usable and entry.name == "cnn_copy"
    again = run_script("training/promote.py", elsewhere / "mnist_cnn.keras", "--name", "cnn_copy", "--out", out, check=False)
    assert again.returncode == 2 and "already exists" in again.stderr


def test_promote_the_digit_gate_checks_it_as_a_gate(run_script, tmp_path):
    elsewhere = tmp_path / "gate_run"
    elsewhere.mkdir()
    for suffix in (".keras", ".json"):
        (elsewhere / f"not_a_digit{suffix}").write_bytes((ROOT / "models" / "gate" / f"not_a_digit{suffix}").read_bytes())
    out = tmp_path / "gate"
    run_script("training/promote.py", elsewhere / "not_a_digit.keras", "--gate", "--out", out)
    card = json.loads((out / "not_a_digit.json").read_text())
    assert card["threshold"] == json.loads((elsewhere / "not_a_digit.json").read_text())["threshold"]
    assert card["promoted"]["from"] == str((elsewhere / "not_a_digit.keras").resolve())
    # a classifier is not a gate, and the gate is not a classifier: both refused, nothing written
    wrong = run_script("training/promote.py", ROOT / "models" / "mnist_cnn.keras", "--gate", "--out", tmp_path / "g2", check=False)
    assert wrong.returncode == 2 and "has no threshold" in wrong.stderr and not (tmp_path / "g2").exists()
    wrong = run_script("training/promote.py", elsewhere / "not_a_digit.keras", "--out", tmp_path / "m2", check=False)
    assert wrong.returncode == 2 and "unusable" in wrong.stderr and not (tmp_path / "m2").exists()
