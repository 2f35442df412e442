"""The race clock of evaluation/benchmark.py (digitlab.evaluation.bench.time_to_accuracy), on real MNIST digits:
epoch-boundary costs go on the wall clock only, costs inside an epoch on both, evaluation on neither."""

import time

import keras
import numpy as np
import pytest

from digitlab.evaluation import bench

PAUSE = 2.0  # seconds a callback sleeps to stand for a cost: long against a loaded machine's noise


def _tiny_model():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((28, 28, 1))
    outputs = keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, outputs)
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    return model


class Costs(keras.callbacks.Callback):
    """Sleeps at an epoch's end (a boundary), in the first step of every later epoch (a pipeline refill,
    which Keras runs inside that step) and in the middle step of every epoch (an in-epoch cost)."""

    def __init__(self, middle: int):
        super().__init__()
        self.middle, self.epoch = middle, 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        time.sleep(PAUSE)

    def on_train_batch_end(self, batch, logs=None):
        if (batch == 0 and self.epoch > 0) or batch == self.middle:
            time.sleep(PAUSE)


@pytest.fixture(scope="module")
def digits(mnist_test):
    x, y = mnist_test
    return x[:1000], y[:1000]


def test_boundary_costs_are_on_the_wall_clock_only(digits):
    x, y = digits
    fit, steps = bench.reference_fit(x, y)  # 900 digits train, 100 validate: 8 steps of 128
    assert steps == 8 and fit["x"].shape == (1000, 28, 28, 1) and fit["x"].dtype == np.float32 and fit["x"].max() <= 1.0
    race = bench.time_to_accuracy("tiny", _tiny_model(), fit, steps, bench.reference_inputs(x[:200]), y[:200], target=1.01,
                                  max_epochs=3, callbacks=[Costs(middle=4)])
    assert not race.reached and race.epochs == pytest.approx(3.0) and len(race.curve) == 3 * 8
    assert race.boundaries == 2
    # two boundaries, each an epoch-end pause plus a first-step pause: wall only (the rest of a boundary,
    # Keras restarting the epoch's iterator, varies here from 0.3 s to 2 s: no upper bound)
    assert race.boundary_seconds >= 4 * PAUSE
    # three middle-of-epoch pauses: on both clocks, and no boundary pause (24 small steps besides)
    assert 3 * PAUSE <= race.in_epoch_seconds < 4 * PAUSE
    assert race.wall_seconds == pytest.approx(race.in_epoch_seconds + race.boundary_seconds)
    assert race.validation_seconds > 0  # validation_split ran, and is on neither clock
    assert race.first_step_seconds > race.median_step_ms / 1000  # tracing, counted on both
    epochs, in_epoch, wall, _ = zip(*race.curve, strict=True)
    assert list(epochs) == sorted(epochs) and list(in_epoch) == sorted(in_epoch) and list(wall) == sorted(wall)


def test_the_race_refuses_a_wrong_epoch_length(digits):
    x, y = digits
    fit, steps = bench.reference_fit(x, y)
    with pytest.raises(ValueError, match="steps an epoch"):
        bench.time_to_accuracy("tiny", _tiny_model(), fit, steps + 1, bench.reference_inputs(x[:200]), y[:200], max_epochs=1)
