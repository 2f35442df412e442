"""Build an ensemble of trained models: load the members, ``models.ensemble.combine`` them, evaluate
on validation and test through the same ``Classifier`` path as training, and save the model with a
card that embeds each member's own card (its recipe, seed, command and figures).

    python training/ensemble.py A.keras B.keras [--name mnist_advanced]
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from digitlab.data import Mnist
from digitlab.evaluation import metrics
from digitlab.evaluation.evaluate import evaluate_splits
from digitlab.models import artifacts, cards
from digitlab.models.ensemble import EnsembleError, check_weights, combine


def member_summary(path: Path, card: dict | None) -> dict:
    """What the ensemble card keeps of a member: where it came from and how it was made."""
    card = card or {}
    keep = ("name", "builder", "config", "seed", "metrics", "params", "epochs_run", "train_seconds", "command", "date", "preprocess_version",
            "recipe", "real_strokes",  # the recipe file it was trained from, the real pen strokes it learnt from
            "init", "distill", "interpolation", "edits",  # init, distill, interpolation: a member fine-tuned from a trained model, mixed back with it
            "members")  # a member that is itself an ensemble keeps its own members' cards
    return {"file": Path(path).name, **{k: card[k] for k in keep if k in card}}


def build(member_paths: list[Path], name: str, out: Path, load_mnist: Callable[[], Mnist], command: str | None = None,
          dry_run: bool = False, weights: list[float] | None = None, overwrite: bool = False) -> Path:
    """Combine the members (with ``weights``, one per member: their weighted mean; ``models.ensemble.combine``),
    evaluate on the MNIST ``load_mnist()`` returns (``data.load(prepared=True)``: called once the members are loaded,
    so a member that cannot be used is refused before MNIST is prepared), save into ``out`` (replacing a model of that
    name only when ``overwrite``: else under a free name, ``artifacts.free_name``)."""
    t0 = time.time()
    if (free := artifacts.free_name(out, name, overwrite)) != name:
        print(f"{Path(out) / name}.keras exists and is kept: this run saves {free}.keras (--overwrite replaces it)", flush=True)
        name = free
    if weights is not None:
        weights = check_weights(weights, len(member_paths))
    members, member_cards = [], []
    for p in member_paths:
        try:
            members.append(artifacts.load_model(Path(p)))
        except artifacts.ModelError as e:
            raise EnsembleError(f"{p}: {e}") from e
        member_cards.append(artifacts.read_card(Path(p)))
    fingerprints = {c.get("data", {}).get("fingerprint") for c in member_cards if c}
    if len(fingerprints - {None}) > 1:
        raise EnsembleError("the members were trained on different data (their cards' fingerprints differ)")
    model = combine(members, name=name, weights=weights)
    mnist = load_mnist()
    val, test = evaluate_splits(name, Path(out) / f"{name}.keras", model, mnist)
    summaries = [member_summary(p, c) for p, c in zip(member_paths, member_cards, strict=True)]
    card = cards.build({
        "name": name,
        "builder": "ensemble",
        "config": {"members": [s["file"] for s in summaries],
                   **({"combine": "mean of the members' logits, then softmax"} if weights is None else
                      {"combine": "weighted mean of the members' logits (sum of weight x logits / sum of weights), then softmax",
                       "weights": weights})},
        "members": summaries,
        "seed": None,
        "data": cards.data_summary(mnist),
        "metrics": {"val_accuracy": val["accuracy"], "test_accuracy": test["accuracy"], "test_weighted_f1": test["weighted_f1"]},
        "params": int(model.count_params()),
        "train_seconds": round(sum(float(s.get("train_seconds") or 0) for s in summaries), 1),
        "total_seconds": round(time.time() - t0, 1),
        "command": command,
        "dry_run": dry_run,
    })
    for s in summaries:
        print(f"member {s['file']}: val {s.get('metrics', {}).get('val_accuracy', float('nan')):.4f} | "
              f"test {s.get('metrics', {}).get('test_accuracy', float('nan')):.4f}", flush=True)
    report = {"val": metrics.jsonable(val), "test": metrics.jsonable(test), "members": summaries}
    path = artifacts.save_model(model, card, name, Path(out), overwrite=overwrite, extras={".metrics.json": json.dumps(report, indent=1).encode()})
    print(f"saved {path} | val {val['accuracy']:.4f} | test {test['accuracy']:.4f} | weighted F1 {test['weighted_f1']:.4f} | "
          f"{card['params']:,} params", flush=True)
    return path
