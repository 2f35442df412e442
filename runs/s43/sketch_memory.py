"""What the bank's sketch adds to a build's peak memory (session 43): builds MODEL's Neighbours bank in FOLDER (a scratch
folder without it) and prints the process's resident and peak memory just before the sketch and just after it.

python runs/s43/sketch_memory.py MODEL FOLDER"""
import sys

from digitlab import files, memory
from digitlab.evaluation import neighbours as nb
from digitlab.models import artifacts

[entry] = artifacts.select([sys.argv[1]])
write_sketch = nb._write_sketch


def measured(*args):
    before = memory.status_mb("VmRSS"), memory.status_mb("VmHWM")
    out = write_sketch(*args)
    after = memory.status_mb("VmRSS"), memory.status_mb("VmHWM")
    print(f"{entry.name}: before the sketch RSS {before[0]:.0f} MB, peak {before[1]:.0f} MB; after it RSS {after[0]:.0f} MB, "
          f"peak {after[1]:.0f} MB (+{after[1] - before[1]:.0f} MB)", flush=True)
    return out


nb._write_sketch = measured
nb.training_bank(entry.model, files.sha256(entry.path, 32).removeprefix("sha256:"), folder=sys.argv[2])
