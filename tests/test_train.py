"""Training internals: augmentation, schedules, resume after an interruption."""

import dataclasses
import json

import keras
import numpy as np
import pytest

from digitlab.training import recipe, trainer


@pytest.fixture
def dry_config(mnist_path):
    return recipe.TrainConfig(name="resume_probe", builder="cnn", model_kwargs={"width": 8}, epochs=2,
                             batch_size=64, mnist_path=str(mnist_path), dry_run=True, seed=7)


def test_augmentation_keeps_range_and_changes_images(dry_config, mnist_test):
    x = (mnist_test[0][:32] / 255.0).astype(np.float32)[..., None]
    y = np.zeros((32, 10), np.float32)
    out, _ = recipe.augmenter(dry_config, seed=1)(x, y)
    out = np.asarray(out)
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1
    changed = np.abs(out - x).mean(axis=(1, 2, 3)) > 0.01
    assert changed.mean() > 0.8
    # stroke augmentation alone changes the ink amount, both ways
    stroke_only = dataclasses.replace(dry_config, rotation_deg=0, translate=0, zoom=0, stroke=1.0)
    s, _ = recipe.augmenter(stroke_only, seed=2)(x, y)
    ratio = np.asarray(s).sum(axis=(1, 2, 3)) / x.sum(axis=(1, 2, 3))
    assert ratio.max() > 1.1 and ratio.min() < 0.9


@pytest.mark.slow
def test_clean_epochs_switch_augmentation_on_at_the_right_epoch(dry_config, mnist_test):
    """Progressive augmentation: plain digits in the first epoch, augmented ones from the second,
    switched by the callback inside a real ``fit`` (the way Keras builds each epoch's iterator)."""
    x = (mnist_test[0][:256] / 255.0).astype(np.float32)
    y = mnist_test[1][:256]
    config = dataclasses.replace(dry_config, clean_epochs=1, batch_size=64)
    ds, callbacks = recipe.training_data(x, y, config)
    plain = {x[i].tobytes() for i in range(len(x))}
    seen: list[float] = []

    class Look(keras.callbacks.Callback):  # fraction of each epoch's first batch that is an untouched MNIST digit
        def on_epoch_begin(self, epoch, logs=None):
            batch = next(iter(ds))[0].numpy()[..., 0]
            seen.append(np.mean([b.tobytes() in plain for b in batch]))

    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    model.fit(ds, epochs=3, callbacks=[*callbacks, Look()], verbose=0)
    assert seen[0] == 1.0  # epoch 0: every digit as it is
    assert seen[1] < 0.3 and seen[2] < 0.3  # epochs 1, 2: augmented


@pytest.mark.parametrize("schedule", ["onecycle", "cosine_restarts", "constant"])
def test_schedules_peak_at_the_configured_rate(dry_config, schedule):
    c = dataclasses.replace(dry_config, schedule=schedule, learning_rate=0.01, epochs=4)
    lr = recipe.learning_rate(c, steps_per_epoch=100)
    values = [float(lr(s)) if callable(lr) else lr for s in range(0, 400, 5)]
    assert max(values) == pytest.approx(0.01, rel=0.02)
    if schedule != "constant":
        assert values[-1] < 0.5 * max(values)


class StopAfter(keras.callbacks.Callback):
    """Simulates Ctrl-C after a given epoch."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.epoch:
            raise KeyboardInterrupt


@pytest.mark.slow
def test_interrupted_run_resumes_where_it_stopped(dry_config, tmp_path, capsys):
    with pytest.raises(KeyboardInterrupt):
        trainer.run(dry_config, tmp_path, callbacks=[StopAfter(1)])
    assert not list(tmp_path.glob("*.keras"))  # nothing half-written into the models folder
    trainer.run(dry_config, tmp_path)
    assert "resuming the interrupted run" in capsys.readouterr().out
    card = json.loads((tmp_path / "resume_probe.json").read_text())
    history = json.loads((tmp_path / "resume_probe.history.json").read_text())
    assert card["epochs_run"] == 2 and history["epoch"] == [0.0, 1.0]
    # a different recipe under the same name starts afresh instead of loading unfitting weights
    trainer.run(dataclasses.replace(dry_config, model_kwargs={"width": 12}, epochs=1), tmp_path)
    assert "resuming" not in capsys.readouterr().out


@pytest.mark.slow
def test_ema_recipe_saves_the_averaged_weights(dry_config, tmp_path):
    """With ``ema`` the checkpoint (and so the saved model) holds the optimizer's moving average of
    the weights, not the last raw weights."""
    config = dataclasses.replace(dry_config, name="ema_probe", epochs=1, ema=0.5)
    seen = {}

    class Look(keras.callbacks.Callback):  # runs after the last step, before the epoch-end swap
        def on_train_batch_end(self, batch, logs=None):
            opt = self.model.optimizer
            i = next(k for k, v in enumerate(opt._trainable_variables) if v.path.endswith("last_conv/kernel"))
            seen["raw"] = np.array(opt._trainable_variables[i].numpy())
            seen["average"] = np.array(opt._model_variables_moving_average[i].numpy())

    trainer.run(config, tmp_path, callbacks=[Look()])
    saved = keras.saving.load_model(tmp_path / "ema_probe.keras", safe_mode=True).get_layer("last_conv").get_weights()[0]
    assert not np.allclose(seen["raw"], seen["average"])  # the two differ, so the check below means something
    np.testing.assert_allclose(saved, seen["average"], rtol=1e-6, atol=1e-7)


@pytest.mark.slow
def test_checkpoint_last_saves_the_final_epoch(dry_config, tmp_path):
    """``checkpoint="last"`` saves the weights the last epoch ended with, whatever validation said."""
    config = dataclasses.replace(dry_config, name="last_probe", epochs=2, checkpoint="last")  # a dry run stops at 2
    seen = {}

    class Look(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen[epoch] = np.array(self.model.get_layer("last_conv").get_weights()[0])

    trainer.run(config, tmp_path, callbacks=[Look()])
    saved = keras.saving.load_model(tmp_path / "last_probe.keras", safe_mode=True).get_layer("last_conv").get_weights()[0]
    assert not np.allclose(seen[0], seen[1])  # the epochs differ, so the check below means something
    np.testing.assert_array_equal(saved, seen[1])


def test_lowres_augmentation_blurs_real_digits_and_keeps_their_ink_solid(dry_config, mnist_test):
    """``lowres`` re-samples digits at 8-16 px: their fine detail goes (less energy left after a 3x3
    blur is subtracted), their ink stays solid (the brightest pixel kept) and in place."""
    import cv2

    x = (mnist_test[0][:64] / 255.0).astype(np.float32)[..., None]
    y = np.zeros((64, 10), np.float32)
    only = dataclasses.replace(dry_config, rotation_deg=0, translate=0, zoom=0, stroke=0)
    same, _ = recipe.augmenter(only, seed=3)(x, y)
    np.testing.assert_array_equal(np.asarray(same), x)  # off: the digits as they are
    low = np.asarray(recipe.augmenter(dataclasses.replace(only, lowres=1.0), seed=3)(x, y)[0])
    assert low.shape == x.shape and low.min() >= 0 and np.allclose(low.max(axis=(1, 2, 3)), x.max(axis=(1, 2, 3)), atol=1e-5)

    def detail(im):
        return np.abs(im - cv2.blur(im, (3, 3))).sum() / im.sum()

    assert all(detail(a[..., 0]) < 0.8 * detail(b[..., 0]) for a, b in zip(low, x, strict=True))
    ys, xs = np.mgrid[0:28, 0:28]
    for a, b in zip(low[..., 0], x[..., 0], strict=True):  # centre of mass within a pixel: the digit stays where it was
        assert abs((a * ys).sum() / a.sum() - (b * ys).sum() / b.sum()) < 1 and abs((a * xs).sum() / a.sum() - (b * xs).sum() / b.sum()) < 1
    half = np.asarray(recipe.augmenter(dataclasses.replace(only, lowres=0.5), seed=4)(x, y)[0])
    changed = np.abs(half - x).mean(axis=(1, 2, 3)) > 0.01
    assert 0.25 < changed.mean() < 0.75
