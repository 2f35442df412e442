"""Makes ``import digitlab`` work when a script is run as ``python training/<script>.py``."""

import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[1])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
