"""The pictures every "not a digit" figure is measured on, and how a rejection is summarised.

The non-digits come from ``digitlab.data.nondigits``' generators with the measurement seeds (MEASURE_SEEDS, all
below the seeds the digit gate trains on), the digits from MNIST *test* redrawn with a canvas brush and from the
held-out fonts; ``evaluation.calibration``, the gate's training report and fine-tuning measure on them.
"""

from __future__ import annotations

import numpy as np

from digitlab.data.nondigits import (
    HELDOUT_LETTERS,
    drawn_digit_pictures,
    non_digit_pictures,
    prepare_pictures,
    printed_digit_pictures,
)

MEASURE_SEEDS = {"in_distribution": 1, "held_out": 2, "fresh": 3}  # the gate trains on seeds >= 1000
MEASURE_SPLITS = {"in_distribution": "train", "held_out": "heldout", "fresh": "fresh"}
DRAWN_WIDTHS = (0.04, 0.30)  # the brush range of evaluation/drawn_digits.py; training used up to 0.25


def measurement_sets(x_test_raw: np.ndarray, y_test: np.ndarray, n_non_digits: int = 400, n_digits: int = 1000) -> dict:
    """The pictures every "not a digit" figure is measured on, preprocessed:

    non_digits: {"in_distribution": train generators, seed 1; "held_out": heldout generators, seed 2;
                 "fresh": fresh generators, seed 3}
    digits:     {"drawn": MNIST *test* digits redrawn with a 0.04-0.30 brush, "printed": digits from the
                 held-out fonts}
    Each value is ``prepare_pictures``' (images, no_ink, kinds, details)."""
    rng = np.random.default_rng(MEASURE_SEEDS["held_out"])
    idx = np.sort(rng.choice(len(x_test_raw), min(n_digits, len(x_test_raw)), replace=False))
    return {
        "non_digits": {name: prepare_pictures(non_digit_pictures(n_non_digits, MEASURE_SEEDS[name], MEASURE_SPLITS[name]))
                       for name in MEASURE_SEEDS},
        "digits": {
            "drawn": prepare_pictures(drawn_digit_pictures(x_test_raw[idx], y_test[idx], MEASURE_SEEDS["held_out"], DRAWN_WIDTHS)),
            "printed": prepare_pictures(printed_digit_pictures(max(10, n_digits // 4), MEASURE_SEEDS["held_out"], "heldout")),
        },
    }


def rejection_summary(rejected: np.ndarray, no_ink: np.ndarray, kinds: list[str], details: list[str]) -> dict:
    """Share rejected overall, per kind, per detail, and of the letters no training picture showed."""
    rejected, kinds, details = np.asarray(rejected, bool), np.asarray(kinds), np.asarray(details)
    unseen = np.isin(details, list(HELDOUT_LETTERS)) & (kinds == "letter")
    return {
        "n": int(len(rejected)),
        "rejected": float(rejected.mean()) if len(rejected) else None,
        "no_ink": float(np.mean(no_ink)) if len(rejected) else None,
        "rejected_by_kind": {k: float(rejected[kinds == k].mean()) for k in dict.fromkeys(kinds.tolist())},
        "rejected_by_detail": {k: float(rejected[details == k].mean()) for k in sorted(set(details.tolist()))},
        "unseen_letters_rejected": float(rejected[unseen].mean()) if unseen.any() else None,
    }
