"""Adversarial training: ``model.fit`` on FGSM, N-FGSM or PGD examples (``TrainConfig.adversarial`` is the recipe).

The examples come from ``digitlab.evaluation.attacks.perturb``, the same signed-gradient L-inf step the
evaluation attacks use, so a model is trained against exactly the attack it is then measured with.
"""

from __future__ import annotations

import tensorflow as tf

from digitlab.evaluation.attacks import default_step_size, perturb
from digitlab.models import adapter


def install_adversarial_training(model, recipe: dict, steps_per_epoch: int) -> None:
    """Make ``model.fit`` train on adversarial examples (``TrainConfig.adversarial`` is the recipe).

    Each training batch is replaced by its FGSM-with-random-start ("Fast is better than free",
    Wong et al. 2020), N-FGSM (de Jorge et al. 2022: a random start of up to 2 eps and one eps step,
    not projected back onto the eps-ball, which avoids FGSM's catastrophic overfitting at large eps)
    or PGD perturbation, found against the current weights in inference mode;
    Keras' own train step (compiled loss, optimizer, metrics) then trains on it.  Validation
    additionally reports ``pgd_accuracy`` (PGD with ``val_steps`` steps at the full eps) so the
    checkpoint can be chosen on robustness: FGSM training can overfit catastrophically (PGD
    accuracy collapses while FGSM accuracy rises), and that must not be the model we keep.

    recipe keys (defaults): attack "fgsm" | "nfgsm" | "pgd" ("fgsm"), eps (0.3), alpha: FGSM step, in units
    of eps (1.25; N-FGSM: 1.0), noise: N-FGSM's random start in units of eps (2.0), pgd_steps (10) and
    pgd_alpha (2.5 / pgd_steps) for attack "pgd", ramp_epochs:
    eps grows linearly from 0 over this many epochs (2), val_steps (10), val_fraction: share of
    each validation batch that is attacked (0.25; the clean metrics use all of it).
    The model itself is untouched: only this instance's ``train_step``/``test_step`` change, so the
    saved file is a plain Functional model.
    """
    import keras

    r = {"attack": "fgsm", "eps": 0.3, "alpha": 1.0 if recipe.get("attack") == "nfgsm" else 1.25, "noise": 2.0,
         "pgd_steps": 10, "pgd_alpha": None, "ramp_epochs": 2.0, "val_steps": 10, "val_fraction": 0.25, **recipe}
    if r["attack"] not in ("fgsm", "nfgsm", "pgd"):
        raise ValueError(f"unknown adversarial training attack {r['attack']!r}")
    logits_fn, _, _ = adapter.logits_function(model)
    eps_max = float(r["eps"])
    ramp_steps = max(1.0, float(r["ramp_epochs"]) * steps_per_epoch)
    if r["attack"] == "fgsm":
        n_steps, alpha, random_start = 1, float(r["alpha"]), True
    else:
        n_steps = int(r["pgd_steps"])
        alpha, random_start = float(r["pgd_alpha"] or 2.5 / n_steps), True
    val_steps, val_fraction = int(r["val_steps"]), float(r["val_fraction"])
    keras_train_step, keras_test_step = model.train_step, model.test_step
    tracker = keras.metrics.Mean(name="pgd_accuracy")

    noise = float(r["noise"])

    def train_step(data):
        x, y = data[0], data[1]
        done = tf.cast(model.optimizer.iterations, tf.float32)
        eps = eps_max * tf.minimum(1.0, (done + 1.0) / ramp_steps)
        if r["attack"] == "nfgsm":
            # one alpha-step from a noisy start up to noise * eps away, not projected back onto the eps-ball of x
            x0 = tf.clip_by_value(x + noise * eps * tf.random.uniform(tf.shape(x), -1.0, 1.0), 0.0, 1.0)
            x_adv = perturb(logits_fn, x0, tf.argmax(y, -1), alpha * eps, alpha * eps, 1, random_start=False)
        else:
            x_adv = perturb(logits_fn, x, tf.argmax(y, -1), eps, alpha * eps, n_steps, random_start)
        return keras_train_step((tf.stop_gradient(x_adv), y))

    def test_step(data):
        x, y = data[0], data[1]
        logs = keras_test_step(data)
        k = tf.maximum(1, tf.cast(tf.cast(tf.shape(x)[0], tf.float32) * val_fraction, tf.int32))
        xs, ys = x[:k], tf.argmax(y[:k], -1)
        seed = tf.stack([tf.constant(7, tf.int64), tf.cast(tf.reduce_sum(xs * 1000.0), tf.int64)])  # fixed per batch
        x_adv = perturb(logits_fn, xs, ys, eps_max, default_step_size(eps_max, val_steps), val_steps, True, seed,
                        keep_first_success=True)
        tracker.update_state(tf.cast(tf.argmax(logits_fn(x_adv), -1) == ys, tf.float32))
        return {**logs, "pgd_accuracy": tracker.result()}

    def reset_metrics():
        keras.Model.reset_metrics(model)
        tracker.reset_state()

    model.train_step = train_step
    model.test_step = test_step
    model.reset_metrics = reset_metrics
