"""RULE30's candidates (runs/s38/RULE30.md): the committed pair, RULE27's pair and the committed wide network side by side.

python runs/s38/build30.py      (after runs/s38/build29.py, which copies the committed wide network out)"""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NEW = {"0.7": "runs/s37/adv/a0.7/pair.keras", "1": "runs/s37/adv/a1/pair.keras"}

for a, new in NEW.items():
    for w in ("1", "2"):
        subprocess.run([sys.executable, str(ROOT / "training/ensemble.py"), str(ROOT / "runs/s33/pair.keras"), str(ROOT / new),
                        str(ROOT / "runs/s38/adv/wide.keras"), "--weights", "2", w, "1", "--name", "mnist_advanced",
                        "--out", str(ROOT / f"runs/s38/adv/both_a{a}_w{w}")], check=True)
