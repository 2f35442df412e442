"""Build (or reuse) the Explain page's nearest-neighbour features and test-set map for models, and measure
them: build time, memory, disk, search time, and how often the 12 neighbours' majority is the true label.

    python evaluation/neighbours.py                                  # every usable model in models/
    python evaluation/neighbours.py --model mnist_cnn --agreement 1000
    python evaluation/neighbours.py --model mnist_cnn --size 55000 --folder /tmp/features   # the whole training split

One JSON line per model.  Run it after training or promoting a model so the app finds them ready
(``runs/cache/features``, or ``$DIGITLAB_FEATURES_CACHE``).  Peak RSS is the process's (TensorFlow and the
model included); ``rss_before_mb`` is the process once the model is loaded, before any feature is computed.

Longer than a thin script because besides building the bank and the map (digitlab.evaluation.neighbours) it
measures them: build time, peak memory, disk, search time (the app's search through the bank's sketch and the exhaustive
one, interleaved in one run), the neighbours' agreement with the labels and how many of the exhaustive search's it finds.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from digitlab import cli, data, files, memory, paths
from digitlab.evaluation import neighbours
from digitlab.models import artifacts


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(entry: artifacts.ModelEntry, size: int, folder: Path, agreement: int) -> dict:
    key = files.sha256(entry.path, 32).removeprefix("sha256:")
    model = entry.model
    out = {"model": entry.name, "sha256": key, "size": size, "rss_before_mb": round(memory.status_mb("VmRSS"), 1)}
    cached = neighbours.training_bank(model, key, size=size, folder=folder, build=False) is not None
    t0 = time.perf_counter()
    bank = neighbours.training_bank(model, key, size=size, folder=folder)
    out.update(bank_cached=cached, bank_seconds=round(time.perf_counter() - t0, 2), dim=bank.meta["dim"],
               bank_mb=round(Path(bank.features.filename).stat().st_size / 1e6, 1), peak_after_bank_mb=round(peak_mb(), 1))
    cached = neighbours.digit_map(model, key, folder=folder, build=False) is not None
    t0 = time.perf_counter()
    dmap = neighbours.digit_map(model, key, folder=folder)
    out.update(map_cached=cached, map_seconds=round(time.perf_counter() - t0, 2), peak_after_map_mb=round(peak_mb(), 1),
               map_explained=[round(float(v), 4) for v in dmap.explained])
    out["sketch"] = bank.meta.get("sketch")
    extractor = neighbours.feature_extractor(model)
    n = max(agreement, 20)
    x, y = data.load().inputs("test", n=n, seed=1)
    feats, _ = extractor(x)
    times = {False: [], True: []}  # the search the app runs, and every row read (the same without a sketch)
    for f in feats[:20]:
        for exhaustive in (False, True):  # interleaved: both charged the same machine load
            t0 = time.perf_counter()
            neighbours.nearest(bank, f, exhaustive=exhaustive)
            times[exhaustive].append((time.perf_counter() - t0) * 1000)
    out["search_ms_p50"] = round(statistics.median(times[False]), 1)
    out["exhaustive_search_ms_p50"] = round(statistics.median(times[True]), 1)
    if agreement:
        found, votes = [], []
        for f in feats[:agreement]:
            near = neighbours.nearest(bank, f)
            exact = {m.index for m in neighbours.nearest(bank, f, exhaustive=True)}
            found.append(len(exact & {m.index for m in near}) / len(exact))
            votes.append(neighbours.majority(near)[0])
        out["majority_is_label"] = round(float(np.mean(np.array(votes) == y[:agreement])), 4)
        out["exhaustive_neighbours_found"] = round(float(np.mean(found)), 5)  # share of the exhaustive search's 12 returned
        out["searches_as_exhaustive"] = round(float(np.mean(np.array(found) == 1.0)), 4)  # searches returning all 12
        out["agreement_digits"] = agreement
    out["peak_rss_mb"] = round(peak_mb(), 1)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    cli.add_models(p, "model name in models/")
    p.add_argument("--models-dir", type=Path, default=paths.MODELS_DIR, help="where the models are")
    p.add_argument("--size", type=int, default=neighbours.BANK_SIZE, help="training digits searched (the app uses the default)")
    p.add_argument("--folder", type=Path, default=None, help="cache folder (default: $DIGITLAB_FEATURES_CACHE or runs/cache/features)")
    p.add_argument("--agreement", type=int, default=0, help="test digits on which to check the 12 neighbours' majority against the label (0: skip)")
    args = p.parse_args(argv)
    if not 12 <= args.size <= 55000:
        p.error(f"--size must be between 12 and 55000 (the training split), not {args.size}")
    if args.agreement < 0:
        p.error("--agreement must be 0 or more")
    entries = {e.name: e for e in artifacts.list_models(args.models_dir)}
    names = args.model or [n for n, e in entries.items() if e.usable]
    missing = [n for n in names if n not in entries or not entries[n].usable]
    if missing:
        for n in missing:
            print(f"error: {n}: " + (entries[n].reason if n in entries else f"no such model in {args.models_dir}"), file=sys.stderr)
        return 1
    folder = args.folder or neighbours.cache_dir()
    status = 0
    for n in names:
        try:
            print(json.dumps(measure(entries[n], args.size, folder, args.agreement)), flush=True)
        except (neighbours.NeighbourError, data.DataError) as e:
            print(json.dumps({"model": n, "error": str(e)}), flush=True)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
