"""The number reader at serving time: a network that reads every digit of a line of ink at once (CTC), with no
cuts between digits, beside the segmenter of ``serving.numbers`` (which cuts the ink into digits and reads each
with the classifier, and cannot take apart digits that touch or overlap).

``Reader`` reads ``models/reader/number_reader.keras``'s card (its margin) and runs lines through one of two
backends (``serving.backends``): "onnx" runs its serving file (``serving.store``, no TensorFlow; what the Numbers
page, the predict CLI and the benchmarks use), "keras" loads the file (safe mode) and needs TensorFlow.

    line    (N, LINE_H, LINE_W) float32: the ink's box scaled into the line (``number_lines.to_line``)
    logits  (N, FRAMES, 11): per frame (LINE_W / FRAMES columns of the line), CTC's blank then digits 0-9
    reading the best path (greedy CTC): the digits, a confidence, each digit's ten probabilities and where it is,
            and the line's log-probabilities, which score any other number (``log_likelihood``)

How ``read_number`` combines the two readings: when they differ, the reader's is taken if the reader finds it more
likely than the cuts' number by at least the card's ``margin``: log P(reader's | line) - log P(cuts' | line), each
summed over every CTC alignment. The margin is fitted on tuning writers the reader never trained on
(``training.reader``). A reader is sure of its own best path far more often than it is right; asking how much less it
believes the cuts' number keeps the cuts (whose classifier reads each digit better) where the reader hardly tells
the two apart, such as a 1 with a long up-stroke read as "11".
How the reader is trained: ``python training/train_reader.py``.  It lives in ``models/reader/`` for the reason
the gate lives in ``models/gate/``: ``artifacts.list_models`` lists ``models/*.keras`` as digit classifiers.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitlab import memory
from digitlab.data.number_lines import LINE_H, LINE_W
from digitlab.models import artifacts
from digitlab.paths import MODELS_DIR
from digitlab.serving import abstain, backends, thresholded
from digitlab.serving.writing import DEFAULT as DEFAULT_WRITING
from digitlab.serving.writing import read_log

READER_DIR = MODELS_DIR / "reader"
READER_NAME = "number_reader"
READER_PATH = READER_DIR / f"{READER_NAME}.keras"
FRAMES = LINE_W // 4  # the network pools the line's width by 4
CLASSES = 11  # CTC's blank (0), then digits 0-9
INPUT_NAME, OUTPUT_NAME = "line", "logits"
MARGIN_KEY = "margin"  # the card key of the combination rule's margin (nats); cards fitted before it hold "threshold"
FITTED_AGAINST_KEY = "classifier_sha256"  # under the card's "measured": the file whose cuts the margin was fitted against


@dataclass
class LineReading:
    """The best path through one line's frames."""

    text: str  # the digits read, "" when none
    confidence: float  # product over the digits of the probability at the first frame of each (the best path's)
    probabilities: np.ndarray  # (len(text), 10): each digit's probabilities over 0-9 at its surest frame
    centres: np.ndarray  # (len(text),) each digit's centre, in columns of the line
    log_probs: np.ndarray  # (FRAMES, CLASSES) the line's log-probabilities per frame

    def log_likelihood(self, text: str) -> float:
        """log P(text | line): ``log_likelihood(self.log_probs, text)``."""
        return log_likelihood(self.log_probs, text)


def log_likelihood(log_probs: np.ndarray, text: str) -> float:
    """log P(text | line) under CTC: the probability of every frame path that reads ``text`` (repeats merged, blanks
    dropped), summed by the forward algorithm over the text with a blank around each digit (Graves et al., ICML 2006).
    ``log_probs``: (frames, CLASSES) log-softmax of one line's logits; ``text``: digits, "" for no digit.  -inf when
    the line has too few frames for the text."""
    labels = [int(c) + 1 for c in text]
    ext = np.zeros(2 * len(labels) + 1, int)
    ext[1::2] = labels
    skip = np.zeros(len(ext), bool)  # a digit may follow the digit before it with no blank between unless they are equal
    skip[3::2] = ext[3::2] != ext[1:-2:2]
    lp = np.asarray(log_probs, np.float64)
    alpha = np.full(len(ext), -np.inf)
    alpha[:2] = lp[0, ext[:2]]
    for t in range(1, len(lp)):
        came = alpha.copy()  # from the same state
        came[1:] = np.logaddexp(came[1:], alpha[:-1])  # from the state before
        came[2:] = np.logaddexp(came[2:], np.where(skip[2:], alpha[:-2], -np.inf))  # over a blank between two digits
        alpha = came + lp[t, ext]
    return float(np.logaddexp.reduce(alpha[-2:]))


def decode(logits: np.ndarray, writing: str = DEFAULT_WRITING) -> list[LineReading]:
    """(N, FRAMES, 11) logits -> N greedy CTC readings: the most probable class per frame, repeats merged, blanks
    dropped.  A digit is a run of frames with the same best class; its probabilities are those of its surest
    frame without the blank, renormalised; its centre the middle of its run.  ``writing``: every frame read as that
    writer writes 1 and 7 (``serving.writing.read_log``), the readings' likelihoods too."""
    log_p = read_log(abstain.log_softmax(np.asarray(logits, np.float64)), writing, 1 + 1, 7 + 1)  # column 0 is the blank
    p = np.exp(log_p)
    step = LINE_W / p.shape[1]
    out = []
    for frames, frames_log_p in zip(p, log_p):
        best = frames.argmax(axis=1)
        text, conf, probs, centres = [], 1.0, [], []
        t = 0
        while t < len(best):
            end = t
            while end + 1 < len(best) and best[end + 1] == best[t]:
                end += 1
            if best[t]:
                surest = t + int(frames[t : end + 1, best[t]].argmax())
                digits = frames[surest, 1:]
                text.append(str(best[t] - 1))
                conf *= float(frames[t, best[t]])
                probs.append(digits / digits.sum())
                centres.append((t + end + 1) / 2 * step)
            t = end + 1
        out.append(LineReading("".join(text), conf if text else 0.0, np.array(probs, np.float32).reshape(-1, 10),
                               np.array(centres, np.float64), frames_log_p))
    return out


class Reader(thresholded.Thresholded):
    """A trained number reader and its combination rule's margin (``margin``, from the card's "margin"):
    (N, LINE_H, LINE_W) lines -> readings (backend "onnx" or "keras": ``thresholded.Thresholded``)."""

    kind, input_name = "reader", INPUT_NAME
    threshold_key = MARGIN_KEY
    threshold_missing = ("it was fitted before readings were combined by their likelihood ratio (its card holds the old "
                         "confidence threshold, or none): fit it again with python training/train_reader.py --refit FILE")

    def __init__(self, path: Path = READER_PATH, backend: str = "onnx"):
        super().__init__(path, backend)

    @property
    def margin(self) -> float:
        """The log likelihood ratio at which the reader's number replaces the cuts' (the card's "margin"; what
        ``Thresholded`` keeps as ``threshold``)."""
        return self.threshold

    def keras_runner(self, model) -> backends.Runner:
        check(model, self.path.name)
        return backends.keras(model, (-1, LINE_H, LINE_W, 1), sample_shape=(LINE_H, LINE_W))

    def logits(self, lines: np.ndarray, batch_size: int = memory.FORWARD_BATCH) -> np.ndarray:
        """(N, LINE_H, LINE_W) or (LINE_H, LINE_W) float32 lines -> (N, FRAMES, CLASSES) logits."""
        return backends.batched(self._run, lines, (FRAMES, CLASSES), batch_size, sample_shape=(LINE_H, LINE_W))

    def read(self, lines: np.ndarray, writing: str = DEFAULT_WRITING) -> list[LineReading]:
        """Each line's reading; none (an empty text, which leaves the cuts' number standing) with a warning when the
        serving file answers what no reader answers (NaN, another shape: ``serving.store.runner``)."""
        try:
            logits = self.logits(lines)
        except artifacts.ModelError as e:
            warnings.warn(f"number reader unavailable for these lines, numbers are read by cutting them into digits alone: {e}",
                          stacklevel=2)
            n = len(np.asarray(lines).reshape(-1, LINE_H, LINE_W))
            return [LineReading("", 0.0, np.zeros((0, 10), np.float32), np.zeros(0), np.zeros((FRAMES, CLASSES))) for _ in range(n)]
        return decode(logits, writing)


def check(model, name: str) -> None:
    """Raise ModelError unless ``model`` maps (LINE_H, LINE_W, 1) lines to (FRAMES, CLASSES) logits."""
    shape, out = tuple(model.inputs[0].shape[1:]), tuple(model.outputs[0].shape[1:])
    if shape != (LINE_H, LINE_W, 1) or out != (FRAMES, CLASSES):
        raise artifacts.ModelError(f"{name}: not a number reader (input {shape}, output {out}; a reader maps "
                                   f"{(LINE_H, LINE_W, 1)} to {(FRAMES, CLASSES)})")


def keras_model(path: Path):
    """The Keras reader at ``path`` (safe mode, its shapes checked), whatever its card says: what ``--refit`` fits a
    card for.  Raises ModelError."""
    model = artifacts.load_model(Path(path))
    check(model, Path(path).name)
    return model


def load(path: Path = READER_PATH, backend: str = "onnx") -> Reader:
    """The reader at ``path`` on ``backend``, loaded once per file and card version; raises ModelError when
    missing or unusable."""
    return thresholded.load(Reader, path, backend, f"number reader at {path}: train one with python training/train_reader.py")


def default(backend: str = "onnx") -> Reader | None:
    """The committed reader on ``backend``, or None (with a warning saying why) when it is missing or unusable:
    numbers are then read by the segmenter alone."""
    try:
        return load(READER_PATH, backend)
    except (artifacts.ModelError, OSError) as e:
        warnings.warn(f"number reader unavailable, numbers are read by cutting them into digits alone: {e}", stacklevel=2)
        return None


def refit_command(path: Path, classifier: str) -> str:
    """The command that fits the margin of the reader at ``path`` again against ``classifier``'s cuts (``path`` as the
    folder holds it, a link not followed: relative to the repository when inside it)."""
    from digitlab.paths import shown

    return f"python training/train_reader.py --refit {shown(path, follow_links=False)} --classifier {classifier}"


def stale_margin(path: Path = READER_PATH, models_dir: Path | None = None) -> tuple[str, str] | None:
    """(why, the command that fits it again) when the margin in the reader's card at ``path`` no longer fits the
    classifier it was fitted against, else None: the classifier's file in ``models_dir`` (default: the reader's models
    folder) is not the one whose cuts the margin was fitted on, or the card does not say which file that was.  None
    too when there is no reader card or no such classifier (nothing to compare)."""
    from digitlab import files

    path = Path(path)
    card = artifacts.read_card(path) if path.is_file() else None
    if not card or card.get(MARGIN_KEY) is None:
        return None
    name = (card.get("config") or {}).get("classifier")
    classifier = (Path(models_dir) if models_dir is not None else path.parent.parent) / f"{name}.keras"
    if not name or not classifier.is_file():
        return None
    fitted = (card.get("measured") or {}).get(FITTED_AGAINST_KEY)
    now = files.sha256(classifier, 16)
    if fitted == now:
        return None
    why = (f"it was fitted against another {name} ({fitted}; today's is {now})" if fitted else
           f"its card does not say which {name} file it was fitted against")
    return f"the number reader's margin may not fit {name}'s cuts: {why}", refit_command(path, name)


def margin_warning(models_dir: Path) -> str | None:
    """What to say, after a models folder changed, when its reader's margin was fitted against another file of its
    classifier (``stale_margin``), with the commands that mend it; None when it fits."""
    stale = stale_margin(Path(models_dir) / READER_DIR.name / f"{READER_NAME}.keras", models_dir)
    return f"{stale[0]}. Fit it again: {stale[1]}, then python evaluation/serving.py" if stale else None
