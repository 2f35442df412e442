"""training/rebuild.py: every committed model is one command; each chain's steps are real scripts with flags they
accept; a dry run of every chain runs end to end and writes a card that names the chain, never into models/."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from digitlab.data import unipen
from digitlab.paths import ROOT
from digitlab.training import rebuild


def test_every_committed_model_has_a_chain():
    committed = {p.stem for p in (ROOT / "models").glob("*.keras")}
    assert committed <= set(rebuild.CHAINS)
    assert "gate" in rebuild.CHAINS


@pytest.mark.slow  # a --help process per step: ~30 s for mnist_advanced's 16
@pytest.mark.parametrize("name", list(rebuild.CHAINS))
def test_every_step_is_a_script_that_takes_its_flags(name):
    """Each step's script exists and its --help lists every flag the chain passes (a renamed flag fails here,
    not hours into a rebuild)."""
    for step in rebuild.CHAINS[name]:
        script = ROOT / step.script
        assert script.is_file(), step.script
        help_text = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, cwd=ROOT, timeout=120).stdout
        for flag in [a for a in step.args if a.startswith("--")] + ([step.dry_flag] if step.dry_flag else []):
            assert re.search(rf"{re.escape(flag)}\b", help_text), f"{step.script} has no {flag}"


def test_the_plan_fills_every_placeholder_and_refuses_what_it_cannot_run(tmp_path):
    steps = rebuild.plan("mnist_advanced", tmp_path / "run", tmp_path / "models", tmp_path / "strokes.json.gz")
    assert not any("{" in a for _, argv in steps for a in argv)
    assert steps[-2][1][0] == "training/promote.py" and "--chain" in steps[-2][1]
    with pytest.raises(rebuild.RebuildError, match="real pen strokes"):
        rebuild.plan("mnist_cnn", tmp_path, tmp_path, None)
    with pytest.raises(rebuild.RebuildError, match="no chain named"):
        rebuild.plan("mnist_nothing", tmp_path, tmp_path, None)
    assert rebuild.card("mnist_cnn")["command"] == "python training/rebuild.py mnist_cnn"


def test_the_command_line_refuses_what_it_cannot_run(run_script, tmp_path, monkeypatch):
    monkeypatch.delenv("DIGITLAB_UNIPEN", raising=False)
    proc = run_script("training/rebuild.py", "mnist_cnn", "--dry-run", check=False)
    assert proc.returncode == 2 and "real pen strokes" in proc.stderr
    proc = run_script("training/rebuild.py", "mnist_cnn", "--real-strokes", tmp_path / "missing.gz", check=False)
    assert proc.returncode == 2 and "no such file" in proc.stderr
    listed = run_script("training/rebuild.py", "--list").stdout
    assert all(f"# {name}" in listed for name in rebuild.CHAINS)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(rebuild.CHAINS))
def test_a_dry_run_of_every_chain_runs_end_to_end(name, run_script, tmp_path):
    """Every step in its smoke mode, each as its own process; the result lands in the scratch models folder with a
    card that says how to make it again; the real models folder is untouched."""
    from test_unipen import _small_file

    before = {p.name: p.stat().st_mtime_ns for p in (ROOT / "models").rglob("*") if p.is_file()}
    models = tmp_path / "models"
    run_script("training/rebuild.py", name, "--dry-run", "--run", tmp_path / "run", "--models", models,
               "--real-strokes", _small_file(tmp_path), timeout=3000)
    card_path = {"gate": models / "gate" / "not_a_digit.json", "reader": models / "reader" / "number_reader.json"}.get(name, models / f"{name}.json")
    card = json.loads(card_path.read_text())
    assert card["rebuild"]["command"] == f"python training/rebuild.py {name}"
    assert card["rebuild"]["steps"] == rebuild.card(name)["steps"]
    assert list(models.glob("serving/*.onnx")), "the serving step converted the result"
    if name not in ("gate", "reader"):
        assert "calibration" in card
    # the card says which writing-convention edits trained it, through every mix and ensemble of the chain
    from digitlab.data import stroke_augment

    edits = {"stroke_edits": stroke_augment.EDITS_VERSION, "real_strokes_edits": unipen.EDITS_VERSION}
    expected = {"mnist_baseline": None, "mnist_robust": None, "reader": None, "gate": {"stroke_edits": stroke_augment.EDITS_VERSION},
                "mnist_cnn": edits}
    def networks(c):  # the trained networks of a card, through nested ensembles
        return [n for m in c["members"] for n in networks(m)] if c.get("members") else [c]

    for made in networks(card):
        assert made.get("edits") == expected.get(name, edits), made.get("name")
    if name == "mnist_advanced":  # its fine-tunes on real strokes started from the stroke recipe's ensemble, whose edits they name;
        pair, wide, compact = card["members"]  # the wide network learnt real strokes from random weights, then two more cycles;
        assert [m["init"]["edits"] for m in pair["members"]] == [{"stroke_edits": stroke_augment.EDITS_VERSION}] * 2
        assert (wide["init"]["name"], wide["init"]["edits"]) == ("rsw_s59c", edits)
        assert compact["name"] == "c8v8_82" and "init" not in compact  # the compact one from random weights, as in mnist_cnn
        assert card["config"]["weights"] == [2.0, rebuild.WEIGHT_WIDE, rebuild.WEIGHT_COMPACT]
    after = {p.name: p.stat().st_mtime_ns for p in (ROOT / "models").rglob("*") if p.is_file()}
    assert after == before
