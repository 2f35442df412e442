"""Diagnostic: the validation writers' real numbers (unipen.runs_on_a_line, never the held-out site) as a scan of a
form would give them, not as the canvas gives them: a pen 2-4% of a digit's height on white paper, the number cut
out with a margin of 0-25% of its height, the line 32-160 px high, a scanner's blur and noise, saved as JPEG; read
by mnist_advanced through the Numbers path (invert "auto", no canvas tone) beside the same numbers on the canvas.
python runs/s30/scanned_numbers.py [--n 200] [--part val|held_out] [--show K]"""
import argparse
import io

import cv2
import numpy as np
from PIL import Image

from digitlab.data import handwriting_test as hw
from digitlab.data import unipen
from digitlab.files import png_bytes
from digitlab.serving import numbers, runtime

p = argparse.ArgumentParser()
p.add_argument("--n", type=int, default=200)
p.add_argument("--part", choices=("val", "held_out"), default="val", help="held_out: the held-out site, printed apart (RULE9)")
p.add_argument("--show", type=int, default=0, help="save this many misread scans to /tmp/scans")
a = p.parse_args()
split = unipen.split(unipen.load(unipen.default_path()))
runs = unipen.runs_on_a_line(getattr(split, a.part))[: a.n]
clf = runtime.load("mnist_advanced")
rng = np.random.default_rng(5)


def scan(run, rng) -> bytes:
    digit_h = 400.0
    strokes = [s for item in run for s in item.strokes]
    lo = np.concatenate(strokes).min(0)
    hi = np.concatenate(strokes).max(0)
    hs = np.median([np.ptp(np.concatenate(i.strokes)[:, 1]) for i in run])
    scale = digit_h / max(hs, 1e-6)
    m = int(rng.uniform(0.0, 0.25) * digit_h) + 10
    size = ((hi - lo) * scale).astype(int) + 2 * m
    ink = unipen.draw(np.zeros((size[1], size[0]), np.uint8), [(s - lo) * scale + m for s in strokes], rng.uniform(0.02, 0.04) * digit_h)
    paper = 255 - ink.astype(np.float32) * rng.uniform(0.6, 0.9)
    h = int(rng.uniform(32, 160))
    w = max(8, round(paper.shape[1] * h / paper.shape[0]))
    small = cv2.resize(cv2.GaussianBlur(paper, (0, 0), 0.6 * paper.shape[0] / h), (w, h), interpolation=cv2.INTER_AREA)
    small = np.clip(small + rng.normal(0, 3, small.shape), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(small).save(buf, "JPEG", quality=85)
    return buf.getvalue()


canvas_rng = np.random.default_rng([hw.SEED_OFFSET, 24])
right = {"canvas": 0, "scan": 0}
no_ink = 0
shown = 0
for k, run in enumerate(runs):
    truth = "".join(str(i.label) for i in run)
    brush = float(canvas_rng.choice(hw.BRUSHES))
    c = numbers.read_number(png_bytes(unipen.render_number(run, canvas_rng, brush=brush)), clf, invert="no", drawn_on=hw.DARK_CANVAS)
    data = scan(run, rng)
    s = numbers.read_number(data, clf)
    right["canvas"] += c.number == truth
    right["scan"] += s.number == truth
    no_ink += s.number == ""
    if s.number != truth and shown < a.show:
        import pathlib
        pathlib.Path("/tmp/scans").mkdir(exist_ok=True)
        pathlib.Path(f"/tmp/scans/{k:04d}_{truth}_{s.number or 'none'}.jpg").write_bytes(data)
        shown += 1
        print(k, truth, "canvas", c.number, "scan", s.number, s.read_by, s.notes[:3])
print(f"{len(runs)} numbers of {'the validation writers' if a.part == 'val' else 'the held-out site'}: canvas {right['canvas'] / len(runs):.1%}, scan {right['scan'] / len(runs):.1%} ({no_ink} no ink)")
