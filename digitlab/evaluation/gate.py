"""The digit gate's benchmark: is what people upload instead of a digit refused, and are real digits kept?

    non-digits   ``nondigits.upload_pictures`` with BENCHMARK_SEED (below ``nondigits.TRAIN_SEEDS_FROM``, so no
                 training picture is among them), the same number per category: cartoon faces, emoji,
                 letters, scribbles, shapes, text; as canvas drawings or uploads, at sizes up to 1200 px
    MNIST test   the 10,000 test digits as every model sees them (``Mnist.inputs``): at most 1 % may be refused
    real digits  TEST ONLY (``data.handwriting_test``, never trained on): scikit-learn's 1,797 digits by 43
                 writers as photos of paper and as canvas drawings, and canvas digits in the writing
                 conventions of that benchmark; with a real-strokes file, real pen strokes of writers no model
                 or gate trained on, drawn as the handwriting benchmark draws them: the held-out site and the
                 training sites' validation writers with their pen-ups kept, the held-out site's with them lost,
                 and both as the pen's whole path through 8 points (the UCI pendigits protocol)
    touching     MNIST *test* digits written two or three in a row, touching (``nondigits.touching_digits``, the
                 same seed): a number on the one-digit canvas is not one digit.  Reported beside the uploads, not
                 in "all non-digits", which stays the share of what people upload instead of a digit

Every picture goes through ``preprocess.prepare`` as an upload or a drawing does: a picture with no ink, and one
whose strokes enclose something other than the paper (``Prepared.refusal``: a face), count as refused, because
every caller refuses them before any model runs; the report gives that check's share of each set on its own.  Each set is measured twice: by the gate alone,
and by each model's whole decision, ``serving.abstain.decide`` (the gate OR the card's calibrated confidence
threshold), which is how Home and the predict CLI decide.  ``python evaluation/gate.py`` prints and writes it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from digitlab.evaluation.handwriting import (
    REAL_HELD_OUT,
    REAL_HELD_OUT_JOINED,
    REAL_HELD_OUT_PATH,
    REAL_WRITERS,
    REAL_WRITERS_PATH,
)

BENCHMARK_SEED = 4  # < nondigits.TRAIN_SEEDS_FROM; the pen generators' measurements use 1-3
MNIST_TEST_BOUND = 0.01  # the share of MNIST test digits the rule may refuse
MNIST = "MNIST test"
REAL_SETS = ("load_digits upload", "load_digits canvas", "conventions")
REAL_STROKES_SETS = (REAL_HELD_OUT, REAL_HELD_OUT_JOINED, REAL_WRITERS, REAL_HELD_OUT_PATH, REAL_WRITERS_PATH)  # the handwriting
# benchmark's real sets, every one: the pen-ups kept (as the canvas records them), lost, and the pen's path through 8 points
TOUCHING = "touching digits"

Prepared = tuple[np.ndarray, np.ndarray, list[str], np.ndarray]  # images (N, 28, 28) float32, no_ink (N,) bool, details,
# refused by preprocessing's own check (N,) bool (``Prepared.refusal``)


def _prepared(pictures) -> Prepared:
    """``nondigits`` pictures (kind, detail, picture) -> ``Prepared``."""
    from digitlab.data import nondigits

    pictures = list(pictures)
    images, no_ink, checked = nondigits.prepare_images(p for _, _, p in pictures)
    return images, no_ink, [d for _, d, _ in pictures], checked


def benchmark_sets(mnist, n_per_category: int = 200, n_real: int = 1000, n_mnist: int | None = None,
                   seed: int = BENCHMARK_SEED, real_strokes=None) -> dict[str, dict[str, Prepared]]:
    """The pictures, preprocessed: {"non_digits": {category: Prepared}, "digits": {MNIST, REAL_SETS and, with a
    ``real_strokes`` file, REAL_STROKES_SETS: Prepared}}.  mnist: ``data.load()``'s result; n_mnist: the first n
    test digits (None: all 10,000); n_real: pictures per real set at most."""
    from digitlab.data import handwriting_test, nondigits

    if seed >= nondigits.TRAIN_SEEDS_FROM:
        raise ValueError(f"benchmark seeds must be below {nondigits.TRAIN_SEEDS_FROM}: larger ones make training pictures")
    non_digits = {}
    for category in nondigits.UPLOAD_CATEGORIES:
        non_digits[category] = _prepared(nondigits.upload_pictures(n_per_category, seed, (category,)))
    non_digits[TOUCHING] = _prepared(nondigits.touching_digits(mnist.x_test, mnist.y_test, n_per_category, seed))
    x, y = mnist.inputs("test", n_mnist, 0)
    digits = {MNIST: (x, np.zeros(len(x), bool), [str(int(v)) for v in y], np.zeros(len(x), bool))}  # already 28x28: no colour
    # the handwriting benchmark's own pictures (its seed 0), not ours: these are digits, never a training picture
    real = list(zip(REAL_SETS, (handwriting_test.load_digits_uploads(n_real), handwriting_test.load_digits_canvas("medium", n_real),
                                handwriting_test.conventions(n_real))))
    if real_strokes is not None:  # the handwriting benchmark's real sets (its seed 0)
        from digitlab.data import unipen
        from digitlab.evaluation import handwriting

        real += [(s.name, s) for s in handwriting.real_sets(unipen.split(unipen.load(real_strokes)), n_real, 0) if s.name in REAL_STROKES_SETS]
    for name, s in real:
        images, no_ink, checked = nondigits.prepare_images(s.pictures, s.invert)
        digits[name] = (images, no_ink, [str(int(v)) for v in s.labels], checked)
    return {"non_digits": non_digits, "digits": digits}


Rejects = Callable[[np.ndarray], np.ndarray]  # (N, 28, 28) inked images -> (N,) bool refused


def gate_rule(gate) -> Rejects:
    """The gate alone: P(digit) below its threshold."""
    return gate.rejects


def model_rule(model, gate) -> Rejects:
    """A model's whole decision, as Home and the predict CLI take it: ``abstain.decide`` with the model's card
    (temperature, confidence threshold) and ``gate``.  model: anything with ``predict_proba`` and ``entry``."""
    from digitlab.serving import abstain

    def rejects(images: np.ndarray) -> np.ndarray:
        if not len(images):
            return np.zeros(0, bool)
        verdicts = abstain.decide(model.predict_proba(images), model.entry.card, images, gate)
        return np.array([v.abstain for v in verdicts], bool)

    return rejects


def measure(rejects: Rejects, sets: dict, by_detail: bool = False) -> dict:
    """Share refused per set: {"non_digits": {category: share}, "digits": {set: share}} (+ "by_detail" per category,
    and "by_check": the share preprocessing's own check refuses, per set).  No ink and the check refuse first."""
    out: dict = {"non_digits": {}, "digits": {}, "by_check": {}}
    if by_detail:
        out["by_detail"] = {}
    for group in ("non_digits", "digits"):
        for name, (images, no_ink, details, checked) in sets[group].items():
            refused = no_ink | checked
            out["by_check"][name] = float(checked.mean()) if len(checked) else None
            if (~refused).any():
                refused[~refused] = rejects(images[~refused])
            out[group][name] = float(refused.mean()) if len(refused) else None
            if by_detail and group == "non_digits":
                d = np.asarray(details)
                out["by_detail"][name] = {k: float(refused[d == k].mean()) for k in sorted(set(details))}
    out["non_digits_all"] = float(np.mean([v for k, v in out["non_digits"].items() if k != TOUCHING]))
    return out


def run(sets: dict, gate, models: list) -> dict:
    """The gate alone, then each model's decision with ``gate``: {"rules": {"gate alone" or model name: ``measure``}}."""
    rules = {"gate alone": measure(gate_rule(gate), sets, by_detail=True)}
    for model in models:
        rules[model.name] = measure(model_rule(model, gate), sets)
    sizes = {group: {name: len(v[0]) for name, v in sets[group].items()} for group in ("non_digits", "digits")}
    return {"seed": BENCHMARK_SEED, "sizes": sizes, "mnist_test_bound": MNIST_TEST_BOUND, "rules": rules}


def markdown(report: dict) -> str:
    """The report as a table: one row per rule, refused share per set."""
    cats = list(report["sizes"]["non_digits"])
    uploads, beside = [c for c in cats if c != TOUCHING], [c for c in cats if c == TOUCHING]  # "all non-digits" averages uploads
    digits = list(report["sizes"]["digits"])
    head = ["rule", *uploads, "all non-digits", *beside, *(f"{d} (digits)" for d in digits)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, r in report["rules"].items():
        cells = [f"{r['non_digits'][c]:.1%}" for c in uploads] + [f"**{r['non_digits_all']:.1%}**"]
        cells += [f"{r['non_digits'][c]:.1%}" for c in beside] + [f"{r['digits'][d]:.2%}" for d in digits]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    sizes = ", ".join(f"{k} {v}" for group in ("non_digits", "digits") for k, v in report["sizes"][group].items())
    lines.append(f"\nRefused share (higher is better for non-digits, lower for digits; MNIST test must stay <= "
                 f"{report['mnist_test_bound']:.0%}).  Pictures: {sizes}; non-digit seed {report['seed']}.")
    check = report["rules"]["gate alone"].get("by_check", {})
    if check:
        lines.append("\nRefused by preprocessing's own check before any model (the paper inside the strokes, counted in "
                     "every row above): " + ", ".join(f"{k} {v:.1%}" for k, v in check.items() if v is not None) + ".")
    worst = {c: sorted(v.items(), key=lambda kv: kv[1])[:3] for c, v in report["rules"]["gate alone"].get("by_detail", {}).items()}
    lines.append("\nLeast refused by the gate alone, per category: " + "; ".join(
        f"{c}: " + ", ".join(f"{k} {v:.0%}" for k, v in w) for c, w in worst.items()) + ".")
    return "\n".join(lines)
