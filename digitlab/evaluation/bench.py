"""Measurements behind evaluation/benchmark.py: single-image latency, time-to-accuracy, the cost of a training step."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from digitlab import preprocess


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    a = np.asarray(samples_ms)
    return {"p50_ms": float(np.percentile(a, 50)), "p95_ms": float(np.percentile(a, 95)), "n": int(a.size)}


def latency(classifier, pictures: list[np.ndarray], repeats: int = 200, **prepare) -> dict[str, dict[str, float]]:
    """p50/p95 of picture -> probabilities for three forward paths, with the same preprocessing
    (``preprocess.prepare(picture, **prepare)``: Home's canvas, ``invert="yes", drawn_on=1.0``).

    ``model.predict`` (builds a data pipeline every call), eager ``model(x)``, and the
    Classifier's traced ``tf.function`` (the path the app and CLI use).
    """
    model = classifier.model

    def via_predict(x):
        return model.predict(x[None, ..., None], verbose=0)

    def via_call(x):
        return np.asarray(model(x[None, ..., None], training=False))

    def via_fast(x):
        return classifier.predict_proba(x[None])

    paths = {"model.predict": via_predict, "model(x)": via_call, "Classifier (tf.function)": via_fast}
    out: dict[str, dict[str, float]] = {}
    pre: list[float] = []
    for name, forward in paths.items():
        for pic in pictures[:3]:  # warm-up: tracing, first-call allocations
            forward(preprocess.prepare(pic, **prepare).image)
        samples = []
        n = repeats if name != "model.predict" else max(20, repeats // 5)  # predict is slow; fewer samples suffice
        for i in range(n):
            pic = pictures[i % len(pictures)]
            t0 = time.perf_counter()
            x = preprocess.prepare(pic, **prepare).image
            t1 = time.perf_counter()
            forward(x)
            t2 = time.perf_counter()
            samples.append((t2 - t0) * 1000)
            pre.append((t1 - t0) * 1000)
        out[name] = percentiles(samples)
    out["preprocessing only"] = percentiles(pre)
    return out


# The keras-io mnist_convnet example (keras-io examples/vision/mnist_convnet.py), the speed reference, as
# its source trains it: model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"]);
# model.fit(x_train, y_train, batch_size=128, epochs=15, validation_split=0.1) on numpy arrays.
REFERENCE_BATCH = 128
REFERENCE_VALIDATION_SPLIT = 0.1
REFERENCE_FEED = ("keras-io mnist_convnet.py as written: load_data() uint8 / 255 as float32, expand_dims, to_categorical; "
                  "model.fit on numpy arrays, batch_size=128, validation_split=0.1 (trains on the first 90%, validates on "
                  "the last 10% every epoch); compile(loss='categorical_crossentropy', optimizer='adam'). Its test digits "
                  "go through the same / 255; no digitlab preprocessing")


def reference_inputs(x: np.ndarray) -> np.ndarray:
    """keras-io mnist_convnet's whole data path: uint8 (N, 28, 28) -> float32 (N, 28, 28) in [0, 1] by / 255."""
    return x.astype("float32") / 255


def reference_fit(x_train: np.ndarray, y_train: np.ndarray) -> tuple[dict, int]:
    """``model.fit`` arguments feeding the reference as its source does, from raw uint8 digits (N, 28, 28)
    and labels (N,), and the steps of one epoch (over the part ``validation_split`` leaves for training)."""
    import keras

    x = np.expand_dims(reference_inputs(x_train), -1)
    y = keras.utils.to_categorical(y_train, 10)
    n_fit = int(np.floor(len(x) * (1 - REFERENCE_VALIDATION_SPLIT)))  # keras' own split point
    kwargs = {"x": x, "y": y, "batch_size": REFERENCE_BATCH, "validation_split": REFERENCE_VALIDATION_SPLIT}
    return kwargs, int(np.ceil(n_fit / REFERENCE_BATCH))


@dataclass
class Race:
    """Result of ``time_to_accuracy``: the training clock of one racer until ``target``.

    Two clocks run from the first training step (its tracing included) to the checkpoint that reached
    ``target``; evaluation is on neither (the test checks, and any ``validation_split`` pass of ``fit``).
    ``wall_seconds`` is everything else; ``in_epoch_seconds`` leaves out what each epoch boundary
    crossed cost: the time between the last step of an epoch and the first of the next (callbacks,
    iterator) plus what the first step of the new epoch took beyond the median step (pipeline refill,
    such as a shuffle buffer).
    """

    name: str
    target: float
    reached: bool
    epochs: float
    in_epoch_seconds: float
    wall_seconds: float
    boundaries: int = 0  # epoch boundaries crossed before the target
    first_step_seconds: float = 0.0  # the first step (tracing, pipeline start); on both clocks
    median_step_ms: float = 0.0
    validation_seconds: float = 0.0  # fit's own validation passes, on neither clock
    feed: str = ""  # how the racer's data reached fit, in words
    curve: list[tuple[float, float, float, float]] = field(default_factory=list)  # (epochs, in-epoch s, wall s, test accuracy)

    @property
    def boundary_seconds(self) -> float:
        return self.wall_seconds - self.in_epoch_seconds


def time_to_accuracy(name, model, fit_kwargs: dict, steps_per_epoch: int, x_test, y_test, target=0.99, evals_per_epoch=8,
                     max_epochs=15, callbacks=(), feed: str = "") -> Race:
    """Train ``model`` (compiled) with ``model.fit(**fit_kwargs)``, exactly as the racer's source feeds
    it (a ``tf.data`` pipeline as ``{"x": ds}``, or numpy arrays with ``batch_size`` and
    ``validation_split``), and check accuracy on ``x_test`` (N, 28, 28) float32, ``y_test`` (N,)
    every 1/evals_per_epoch epoch; stop as soon as it is >= target.  Clocks: see ``Race``.
    ``steps_per_epoch`` must be what ``fit`` will run (checked).  ``callbacks``: those the training
    recipe needs (``recipe.training_data``)."""
    import keras
    import tensorflow as tf

    every = max(1, steps_per_epoch // evals_per_epoch)
    x = tf.constant(x_test[..., None].astype(np.float32))
    y = tf.constant(np.asarray(y_test, np.int64))

    @tf.function
    def accuracy():
        pred = tf.argmax(model(x, training=False), axis=1)
        return tf.reduce_mean(tf.cast(tf.equal(pred, y), tf.float32))

    class Watch(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.in_epoch = self.wall = self.validation = self.first_step = 0.0
            self.steps, self.epoch, self.boundaries = 0, 0, 0
            self.step_ms: list[float] = []
            self.curve, self.reached = [], False
            self.at_check = (0, 0.0)  # (boundaries, validation seconds) at the latest checkpoint
            self.last_end = None  # clock time of the last step's end, moved past any evaluation since
            self.epoch_start = False

        def on_train_begin(self, logs=None):
            steps = self.params.get("steps")
            if steps is not None and steps != steps_per_epoch:
                raise ValueError(f"{name}: fit runs {steps} steps an epoch, the race was told {steps_per_epoch}")

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch, self.epoch_start = epoch, True

        def on_test_begin(self, logs=None):  # fit's validation pass: evaluation, on neither clock
            self.t_test = time.perf_counter()

        def on_test_end(self, logs=None):
            dt = time.perf_counter() - self.t_test
            self.validation += dt
            if self.last_end is not None:
                self.last_end += dt

        def on_train_batch_begin(self, batch, logs=None):
            self.t_begin = time.perf_counter()
            if self.last_end is not None:
                gap = self.t_begin - self.last_end
                self.wall += gap
                if not (self.epoch_start and self.epoch > 0):
                    self.in_epoch += gap

        def on_train_batch_end(self, batch, logs=None):
            now = time.perf_counter()
            dt = now - self.t_begin
            self.wall += dt
            if self.steps == 0:
                self.first_step = dt
                self.in_epoch += dt
            elif self.epoch_start and self.epoch > 0:
                self.boundaries += 1
                median = float(np.median(self.step_ms)) / 1000 if self.step_ms else dt
                self.in_epoch += min(dt, median)  # the excess is boundary cost
            else:
                self.in_epoch += dt
                self.step_ms.append(dt * 1000)
            self.epoch_start = False
            self.steps += 1
            self.last_end = now
            if self.steps % every:
                return
            acc = float(accuracy())
            done = self.steps / steps_per_epoch
            self.curve.append((done, self.in_epoch, self.wall, acc))
            self.at_check = (self.boundaries, self.validation)
            print(f"  {name}: {done:.2f} epochs, in-epoch {self.in_epoch:.1f} s, wall {self.wall:.1f} s, test {acc:.4f}", flush=True)
            if acc >= target:
                self.reached = True
                self.model.stop_training = True
            self.last_end = time.perf_counter()  # the evaluation is on neither clock

    watch = Watch()
    model.fit(**fit_kwargs, epochs=max_epochs, callbacks=[*callbacks, watch], verbose=0)
    done, in_epoch, wall, _ = watch.curve[-1] if watch.curve else (0.0, 0.0, 0.0, 0.0)
    boundaries, validation = watch.at_check
    return Race(name, target, watch.reached, done, in_epoch, wall, boundaries=boundaries, first_step_seconds=watch.first_step,
                median_step_ms=float(np.median(watch.step_ms)) if watch.step_ms else 0.0, validation_seconds=validation,
                feed=feed, curve=watch.curve)


def step_cost(build, x: np.ndarray, y: np.ndarray, batch_size: int, steps: int = 60, warmup: int = 10) -> dict[str, float]:
    """Median / p90 milliseconds of one training step (Adam, cross-entropy) of ``build()``'s model on
    real batches, after ``warmup`` steps (tracing excluded), and that median scaled to seconds per
    epoch of ``len(x)`` images."""
    import keras
    import tensorflow as tf

    model = build()
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy", metrics=["accuracy"])
    n = min(len(x), batch_size * (steps + warmup))
    ds = tf.data.Dataset.from_tensor_slices((x[:n, ..., None].astype(np.float32), np.eye(10, dtype=np.float32)[y[:n]]))
    ds = ds.batch(batch_size, drop_remainder=True).prefetch(2)
    times: list[float] = []

    class Clock(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            self.t = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            times.append((time.perf_counter() - self.t) * 1000)

    if n // batch_size < 2:
        raise ValueError(f"step_cost needs at least two batches of {batch_size}, got {len(x)} images")
    model.fit(ds, epochs=1, verbose=0, callbacks=[Clock()])
    a = np.asarray(times[min(warmup, len(times) // 2):])
    median = float(np.median(a))
    return {"median_ms": median, "p90_ms": float(np.percentile(a, 90)), "n": int(a.size), "params": int(model.count_params()),
            "s_per_epoch": median / batch_size * len(x) / 1000}
