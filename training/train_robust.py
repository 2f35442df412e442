"""python training/train_robust.py [--attack fgsm] [--eps 0.3] [--epochs 14] [--dry-run]

Adversarially trained CNN ("Fast is better than free", Wong et al. 2020): every training batch
is replaced by its FGSM perturbation from a random start in the eps-ball (step 1.25 eps), found
against the current weights; eps ramps up linearly from 0 over the first epochs.  The checkpoint
is chosen on PGD accuracy of the validation split (val_pgd_accuracy), which guards against
FGSM training's catastrophic overfitting.  --attack pgd trains on PGD instead (Madry et al.,
--pgd-steps x slower).  Same training path, card and files as every other model
(digitlab.train.run); afterwards FGSM and PGD-40 accuracies on MNIST test are measured with
digitlab.attacks and written into the card under "adversarial".
Writes models/mnist_robust.keras with its card.

Robust-training flags (besides the common ones below):
  --attack {fgsm,pgd}   attack used for training (default fgsm)
  --eps EPS             L-inf radius trained for (default 0.3)
  --alpha A             FGSM step in units of eps (default 1.25)
  --pgd-steps K         PGD steps when --attack pgd (default 10)
  --ramp-epochs R       epochs over which eps grows from 0 (default 2)
  --eval-n N            MNIST test digits for the card's attack figures (default 10000; --dry-run 200)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time

import _bootstrap  # noqa: F401

from digitlab.train import TrainConfig, main

DEFAULTS = TrainConfig(
    name="mnist_robust",
    builder="cnn",
    model_kwargs={"width": 32, "dropout": 0.0},
    epochs=14,
    batch_size=128,
    learning_rate=3e-3,
    warmup_epochs=1.0,
    schedule="onecycle",
    label_smoothing=0.0,  # smoothing flattens logits and makes gradient attacks look weaker than they are
    rotation_deg=0.0,  # the adversary is the augmentation; geometric jitter only costs CPU here
    translate=0.0,
    zoom=0.0,
    stroke=0.0,
    patience=6,
    adversarial={"attack": "fgsm", "eps": 0.3, "alpha": 1.25, "pgd_steps": 10, "ramp_epochs": 2.0, "val_steps": 10, "val_fraction": 0.25},
    monitor="val_pgd_accuracy",
)


def parse_robust(argv: list[str] | None) -> tuple[TrainConfig, int | None, list[str]]:
    """The robust-training flags; the rest go to digitlab.train's common parser."""
    p = argparse.ArgumentParser(add_help=False)
    r = DEFAULTS.adversarial
    p.add_argument("--attack", choices=("fgsm", "pgd"), default=r["attack"])
    p.add_argument("--eps", type=float, default=r["eps"])
    p.add_argument("--alpha", type=float, default=r["alpha"])
    p.add_argument("--pgd-steps", type=int, default=r["pgd_steps"])
    p.add_argument("--ramp-epochs", type=float, default=r["ramp_epochs"])
    p.add_argument("--eval-n", type=int, default=None)
    a, rest = p.parse_known_args(argv)
    if not 0 < a.eps <= 1:
        p.error("--eps must be in (0, 1]")
    recipe = dict(r, attack=a.attack, eps=a.eps, alpha=a.alpha, pgd_steps=a.pgd_steps, ramp_epochs=a.ramp_epochs)
    return dataclasses.replace(DEFAULTS, adversarial=recipe), a.eval_n, rest


def measure(path, config: TrainConfig, eval_n: int | None) -> dict:
    """FGSM (eps 0.1, 0.3) and PGD-40 (eps 0.1, 0.3) accuracy on MNIST test, as in the card."""
    from digitlab import artifacts, attacks
    from digitlab.robustness import console_progress
    from digitlab.train import prepare_mnist

    d = prepare_mnist(config)
    n = eval_n or (200 if config.dry_run else len(d.x_test))
    entry = artifacts.inspect(path)
    t0 = time.time()
    figures = attacks.headline(entry, d.x_test[:n], d.y_test[:n], progress=console_progress("attacks on test"))
    figures["seconds"] = round(time.time() - t0, 1)
    return figures


def run(argv: list[str] | None = None) -> int:
    from digitlab import artifacts

    config, eval_n, rest = parse_robust(argv)
    path = main(config, __doc__, rest)
    config = TrainConfig(**artifacts.read_card(path)["config"])  # as run: --dry-run, --seed... included
    figures = measure(path, config, eval_n)
    artifacts.update_card(path, {"adversarial": figures})
    print(json.dumps({"model": path.stem, **figures}))
    return 0


if __name__ == "__main__":
    sys.exit(run())
