"""Recipes and training/rebuild.py: every committed model has a readable recipe and is a few commands; every
recipe is accepted by its script; a dry run of the chains runs end to end, writes a card that names the recipe,
never into models/; a training run never replaces a model it was not asked to."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from digitlab.data import unipen
from digitlab.paths import ROOT
from digitlab.training import rebuild, recipes

NETWORK_SCRIPTS = {"training/train_baseline.py", "training/train_cnn.py", "training/train_advanced.py", "training/train_robust.py",
                   "training/train_gate.py", "training/train_reader.py"}


def test_every_committed_model_has_a_recipe_of_a_few_commands():
    committed = {p.stem for p in (ROOT / "models").glob("*.keras")} | {"gate", "reader"}
    assert committed <= set(rebuild.MODELS)
    for name in rebuild.MODELS:
        r = recipes.model(name)
        assert len(r["description"].split()) >= 20, f"{name}: say in a paragraph what the model is"
        assert len(rebuild.steps(name)) <= 6, name  # networks + ensemble + calibrate + promote (it writes the serving files)
        for path, net in r["networks"]:
            assert net["script"] in NETWORK_SCRIPTS and not {"init_from", "distill_from"} & set(net), \
                f"{path.name}: each network is one run from random weights"


def test_the_real_strokes_ship_with_the_project():
    """The recipes that learn from real pen strokes read the file in the repository: a clone rebuilds them alone."""
    assert unipen.SHIPPED.is_file(), "data/unipen/unipen_dev.json.gz is part of the repository"
    assert unipen.fingerprint(unipen.SHIPPED) == "sha256:" + unipen.SHIPPED_SHA256
    assert "CC BY 4.0" in (unipen.SHIPPED.parent / "README.md").read_text()
    users = [p.name for p in recipes.RECIPES_DIR.glob("*.toml") if "real_strokes" in recipes.load(p)]
    assert {"cnn_a.toml", "cnn_b.toml", "reader.toml"} <= set(users)
    for p in users:
        assert recipes.load(recipes.RECIPES_DIR / p)["real_strokes"] == unipen.SHIPPED.relative_to(ROOT).as_posix()


@pytest.mark.parametrize("path", sorted(p.name for p in recipes.RECIPES_DIR.glob("*.toml")))
def test_every_network_recipe_is_accepted_by_its_script(path, tmp_path):
    """Each recipe's keys are flags of its script, with values the script accepts (parsed as the script parses them)."""
    recipe = recipes.load(recipes.RECIPES_DIR / path)
    if "members" in recipe:
        assert all((recipes.RECIPES_DIR / m).is_file() for m in recipe["members"])
        return
    argv = ["--config", str(recipes.RECIPES_DIR / path), "--out", str(tmp_path), "--dry-run"]
    script = recipe["script"]
    if script in ("training/train_baseline.py", "training/train_cnn.py", "training/train_advanced.py"):
        from digitlab.training import cli, presets

        preset = {"training/train_baseline.py": presets.BASELINE, "training/train_cnn.py": presets.CNN,
                  "training/train_advanced.py": presets.ADVANCED}[script]
        config, out, _, options = cli._parse(preset, None, argv)
        assert config.name == recipe["name"] and out == tmp_path
        assert options["recipe_card"] == {"file": f"training/configs/{path}", "description": " ".join(recipe["description"].split())}
        for key, value in recipe.items():
            if key in ("script", "description", "name", "width"):
                continue
            if key == "redraw_brush":
                assert [config.redraw_brush_min, config.redraw_brush_max] == value
            else:
                assert getattr(config, key) == value, key
        if "width" in recipe:
            assert config.model_kwargs["width"] == recipe["width"]
    else:  # scripts with a parser of their own: --help lists every key's flag
        help_text = subprocess.run([sys.executable, str(ROOT / script), "--help"], capture_output=True, text=True, cwd=ROOT,
                                   timeout=120).stdout
        for key in set(recipe) - {"script", "description"}:
            assert re.search(rf"--{key.replace('_', '-')}\b", help_text), f"{script} has no --{key}"


def test_a_recipe_that_does_not_fit_is_refused_with_its_reason(tmp_path):
    from digitlab.training import cli, presets

    def refused(text: str, preset=presets.CNN) -> str:
        path = tmp_path / "r.toml"
        path.write_text(text)
        with pytest.raises(SystemExit) as e:
            cli._parse(preset, None, ["--config", str(path)])
        assert e.value.code == 2
        return str(e.value)

    ok = 'script = "training/train_cnn.py"\ndescription = "a test"\n'
    for text in (ok + "colour = 3\n", ok + "epochs = 'many'\n", ok + "schedule = 'weekly'\n", "script = 'x'\n", "epochs = [",
                 ok.replace("train_cnn", "train_advanced"), ok + "redraw_brush = [0.1]\n"):
        refused(text)
    with pytest.raises(recipes.RecipeError, match="members"):
        path = tmp_path / "m.toml"
        path.write_text('description = "x"\nmembers = ["cnn_a.toml"]\n')
        recipes.load(path)


def test_the_plan_fills_every_placeholder(tmp_path):
    steps = rebuild.plan("mnist_advanced", tmp_path / "run", tmp_path / "models")
    assert not any("{" in a for _, argv in steps for a in argv)
    trains = [argv for _, argv in steps if "--config" in argv]
    assert [argv[argv.index("--config") + 1] for argv in trains] == [f"training/configs/{m}" for m in recipes.model("mnist_advanced")["members"]]
    assert steps[-1][1][0] == "training/promote.py" and "--recipe" in steps[-1][1]
    for name, flag in (("gate", "--gate"), ("reader", "--reader")):  # promoted as what they are, into their own folder
        [(_, train), (_, promote)] = rebuild.plan(name, tmp_path / "run", tmp_path / "models")
        assert promote[0] == "training/promote.py" and flag in promote
        assert promote[promote.index("--out") + 1] == f"{tmp_path / 'models'}/{name}"
    with pytest.raises(rebuild.RebuildError, match="no model named"):
        rebuild.plan("mnist_nothing", tmp_path, tmp_path)
    assert rebuild.card("mnist_cnn")["command"] == "python training/rebuild.py mnist_cnn"


def test_an_ensemble_older_than_its_networks_is_made_again(tmp_path):
    """A network trained again, or one the recipe gained or dropped, makes the ensemble stale: it is not kept."""
    import os

    [ens] = [s for s in rebuild.steps("mnist_cnn") if s.script == "training/ensemble.py"]
    assert set(ens.reads) == {f"{recipes.load(recipes.RECIPES_DIR / m)['name']}.keras" for m in recipes.model("mnist_cnn")["members"]}
    final = tmp_path / ens.makes
    final.parent.mkdir()
    for f in ens.reads:
        (tmp_path / f).write_bytes(b"net")
        os.utime(tmp_path / f, (1000, 1000))
    assert not rebuild.up_to_date(tmp_path, ens)  # not made yet
    final.write_bytes(b"ensemble")
    os.utime(final, (2000, 2000))
    assert not rebuild.up_to_date(tmp_path, ens)  # no card: what it was made of is unknown
    card = final.with_suffix(".json")
    card.write_text(json.dumps({"members": [{"file": f} for f in (*ens.reads, "cnn_x.keras")]}))
    assert not rebuild.up_to_date(tmp_path, ens)  # made with a network the recipe no longer lists
    card.write_text(json.dumps({"members": [{"file": f} for f in ens.reads]}))
    assert rebuild.up_to_date(tmp_path, ens)
    os.utime(tmp_path / ens.reads[-1], (3000, 3000))  # one network trained again after the ensemble
    assert not rebuild.up_to_date(tmp_path, ens)
    os.utime(tmp_path / ens.reads[-1], (1000, 1000))
    (tmp_path / ens.reads[0]).unlink()  # a network the recipe lists is not there
    assert not rebuild.up_to_date(tmp_path, ens)


def test_the_command_line_lists_and_refuses(run_script):
    listed = run_script("training/rebuild.py", "--list").stdout
    assert all(f"# {name}" in listed for name in rebuild.MODELS)
    proc = run_script("training/rebuild.py", "mnist_nothing", check=False)
    assert proc.returncode == 2 and "invalid choice" in proc.stderr


def test_each_committed_ensemble_is_the_networks_its_recipe_names():
    """The committed ensembles' cards embed their networks' own cards: each names the recipe file it was trained
    from, and those that learnt from real pen strokes learnt from the file that ships in data/unipen/."""
    for name in ("mnist_cnn", "mnist_advanced"):
        card = json.loads((ROOT / "models" / f"{name}.json").read_text())
        members = card["members"]
        assert sorted(m["recipe"]["file"] for m in members) == sorted(f"training/configs/{m}" for m in recipes.model(name)["members"]), name
        for m in members:
            uses_strokes = "real_strokes" in recipes.load(ROOT / m["recipe"]["file"])
            assert ("real_strokes" in m) == uses_strokes, (name, m["recipe"]["file"])
            assert not uses_strokes or m["real_strokes"]["sha256"] == "sha256:" + unipen.SHIPPED_SHA256, (name, m["recipe"]["file"])


@pytest.mark.slow
def test_a_dry_run_of_a_chain_runs_end_to_end(run_script, tmp_path):
    """Every step of a chain in its smoke mode, each as its own process (train, calibrate, promote: the classifier
    chain with the cheapest network; an ensemble's chain adds ensemble.py, whose card the test above reads, and the
    gate's and the reader's differ only in promote's flag, test_the_plan_fills_every_placeholder).  The result lands
    in the scratch models folder with a card that says what it is and how to make it again; the real models folder
    is untouched."""
    name = "mnist_baseline"
    before = {p.name: p.stat().st_mtime_ns for p in (ROOT / "models").rglob("*") if p.is_file()}
    models = tmp_path / "models"
    run_script("training/rebuild.py", name, "--dry-run", "--run", tmp_path / "run", "--models", models, timeout=1500)
    card = json.loads((models / f"{name}.json").read_text())
    assert card["rebuild"] == rebuild.card(name)
    assert card["recipe"] == recipes.card(recipes.path_of(name), recipes.model(name))
    assert card["recipe"]["file"] == "training/configs/mnist_baseline.toml" and card["dry_run"]
    assert list(models.glob("serving/*.onnx")), "promote wrote the serving files"
    assert "calibration" in card
    after = {p.name: p.stat().st_mtime_ns for p in (ROOT / "models").rglob("*") if p.is_file()}
    assert after == before


@pytest.mark.slow
def test_training_never_replaces_a_model_unless_asked(run_main, tmp_path):
    """A taken name gets a fresh one, said in the output; --overwrite replaces; every run leaves a tracker record.
    The runs are in this process: the naming is what they check (the chain's test runs the script as its own)."""
    first = run_main("training/train_cnn.py", "--out", tmp_path, "--name", "mine", "--dry-run")
    assert (tmp_path / "mine.keras").is_file()
    sha = (tmp_path / "mine.keras").read_bytes()
    second = run_main("training/train_cnn.py", "--out", tmp_path, "--name", "mine", "--dry-run")
    assert "mine.keras exists and is kept" in second.stdout and "mine_2.keras" in second.stdout
    assert (tmp_path / "mine.keras").read_bytes() == sha and json.loads((tmp_path / "mine_2.json").read_text())["name"] == "mine_2"
    run_main("training/train_cnn.py", "--out", tmp_path, "--name", "mine", "--dry-run", "--overwrite")
    assert (tmp_path / "mine.keras").read_bytes() != sha and not (tmp_path / "mine_3.keras").exists()
    # the experiment tracker: TensorBoard scalars and the run's hyperparameters, one folder per run
    logs = sorted((ROOT / "runs" / "tensorboard").glob("mine*-dry-*"), key=lambda p: p.stat().st_mtime)
    assert len(logs) >= 3 and first.returncode == 0
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(logs[-1]))
    acc.Reload()
    assert "hparams" in acc.PluginTagToContent("hparams") or acc.PluginTagToContent("hparams")
    train = EventAccumulator(str(logs[-1] / "train"))
    train.Reload()
    assert any("accuracy" in t for t in train.Tags()["scalars"] + train.Tags()["tensors"])
