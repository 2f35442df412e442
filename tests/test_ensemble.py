"""Ensembles: the combined model computes the mean of its members' logits, is an ordinary digit model
(safe-mode load, listing, Grad-CAM, export-ready graph), and the script refuses bad inputs."""

import json

import numpy as np
import pytest

from digitlab.evaluation import explain
from digitlab.models import adapter, artifacts, builders, ensemble

pytestmark = pytest.mark.slow  # its members are trained for real


@pytest.fixture(scope="module")
def members(tmp_path_factory, mnist_path):
    """Two small members really trained (dry run) by the training script's code, with their cards."""
    import dataclasses

    from digitlab.training import recipe, trainer

    out = tmp_path_factory.mktemp("members")
    base = recipe.TrainConfig(builder="cnn", model_kwargs={"width": 8}, epochs=2, batch_size=64, mnist_path=str(mnist_path), dry_run=True)
    paths = [trainer.run(dataclasses.replace(base, name=f"member{s}", seed=s), out) for s in (1, 2)]
    return paths


@pytest.fixture(scope="module")
def pair(members, tmp_path_factory):
    """The script's dry run combining the two members, as a user runs it: (pair.keras, the finished process).
    Its folder holds that one model; the tests read it and write elsewhere."""
    import subprocess
    import sys

    from digitlab.paths import ROOT

    out = tmp_path_factory.mktemp("pair")
    proc = subprocess.run([sys.executable, str(ROOT / "training/ensemble.py"), *map(str, members), "--name", "pair", "--out", str(out), "--dry-run"],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out / "pair.keras", proc


def test_ensemble_averages_member_logits_on_real_digits(members, mnist_test):
    import keras

    loaded = [artifacts.load_model(p) for p in members]
    combined = ensemble.combine(loaded, name="pair")
    x = (mnist_test[0][:64] / 255.0).astype(np.float32)[..., None]
    logits = [np.asarray(keras.Model(m.inputs, m.get_layer("logits").output)(x)) for m in loaded]
    mean = np.mean(logits, axis=0)
    expected = np.exp(mean - mean.max(1, keepdims=True))
    expected /= expected.sum(1, keepdims=True)
    np.testing.assert_allclose(np.asarray(combined(x)), expected, rtol=1e-5, atol=1e-6)
    assert not np.allclose(logits[0], logits[1])  # two different members, so the mean is a real combination
    # an ordinary digit model: named logits/probs layers, flat graph with a convolution for Grad-CAM
    assert combined.get_layer("logits") is not None and combined.layers[-1].name == "probs"
    assert explain.default_cam_layer(combined).startswith("m1_")
    assert combined.count_params() == sum(m.count_params() for m in loaded)


def test_ensemble_script_writes_a_model_whose_card_embeds_the_members(pair, members):
    path, proc = pair
    card = json.loads(path.with_suffix(".json").read_text())
    assert card["builder"] == "ensemble" and card["dry_run"]
    assert [m["file"] for m in card["members"]] == [p.name for p in members]
    assert [m["seed"] for m in card["members"]] == [1, 2]
    assert all(m["config"]["builder"] == "cnn" and "command" in m for m in card["members"])
    assert 0 <= card["metrics"]["test_accuracy"] <= 1 and card["data"]["fingerprint"].startswith("sha256:")
    assert "saved" in proc.stdout
    [entry] = artifacts.list_models(path.parent)  # loads in safe mode and passes the classifier check
    assert entry.usable, entry.reason


def test_ensemble_script_refuses_bad_members(run_main, members, tmp_path):
    proc = run_main("training/ensemble.py", members[0], "--out", tmp_path, check=False)
    assert proc.returncode == 2 and "at least two member" in proc.stderr
    proc = run_main("training/ensemble.py", members[0], tmp_path / "nope.keras", "--out", tmp_path, check=False)
    assert proc.returncode == 2 and "no such member file" in proc.stderr
    proc = run_main("training/ensemble.py", *members, "--name", members[0].stem, "--out", members[0].parent, check=False)
    assert proc.returncode == 2 and "is one of the members" in proc.stderr
    broken = tmp_path / "broken.keras"
    broken.write_bytes(b"not a keras file")
    proc = run_main("training/ensemble.py", members[0], broken, "--out", tmp_path / "out", check=False)
    assert proc.returncode == 2 and "broken.keras" in proc.stderr
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_members_without_logits_layer_are_refused():
    import keras

    plain = keras.Sequential([keras.Input(builders.INPUT_SHAPE), keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])
    with pytest.raises(ensemble.EnsembleError, match="no layer named 'logits'"):
        ensemble.combine([plain, plain])


def test_fine_tuning_warms_up_each_members_head(members):
    """The ensemble's own "logits" only averages; fine-tuning's first phase trains the members' Dense heads."""
    from digitlab.training import finetune

    combined = ensemble.combine([artifacts.load_model(p) for p in members])
    assert [layer.name for layer in adapter.head_layers(combined)] == ["m0_logits", "m1_logits"]
    finetune._set_trainable(combined, "head")
    assert {v.path.split("/")[0] for v in combined.trainable_variables} == {"m0_logits", "m1_logits"}


def test_models_page_summary_names_the_members(run_main, members, pair, tmp_path):
    import shutil

    from digitlab.report import model_report

    shutil.copytree(pair[0].parent, tmp_path, dirs_exist_ok=True)  # the script's model of that name, with its side files
    (tmp_path / "pair.curves.png").write_bytes(b"left by an earlier model of this name")
    run_main("training/ensemble.py", *members, "--name", "pair", "--out", tmp_path, "--dry-run", "--overwrite")
    [entry] = artifacts.list_models(tmp_path)
    assert model_report.summary(entry)["builder"] == "ensemble of 2: cnn, cnn"
    assert model_report.confusion(entry.path).sum() == 256  # the dry run's test digits
    assert model_report.curves_path(entry.path) is None  # the stale side file of the earlier model is gone


def test_a_run_can_start_from_an_ensemble_member(members, pair, tmp_path, mnist_path):
    """``--init-from ENSEMBLE --init-member K`` copies member K's weights, layer by layer, into the new
    run's model; the card records where it started."""
    import dataclasses

    from digitlab.training import recipe, trainer

    pair = pair[0]
    base = recipe.TrainConfig(builder="cnn", model_kwargs={"width": 8}, epochs=1, batch_size=64, mnist_path=str(mnist_path), dry_run=True)
    for member, source in ((1, members[1]), (None, members[0])):
        config = dataclasses.replace(base, init_from=str(pair if member is not None else source), init_member=member)
        model = builders.build("cnn", width=8)
        info = trainer.initial_weights(model, config)
        expected = artifacts.load_model(source)
        assert info["layers"] == sum(1 for layer in expected.layers if layer.weights) > 3
        for a, b in zip(model.get_weights(), expected.get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)
        assert info["member"] == member and info["sha256"].startswith("sha256:")
    assert info["test_accuracy"] == json.loads(members[0].with_suffix(".json").read_text())["metrics"]["test_accuracy"]

    path = trainer.run(dataclasses.replace(base, name="from_m1", init_from=str(pair), init_member=1, checkpoint="last"), tmp_path)
    card = json.loads(path.with_suffix(".json").read_text())
    assert card["init"]["file"] == "pair.keras" and card["init"]["member"] == 1 and card["config"]["checkpoint"] == "last"


def test_init_from_refuses_what_does_not_fit(run_main, members, pair, tmp_path, mnist_path):
    from digitlab.training import recipe, trainer

    pair = pair[0]
    config = recipe.TrainConfig(builder="cnn", model_kwargs={"width": 8}, init_from=str(pair), init_member=2)
    with pytest.raises(trainer.InitError, match=r"no member 2 \(its members: 0, 1\)"):
        trainer.initial_weights(builders.build("cnn", width=8), config)
    with pytest.raises(trainer.InitError, match="pick a member with init_member"):  # an ensemble without a member
        trainer.initial_weights(builders.build("cnn", width=8), recipe.TrainConfig(builder="cnn", init_from=str(pair)))
    wider = builders.build("cnn", width=12)
    before = [w.copy() for w in wider.get_weights()]
    with pytest.raises(trainer.InitError, match="shapes"):  # another size: nothing is copied
        trainer.initial_weights(wider, recipe.TrainConfig(builder="cnn", init_from=str(members[0])))
    assert all(np.array_equal(a, b) for a, b in zip(before, wider.get_weights(), strict=True))
    for args, message in ((["--init-member", "0"], "--init-member needs --init-from"),
                          (["--init-from", tmp_path / "nope.keras"], "no such file"),
                          (["--init-from", pair, "--init-member", "5"], "no member 5")):
        proc = run_main("training/train_cnn.py", "--dry-run", "--out", tmp_path / "out", "--mnist", mnist_path, *args, check=False)
        assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").glob("*.keras"))


def test_distillation_softens_the_targets_the_teacher_reads_right(members, mnist_test, tmp_path, mnist_path):
    """``--distill-from``: the teacher's probabilities mix into the targets of the digits it reads right, the
    others keep their one-hot label; a digit the mixer swaps for a pool's gets its one-hot label back; the run's
    card names the teacher."""
    import dataclasses

    import tensorflow as tf

    from digitlab.training import recipe, trainer

    x, y = (mnist_test[0][:500] / 255.0).astype(np.float32), mnist_test[1][:500].astype(np.int64)
    config = recipe.TrainConfig(builder="cnn", model_kwargs={"width": 8}, distill_from=str(members[0]), distill=0.3)
    targets = recipe.teacher_targets(x, y, config)
    p = np.asarray(artifacts.load_model(members[0]).predict(x[..., None], verbose=0), np.float64)
    right = p.argmax(1) == y
    assert right.sum() >= 20 and (~right).sum() >= 20  # a dry-run teacher: both cases are there to check
    one_hot = np.eye(10)[y]
    np.testing.assert_allclose(targets[right], (0.7 * one_hot + 0.3 * p)[right], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(targets[~right], one_hot[~right])
    np.testing.assert_allclose(targets.sum(1), 1, atol=1e-5)
    assert (targets.argmax(1) == y).all() and (targets[right].max(1) < 1).all()

    soft = tf.constant(targets[:64])
    pool = ((mnist_test[0][500:1000]), mnist_test[1][500:1000].astype(np.int64))
    for share, expected in ((1.0, one_hot[:64]), (0.0, targets[:64])):
        _, out = recipe.mixer([(*pool, share)], seed=0)(tf.constant(x[:64, ..., None]), soft)
        np.testing.assert_allclose(np.asarray(out), expected, atol=1e-6)

    base = recipe.TrainConfig(builder="cnn", model_kwargs={"width": 8}, epochs=1, batch_size=64, mnist_path=str(mnist_path), dry_run=True)
    path = trainer.run(dataclasses.replace(base, name="student", distill_from=str(members[0]), distill=0.3), tmp_path)
    card = json.loads(path.with_suffix(".json").read_text())
    assert card["distill"]["file"] == members[0].name and card["distill"]["weight"] == 0.3
    assert card["distill"]["sha256"].startswith("sha256:") and card["config"]["distill"] == 0.3


def test_distill_from_refuses_what_cannot_teach(run_main, members, tmp_path, mnist_path):
    from digitlab.training import cli as training_cli
    from digitlab.training import presets, recipe

    config, _ = training_cli.parse_args(presets.CNN, None, ["--distill-from", str(members[0])])
    assert config.distill_from == str(members[0]) and config.distill == 0.5  # the weight's default
    assert training_cli.parse_args(presets.CNN, None, [])[0].distill == 0  # off without a teacher
    junk = tmp_path / "junk.keras"
    junk.write_bytes(b"not a zip archive")
    x, y = np.zeros((4, 28, 28), np.float32), np.zeros(4, np.int64)
    with pytest.raises(recipe.TeacherError, match="distill_from='[^']*junk.keras': "):
        recipe.teacher_targets(x, y, recipe.TrainConfig(distill_from=str(junk), distill=0.5))
    for args, message in ((["--distill", "0.5"], "--distill needs --distill-from"),
                          (["--distill-from", members[0], "--distill", "0"], "--distill needs --distill-from and a weight"),
                          (["--distill-from", tmp_path / "nope.keras"], "no such file"),
                          (["--distill-from", junk], "--distill-from")):
        proc = run_main("training/train_cnn.py", "--dry-run", "--out", tmp_path / "out", "--mnist", mnist_path, *args, check=False)
        assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    proc = run_main("training/train_baseline.py", "--dry-run", "--out", tmp_path / "out", "--mnist", mnist_path,
                      "--distill-from", members[0], check=False)  # scikit-learn's fit would ignore the targets
    assert proc.returncode == 2 and "needs a Keras builder" in proc.stderr, proc.stderr
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").glob("*.keras"))


@pytest.fixture(scope="module")
def fine_tune(pair, tmp_path_factory, mnist_path):
    """The dry-run ensemble of the two members and a run trained further from its member 1 (``--init-from``)."""
    import dataclasses

    from digitlab.training import recipe, trainer

    out = tmp_path_factory.mktemp("fine_tune")
    pair = pair[0]
    base = recipe.TrainConfig(builder="cnn", model_kwargs={"width": 8}, epochs=1, batch_size=64, mnist_path=str(mnist_path), dry_run=True)
    tuned = trainer.run(dataclasses.replace(base, name="tuned", seed=3, learning_rate=0.01, init_from=str(pair), init_member=1), out)
    return pair, tuned


def test_interpolation_mixes_a_fine_tune_with_the_member_it_started_from(run_script, run_main, fine_tune, members, mnist_test, tmp_path):
    """``training/interpolate.py``: every weight is (1 - alpha) x start + alpha x fine-tune, the start being the
    member the fine-tune's card names; the mixture is an ordinary listed model whose card records both sources."""
    import keras

    from digitlab import files

    pair, tuned = fine_tune
    proc = run_script("training/interpolate.py", tuned, "--alpha", "0.25", "--name", "mixed", "--out", tmp_path, "--dry-run")
    assert "saved" in proc.stdout and "alpha 0.25" in proc.stdout
    mixed, start, end = (artifacts.load_model(p) for p in (tmp_path / "mixed.keras", members[1], tuned))
    assert not all(np.allclose(a, b) for a, b in zip(start.get_weights(), end.get_weights(), strict=True))  # training moved them
    for m, s, e in zip(mixed.get_weights(), start.get_weights(), end.get_weights(), strict=True):
        np.testing.assert_allclose(m, 0.75 * s + 0.25 * e, rtol=1e-5, atol=1e-6)
    x = (mnist_test[0][:64] / 255.0).astype(np.float32)[..., None]
    logits = [np.asarray(keras.Model(m.inputs, m.get_layer("logits").output)(x)) for m in (mixed, start, end)]
    assert not np.allclose(logits[0], logits[1]) and not np.allclose(logits[0], logits[2])
    card = json.loads((tmp_path / "mixed.json").read_text())
    assert card["interpolation"]["alpha"] == 0.25 and card["builder"] == "cnn" and card["dry_run"]
    assert card["interpolation"]["start"]["member"] == 1 and card["interpolation"]["start"]["sha256"] == files.sha256(pair)
    assert card["interpolation"]["finetuned"]["sha256"] == files.sha256(tuned) and card["init"]["file"] == "pair.keras"
    assert 0 <= card["metrics"]["test_accuracy"] <= 1 and "training/interpolate.py" in card["command"]
    [entry] = artifacts.list_models(tmp_path)
    assert entry.usable, entry.reason
    run_main("training/ensemble.py", tmp_path / "mixed.keras", members[0], "--name", "pair", "--out", tmp_path / "pair", "--dry-run")
    summaries = json.loads((tmp_path / "pair" / "pair.json").read_text())["members"]
    assert summaries[0]["interpolation"] == card["interpolation"] and summaries[0]["init"] == card["init"]  # how the member was made
    assert "interpolation" not in summaries[1]
    from digitlab.report import model_report

    assert model_report.summary(entry)["builder"] == "cnn (trained further, mixed back at 0.25)"  # the Models page
    [pair] = artifacts.list_models(tmp_path / "pair")
    assert model_report.summary(pair)["builder"] == "ensemble of 2: cnn (trained further, mixed back at 0.25), cnn"


def test_interpolation_refuses_what_it_cannot_mix(run_main, fine_tune, members, tmp_path, mnist_path):
    from digitlab import files

    pair, tuned = fine_tune
    out = tmp_path / "out"
    for args, message in (([tuned, "--alpha", "0"], "between 0 (the start) and 1"),
                          ([tuned, "--alpha", "1.5"], "between 0 (the start) and 1"),
                          ([members[0]], "has no 'init'"),  # trained from scratch: there is no start
                          ([tuned, "--start", members[0]], "sha256 differs"),  # not the file it started from
                          ([tuned, "--start", tmp_path / "gone.keras"], "not found"),
                          ([tmp_path / "nope.keras"], "no such file")):
        proc = run_main("training/interpolate.py", *args, "--out", out, "--mnist", mnist_path, "--dry-run", check=False)
        assert proc.returncode == 2 and message in proc.stderr, (args, proc.stderr)
    proc = run_main("training/interpolate.py", tuned, "--name", tuned.stem, "--out", tuned.parent, "--dry-run", check=False)
    assert proc.returncode == 2 and "is one of the sources" in proc.stderr
    before = files.sha256(pair)  # the start, found through the fine-tune's card, is a source too: never written over
    proc = run_main("training/interpolate.py", tuned, "--name", pair.stem, "--out", pair.parent, "--dry-run", check=False)
    assert proc.returncode == 2 and "is one of the sources" in proc.stderr and files.sha256(pair) == before
    assert not out.exists() or not list(out.iterdir())


def _softmax(z):
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def test_weighted_ensemble_is_the_weighted_mean_of_member_logits_and_nests(members, mnist_test):
    import keras

    loaded = [artifacts.load_model(p) for p in members]
    x = (mnist_test[0][:64] / 255.0).astype(np.float32)[..., None]
    a, b = (np.asarray(keras.Model(m.inputs, m.get_layer("logits").output)(x)) for m in loaded)
    weighted = ensemble.combine(loaded, name="weighted", weights=[3, 1])
    np.testing.assert_allclose(np.asarray(weighted(x)), _softmax((3 * a + b) / 4), rtol=1e-5, atol=1e-6)
    assert not np.allclose(np.asarray(weighted(x)), np.asarray(ensemble.combine(loaded)(x)), atol=1e-4)  # the weights matter
    # a member that is an ensemble enters with its own mean: weights 2, 1 over (pair, a) give (a + b + a) / 3
    nested = ensemble.combine([ensemble.combine(loaded, name="pair"), loaded[0]], name="nested", weights=[2, 1])
    np.testing.assert_allclose(np.asarray(nested(x)), _softmax((2 * a + b) / 3), rtol=1e-5, atol=1e-6)
    assert nested.layers[-1].name == "probs" and nested.get_layer("logits") is not None
    for bad, why in (([1], "2 members"), ([1, 0], "above 0"), ([1, -2], "above 0"), ([1, float("nan")], "above 0")):
        with pytest.raises(ensemble.EnsembleError, match=why):
            ensemble.combine(loaded, weights=bad)


def test_ensemble_script_writes_weights_into_the_card_and_the_model_loads_safely(run_script, run_main, members, tmp_path, mnist_test):
    run_script("training/ensemble.py", *members, "--weights", "1", "0.5", "--name", "leaning", "--out", tmp_path, "--dry-run")
    card = json.loads((tmp_path / "leaning.json").read_text())
    assert card["config"]["weights"] == [1.0, 0.5] and "weighted mean" in card["config"]["combine"]
    [entry] = artifacts.list_models(tmp_path)
    assert entry.usable, entry.reason
    model = artifacts.load_model(tmp_path / "leaning.keras")  # safe mode
    loaded = [artifacts.load_model(p) for p in members]
    x = (mnist_test[0][:16] / 255.0).astype(np.float32)[..., None]
    np.testing.assert_allclose(np.asarray(model(x)), np.asarray(ensemble.combine(loaded, weights=[1, 0.5])(x)), rtol=1e-5, atol=1e-6)
    # the nested ensemble keeps the inner one's members in its card
    run_main("training/ensemble.py", tmp_path / "leaning.keras", members[0], "--weights", "2", "1", "--name", "outer", "--out", tmp_path, "--dry-run")
    outer = json.loads((tmp_path / "outer.json").read_text())
    assert [m["file"] for m in outer["members"][0]["members"]] == [p.name for p in members]
    for args, why in ((("--weights", "1"), "1 weights for 2 members"), (("--weights", "1", "0"), "above 0")):
        proc = run_main("training/ensemble.py", *members, *args, "--out", tmp_path / "refused", check=False)
        assert proc.returncode == 2 and why in proc.stderr
    assert not (tmp_path / "refused").exists()
