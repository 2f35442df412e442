"""Measurements behind evaluation/benchmark.py: single-image latency and time-to-accuracy."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from digitlab import preprocess


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    a = np.asarray(samples_ms)
    return {"p50_ms": float(np.percentile(a, 50)), "p95_ms": float(np.percentile(a, 95)), "n": int(a.size)}


def canvas_like(digit: np.ndarray, side: int = 280) -> np.ndarray:
    """An MNIST digit (28, 28) uint8 as the app's canvas returns a drawing: (side, side, 4) RGBA uint8,
    white strokes, transparent background."""
    import cv2

    big = cv2.resize(digit, (side, side), interpolation=cv2.INTER_LINEAR)
    rgba = np.zeros((side, side, 4), np.uint8)
    rgba[..., :3] = 255
    rgba[..., 3] = big
    return rgba


def latency(classifier, pictures: list[np.ndarray], repeats: int = 200) -> dict[str, dict[str, float]]:
    """p50/p95 of picture -> probabilities for three forward paths, with the same preprocessing.

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
            forward(preprocess.prepare(pic).image)
        samples = []
        n = repeats if name != "model.predict" else max(20, repeats // 5)  # predict is slow; fewer samples suffice
        for i in range(n):
            pic = pictures[i % len(pictures)]
            t0 = time.perf_counter()
            x = preprocess.prepare(pic).image
            t1 = time.perf_counter()
            forward(x)
            t2 = time.perf_counter()
            samples.append((t2 - t0) * 1000)
            pre.append((t1 - t0) * 1000)
        out[name] = percentiles(samples)
    out["preprocessing only"] = percentiles(pre)
    return out


@dataclass
class Race:
    """Result of ``time_to_accuracy``: training seconds (evaluation excluded) until ``target``."""

    name: str
    target: float
    reached: bool
    train_seconds: float
    epochs: float
    curve: list[tuple[float, float, float]] = field(default_factory=list)  # (epochs, train seconds, test accuracy)


def time_to_accuracy(name, model, train_ds, steps_per_epoch, x_test, y_test, target=0.99, evals_per_epoch=8, max_epochs=15,
                     callbacks=()) -> Race:
    """Train ``model`` (compiled) on ``train_ds`` and evaluate on test every 1/evals_per_epoch epoch;
    stop as soon as test accuracy >= target.  Evaluation time is not counted.  ``callbacks``: those
    the training recipe needs (``train.training_data``)."""
    import keras
    import tensorflow as tf

    every = max(1, steps_per_epoch // evals_per_epoch)
    x = tf.constant(x_test[..., None].astype(np.float32))

    @tf.function
    def accuracy():
        pred = tf.argmax(model(x, training=False), axis=1)
        return tf.reduce_mean(tf.cast(tf.equal(pred, tf.constant(y_test, tf.int64)), tf.float32))

    class Watch(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.train_s, self.steps, self.curve, self.reached = 0.0, 0, [], False
            self.t0 = None

        def on_train_batch_begin(self, batch, logs=None):
            if self.t0 is None:
                self.t0 = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            self.steps += 1
            if self.steps % every:
                return
            self.train_s += time.perf_counter() - self.t0
            acc = float(accuracy())
            self.curve.append((self.steps / steps_per_epoch, self.train_s, acc))
            print(f"  {name}: {self.steps / steps_per_epoch:.2f} epochs, {self.train_s:.1f} s, test {acc:.4f}", flush=True)
            if acc >= target:
                self.reached = True
                self.model.stop_training = True
            self.t0 = None  # the clock restarts at the next batch

    watch = Watch()
    model.fit(train_ds, epochs=max_epochs, callbacks=[*callbacks, watch], verbose=0)
    last = watch.curve[-1] if watch.curve else (0.0, 0.0, 0.0)
    return Race(name, target, watch.reached, last[1], last[0], watch.curve)


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
