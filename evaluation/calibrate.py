"""python evaluation/calibrate.py [--model NAME_OR_FILE ...] [--non-digits 400] [--digits 1000] [--reject-rate 0.007] [--dry-run]

Calibration and the "not a digit" rule, per model, through digitlab.evaluation.calibration:
  1. temperature scaling fitted (NLL) on the validation split; ECE (15 bins) and NLL on MNIST
     test before and after; reliability diagram;
  2. the abstain rule: the digit gate (models/gate/not_a_digit.keras, digitlab.serving.gate; its own threshold
     is in its card) OR a threshold on the calibrated max probability, set so that gate and threshold
     together reject --reject-rate of the validation digits;
  3. measured on MNIST test, on --digits MNIST test digits redrawn with a canvas brush, on printed
     digits from held-out fonts, and on --non-digits generated non-digit pictures (scribbles, letters
     from fonts, blank-ish textures, shapes; digitlab.nondigits) twice: from the gate's training
     generators with another seed ("in_distribution") and from generators the gate never saw
     ("held_out": other fonts, letters, shapes, scribble and texture styles).  Every picture goes
     through preprocess.prepare like an uploaded one (a picture with no ink is rejected there).
     The same figures for the confidence threshold alone (same validation budget) show what the gate adds;
  4. the temperature, the threshold and the figures are written into the model card under
     "calibration", where the abstain rule (serving.abstain, through every Prediction) reads them.
Without --model, every usable model.  Writes evaluation/reports/<model>/calibration.json,
reliability.png and non_digits.png, evaluation/reports/gate.json (the gate alone) and
evaluation/reports/calibration.md.
--no-gate: the confidence threshold alone.  --dry-run: 500 validation / 1000 test digits, 20 non-digits
and 20 digits per set, and the card is left alone unless --write-card is given.

Longer than a thin script because it writes, per model, the report, the reliability diagram, the non-digit
gallery and the card entry, and the gate's own report; the measurement itself is digitlab.evaluation.calibration.calibrate.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from digitlab import cli


def main(argv: list[str] | None = None) -> int:
    p = cli.parser(__doc__)
    cli.add_models(p)
    p.add_argument("--non-digits", type=int, default=400, help="generated non-digit pictures per set, a quarter of each kind (default 400)")
    p.add_argument("--digits", type=int, default=1000, help="MNIST test digits redrawn with a brush; a quarter as many printed (default 1000)")
    p.add_argument("--reject-rate", type=float, default=0.007,
                   help="share of validation digits gate and threshold may reject together (default 0.007)")
    p.add_argument("--gate", type=Path, default=None, help="digit gate .keras (default models/gate/not_a_digit.keras)")
    p.add_argument("--no-gate", action="store_true", help="the confidence threshold alone")
    p.add_argument("--write-card", action=argparse.BooleanOptionalAction, default=None,
                   help="write temperature, threshold and figures into the model card (default: yes, except with --dry-run)")
    cli.add_dry_run(p, "small splits and 20 pictures per set: seconds, for tests")
    cli.add_mnist(p)
    p.add_argument("--out", type=Path, default=None, help="reports folder (default evaluation/reports/)")
    a = p.parse_args(argv)
    if not 0 < a.reject_rate < 0.5 or a.non_digits < 4 or a.digits < 4:
        p.error("--reject-rate must be in (0, 0.5), --non-digits and --digits at least 4")
    write_card = (not a.dry_run) if a.write_card is None else a.write_card
    n_val, n_test = (500, 1000) if a.dry_run else (None, None)
    n_nd, n_dg = (min(a.non_digits, 20), min(a.digits, 20)) if a.dry_run else (a.non_digits, a.digits)

    from digitlab import data
    from digitlab.evaluation import calibration, nondigit_sets
    from digitlab.files import atomic_write_bytes, atomic_write_json
    from digitlab.models import artifacts, cards
    from digitlab.paths import REPORTS_DIR, shown
    from digitlab.report import extractors, plots, tables
    from digitlab.report import results as recorded
    from digitlab.serving import classifiers
    from digitlab.serving.classifiers import Classifier
    from digitlab.serving.gate import GATE_PATH, load
    from digitlab.training import gate

    try:
        entries = artifacts.select(a.model)
        mnist = data.load(a.mnist)
        x_val, y_val = mnist.inputs("val", n_val, 0)
        x_test, y_test = mnist.inputs("test", n_test, 0)
        the_gate = None if a.no_gate else load(a.gate or GATE_PATH)
    except (artifacts.ModelError, data.DataError) as e:
        return cli.error(e)
    sets = nondigit_sets.measurement_sets(mnist.x_test, mnist.y_test, n_nd, n_dg)
    out = a.out or REPORTS_DIR
    command = cards.command_line(argv, __file__)
    gate_alone = None
    if the_gate is not None:
        gate_alone = {"gate": shown(the_gate.path), "fingerprint": the_gate.fingerprint(), "threshold": the_gate.threshold,
                      **gate.measure(the_gate, x_val, x_test, sets), "command": command}
        atomic_write_json(out / "gate.json", gate_alone)
    reports = {}
    shown = min(40, n_nd)
    for entry in entries:
        clf = Classifier(entry)
        report = calibration.calibrate(clf.predict_proba, x_val, y_val, x_test, y_test, sets, a.reject_rate, the_gate)
        entry_card = {**calibration.card_entry(report), "non_digit_seeds": nondigit_sets.MEASURE_SEEDS, "command": command}
        if write_card:  # what goes into the card goes into docs/results.json too
            recorded.record_all(extractors.committed(extractors.calibration_figures(entry.name, entry_card, extractors.model_sha(entry.path))))
        reports[entry.name] = report
        folder = out / entry.name
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_json(folder / "calibration.json", {"model": entry.name, **report, "non_digit_seeds": nondigit_sets.MEASURE_SEEDS,
                                                                   "command": command})
        atomic_write_bytes(folder / "reliability.png", plots.reliability_png(report, entry.name))
        card = {**(entry.card or {}), "calibration": entry_card}
        images, no_ink, _, details = sets["non_digits"]["held_out"]
        probs = clf.predict_proba(images[:shown]) * ~no_ink[:shown, None]  # no ink: all-zero probabilities, as the app gets them
        decided = classifiers.predictions(probs, card, images[:shown] if the_gate else None, the_gate)  # the app's and the CLI's decision
        atomic_write_bytes(folder / "non_digits.png", plots.non_digits_png(
            details[:shown], images[:shown], decided, f"{entry.name}: held-out generated non-digits (green: abstained)"))
        if write_card:
            artifacts.update_card(entry.path, {"calibration": entry_card})
        ab = report["abstain"]
        print(json.dumps({"model": entry.name, "temperature": round(report["temperature"], 4), "ece_before": round(report["ece_before"], 5),
                          "ece_after": round(report["ece_after"], 5), "threshold": round(ab["threshold"], 4),
                          "gate_threshold": None if the_gate is None else round(the_gate.threshold, 4),
                          "mnist_test_rejected": round(ab["mnist_test_rejected"], 4),
                          "digits_rejected": {k: round(v, 4) for k, v in ab["digits_rejected"].items()},
                          "non_digits_rejected": {k: round(v["rejected"], 4) for k, v in ab["non_digits"].items()},
                          "card_written": write_card, "report": str(folder)}), flush=True)
    md = tables.calibration(reports, gate_alone)
    atomic_write_bytes(out / "calibration.md", (f"# Calibration and abstention\n\n`{command}`\n\n{md}\n").encode())
    print(md, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
