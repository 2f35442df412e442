"""python runs/s40/crop_cost.py [--n 40]

What the form steps cost the Numbers path: 4-digit numbers of the numbers benchmark (``number_cases.cases``, seed
9, every gap class and render) read by ``serving.numbers.read_number`` with ``mnist_advanced``, each step's calls and
time per number (``drop_frame``, ``drop_rule_line`` and ``drop_line_under`` run on every candidate crop through
``preprocess.prepare``; ``drop_number_line`` once per picture), and the median time per number with 1.11's two line
steps on and off, twice each.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from digitlab import preprocess
from digitlab.data import mnist, number_cases
from digitlab.serving import numbers, runtime


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=40)
    a = p.parse_args()
    m = mnist.load()
    classifier = runtime.load("mnist_advanced")
    cases = [c for _, c in number_cases.cases(m.x_test, m.y_test, lengths=(4,), per_cell=max(1, a.n // 8), seed=9)]
    for c in cases[:3]:  # warm up
        numbers.read_number(c.picture, classifier)
    spent = {}
    kept = {}
    for module, name in ((preprocess, "drop_frame"), (preprocess, "drop_rule_line"), (preprocess, "drop_line_under"), (numbers, "drop_number_line")):
        step = kept[name] = getattr(module, name)

        def timed(ink, step=step, name=name):
            t = time.perf_counter()
            out = step(ink)
            calls, seconds = spent.get(name, (0, 0.0))
            spent[name] = (calls + 1, seconds + time.perf_counter() - t)
            return out

        setattr(module, name, timed)
    for c in cases:
        numbers.read_number(c.picture, classifier)
    for name, (calls, seconds) in spent.items():
        print(f"{name}: {calls / len(cases):.1f} calls, {1000 * seconds / len(cases):.2f} ms per number")
    for module, name in ((preprocess, "drop_frame"), (preprocess, "drop_rule_line"), (preprocess, "drop_line_under"), (numbers, "drop_number_line")):
        setattr(module, name, kept[name])

    def median_ms() -> float:
        times = []
        for c in cases:
            t = time.perf_counter()
            numbers.read_number(c.picture, classifier)
            times.append(time.perf_counter() - t)
        return 1000 * float(np.median(times))

    for _ in range(2):
        on = median_ms()
        preprocess.drop_line_under = numbers.drop_number_line = lambda ink: ink
        off = median_ms()
        preprocess.drop_line_under, numbers.drop_number_line = kept["drop_line_under"], kept["drop_number_line"]
        print(f"median per number, {len(cases)} numbers: {on:.1f} ms with 1.11's line steps, {off:.1f} ms without")


if __name__ == "__main__":
    main()
