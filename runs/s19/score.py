"""python runs/s19/score.py LOGITS.npz NAME=FILE.keras [...]  -> saves every set's logits of each model (adds to LOGITS.npz)
python runs/s19/score.py LOGITS.npz --score                   -> the rule's table (runs/s19/RULE.md) from the saved logits

Sets: MNIST validation and test (data.load(prepared=True)), the benchmark's load_digits sets (seed 0, as
evaluation/handwriting.py draws them), the real-strokes sets (seed 0: validation writers, held-out site kept/lost),
and the precise conventions draw (seed 1, 300 per style, the helper's stream in digitlab.data.handwriting_test)."""

import sys
from pathlib import Path

import numpy as np

from digitlab import data
from digitlab.data import handwriting_test as hw
from digitlab.data import unipen
from digitlab.evaluation import handwriting

PER_STYLE, CONV_SEED = 300, 1


def sets():
    m = data.load(None, prepared=True)
    for split in ("val", "test"):
        x, y = m.inputs(split)
        yield f"mnist {split}", np.asarray(x, np.float32).reshape(-1, 28, 28), np.asarray(y), None
    raw = data.load(None)
    for s in handwriting.build_sets(2000, 0, (raw.x_test, raw.y_test)):
        if s.name.startswith("load_digits"):
            i = handwriting.prepare_set(s)
            yield s.name, i.images, i.labels, None
    split = unipen.split(unipen.load(unipen.default_path()))
    for s in handwriting.real_sets(split, 2000, 0):
        i = handwriting.prepare_set(s)
        yield s.name, i.images, i.labels, np.asarray(i.styles)
    chunks = [handwriting.prepare_set(c) for c in hw.conventions_stream(PER_STYLE, CONV_SEED)]
    yield ("conventions precise", np.concatenate([c.images for c in chunks]), np.concatenate([c.labels for c in chunks]),
           np.concatenate([np.asarray(c.styles) for c in chunks]))


def cached_sets(path: Path = Path("runs/s19/sets.npz")):
    """The prepared sets, drawn once and kept (the second model reads the very same inputs)."""
    if not path.is_file():
        kept = {}
        for name, x, y, tags in sets():
            kept[f"{name}|x"], kept[f"{name}|y"] = x, y
            if tags is not None:
                kept[f"{name}|tags"] = tags
        np.savez(path, **kept)
    d = np.load(path, allow_pickle=True)
    for name in dict.fromkeys(k.split("|")[0] for k in d.files):
        yield name, d[f"{name}|x"], d[f"{name}|y"], (d[f"{name}|tags"] if f"{name}|tags" in d.files else None)


def save(out: Path, models: dict[str, Path]) -> None:
    from digitlab.models import adapter, artifacts

    save_nets(out, {k: adapter.logits_model(artifacts.load_model(p)) for k, p in models.items()})


def save_nets(out: Path, nets: dict) -> None:
    """Every prepared set's labels (and tags) and each logits network's logits on it, added to ``out``."""
    old = dict(np.load(out, allow_pickle=True)) if out.is_file() else {}
    for name, x, y, tags in cached_sets():
        old[f"{name}|y"] = y
        if tags is not None:
            old[f"{name}|tags"] = tags
        for k, net in nets.items():
            old[f"{name}|{k}"] = np.concatenate([np.asarray(net(x[j:j + 1000, ..., None], training=False)) for j in range(0, len(x), 1000)])
        print(name, len(y), flush=True)
    np.savez(out, **old)


def acc(z, y):
    return float((z.argmax(1) == y).mean())


def fails(r: dict, base: dict) -> list[str]:
    """The rule's conditions (runs/s19/RULE.md) that the row ``r`` misses against the committed file's row ``base``."""
    out = []
    if r["mnist test"] < 0.996 or r["mnist val"] < 0.996:
        out.append("1")
    if r["real strokes: unseen writers"] < base["real strokes: unseen writers"] + 0.001 - 1e-9:
        out.append("2")
    if r["styles<97"] > base["styles<97"] or r["weakest_v"] < base["weakest_v"] + 0.02 - 1e-9:
        out.append("3")
    if r["load_digits"] < base["load_digits"] - 0.002 - 1e-9:
        out.append("4")
    return out


def row(logits, d: dict, names: list[str], **first) -> dict:
    """A table row: ``first`` (its label), then every set's accuracy of ``logits(set name)``, the precise draw's
    styles under 97% and weakest style, and the mean of the load_digits sets."""
    r = dict(first)
    for name in names:
        r[name] = acc(logits(name), d[f"{name}|y"])
    tags, y = d["conventions precise|tags"], d["conventions precise|y"]
    right = logits("conventions precise").argmax(1) == y
    per = {t: right[tags == t].mean() for t in dict.fromkeys(tags.tolist())}
    r["styles<97"] = sum(v < 0.97 for v in per.values())
    weakest = min(per, key=per.get)
    r["weakest"] = f"{weakest} {per[weakest]:.1%}"
    r["weakest_v"] = per[weakest]
    r["load_digits"] = np.mean([r[n] for n in names if n.startswith("load_digits")])
    return r


def table(rows: list[dict], fails, judged) -> None:
    """The rows as Markdown, the first column each row's label, the last what ``fails`` says of the ``judged`` ones
    against the first row."""
    base, label = rows[0], next(iter(rows[0]))
    print(f"| {label} | MNIST val | MNIST test | validation writers | conventions (precise) | styles < 97% | weakest | load_digits | held-out kept / lost | passes |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        missed = fails(r, base) if judged(r) else []
        print(f"| {r[label]} | {r['mnist val']:.2%} | {r['mnist test']:.2%} | {r['real strokes: unseen writers']:.2%} | "
              f"{r['conventions precise']:.2%} | {r['styles<97']} | {r['weakest']} | {r['load_digits']:.2%} | "
              f"{r['real strokes: held-out site']:.2%} / {r['real strokes: held-out site, pen-ups lost']:.2%} | "
              f"{('fails ' + ', '.join(missed) if missed else 'passes') if judged(r) else '-'} |")


def score(path: Path, fails=fails) -> None:
    d = dict(np.load(path, allow_pickle=True))
    names = sorted({k.split("|")[0] for k in d})
    def combo(name, w):
        if w == "x":  # the new network alone, printed for the record (not a candidate)
            return d[f"{name}|x"]
        a = d[f"{name}|committed"]
        return a if w == 0 else (2 * a + w * d[f"{name}|x"]) / (2 + w)  # the committed file's logits are mean(m0, m1)
    rows = [row(lambda name, w=w: combo(name, w), d, names, w=w) for w in (0, 0.25, 0.5, 0.75, 1.0, "x")]
    table(rows, fails, judged=lambda r: r["w"] and r["w"] != "x")


def main(score=score) -> None:
    """LOGITS.npz NAME=FILE.keras ... saves logits; LOGITS.npz --score prints ``score``'s table (runs/s27/score.py
    passes its own)."""
    out = Path(sys.argv[1])
    if sys.argv[2:] == ["--score"]:
        score(out)
    else:
        save(out, {k: Path(v) for k, v in (a.split("=", 1) for a in sys.argv[2:])})


if __name__ == "__main__":
    main()
