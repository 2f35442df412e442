"""Model cards: what a card records and how, in one place.

A card (``models/<name>.json``, beside ``<name>.keras``) is written only by code, and every writer makes
it with ``build``: the training run, the ensemble builder, the weight interpolation, the digit gate,
fine-tuning, the export report; calibration, the attack measurement, the hyperparameter search and
``promote`` add their section to an existing card through ``artifacts.update_card``/``promote``.
``KEYS`` lists every top-level key any of them writes, and ``validate`` (also named ``check``) refuses a
card with any other key or with a value the code cannot use (``READ_CHECKS``), on write (``build``,
``artifacts.save_model``, ``update_card``, ``promote``) and again on read (``artifacts.card_refusal`` for
every listing, ``serving.gate``, ``serving.classifiers.export_card``, ``report.results``): a card on disk
may have been edited since, and a card with a hand-written key makes its model unusable with the reason.
``tests/test_cards.py`` checks every committed card.

A new key: add its line to ``KEYS`` (who writes it); if some code reads its value, add a check to
``READ_CHECKS`` too.  A key inside "config" (a config dataclass's field) needs neither: the section is
the writer's config, whole.

    build(fields)     a new card: the writer's fields + provenance(), checked and validated
    command_line()    the full command that made a model (script path from the repo root + every flag)
    provenance()      library versions, preprocessing version, input format, date
    data_summary(d)   where MNIST came from, its fingerprint, the split sizes
"""

from __future__ import annotations

import contextlib
import json
import math
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
    "data": "data_summary (trainer, ensemble, interpolate), training.gate.run, training.reader.run, training.finetune.run",
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
    "rebuild": "training/promote.py --recipe (training/rebuild.py): the command that makes the model again and its steps",
    "recipe": "training.trainer.run with --config, training/promote.py --recipe: the recipe file and its one-paragraph description",
    "real_strokes": "training.trainer.run with --real-strokes, training.reader.run: the real-strokes file (name, sha256) and its writer split",
    "edits": "training.trainer.edits_used, training.gate.run: the versions of the writing-convention edits the augmentation drew "
             "(stroke_augment.EDITS_VERSION, unipen.EDITS_VERSION); kept by interpolate, ensemble and init/distill sources",
    "interpolation": "training.interpolate.run: alpha and the two networks whose weights it mixed (the start and its fine-tune)",
    "members": "training.ensemble.build, training.reader.combine",
    "kind": "training.gate.run, training.reader.run, training.reader.combine",
    "threshold": "training.gate.run (number readers fitted before the margin held theirs here: training.reader.refit removes it)",
    "threshold_fitted_on": "training.gate.run",
    "margin": "training.reader.run, training.reader.combine, training.reader.refit: the number reader's combination rule, log P(its) - log P(cuts') >= margin",
    "margin_fitted_on": "training.reader.run, training.reader.combine, training.reader.refit",
    "history": "training.gate.run, training.reader.run",
    "measured": "training.gate.run, training.reader.run, training.reader.combine",
    "base": "training.finetune.run",
    "finetune": "training.finetune.run",
    "tuning": "training.tune.run",
    "refit": "training.reader.refit: the command that fitted the number reader's margin again, against which classifier, and before",
    "calibration": "evaluation/calibrate.py --write-card",
    "adversarial": "training/train_robust.py, evaluation/attack.py --write-card",
    "promoted": "models.artifacts.promote (training/promote.py)",
    "export": "serving.parity.write_report: the files exported beside a copy of the card (evaluation/export.py), never in models/",
}
# The "adversarial" section: attacks.headline's figures plus how they were measured.
ADVERSARIAL_KEYS = {"n", "pgd_steps", "restarts", "clean_accuracy", "seconds", "command", "sanity"}  # sanity: attack.py's report, its checks' verdicts
HEADLINE_KEY = re.compile(r"^(fgsm|pgd\d+(_margin)?)_eps[0-9.]+$")


class CardError(ValueError):
    """A card with a key no code writes, or a value the code that reads it cannot use (``validate``)."""


# ----------------------------------------------------------------------------- reading
#
# A card on disk may have been edited, truncated or written by someone else, and the code trusts what it
# reads there: the listing sorts by metrics.test_accuracy (the best one becomes the default model), every
# prediction divides by calibration.temperature and compares with the abstain threshold, the gate reads
# its threshold.  ``validate`` checks the value of every key some code reads, so a bad card makes its own
# model unusable with a reason (artifacts.list_models, artifacts.inspect, serving.runtime) instead of
# crashing the listing or every prediction.  To make a new key's value safe to read, add a check to
# READ_CHECKS (keys nobody reads need none; every key still needs its line in KEYS above).


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _fraction(v) -> str | None:
    return None if _is_number(v) and 0 <= v <= 1 else f"{_shown(v)} is not a number in [0, 1]"


def _count(v) -> str | None:
    return None if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else f"{_shown(v)} is not a whole number >= 0"


def _non_negative(v) -> str | None:
    return None if _is_number(v) and v >= 0 else f"{_shown(v)} is not a finite number >= 0"


def _seconds(v) -> str | None:
    return None if _is_number(v) and v >= 0 else f"{_shown(v)} is not a number of seconds >= 0"


def _text(v) -> str | None:
    return None if isinstance(v, str) else f"{_shown(v)} is not a text"


def _section(v) -> str | None:
    return None if isinstance(v, dict) else f"{_shown(v)} is not an object"


def _metrics(v) -> str | None:
    if not isinstance(v, dict):
        return f"{_shown(v)} is not an object"
    for k, x in v.items():  # accuracies, F1 and agreement are fractions; the listing sorts by test_accuracy
        if any(word in k for word in ("accuracy", "f1", "agreement")) and x is not None and (why := _fraction(x)):
            return f".{k}: {why}"
    return None


def _calibration(v) -> str | None:
    if not isinstance(v, dict):
        return f"{_shown(v)} is not an object"
    t = v.get("temperature")
    low, high = TEMPERATURE_RANGE
    if t is not None and not (_is_number(t) and low <= t <= high):
        return f".temperature: {_shown(t)} is not a number in [{low:g}, {high:g}]"
    rule = v.get("abstain")
    if rule is not None:
        if not isinstance(rule, dict):
            return f".abstain: {_shown(rule)} is not an object"
        if rule.get("threshold") is not None and (why := _fraction(rule["threshold"])):
            return f".abstain.threshold: {why}"
    return None


def _members(v) -> str | None:
    """A list of member cards, each value of each one checked as a card's (``READ_CHECKS``: the Models page reads a
    member's builder, interpolation and init); a member card may hold keys a card does not ("file")."""
    if not isinstance(v, list) or not all(isinstance(m, dict) for m in v):
        return f"{_shown(v)} is not a list of member cards"
    for i, member in enumerate(v):
        if (why := _values(member)) is not None:
            return f"[{i}].{why.lstrip('.')}"
    return None


def _interpolation(v) -> str | None:
    if not isinstance(v, dict):
        return f"{_shown(v)} is not an object"
    alpha = v.get("alpha")
    return None if alpha is None or _fraction(alpha) is None else f".alpha: {_fraction(alpha)}"


# key -> check of its value (None: fine; else why not).  A key absent or null is not checked.  Sections other code
# indexes into (card["data"]["user_train"], card.get("measured").get(...)) must at least be objects.
READ_CHECKS = {
    "name": _text,
    "builder": _text,
    "command": _text,
    "date": _text,
    "kind": _text,
    "config": _section,
    "data": _section,
    "init": _section,
    "distill": _section,
    "measured": _section,  # the number reader's: which classifier file its margin was fitted against
    "base": _section,
    "finetune": _section,
    "export": _section,
    "metrics": _metrics,
    "calibration": _calibration,
    "threshold": _fraction,  # the digit gate's
    "margin": _non_negative,  # the number reader's
    "params": _count,
    "file_bytes": _count,
    "epochs_run": _count,
    "train_seconds": _seconds,
    "total_seconds": _seconds,
    "members": _members,
    "interpolation": _interpolation,
    "adversarial": _section,
}
# The temperatures calibration.fit_temperature searches: T = 5e-324 passes "positive and finite" and makes every
# confidence NaN (not JSON), T = 1e308 every answer 10%.
TEMPERATURE_RANGE = (0.05, 20.0)


def _values(card: dict) -> str | None:
    """Why a value of ``card`` that some code reads has the wrong type or range (``READ_CHECKS``), or None."""
    for key, check_value in READ_CHECKS.items():
        if card.get(key) is not None and (why := check_value(card[key])):
            return f"{key}{why}" if why.startswith(".") or why.startswith("[") else f"{key}: {why}"
    return None


def _shown(v) -> str:
    text = json.dumps(v, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


def validate(card) -> dict:
    """Raise CardError (saying which key and why) unless every key of ``card`` is one the code writes (``KEYS``;
    the "adversarial" section's too) and every value some code reads has the type and range that code needs;
    returns the card.  Every write and every read of a card goes through it: a card carrying a key no code
    writes was edited by hand, or by another version of this code, and its figures are not trusted."""
    if not isinstance(card, dict):
        raise CardError(f"a card is a JSON object, not {type(card).__name__}")
    unknown = sorted(set(card) - set(KEYS))
    if unknown:
        raise CardError(f"card keys {unknown} are written by no code (known: digitlab.models.cards.KEYS)")
    adversarial = card.get("adversarial") or {}
    odd = sorted(k for k in adversarial if k not in ADVERSARIAL_KEYS and not HEADLINE_KEY.match(k)) if isinstance(adversarial, dict) else []
    if odd:
        raise CardError(f"card section 'adversarial' has keys {odd} that no code writes")
    if (why := _values(card)) is not None:
        raise CardError(why)
    return card


check = validate  # the name the writers call: a card is checked the same way on write and on read


def build(fields: dict) -> dict:
    """A new card: ``fields`` (the writer's own keys) completed with ``provenance()`` (a key the writer gives
    is kept), then ``check``ed (only keys in KEYS, values every reader can use); raises
    CardError before anything is written.  The one way any code makes a card."""
    card = dict(fields)
    for key, value in provenance().items():
        card.setdefault(key, value)
    return check(card)


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
