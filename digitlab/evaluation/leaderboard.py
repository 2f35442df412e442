"""One row per model: clean accuracy, weighted F1, mean corruption accuracy, FGSM / PGD accuracy, ECE,
latency and size, from the same functions the evaluation scripts use (metrics, robustness,
attacks, calibration).  Rows are cached in evaluation/reports/leaderboard/<model>.json, keyed by
the model file's hash and the settings, so the app's Leaderboard page is instant once computed
and a retrained model is measured again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

from digitlab import data, files
from digitlab.evaluation import attacks, calibration, metrics, robustness
from digitlab.files import atomic_write_json
from digitlab.models import artifacts
from digitlab.paths import MODELS_DIR, REPORTS_DIR
from digitlab.report.progress import Progress

CACHE_DIR = REPORTS_DIR / "leaderboard"
COLUMNS = (  # (key, header, format) for tables
    ("name", "model", "{}"),
    ("test_accuracy", "clean accuracy", "{:.2%}"),
    ("test_weighted_f1", "weighted F1", "{:.4f}"),
    ("mean_corruption_accuracy", "mean corruption acc. (MNIST-C-style)", "{:.2%}"),
    ("fgsm_eps0.1", "FGSM ε=0.1", "{:.1%}"),
    ("pgd40_eps0.3", "PGD-40 ε=0.3", "{:.1%}"),
    ("ece", "ECE", "{:.2%}"),
    ("ece_calibrated", "ECE (card's T)", "{:.2%}"),
    ("latency_p50_ms", "latency p50 (ms)", "{:.2f}"),
    ("params", "params", "{:,}"),
    ("file_kb", "size (kB)", "{:,.0f}"),
)


@dataclass(frozen=True)
class Settings:
    n_corrupt: int = 1000  # MNIST test digits for the MNIST-C-style corruptions
    n_attack: int = 500  # MNIST test digits for FGSM / PGD
    pgd_steps: int = 40
    seed: int = 0  # digit subsets, corruptions and PGD random starts
    latency_runs: int = 200  # single-image forward passes timed (Classifier, tf.function)
    mnist_path: str | None = None
    n_clean: int | None = None  # MNIST test digits for clean accuracy, F1 and ECE (None: the whole test split)


QUICK = Settings(n_corrupt=100, n_attack=50, pgd_steps=10, latency_runs=20, n_clean=1000)  # a rough look: the app's
# "quick" choice and evaluation/leaderboard.py --dry-run; its rows are cached apart from the standard ones.  The whole
# test split was most of its time (92 s for the 4 committed models: mnist_advanced's 10,000 forward passes
# take ~35 s on 2 busy cores); 1,000 digits give the clean accuracy to about +-0.3 points at 99 %


def compute_row(entry: artifacts.ModelEntry, settings: Settings = Settings(), progress: Progress = None) -> dict:
    """Measure one usable model (no cache).  ~20-60 s on 2 CPU cores with the default settings."""
    from digitlab.serving.classifiers import Classifier, forward_ms

    def say(f, msg):
        if progress:
            progress(f, f"{entry.name}: {msg}")

    if entry.model is None:  # listed from the cards (serving.runtime): validated and loaded now, for gradients
        entry = artifacts.inspect(entry.path)
    clf = Classifier(entry)
    t0 = time.time()
    say(0.0, "clean test")
    mnist = data.load(settings.mnist_path)
    x_test, y_test = mnist.inputs("test", settings.n_clean, settings.seed)
    probs = clf.predict_proba(x_test)
    m = metrics.classification_metrics(probs, y_test)
    say(0.15, "calibration")
    card = entry.card or {}
    temperature = (card.get("calibration") or {}).get("temperature")
    say(0.2, "corruptions")
    xc, yc = mnist.inputs("test", settings.n_corrupt, settings.seed)
    corr = robustness.sweep({entry.name: clf.predict_proba}, xc, yc, suite={}, seed=settings.seed)[entry.name]
    say(0.5, "attacks")
    xa, ya = mnist.inputs("test", settings.n_attack, settings.seed)
    adv = attacks.headline(entry, xa, ya, settings.pgd_steps, 1, settings.seed, points=(("fgsm", 0.1), ("pgd", 0.3)))
    say(0.9, "latency")
    latency = forward_ms(clf, x_test[:1], settings.latency_runs)
    say(1.0, "done")
    return {
        "name": entry.name,
        "test_accuracy": m["accuracy"],
        "test_weighted_f1": m["weighted_f1"],
        "mean_corruption_accuracy": corr["mnist_c_mean"],
        "mnist_c": corr["mnist_c"],
        "fgsm_eps0.1": adv["fgsm_eps0.1"],
        attacks.headline_key("pgd", 0.3, settings.pgd_steps): adv[attacks.headline_key("pgd", 0.3, settings.pgd_steps)],
        "ece": calibration.ece(probs, y_test),
        "ece_calibrated": calibration.ece(calibration.apply_temperature(probs, temperature), y_test) if temperature else None,
        "temperature": temperature,
        "latency_p50_ms": latency,
        "params": int(clf.model.count_params()),
        "file_kb": entry.path.stat().st_size / 1024,
        "adversarially_trained": bool((card.get("config") or {}).get("adversarial")),
        "n": {"clean": len(y_test), "corruptions": len(yc), "attacks": len(ya)},
        "seconds": round(time.time() - t0, 1),
    }


def describe(settings: Settings = Settings()) -> str:
    """The settings in words, for captions and report headers."""
    clean = "the whole MNIST test split" if settings.n_clean is None else f"{settings.n_clean:,} MNIST test digits"
    return (f"clean accuracy, F1 and ECE on {clean}; {settings.n_corrupt:,} test digits for the 15 "
            f"MNIST-C-style corruptions, {settings.n_attack:,} for FGSM and PGD-{settings.pgd_steps}; latency over "
            f"{settings.latency_runs} single-image runs; seed {settings.seed}")


def _settings_key(settings: Settings) -> dict:
    key = {**dataclasses.asdict(settings), "mnist_path": None}  # where MNIST was read from does not change a number
    if key["n_clean"] is None:
        del key["n_clean"]  # the whole split, as before the field existed: rows cached then still match
    return key


def _cache_key(entry: artifacts.ModelEntry, settings: Settings) -> dict:
    return {"file": files.sha256(entry.path, 16), "temperature": ((entry.card or {}).get("calibration") or {}).get("temperature"),
            "settings": _settings_key(settings)}


def cache_path(entry: artifacts.ModelEntry, settings: Settings = Settings(), cache_dir: Path = CACHE_DIR) -> Path:
    """``<cache_dir>/<model>.json`` for the standard settings, ``<model>.<settings hash>.json`` for any
    other, so a quick look never replaces a full measurement."""
    if _settings_key(settings) == _settings_key(Settings()):
        return Path(cache_dir) / f"{entry.name}.json"
    digest = hashlib.sha256(json.dumps(_settings_key(settings), sort_keys=True).encode()).hexdigest()[:8]
    return Path(cache_dir) / f"{entry.name}.{digest}.json"


def cached_row(entry: artifacts.ModelEntry, settings: Settings = Settings(), cache_dir: Path = CACHE_DIR) -> dict | None:
    """The cached row, or None when there is none or it no longer matches the model file, its calibration or the settings."""
    try:
        cached = json.loads(cache_path(entry, settings, cache_dir).read_text())
        return cached["row"] if cached.get("key") == _cache_key(entry, settings) else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None  # missing or broken: measured again


def row(entry: artifacts.ModelEntry, settings: Settings = Settings(), refresh: bool = False, cache_dir: Path = CACHE_DIR,
        progress: Progress = None) -> dict:
    """``compute_row`` through the cache: reused while the model file, its calibration and the settings are unchanged."""
    r = None if refresh else cached_row(entry, settings, cache_dir)
    if r is None:
        r = compute_row(entry, settings, progress)
        atomic_write_json(cache_path(entry, settings, cache_dir), {"key": _cache_key(entry, settings), "row": r})
        _release()
    return r


def _release() -> None:
    """Give back what measuring one model held (its traced functions, Keras's global state) before the next."""
    import keras

    keras.backend.clear_session(free_memory=True)


def usable_models(models_dir: Path = MODELS_DIR, names: list[str] | None = None) -> list[artifacts.ModelEntry]:
    """The models named (names or .keras files; raises ``artifacts.ModelError`` for an unknown or unusable
    one), or every usable model in ``models_dir`` (possibly none)."""
    if names:
        return artifacts.select(names, models_dir)
    from digitlab.serving import runtime

    # from the cards: no model loaded to list them; one not checked yet (pending) is checked here, as measuring it would
    return [e for e in runtime.list_models(models_dir) if e.usable and (not e.pending or artifacts.inspect(e.path).usable)]


def table(models_dir: Path = MODELS_DIR, settings: Settings = Settings(), refresh: bool = False, cache_dir: Path = CACHE_DIR,
          progress: Progress = None, names: list[str] | None = None) -> list[dict]:
    """Rows for every usable model in ``models_dir`` (or the ``names`` given), best clean accuracy first.
    Cached rows are reused (unless ``refresh``); missing ones are measured, ``progress`` reporting over all of them."""
    entries = usable_models(models_dir, names)
    todo = [e for e in entries if refresh or cached_row(e, settings, cache_dir) is None]
    rows = []
    for e in entries:
        k = todo.index(e) if e in todo else None
        sub = None if progress is None or k is None else (lambda f, msg, k=k: progress((k + f) / len(todo), msg))
        rows.append(row(e, settings, refresh, cache_dir, sub))
    return sorted(rows, key=lambda r: -r["test_accuracy"])


def cached_table(models_dir: Path = MODELS_DIR, settings: Settings = Settings(), cache_dir: Path = CACHE_DIR,
                 names: list[str] | None = None) -> tuple[list[dict], list[artifacts.ModelEntry]]:
    """What ``table`` would return without measuring anything: (cached rows best first, models still to measure)."""
    rows, missing = [], []
    for e in usable_models(models_dir, names):
        r = cached_row(e, settings, cache_dir)
        (missing.append(e) if r is None else rows.append(r))
    return sorted(rows, key=lambda r: -r["test_accuracy"]), missing


def columns(settings: Settings = Settings()) -> tuple[tuple[str, str, str], ...]:
    """``COLUMNS`` with the PGD column named after the settings' step count."""
    pgd = attacks.headline_key("pgd", 0.3, settings.pgd_steps)
    return tuple((pgd, f"PGD-{settings.pgd_steps} ε=0.3", f) if k == "pgd40_eps0.3" else (k, h, f) for k, h, f in COLUMNS)


def formatted(rows: list[dict], settings: Settings = Settings()) -> list[dict[str, str]]:
    """Rows as {header: text}, formatted like the Markdown table (the app shows these)."""
    cols = columns(settings)
    return [{h: fmt.format(r[k]) if r.get(k) is not None else "-" for k, h, fmt in cols} for r in rows]


def corruption_table(rows: list[dict]) -> list[dict[str, str]]:
    """Accuracy on each MNIST-C-style corruption: one row per corruption, one column per model."""
    names = list(dict.fromkeys(c for r in rows for c in r.get("mnist_c", {})))
    return [{"corruption": c, **{r["name"]: f"{r['mnist_c'][c]:.1%}" if c in r.get("mnist_c", {}) else "-" for r in rows}} for c in names]
