"""python evaluation/gate.py [--n 200] [--real 1000] [--gate FILE] [--model NAME ...] [--real-strokes PATH] [--out DIR] [--dry-run]

The digit gate's benchmark (digitlab.evaluation.gate): the share refused of freshly generated pictures that
are not digits, per category (cartoon faces, emoji, letters, scribbles, shapes, text; --n each, seeds no
training picture uses), of MNIST test (must stay <= 1 %) and of real drawn digits it never trained on
(scikit-learn's digits as photos and canvas drawings, canvas digits in many writing conventions, and with a
real-strokes file real pen strokes of the held-out site and of the validation writers, with their pen-ups kept,
lost, and as the pen's path through 8 points; --real each).
Measured by the gate alone and by each model's whole decision (gate OR the card's confidence threshold), as
Home and the predict CLI decide; every picture goes through preprocess.prepare.  The gate is the committed
one served through ONNX Runtime, as Home serves it (--gate FILE: a .keras gate through Keras instead, e.g. a
candidate before it is committed).  Without --model, every usable model in models/.
Writes evaluation/reports/gate/benchmark.json and benchmark.md (--out DIR elsewhere) and prints the table.
--dry-run: 12 pictures per category, 20 real digits per set, 500 MNIST test digits, the default model only.
"""

from __future__ import annotations

import sys
from pathlib import Path

from digitlab import cli
from digitlab.paths import REPORTS_DIR


def main(argv: list[str] | None = None) -> int:
    p = cli.parser(__doc__)
    p.add_argument("--n", type=int, default=200, help="generated non-digits per category (default 200)")
    p.add_argument("--real", type=int, default=1000, help="real digits per set, at most 1797 (default 1000)")
    p.add_argument("--gate", type=Path, default=None, help="a digit gate .keras to measure instead of the committed one")
    cli.add_models(p, "model name in models/")
    p.add_argument("--real-strokes", type=Path, default=None, metavar="PATH",
                   help="real-strokes file (gzipped JSON, digitlab/data/unipen.py) for the real-strokes digit sets "
                        "(default $DIGITLAB_UNIPEN, else data/unipen/unipen_dev.json.gz)")
    p.add_argument("--out", type=Path, default=REPORTS_DIR / "gate", help="reports folder (default evaluation/reports/gate/)")
    cli.add_dry_run(p, "a few pictures per set: seconds, for tests")
    cli.add_mnist(p)
    a = p.parse_args(argv)
    if a.n < 1 or a.real < 1:
        p.error("--n and --real must be at least 1")
    n, real, n_mnist = (min(a.n, 12), min(a.real, 20), 500) if a.dry_run else (a.n, a.real, None)

    from digitlab import data, files
    from digitlab.data import unipen
    from digitlab.evaluation import gate as bench
    from digitlab.files import atomic_write_bytes, atomic_write_json
    from digitlab.models import artifacts, cards
    from digitlab.paths import shown
    from digitlab.serving import gate as gate_module
    from digitlab.serving import runtime

    try:
        if a.gate is not None:
            the_gate = gate_module.load(a.gate)
        else:
            the_gate = gate_module.default("onnx")  # the gate as Home and the predict CLI serve it
            if the_gate is None:
                raise artifacts.ModelError(f"no usable digit gate at {shown(gate_module.GATE_PATH)}: train one with python training/train_gate.py")
        if a.model:
            models = [runtime.load(name) for name in a.model]
        elif a.dry_run:
            models = [runtime.load(None)]
        else:
            models = [runtime.load(e.name) for e in runtime.list_models() if e.usable]
        mnist = data.load(a.mnist)
    except (artifacts.ModelError, data.DataError) as e:
        return cli.error(e)
    real_strokes = a.real_strokes or unipen.default_path()
    if real_strokes is None:
        print(f"real-strokes sets left out: no --real-strokes and no ${unipen.ENV_VAR}", file=sys.stderr)
    try:
        sets = bench.benchmark_sets(mnist, n, real, n_mnist, real_strokes=real_strokes)
    except unipen.UnipenError as e:
        return cli.error(e)
    report = bench.run(sets, the_gate, models)
    command = cards.command_line(argv, __file__)
    report = {"gate": {"path": shown(the_gate.path), "fingerprint": files.sha256(the_gate.path, 16),
                       "threshold": the_gate.threshold, "served_by": "onnxruntime" if a.gate is None else "keras"},
              **report, "dry_run": a.dry_run, "command": command}
    md = bench.markdown(report)
    a.out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(a.out / "benchmark.json", report)
    atomic_write_bytes(a.out / "benchmark.md", f"# The digit gate's benchmark\n\n`{command}`\n\nGate: `{report['gate']['path']}` "
                       f"({report['gate']['fingerprint']}, threshold {the_gate.threshold:.4f}, {report['gate']['served_by']})\n\n{md}\n".encode())
    print(md)
    return cli.OK


if __name__ == "__main__":
    sys.exit(main())
