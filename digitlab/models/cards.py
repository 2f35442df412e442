"""Model cards: what a card records and how, in one place.

A card (``models/<name>.json``, beside ``<name>.keras``) is written only by code: the training run,
the ensemble builder, the weight interpolation, the digit gate, fine-tuning, the hyperparameter search, calibration, the
attack measurement and ``promote``.  ``KEYS`` lists every top-level key any of them writes, and
``check`` refuses a card with any other key (``artifacts`` calls it on every write), so a card can
hold nothing that was edited in by hand; ``tests/test_cards.py`` checks every committed card.

    command_line()    the full command that made a model (script path from the repo root + every flag)
    provenance()      library versions, preprocessing version, input format, date
    data_summary(d)   where MNIST came from, its fingerprint, the split sizes
"""

from __future__ import annotations

import contextlib
import platform
import re
import shlex
import sys
from datetime import UTC, datetime

INPUT = "28x28x1 float32 in [0,1], light ink on black, via digitlab.preprocess"

# Every top-level key a card may hold -> who writes it.
KEYS = {
    "name": "every writer",
    "builder": "training.trainer.run, training.ensemble.build, training.finetune.run, training.interpolate.run (the fine-tune's)",
    "config": "the writer's config dataclass, whole",
    "seed": "training.trainer.run, training.ensemble.build, training.finetune.run, training.interpolate.run (the fine-tune's)",
    "data": "data_summary (trainer, ensemble, interpolate), training.gate.run, training.finetune.run",
    "metrics": "training.trainer.run, training.ensemble.build, training.finetune.run, training.interpolate.run",
    "epochs_run": "training.trainer.run, training.finetune.run, training.interpolate.run (the fine-tune's)",
    "params": "every writer of a model",
    "file_bytes": "models.artifacts.save_model",
    "train_seconds": "every writer of a model",
    "total_seconds": "every writer of a model",
    "cpu_seconds": "training.trainer.run (user + system time of the training process, every part of a resumed run)",
    "command": "command_line() of the script that wrote the card",
    "versions": "provenance()",
    "preprocess_version": "provenance()",
    "input": "provenance()",
    "date": "provenance()",
    "dry_run": "every writer",
    "distributed": "training.trainer.run with --distribute multiworker",
    "init": "training.trainer.run with --init-from: the trained model it started from (file, sha256, member, figures)",
    "distill": "training.trainer.run with --distill-from: the teacher whose probabilities softened the targets (file, sha256, figures, weight)",
    "rebuild": "training/promote.py --chain (training/rebuild.py): the command that makes the model again and its steps",
    "real_strokes": "training.trainer.run with --real-strokes: the real-strokes file (name, sha256) and its writer split",
    "interpolation": "training.interpolate.run: alpha and the two networks whose weights it mixed (the start and its fine-tune)",
    "members": "training.ensemble.build",
    "kind": "training.gate.run",
    "threshold": "training.gate.run",
    "threshold_fitted_on": "training.gate.run",
    "history": "training.gate.run",
    "measured": "training.gate.run",
    "base": "training.finetune.run",
    "finetune": "training.finetune.run",
    "tuning": "training.tune.run",
    "calibration": "evaluation/calibrate.py --write-card",
    "adversarial": "training/train_robust.py, evaluation/attack.py --write-card",
    "promoted": "models.artifacts.promote (training/promote.py)",
}
# The "adversarial" section: attacks.headline's figures plus how they were measured.
ADVERSARIAL_KEYS = {"n", "pgd_steps", "restarts", "clean_accuracy", "seconds", "command", "sanity"}  # sanity: attack.py's report, its checks' verdicts
HEADLINE_KEY = re.compile(r"^(fgsm|pgd\d+(_margin)?)_eps[0-9.]+$")


class CardError(ValueError):
    """A card with a key no code writes."""


def check(card: dict) -> dict:
    """Raise CardError unless every key of ``card`` is one the code writes; returns the card."""
    unknown = sorted(set(card) - set(KEYS))
    if unknown:
        raise CardError(f"card keys {unknown} are written by no code (known: digitlab.models.cards.KEYS)")
    adversarial = card.get("adversarial") or {}
    odd = sorted(k for k in adversarial if k not in ADVERSARIAL_KEYS and not HEADLINE_KEY.match(k))
    if odd:
        raise CardError(f"card section 'adversarial' has keys {odd} that no code writes")
    return card


def command_line(argv: list[str] | None = None, script: str | None = None) -> str | None:
    """``python <script> <flags>``: the script as a path from the repository root, every flag quoted as
    a shell would need.  ``argv`` defaults to this process's flags; ``script`` to the running script."""
    from digitlab.paths import shown

    script = script if script is not None else (sys.argv[0] if sys.argv and sys.argv[0] else None)
    if not script:
        return None
    flags = sys.argv[1:] if argv is None else [str(a) for a in argv]
    return "python " + shlex.join([shown(script), *flags])


def versions() -> dict[str, str]:
    """The versions of Python and of the libraries that decide what a model computes."""
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for pkg in ("tensorflow-cpu", "tensorflow", "keras", "numpy", "scikit-learn", "opencv-python-headless", "pillow"):
        with contextlib.suppress(md.PackageNotFoundError):
            out[pkg] = md.version(pkg)
    return out


def provenance() -> dict:
    """The card fields that say with what and when a model was made, and what input it expects."""
    from digitlab import preprocess

    return {
        "versions": versions(),
        "preprocess_version": preprocess.PREPROCESS_VERSION,
        "input": INPUT,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def data_summary(d) -> dict:
    """The card's "data" entry for a ``digitlab.data.Mnist``: source, fingerprint and split sizes."""
    return {"source": d.source, "fingerprint": d.fingerprint, "train": len(d.x_train), "val": len(d.x_val), "test": len(d.x_test)}
