"""python evaluation/make_user_digits.py --out my_digits [--per-class 2] [--seed 0]

Writes a folder of digits in one synthetic person's handwriting (digitlab.user_style: a slashed
zero, a European 1, a crossed 7, an open-top 9 …, drawn as pen strokes on a 280x280 light
canvas), laid out like the app's Collect page writes it: <out>/0 … <out>/9, one PNG per
drawing, saved through digitlab.data.user_digits.  A stand-in for real users' digits, for trying and
measuring fine-tuning (training/finetune_on_custom.py).  Adds to what is already there.
"""

import sys
from pathlib import Path

from digitlab import cli
from digitlab.data import user_digits, user_style


def main(argv: list[str] | None = None) -> int:
    p = cli.parser(__doc__)
    p.add_argument("--out", type=Path, required=True, help="folder to write <out>/<digit>/*.png into")
    p.add_argument("--per-class", type=int, default=2, help="drawings of each digit (default 2: 20 in all)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the drawings (default 0)")
    a = p.parse_args(argv)
    if a.per_class < 1:
        p.error("--per-class must be at least 1")
    n = user_style.save_drawings(a.out, a.per_class, a.seed)
    print(f"wrote {n} drawings ({a.per_class} per digit) into {a.out}; now {user_digits.counts(a.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
