"""python evaluation/calibrate.py [--model NAME_OR_FILE ...] [--non-digits 400] [--reject-rate 0.005] [--quick]

Calibration and the "not a digit" rule, per model, through digitlab.calibration:
  1. temperature scaling fitted (NLL) on the validation split; ECE (15 bins) and NLL on MNIST
     test before and after; reliability diagram;
  2. abstain threshold on the calibrated max probability, set so that --reject-rate of the
     validation digits fall below it; measured on MNIST test and on --non-digits generated
     non-digit pictures (scribbles, letters from fonts, blank-ish noise, shapes) that go through
     preprocess.prepare like any uploaded picture (a picture with no ink is rejected there);
  3. the temperature and the threshold are written into the model card under "calibration",
     where calibration.decide (the app, the predict CLI) reads them.
Without --model, every usable model.  Writes evaluation/reports/<model>/calibration.json,
reliability.png and non_digits.png, and evaluation/reports/calibration.md.
--quick: 500 validation / 1000 test digits, 40 non-digits, and the card is left alone unless
--write-card is given.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import _bootstrap  # noqa: F401


def markdown(reports: dict[str, dict]) -> str:
    lines = ["| model | T | ECE before | ECE after | NLL before | NLL after | threshold | MNIST test rejected | non-digits rejected | "
             "scribble | letter | noise | shape |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for model, r in reports.items():
        ab = r["abstain"]
        kinds = ab["non_digits_rejected_by_kind"]
        lines.append(f"| {model} | {r['temperature']:.3f} | {r['ece_before']:.2%} | {r['ece_after']:.2%} | {r['nll_before']:.4f} | "
                     f"{r['nll_after']:.4f} | {ab['threshold']:.3f} | {ab['mnist_test_rejected']:.2%} | {ab['non_digits_rejected']:.1%} | "
                     + " | ".join(f"{kinds.get(k, float('nan')):.0%}" for k in ("scribble", "letter", "noise", "shape")) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", action="append", help="model name in models/ or a .keras file; repeatable (default: every usable model)")
    p.add_argument("--non-digits", type=int, default=400, help="generated non-digit pictures, a quarter of each kind (default 400)")
    p.add_argument("--reject-rate", type=float, default=0.005, help="share of validation digits the threshold may reject (default 0.005)")
    p.add_argument("--seed", type=int, default=1, help="seed of the non-digit pictures (default 1)")
    p.add_argument("--write-card", action=argparse.BooleanOptionalAction, default=None,
                   help="write temperature and threshold into the model card (default: yes, except with --quick)")
    p.add_argument("--quick", "--dry-run", action="store_true", help="small splits and 40 non-digits: seconds, for tests")
    p.add_argument("--mnist", default=None, help="mnist.npz in keras layout (default: $DIGITLAB_MNIST, keras cache, download)")
    p.add_argument("--out", type=Path, default=None, help="reports folder (default evaluation/reports/)")
    a = p.parse_args(argv)
    if not 0 < a.reject_rate < 0.5 or a.non_digits < 4:
        p.error("--reject-rate must be in (0, 0.5) and --non-digits at least 4")
    write_card = (not a.quick) if a.write_card is None else a.write_card
    n_val, n_test = (500, 1000) if a.quick else (None, None)
    n_nd = min(a.non_digits, 40) if a.quick else a.non_digits

    from digitlab import artifacts, calibration, data
    from digitlab.inference import Classifier
    from digitlab.paths import REPORTS_DIR
    from digitlab.robustness import mnist_inputs

    try:
        entries = artifacts.select(a.model)
        x_val, y_val = mnist_inputs("val", n_val, 0, a.mnist)
        x_test, y_test = mnist_inputs("test", n_test, 0, a.mnist)
    except (artifacts.ModelError, data.DataError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    pictures = calibration.non_digit_pictures(n_nd, a.seed)
    non_digits = calibration.prepare_pictures(pictures)
    out = a.out or REPORTS_DIR
    reports = {}
    for entry in entries:
        clf = Classifier(entry)
        report = calibration.calibrate(clf.predict_proba, x_val, y_val, x_test, y_test, non_digits, a.reject_rate)
        entry_card = {**calibration.card_entry(report), "non_digit_seed": a.seed,
                      "command": "python evaluation/calibrate.py" + (" --quick" if a.quick else "")}
        reports[entry.name] = report
        folder = out / entry.name
        folder.mkdir(parents=True, exist_ok=True)
        artifacts.atomic_write_json(folder / "calibration.json", {"model": entry.name, **report, "non_digit_seed": a.seed})
        artifacts.atomic_write_bytes(folder / "reliability.png", calibration.reliability_png(report, entry.name))
        card = {**(entry.card or {}), "calibration": entry_card}
        shown = min(20 if a.quick else 40, len(pictures))
        decisions = [calibration.decide(p, card) for p in clf.predict_proba(non_digits[0][:shown])]
        decisions = [(None, "no ink") if no_ink else d for d, no_ink in zip(decisions, non_digits[1][:shown])]
        artifacts.atomic_write_bytes(folder / "non_digits.png", calibration.non_digits_png(
            pictures[:shown], non_digits[0][:shown], decisions, f"{entry.name}: generated non-digits (green: abstained)"))
        if write_card:
            artifacts.update_card(entry.path, {"calibration": entry_card})
        ab = report["abstain"]
        print(json.dumps({"model": entry.name, "temperature": round(report["temperature"], 4), "ece_before": round(report["ece_before"], 5),
                          "ece_after": round(report["ece_after"], 5), "threshold": round(ab["threshold"], 4),
                          "mnist_test_rejected": round(ab["mnist_test_rejected"], 4), "non_digits_rejected": round(ab["non_digits_rejected"], 4),
                          "card_written": write_card, "report": str(folder)}), flush=True)
    md = markdown(reports)
    artifacts.atomic_write_bytes(out / "calibration.md", (f"# Calibration and abstention\n\n`python evaluation/calibrate.py`\n\n{md}\n").encode())
    print(md, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
