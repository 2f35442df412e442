"""How the writer writes a 1 and a 7: a setting of the reading, the writer's and not the model's.

One shape is a 1 to a continental European and a 7 to MNIST's American writers. Continental hands cross the 7 so
that the 1 may have its long up-stroke; MNIST's writers seldom cross a 7 and seldom flag a 1, so every network
trained on them reads a 1 with a long up-stroke as a 7 (docs/evaluation.md, "Writing conventions"). No constant
lifts it for everyone: whatever reads it as a 1 reads some uncrossed 7s as 1 too (docs/ablations.md). Handwriting
recognisers settle this by the writer's locale; here the writer says it, and the reading moves the odds between 1
and 7 and nothing else:

    WRITINGS             name -> b, the log-odds of 1 against 7 added: "default" 0 (as MNIST's writers write),
                         "continental" 1.5 (a 1 with a long up-stroke, a crossed 7)
    read_as(p, writing)  (N, 10) or (10,) probabilities -> the same with p1 / p7 multiplied by e^b; p1 + p7 and
                         every other class unchanged, so the default reading is the model's own, exactly
    label(p, writing)    the digit ``read_as`` reads: what a writer who said ``writing`` would be shown
    read_log(l, writing, one, seven)  the same on log-probabilities, in float64, for any columns of 1 and 7 (the number
                         reader's frames, whose column 0 is CTC's blank)
    check(writing)       the name, or ValueError naming the choices
    for_locale(locale)   the setting a browser's language suggests ("de-DE" -> "continental", "en-US" -> "default"):
                         the app's and the web page's starting value, which the writer changes

b = 1.5 is the smallest of 0.5-3.0 that read every 1 and 7 style of the conventions benchmark at 97% or more for
both committed models without pulling another style under 97%, chosen before anything was scored
(``python evaluation/conventions.py --writing continental`` measures it). What it reads on a fresh draw, and what it costs a
writer who turns it on but writes as MNIST's writers do: docs/evaluation.md, "How you write 1 and 7". web/abstain.js
holds the same numbers (tests/test_tfjs.py).
"""

from __future__ import annotations

import numpy as np

DEFAULT = "default"
CONTINENTAL = "continental"
WRITINGS = {DEFAULT: 0.0, CONTINENTAL: 1.5}
ABOUT = {  # what each setting means, as the app, the CLI's help and the web page say it
    DEFAULT: "a 1 mostly a bare stroke, a 7 maybe uncrossed, as MNIST's American writers write",
    CONTINENTAL: "a 1 with a long up-stroke and a crossed 7, as continental Europe writes",
}


# Where school handwriting crosses the 7 and gives the 1 its long up-stroke: the countries whose primary-school rules
# teach the crossed 7 (Wikipedia, "7": Russia, Ukraine, Bulgaria, Poland and the other Slavic countries, France, Italy,
# Belgium, the Netherlands, Finland, Romania, Germany, Greece, Hungary) and the rest of continental Europe that writes
# so (Spain, Portugal, Austria, Switzerland, Luxembourg, the Nordic and Baltic countries), as ISO 3166 regions, and
# their languages for a locale that names no region.  Anywhere else (the United States, the United Kingdom, Ireland,
# Canada, Australia, Asia, Latin America, ...) starts on the default, MNIST's writers' own.
CONTINENTAL_REGIONS = frozenset(["AT", "BA", "BE", "BG", "BY", "CH", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU",
                                 "IS", "IT", "LI", "LT", "LU", "LV", "MC", "ME", "MD", "MK", "NL", "NO", "PL", "PT", "RO", "RS",
                                 "RU", "SE", "SI", "SK", "UA"])
CONTINENTAL_LANGUAGES = frozenset(["be", "bg", "bs", "cs", "da", "de", "el", "es", "et", "fi", "fr", "hr", "hu", "is", "it",
                                   "lt", "lv", "mk", "nb", "nl", "nn", "no", "pl", "pt", "ro", "ru", "sk", "sl", "sr", "sv",
                                   "uk"])


def for_locale(locale: str | None) -> str:
    """The writing a browser's language suggests (a BCP 47 tag such as "de-DE", "pt_BR", "fr"): continental where the
    tag's region is in ``CONTINENTAL_REGIONS``, or, with no region, its language in ``CONTINENTAL_LANGUAGES``;
    otherwise (no locale, an odd one) the default.  A starting value only: the writer changes it."""
    parts = [p for p in str(locale or "").replace("_", "-").split("-") if p]
    if not parts:
        return DEFAULT
    region = next((p.upper() for p in parts[1:] if p.isascii() and ((len(p) == 2 and p.isalpha()) or (len(p) == 3 and p.isdigit()))), None)
    if region is not None:
        return CONTINENTAL if region in CONTINENTAL_REGIONS else DEFAULT
    return CONTINENTAL if parts[0].lower() in CONTINENTAL_LANGUAGES else DEFAULT


def check(writing: str) -> str:
    if writing not in WRITINGS:
        raise ValueError(f"unknown writing {writing!r}: one of {', '.join(WRITINGS)}")
    return writing


def read_as(probs: np.ndarray, writing: str = DEFAULT) -> np.ndarray:
    """``probs`` read as ``writing`` writes: float32, same shape. Rows without ink (all zero) stay zero."""
    b = WRITINGS[check(writing)]
    probs = np.asarray(probs, np.float32)
    if b == 0.0:
        return probs
    out = probs.astype(np.float64)  # a copy, in float64 like numpy's softmax
    both = out[..., 1] + out[..., 7]
    odds = np.log(np.maximum(out[..., 1], 1e-300)) - np.log(np.maximum(out[..., 7], 1e-300)) + b
    one = both / (1.0 + np.exp(-odds))
    out[..., 1], out[..., 7] = one, both - one
    return out.astype(np.float32)


def label(probs: np.ndarray, writing: str) -> int:
    """The digit one picture's (10,) probabilities read as ``writing`` (the calibration keeps the order): how Home tells
    a writer on the default setting that a continental writer would have been shown another digit."""
    return int(np.argmax(read_as(probs, writing)))


def read_log(log_probs: np.ndarray, writing: str = DEFAULT, one: int = 1, seven: int = 7) -> np.ndarray:
    """``read_as`` on log-probabilities (..., classes), in float64 and in log space (no probability underflows): the
    columns ``one`` and ``seven`` keep their summed probability, their log-odds move by b; a copy."""
    b = WRITINGS[check(writing)]
    out = np.array(log_probs, np.float64)
    if b == 0.0:
        return out
    l1, l7 = out[..., one].copy(), out[..., seven].copy()
    both = np.logaddexp(l1, l7)
    some = np.isfinite(both)  # where neither has any probability, nothing moves
    with np.errstate(invalid="ignore"):  # -inf - -inf where neither has any: not used
        odds = np.where(some, l1 - l7, 0.0) + b
    out[..., one] = np.where(some, both - np.logaddexp(0.0, -odds), l1)
    out[..., seven] = np.where(some, both - np.logaddexp(0.0, odds), l7)
    return out
