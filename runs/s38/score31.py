"""RULE31's judge (runs/s38/RULE31.md): RULE29's judge on RULE31's candidates. python runs/s38/score31.py"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import score29  # noqa: E402

score29.CANDS = {f"two wide, A = {a}": f"runs/s38/adv/two_wide_a{a}/mnist_advanced.keras" for a in ("0.3", "0.5", "0.7", "1")}

if __name__ == "__main__":
    score29.main()
