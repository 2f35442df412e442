"""RULE31's candidates (runs/s38/RULE31.md): the committed pair, the committed wide network and RULE27's wide network.

python runs/s38/build31.py      (after runs/s38/build29.py, which copies the committed wide network out)"""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WP = {"0.3": "runs/s37/adv/a0.3/wp_mixed.keras", "0.5": "runs/s37/adv/a0.5/wp_mixed.keras", "0.7": "runs/s37/adv/a0.7/wp_mixed.keras",
      "1": "runs/s37/adv/wp.keras"}

for a, wp in WP.items():
    subprocess.run([sys.executable, str(ROOT / "training/ensemble.py"), str(ROOT / "runs/s33/pair.keras"), str(ROOT / "runs/s38/adv/wide.keras"),
                    str(ROOT / wp), "--weights", "2", "1", "1", "--name", "mnist_advanced", "--out", str(ROOT / f"runs/s38/adv/two_wide_a{a}")],
                   check=True)
