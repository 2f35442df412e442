"""The abstain rule: when a prediction should say "not sure this is a digit" instead of a digit.

    probabilities (N, 10) -- temperature T (the card's "calibration") --> calibrated probabilities
    abstain when
        preprocessing found the picture is not a written digit (``preprocess.Prepared.refusal``: a face), OR
        the digit gate (``digitlab.serving.gate``, one tiny CNN for every model) gives P(digit) below its threshold, OR
        the calibrated max probability is below the model's threshold (the card's "calibration" > "abstain")

Which rule applies to which model:
  model card with a "calibration" entry, picture given        gate + confidence threshold
  model card with a "calibration" entry, probabilities only   confidence threshold
  no calibration entry (e.g. a model dropped into models/)    gate only (when the picture is given)
  gate file missing or unusable                               confidence threshold only (with a warning)

Temperature scaling divides the logits by T; because log p = z - logsumexp(z), dividing the
log-probabilities by T gives exactly softmax(z / T), so the rule works from the probabilities a
classifier returns.  How T and the thresholds are fitted and measured: ``digitlab.evaluation.calibration``.
Every caller gets the rule's verdicts as ``Prediction``s through ``serving.classifiers.predictions``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

NOT_SURE = "not sure this is a digit"  # how every refusal starts when it is shown as one sentence


@dataclass(frozen=True)
class Judgement:
    """The rule's verdict on one prediction: the best guess (None only without ink), whether to
    abstain, and why (for a refusal, the part after "not sure this is a digit: ")."""

    label: int | None
    abstain: bool
    reason: str

    @property
    def message(self) -> str:
        """The reason as one sentence: "not sure this is a digit: <cause>" for a refusal of an inked picture."""
        return f"{NOT_SURE}: {self.reason}" if self.abstain and self.label is not None else self.reason


def _log(probs: np.ndarray) -> np.ndarray:
    return np.log(np.maximum(np.asarray(probs, np.float64), 1e-300))


def softmax(logits: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, in the logits' own dtype (shifted by the max, so large logits do not overflow)."""
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """log softmax over the last axis: z - logsumexp(z), shifted by the max like ``softmax``."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def apply_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(log p / T) = softmax(z / T): (N, 10) or (10,) probabilities -> calibrated, same shape, float32."""
    return softmax(_log(probs) / float(temperature)).astype(np.float32)


def calibrated(probs: np.ndarray, card: dict | None) -> np.ndarray:
    """Probabilities scaled by the card's temperature (unchanged when the card has none)."""
    t = ((card or {}).get("calibration") or {}).get("temperature")
    return apply_temperature(probs, t) if t else np.asarray(probs, np.float32)


def decide(probs: np.ndarray, card: dict | None, images: np.ndarray | None = None, gate=None,
          refusals: Sequence[str | None] | None = None) -> list[Judgement]:
    """The rule itself: one ``Judgement`` per row of (N, 10) probabilities.

    images: their (N, 28, 28) model inputs, for the digit gate; gate: a ``serving.gate.Gate`` (anything
    with ``score(images)`` and ``threshold``), or None for none (with images given, the reason then
    says the gate is unavailable); refusals: per row, ``preprocess.Prepared.refusal`` (a reason refuses the row
    whatever the model and the gate say).  Callers go through ``serving.classifiers.predictions``, which
    turns these verdicts into ``Prediction``s; all-zero probabilities (no ink) give "no ink"."""
    probs = np.asarray(probs, np.float64).reshape(-1, 10)
    inked = probs.sum(1) > 0
    p = calibrated(probs, card)
    threshold = ((((card or {}).get("calibration") or {}).get("abstain")) or {}).get("threshold")
    p_digit, gate_note = None, ""
    if images is not None:
        if gate is None:
            gate_note = "; digit gate unavailable"
        else:
            images = np.asarray(images, np.float32).reshape(-1, 28, 28)
            if len(images) != len(probs):
                raise ValueError(f"{len(images)} images for {len(probs)} predictions")
            p_digit = np.ones(len(probs))
            if inked.any():
                p_digit[inked] = gate.score(images[inked])
            gate_threshold = gate.threshold
    if refusals is not None and len(refusals) != len(probs):
        raise ValueError(f"{len(refusals)} refusals for {len(probs)} predictions")
    out: list[Judgement] = []
    for i in range(len(probs)):
        if not inked[i]:
            out.append(Judgement(None, True, "no ink"))
            continue
        label, conf = int(p[i].argmax()), float(p[i].max())
        if refusals is not None and refusals[i]:
            out.append(Judgement(label, True, refusals[i]))
        elif p_digit is not None and p_digit[i] < gate_threshold:
            out.append(Judgement(label, True, f"it does not look like one (digit gate {p_digit[i]:.1%}, below {gate_threshold:.1%})"))
        elif threshold is not None and conf < threshold:
            out.append(Judgement(label, True, f"calibrated confidence {conf:.1%} is below {threshold:.1%}"))
        elif threshold is None:
            rules = "digit gate only" if p_digit is not None else "no abstain rule"
            out.append(Judgement(label, False, f"confidence {conf:.1%} ({rules}: no calibration in the model card{gate_note})"))
        else:
            out.append(Judgement(label, False, f"calibrated confidence {conf:.1%}" + (f", digit gate {p_digit[i]:.1%}" if p_digit is not None else "") + gate_note))
    return out
