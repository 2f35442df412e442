"""Weight-space interpolation of a fine-tuned network with the network it started from.

Fine-tuning a trained MNIST network on re-drawn digits and writing conventions (``--init-from``,
``--redraw``) teaches it the digits people draw but costs it some MNIST test accuracy.  The weights
half-way back keep most of both: a fine-tune stays in its start's basin, so every point of the line
between the two weight vectors is a good network, and the mixture

    weights = (1 - alpha) * start + alpha * fine-tuned

reads MNIST about as well as the start and the drawn digits about as well as the fine-tune.  This is
WiSE-FT ("Robust fine-tuning of zero-shot models", Wortsman et al., CVPR 2022); ``alpha`` = 1 is the
fine-tune, 0 its start.  Batch-normalisation statistics are mixed like every other weight.

The start is read from the fine-tune's own card (``init``: file, sha256 and member of the model it was
trained from), so the mixture is always with the right network: a file whose sha256 differs is refused.

    python training/interpolate.py runs/members/ke_m0.keras --alpha 0.6 --out runs/members
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from digitlab.evaluation import metrics
from digitlab.evaluation.evaluate import evaluate_splits
from digitlab.models import artifacts, cards
from digitlab.training.trainer import InitError, model_source, twin_weights

# What the mixed network's card keeps of the fine-tune's card unchanged: how the fine-tune was made.
KEPT = ("builder", "config", "seed", "epochs_run", "train_seconds", "cpu_seconds", "init", "distill", "edits")


class InterpolateError(ValueError):
    """A fine-tune and start that cannot be mixed; the message says why."""


def start_of(finetuned: Path, card: dict | None, start: Path | None = None) -> tuple[Path, dict]:
    """The model ``finetuned`` was trained from and what a card keeps of it (``trainer.model_source``: its member,
    sha256, figures): ``start`` if given, else the path its card's config names; either way the file's sha256 must
    be the one the card recorded when the fine-tune began."""
    init = (card or {}).get("init")
    if not init:
        raise InterpolateError(f"{finetuned.name} was not trained from another model (its card has no 'init'): "
                               "nothing to interpolate with; give a model trained from another one (TrainConfig.init_from)")
    path = Path(start) if start is not None else Path((card.get("config") or {}).get("init_from") or init["file"])
    if not path.is_file():
        raise InterpolateError(f"{finetuned.name} started from {init['file']}, not found at {path}: give its path as start=PATH")
    source = model_source(path, init.get("member"))
    if source["sha256"] != init["sha256"]:
        raise InterpolateError(f"{path} is not the model {finetuned.name} started from (its sha256 differs from the card's "
                               f"{init['sha256'][:19]}...): give the right file as start=PATH")
    return path, source


def mix(finetuned, start, member: int | None, alpha: float, what: str, builder: str) -> None:
    """Set every weight of ``finetuned`` (a Keras model) to ``(1 - alpha) * start + alpha * finetuned``,
    its twin taken from ``start`` (member ``member`` of an ensemble).  Nothing changes unless every layer
    has its twin."""
    pairs = twin_weights(finetuned, start, member, what, builder)
    for layer, ws in pairs:
        layer.set_weights([(1 - alpha) * s + alpha * f for s, f in zip(ws, layer.get_weights(), strict=True)])


def run(finetuned: Path, alpha: float, name: str, out: Path, mnist, start: Path | None = None,
        command: str | None = None, dry_run: bool = False, overwrite: bool = False) -> Path:
    """Mix ``finetuned`` with its start, evaluate on ``mnist`` (``data.load(prepared=True)``), save into ``out`` (replacing
    a model of that name only when ``overwrite``: else under a free name, ``artifacts.free_name``)."""
    t0 = time.time()
    if not 0 < alpha < 1:
        raise InterpolateError(f"alpha={alpha}: give a weight between 0 (the start) and 1 (the fine-tune), both excluded")
    finetuned = Path(finetuned)
    card = artifacts.read_card(finetuned)
    start_path, source_card = start_of(finetuned, card, start)
    target = (Path(out) / f"{name}.keras").resolve()
    if target in {finetuned.resolve(), start_path.resolve()}:
        raise InterpolateError(f"{target} is one of the sources: write the mixture under another name=NAME or out=FOLDER")
    if (free := artifacts.free_name(out, name, overwrite)) != name:
        print(f"{Path(out) / name}.keras exists and is kept: this run saves {free}.keras (--overwrite replaces it)", flush=True)
        name = free
    try:
        model = artifacts.load_model(finetuned)
        start_model = artifacts.load_model(start_path)
    except artifacts.ModelError as e:
        raise InterpolateError(str(e)) from e
    try:
        mix(model, start_model, source_card["member"], alpha, f"start={start_path.name!r}", card.get("builder", "?"))
    except InitError as e:
        raise InterpolateError(str(e)) from e
    val, test = evaluate_splits(name, Path(out) / f"{name}.keras", model, mnist)
    new = cards.build({
        "name": name,
        **{k: card[k] for k in KEPT if k in card},
        "data": cards.data_summary(mnist),
        "metrics": {"val_accuracy": val["accuracy"], "test_accuracy": test["accuracy"], "test_weighted_f1": test["weighted_f1"]},
        "params": int(model.count_params()),
        "total_seconds": round(time.time() - t0, 1),
        "command": command,
        "dry_run": dry_run,
        "interpolation": {"alpha": alpha, "start": source_card,
                          "finetuned": {**model_source(finetuned), "command": card.get("command"),
                                        "val_accuracy": (card.get("metrics") or {}).get("val_accuracy")}},
    })
    report = {"val": metrics.jsonable(val), "test": metrics.jsonable(test)}
    path = artifacts.save_model(model, new, name, Path(out), overwrite=overwrite, extras={".metrics.json": json.dumps(report, indent=1).encode()})
    print(f"saved {path} | alpha {alpha} | val {val['accuracy']:.4f} | test {test['accuracy']:.4f} "
          f"(fine-tune: val {new['interpolation']['finetuned']['val_accuracy']} | test {new['interpolation']['finetuned']['test_accuracy']}; "
          f"start: test {new['interpolation']['start']['test_accuracy']})", flush=True)
    return path
