"""The race clock of evaluation/benchmark.py (digitlab.evaluation.bench.time_to_accuracy), on real MNIST digits:
epoch-boundary costs go on the wall clock only, costs inside an epoch on both, evaluation on neither.

The costs are pauses on the race's own clock (the real clock plus what the callbacks "paused"), not sleeps:
each pause is far longer than a training step however loaded the machine, so the test counts pauses on each
clock and never bounds a real elapsed time."""

import time
from types import SimpleNamespace

import keras
import numpy as np
import pytest

from digitlab.evaluation import bench

PAUSE = 1000.0  # seconds a callback adds to the race's clock to stand for a cost: dwarfs every real step


class Clock:
    """time.perf_counter plus the pauses so far: the clock ``bench`` reads during the test."""

    def __init__(self):
        self.paused = 0.0

    def perf_counter(self) -> float:
        return time.perf_counter() + self.paused

    def sleep(self, seconds: float) -> None:
        self.paused += seconds


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

    def __init__(self, middle: int, clock: Clock):
        super().__init__()
        self.middle, self.epoch, self.clock = middle, 0, clock

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        self.clock.sleep(PAUSE)

    def on_train_batch_end(self, batch, logs=None):
        if (batch == 0 and self.epoch > 0) or batch == self.middle:
            self.clock.sleep(PAUSE)


@pytest.fixture(scope="module")
def digits(mnist_test):
    x, y = mnist_test
    return x[:1000], y[:1000]


def test_boundary_costs_are_on_the_wall_clock_only(digits, monkeypatch):
    x, y = digits
    clock = Clock()
    monkeypatch.setattr(bench, "time", SimpleNamespace(perf_counter=clock.perf_counter))  # bench's clock only
    fit, steps = bench.reference_fit(x, y)  # 900 digits train, 100 validate: 8 steps of 128
    assert steps == 8 and fit["x"].shape == (1000, 28, 28, 1) and fit["x"].dtype == np.float32 and fit["x"].max() <= 1.0
    race = bench.time_to_accuracy("tiny", _tiny_model(), fit, steps, bench.reference_inputs(x[:200]), y[:200], target=1.01,
                                  max_epochs=3, callbacks=[Costs(middle=4, clock=clock)])
    assert not race.reached and race.epochs == pytest.approx(3.0) and len(race.curve) == 3 * 8
    assert race.boundaries == 2
    # two boundaries, each an epoch-end pause plus a first-step pause: on the wall clock only
    assert round(race.boundary_seconds / PAUSE) == 4
    # three middle-of-epoch pauses: on both clocks, and no boundary pause (24 real steps besides)
    assert round(race.in_epoch_seconds / PAUSE) == 3
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
