"""python runs/s36/mcnemar.py  -> how far RULE20-25's mnist_advanced candidates are from the committed file on MNIST test

For each candidate of RULE25 (runs/s36/logits.npz) and RULE20/22's (runs/s35/logits.npz), on the 10,000 MNIST test
digits: the digits only the committed file reads right, those only the candidate reads right, and the exact two-sided
McNemar p-value (``digitlab.evaluation.metrics.mcnemar``): whether the two differ by more than the test split's noise."""

import importlib.util
from pathlib import Path

from digitlab.evaluation.metrics import mcnemar

HERE = Path(__file__).parent
spec = importlib.util.spec_from_file_location("s36_score25", HERE / "score25.py")
s25 = importlib.util.module_from_spec(spec)
spec.loader.exec_module(s25)


def main() -> None:
    d, _, _, one = s25.s17.load(HERE / "logits.npz")
    y = d["mnist test|y"]
    base = one("adv")("mnist test").argmax(1) == y
    models = s25.candidates(d)
    quads = s25.s17.load(HERE.parent / "s35" / "logits.npz")[0]
    for q in ("quad_a0.5", "quad_a0.7"):
        for w in (1.0, 2.0):
            models[f"RULE20/22: (2 {q} + {w:g} wide) / {2 + w:g}"] = (lambda name, q=q, w=w: (2 * quads[f"{name}|{q}"] + w * quads[f"{name}|wide"]) / (2 + w))
    print(f"committed mnist_advanced: MNIST test {base.mean():.2%}\n")
    print("| candidate | MNIST test | only the committed file right | only the candidate right | exact McNemar p |\n|---|---|---|---|---|")
    for label, z in models.items():
        right = z("mnist test").argmax(1) == y
        b, c = int((base & ~right).sum()), int((~base & right).sum())
        print(f"| {label} | {right.mean():.2%} | {b} | {c} | {mcnemar(b, c):.2f} |")


if __name__ == "__main__":
    main()
