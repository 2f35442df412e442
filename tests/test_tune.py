"""Hyperparameter search: the search space maps onto real configs and models, and the real
script in --dry-run searches, writes the trial table and retrains the best trial with its card."""

import json

import keras
import keras_tuner as kt
import numpy as np
import pytest

from digitlab.models import artifacts, builders
from digitlab.training import recipe, tune


def test_every_point_of_the_space_is_a_trainable_config():
    hp = kt.HyperParameters()
    values = tune.declare(hp)
    assert set(values) == set(tune.SPACE) == set(hp.values)
    base = recipe.TrainConfig(model_kwargs={"width": 32, "dropout": 0.25}, label_smoothing=0.05)
    point = {"width": 16, "depth": 5, "dropout": 0.1, "learning_rate": 0.004, "rotation_deg": 5.0, "translate": 0.05, "zoom": 0.0, "stroke": 0.2}
    config = tune.config_for(base, point, epochs=3)
    assert config.model_kwargs == {"width": 16, "dropout": 0.1, "depth": 5}
    assert (config.learning_rate, config.rotation_deg, config.translate, config.zoom, config.stroke) == (0.004, 5.0, 0.05, 0.0, 0.2)
    assert config.epochs == 3 and config.label_smoothing == 0.05  # the rest of the recipe is the base's
    model = builders.build(config.builder, **config.model_kwargs)
    convs = [layer.name for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert convs == ["conv0", "conv1", "conv2", "conv3", builders.LAST_CONV]  # depth 5
    assert model.get_layer("conv0").filters == 16 and model.get_layer(builders.LAST_CONV).filters == 32


def test_trial_subset_is_seeded_and_keeps_labels_with_images(mnist_test):
    x, y = mnist_test
    a = tune.trial_subset(x, y, 500, seed=1)
    assert a[0].shape == (500, 28, 28)
    assert all(np.array_equal(u, v) for u, v in zip(a, tune.trial_subset(x, y, 500, seed=1)))
    assert not np.array_equal(a[1], tune.trial_subset(x, y, 500, seed=2)[1])
    # every picked image still carries its own label
    where = {img.tobytes(): label for img, label in zip(x, y)}
    assert all(where[img.tobytes()] == label for img, label in zip(*a))
    assert tune.trial_subset(x, y, 10**6, seed=1)[0] is x


@pytest.mark.slow
def test_dry_run_search_writes_the_trial_table_and_the_best_model(run_main, tmp_path):
    out, reports = tmp_path / "models", tmp_path / "reports"
    proc = run_main("training/tune.py", "--dry-run", "--out", out, "--reports", reports, "--name", "tune_probe", "--seed", "3")
    table = json.loads((reports / "tune_probe-dry" / "trials.json").read_text())
    rows = table["trials"]
    assert table["space"] == tune.SPACE and len(rows) == tune.DRY_RUN_TRIALS
    for r in rows:
        assert r["status"] == "COMPLETED", r
        assert set(tune.SPACE) <= set(r) and 0 <= r["val_accuracy"] <= 1 and r["seconds"] > 0
        assert r["width"] in tune.SPACE["width"]["values"] and 3 <= r["depth"] <= 5
    md = (reports / "tune_probe-dry" / "trials.md").read_text().splitlines()
    assert md[0].startswith("| trial | status | width | depth |") and len(md) == 2 + len(rows)

    card = json.loads((out / "tune_probe.json").read_text())
    tuning = card["tuning"]
    best = max(rows, key=lambda r: r["val_accuracy"])
    assert tuning["best_trial"] == best["trial"] and tuning["trials"] == rows and tuning["search_space"] == tune.SPACE
    assert tuning["trials_report"].endswith("tune_probe-dry/trials.md") and "validation" in tuning["objective"]
    assert "training/tune.py --dry-run" in tuning["command"]
    # the saved model is the best trial's recipe, retrained
    c = card["config"]
    assert c["model_kwargs"] == {"width": best["width"], "dropout": best["dropout"], "depth": best["depth"]}
    assert [c[k] for k in ("learning_rate", "rotation_deg", "translate", "zoom", "stroke")] == pytest.approx(
        [best[k] for k in ("learning_rate", "rotation_deg", "translate", "zoom", "stroke")])
    assert card["params"] == builders.build("cnn", **c["model_kwargs"]).count_params()
    [entry] = artifacts.list_models(out)
    assert entry.usable and entry.name == "tune_probe", entry.reason
    assert f"best: trial {best['trial']}" in proc.stdout


def test_bad_flags_and_missing_data_are_refused(run_main, tmp_path):
    proc = run_main("training/tune.py", "--max-trials", "0", "--out", tmp_path, check=False)
    assert proc.returncode == 2 and "--max-trials must be at least 1" in proc.stderr
    proc = run_main("training/tune.py", "--tuner", "hyperband", "--epochs", "1", "--out", tmp_path, check=False)
    assert proc.returncode == 2 and "needs --epochs of at least 2" in proc.stderr
    proc = run_main("training/tune.py", "--dry-run", "--out", tmp_path, "--reports", tmp_path, "--name", "tune_nodata", check=False,
                    env={"DIGITLAB_MNIST": str(tmp_path / "none.npz")})
    assert proc.returncode == 2 and "DIGITLAB_MNIST" in proc.stderr  # MNIST missing: a configuration error (digitlab.cli)
    assert not list(tmp_path.iterdir())
