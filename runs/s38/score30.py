"""RULE30's judge (runs/s38/RULE30.md): RULE29's judge on RULE30's candidates. python runs/s38/score30.py"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import score29  # noqa: E402

score29.CANDS = {f"both, A = {a}, W = {w}": f"runs/s38/adv/both_a{a}_w{w}/mnist_advanced.keras" for w in ("1", "2") for a in ("0.7", "1")}

if __name__ == "__main__":
    score29.main()
