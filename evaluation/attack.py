"""python evaluation/attack.py [--model NAME_OR_FILE ...] [--n 1000] [--eps 0,0.02,0.05,0.1,0.15,0.2,0.25,0.3] [--steps 40] [--dry-run]

Accuracy under L-inf FGSM and PGD (random start, --steps steps of 2.5 eps / steps, --restarts
restarts) against epsilon, on a fixed random subset of MNIST test, through digitlab.evaluation.attacks
(gradients of the logits, never model.predict).  Without --model, every usable model in models/.
Writes evaluation/reports/<model>/attack.json (every number), attack.png (accuracy vs eps) and
attack_examples.png (one digit at growing eps), and prints a Markdown table.
--write-card also stores the headline figures (FGSM eps 0.1 / 0.3, PGD eps 0.1 / 0.3 on the same
digits) in the model card under "adversarial", and (a committed model, not --dry-run) in docs/results.json.  --dry-run: 100 digits, 3 epsilons, 10 PGD steps.
Every run ends with the sanity report (``digitlab.evaluation.attacks.sanity``), at the largest eps:
accuracy never rises with eps, PGD does at least as well as FGSM, FGSM at 0.3 not above FGSM at 0.1,
PGD on the logit margin agrees with cross-entropy PGD (the worst case per digit over both is
reported), and PGD examples transferred from another model (--transfer-from, default mnist_cnn)
fool the model less than its own gradients.  A failed check is printed and recorded, not hidden.

Longer than a thin script because one run must keep together what a robustness claim rests on: both attack
curves, the sanity report with its transfer check, the report files and (--write-card) the card entry, per model.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from digitlab import cli


def main(argv: list[str] | None = None) -> int:
    p = cli.parser(__doc__)
    cli.add_models(p)
    p.add_argument("--n", type=int, default=1000, help="MNIST test digits, a fixed random subset (default 1000)")
    p.add_argument("--eps", default="0,0.02,0.05,0.1,0.15,0.2,0.25,0.3", help="comma-separated epsilons (default 0,0.02,0.05,0.1,0.15,0.2,0.25,0.3)")
    p.add_argument("--steps", type=int, default=40, help="PGD steps (default 40)")
    p.add_argument("--restarts", type=int, default=1, help="PGD random restarts (default 1)")
    p.add_argument("--seed", type=int, default=0, help="seed of the digit subset and of PGD's random starts (default 0)")
    p.add_argument("--transfer-from", default="mnist_cnn", help="model whose PGD examples are the black-box transfer check "
                   "(default mnist_cnn; 'none' to skip; skipped for the model itself)")
    p.add_argument("--write-card", action="store_true", help="store the headline figures in each model's card (default off)")
    cli.add_dry_run(p, "100 digits, eps 0/0.1/0.3, 10 PGD steps: seconds, for tests")
    cli.add_mnist(p)
    p.add_argument("--out", type=Path, default=None, help="reports folder (default evaluation/reports/)")
    a = p.parse_args(argv)
    if a.dry_run:
        a.n, a.eps, a.steps = min(a.n, 100), "0,0.1,0.3", min(a.steps, 10)
    try:
        eps = [float(e) for e in a.eps.split(",")]
    except ValueError:
        p.error(f"--eps {a.eps!r}: give comma-separated numbers")
    if a.n < 1 or a.steps < 1 or a.restarts < 1 or any(not 0 <= e <= 1 for e in eps):
        p.error("--n, --steps and --restarts must be at least 1 and every eps in [0, 1]")

    from digitlab import data
    from digitlab.evaluation import attacks
    from digitlab.files import atomic_write_bytes, atomic_write_json
    from digitlab.models import artifacts, cards
    from digitlab.paths import REPORTS_DIR
    from digitlab.report import extractors, plots, tables
    from digitlab.report import results as recorded
    from digitlab.report.progress import console_progress

    try:
        entries = artifacts.select(a.model)
        source_model = None if a.transfer_from == "none" else artifacts.select([a.transfer_from])[0]
        x, y = data.load(a.mnist).inputs("test", a.n, a.seed)
    except (artifacts.ModelError, data.DataError) as e:
        return cli.error(e)
    results = {}
    for entry in entries:
        t0 = time.time()
        source = attacks.attacker(entry).source
        masks: dict[float, np.ndarray] = {}
        curves = [attacks.accuracy_vs_eps(entry, x, y, eps, attack, a.steps, a.restarts, a.seed, console_progress(f"{entry.name} {attack}"),
                                          masks=masks if attack == "pgd" else None)
                  for attack in ("fgsm", "pgd")]
        figures = attacks.headline(entry, x, y, a.steps, a.restarts, a.seed, curves=curves)  # missing points computed
        top = max(eps)
        transfer = None if source_model is None or source_model.path.resolve() == entry.path.resolve() else source_model
        check = attacks.sanity(entry, x, y, curves, masks.get(top), top, a.steps, a.restarts, a.seed, transfer,
                               console_progress(f"{entry.name} sanity")) if top > 0 else None
        result = {"model": entry.name, "split": "test", "n": int(len(x)), "seed": a.seed, "gradient_of": source,
                  "curves": curves, "headline": figures, "sanity": check, "seconds": round(time.time() - t0, 1)}
        results[entry.name] = result
        out = (a.out or REPORTS_DIR) / entry.name
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_json(out / "attack.json", result)
        atomic_write_bytes(out / "attack.png", plots.attack_curves_png(result, entry.name))
        right = np.flatnonzero(attacks.attacker(entry).predict(x) == y)
        digit = x[right[0] if len(right) else 0]  # the first digit the model gets right
        atomic_write_bytes(out / "attack_examples.png", plots.attack_examples_png(attacks.attack_one(entry, digit, eps, "pgd", a.steps), entry.name, "pgd"))
        if a.write_card:
            command = cards.command_line(argv, __file__)
            summary = None if check is None else {k: v for k, v in check.items() if k != "checks"} | {
                "checks": {k: c["passed"] for k, c in check["checks"].items()}}
            card = artifacts.update_card(entry.path, {"adversarial": {**figures, "sanity": summary, "seconds": result["seconds"], "command": command}})
            if not a.dry_run:  # what goes into the card goes into docs/results.json too
                recorded.record_all(extractors.committed(extractors.adversarial_figures(entry.name, card["adversarial"], extractors.model_sha(entry.path))))
        if check is not None:
            for name, c in check["checks"].items():
                print(f"{entry.name} sanity {name}: {'passed' if c['passed'] else 'FAILED'} ({c['detail']})", file=sys.stderr)
        print(json.dumps({"model": entry.name, **{k: (round(v, 4) if isinstance(v, float) else v) for k, v in figures.items()},
                          "sanity_passed": None if check is None else check["passed"], "report": str(out)}), flush=True)
    print(tables.attack_curves(results), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
