"""What the models learn from, at a glance: MNIST's class counts per split, samples of each class, and
the user's own collected digits (``digitlab.data.user_digits``).  No TensorFlow here: the app's Data page
shows all of it without loading it (the live augmentation is ``digitlab.training.preview``).

    class_counts(raw)                 {split: [count of 0, ..., count of 9]} for train, val and test
    class_samples(raw, split, n, seed)  n digits of every class from one split, as model inputs
    nth_of_class(raw, split, digit, n)  one digit: the n-th of its class in a split, as a model input
    user_overview(folder, per_digit)  the user's digits: counts, the newest few as model inputs, what was skipped
    contact_sheet(images, columns)    many digits as one picture
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from digitlab.data import mnist, user_digits

SPLITS = ("train", "val", "test")


def _split(raw: mnist.Mnist, split: str) -> tuple[np.ndarray, np.ndarray]:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; one of {', '.join(SPLITS)}")
    return getattr(raw, f"x_{split}"), getattr(raw, f"y_{split}")


def class_counts(raw: mnist.Mnist) -> dict[str, list[int]]:
    """Digits of each class (0..9) in each split of ``data.load()``."""
    return {s: np.bincount(_split(raw, s)[1], minlength=10).astype(int).tolist() for s in SPLITS}


def class_samples(raw: mnist.Mnist, split: str, per_class: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``per_class`` digits of every class drawn at random (``seed``) from ``split``, class by class:
    (x (10 * per_class, 28, 28) float32 model inputs, y (10 * per_class,) int64)."""
    _, y = _split(raw, split)
    rng = np.random.default_rng(seed)
    idx = np.concatenate([rng.choice(np.flatnonzero(y == d), per_class, replace=False) for d in range(10)])
    return raw.inputs(split, indices=idx)


def nth_of_class(raw: mnist.Mnist, split: str, digit: int, n: int) -> tuple[np.ndarray, int]:
    """The ``n``-th digit of class ``digit`` in ``split`` as a model input ((28, 28) float32) and its index
    in the split; ``n`` beyond the class's count raises ValueError saying how many there are."""
    _, y = _split(raw, split)
    where = np.flatnonzero(y == int(digit))
    if not 0 <= n < len(where):
        raise ValueError(f"the {split} split holds {len(where)} digits {digit} (numbered 0 to {len(where) - 1}), not {n}")
    x, _ = raw.inputs(split, indices=[int(where[n])])
    return x[0], int(where[n])


@dataclass
class UserOverview:
    """The user's digits folder as the Data page shows it."""

    folder: Path
    exists: bool
    counts: dict[int, int]  # picture files per digit (user_digits.counts)
    newest: dict[int, list[tuple[np.ndarray, str]]]  # per digit: up to ``per_digit`` (model input, file name), newest first
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, reason) of the pictures among those that cannot be used

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def short(self, minimum: int = user_digits.MIN_PER_CLASS) -> list[int]:
        """The digits that keep the folder from fine-tuning (``user_digits.short``)."""
        return list(user_digits.short(self.counts, minimum))


def user_overview(folder: Path | None = None, per_digit: int = 8) -> UserOverview:
    """Counts of the user's digits and the newest ``per_digit`` of each through ``preprocess.prepare`` (only
    those are read, so a large folder costs no more); an unreadable or blank picture among them is listed in
    ``skipped`` with the reason instead.  A missing folder is an empty overview, not an error."""
    from digitlab import preprocess

    folder = Path(folder) if folder is not None else user_digits.default_dir()
    if not folder.is_dir():
        return UserOverview(folder, False, {d: 0 for d in range(10)}, {d: [] for d in range(10)})
    counts = user_digits.counts(folder)
    newest: dict[int, list[tuple[np.ndarray, str]]] = {}
    skipped: list[tuple[str, str]] = []
    for d in range(10):
        newest[d] = []
        for path in user_digits.samples(d, folder)[:per_digit]:
            name = f"{d}/{path.name}"
            try:
                prepared = preprocess.prepare(path, invert="auto")
            except (preprocess.ImageError, OSError) as e:
                skipped.append((name, f"unreadable: {e}"))
                continue
            if prepared.no_ink:
                skipped.append((name, "no ink found (blank or nearly blank picture)"))
                continue
            newest[d].append((prepared.image, path.name))
    return UserOverview(folder, True, counts, newest, skipped)


def contact_sheet(images: np.ndarray, columns: int, gap: int = 2, background: float = 0.25) -> np.ndarray:
    """(N, 28, 28) digits (float in [0, 1] or uint8) laid out ``columns`` to a row on a grey ground ->
    one uint8 picture, to show many digits as one image."""
    a = np.asarray(images)
    if a.dtype != np.uint8:
        a = (np.clip(a.astype(np.float32), 0, 1) * 255).round().astype(np.uint8)
    n, h, w = a.shape
    rows = max(1, -(-n // columns))
    sheet = np.full((rows * (h + gap) + gap, columns * (w + gap) + gap), round(background * 255), np.uint8)
    for i, img in enumerate(a):
        r, c = divmod(i, columns)
        sheet[gap + r * (h + gap) : gap + r * (h + gap) + h, gap + c * (w + gap) : gap + c * (w + gap) + w] = img
    return sheet
