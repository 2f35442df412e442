"""python evaluation/mnist_pngs.py export DIR [--n 10000] [--split test]
   python evaluation/mnist_pngs.py score PREDICTIONS.jsonl
   python evaluation/mnist_pngs.py compare BEFORE.jsonl AFTER.jsonl [--max-dp 1e-6]

Checks a model the way users feed it: MNIST digits saved as PNG files, read back by
evaluation/predict.py. `export` writes DIR/<index>_<label>.png; `score` reads
predict.py's --format json output and prints the accuracy against the labels in the
file names. For example:

    python evaluation/mnist_pngs.py export /tmp/mnist_png
    python evaluation/predict.py /tmp/mnist_png --model mnist_cnn --format json > /tmp/cnn.jsonl
    python evaluation/mnist_pngs.py score /tmp/cnn.jsonl

`compare` checks that two such runs (e.g. before and after a change to the code) gave the same answer
for every file: the same label, abstain flag and reason, probabilities within --max-dp; it exits 1
when they did not.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from digitlab import cli


def export(folder: Path, n: int, split: str) -> int:
    from PIL import Image

    from digitlab import data

    m = data.load(val_size=0)  # the file's splits as they are: train is all 60,000, in the file's order
    x, y = (m.x_test, m.y_test) if split == "test" else (m.x_train, m.y_train)
    folder.mkdir(parents=True, exist_ok=True)
    for i, (img, label) in enumerate(zip(x[:n], y[:n])):
        Image.fromarray(img).save(folder / f"{i:05d}_{label}.png")
    print(f"wrote {min(n, len(x))} PNG files to {folder}")
    return 0


def score(jsonl: Path) -> int:
    rows = [json.loads(line) for line in jsonl.read_text().splitlines() if line.strip()]
    scored = [r for r in rows if "error" not in r]
    correct = sum(r["label"] == int(Path(r["path"]).stem.rsplit("_", 1)[1]) for r in scored)
    errors = len(rows) - len(scored)
    print(json.dumps({"files": len(rows), "errors": errors, "correct": correct, "accuracy": correct / max(1, len(scored))}))
    return 0


def _rows(jsonl: Path) -> dict[str, dict]:
    return {r["path"]: r for r in (json.loads(line) for line in jsonl.read_text().splitlines() if line.strip())}


def compare(before: Path, after: Path, max_dp: float) -> int:
    a, b = _rows(before), _rows(after)
    both = sorted(set(a) & set(b))
    differ = {k: sum(a[p].get(k) != b[p].get(k) for p in both) for k in ("label", "abstain", "reason", "error")}
    dp = max((abs(x - y) for p in both for x, y in zip(a[p].get("probabilities") or [], b[p].get("probabilities") or [])), default=0.0)
    same = not differ["label"] and not differ["abstain"] and not differ["reason"] and not differ["error"] and dp <= max_dp and set(a) == set(b)
    print(json.dumps({"files": len(both), "only_before": len(set(a) - set(b)), "only_after": len(set(b) - set(a)),
                      **{f"{k}_differs": n for k, n in differ.items()}, "max_abs_dp": dp, "same": same}))
    return cli.OK if same else cli.SOME_FAILED


def main(argv: list[str] | None = None) -> int:
    p = cli.parser(__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    e = sub.add_parser("export", help="write MNIST digits as PNG files named <index>_<label>.png")
    e.add_argument("folder", type=Path)
    e.add_argument("--n", type=int, default=10000, help="how many digits (default 10000)")
    e.add_argument("--split", choices=("test", "train"), default="test", help="MNIST split (default test)")
    s = sub.add_parser("score", help="accuracy of predict.py --format json output against the file names")
    s.add_argument("predictions", type=Path)
    c = sub.add_parser("compare", help="do two predict.py --format json runs give the same answers?")
    c.add_argument("before", type=Path)
    c.add_argument("after", type=Path)
    c.add_argument("--max-dp", type=float, default=1e-6, help="largest allowed probability difference (default 1e-6)")
    a = p.parse_args(argv)
    if a.command == "compare":
        return compare(a.before, a.after, a.max_dp)
    return export(a.folder, a.n, a.split) if a.command == "export" else score(a.predictions)


if __name__ == "__main__":
    sys.exit(main())
