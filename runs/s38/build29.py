"""RULE29's family P (runs/s38/RULE29.md): RULE27's pair beside the committed wide network.

python runs/s38/build29.py

1. The committed wide network, member 1 of models/mnist_advanced.keras, copied into a fresh --width 96 network
   (trainer.twin_weights, as --init-member 1 does), saved as runs/s38/adv/wide.keras with its own card (the one the
   committed ensemble embeds for it).
2. Check: the committed pair (runs/s33/pair.keras) beside it at weights 2 : 1 gives the committed model's logits
   (max difference under 1e-4 on 2,000 MNIST test digits); else stop.
3. training/ensemble.py RULE27's pair at A beside it, weights 2 1, into runs/s38/adv/p{A}/mnist_advanced.keras.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from digitlab.data import mnist
from digitlab.models import adapter, artifacts, builders, ensemble
from digitlab.training import trainer

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "runs/s38/adv"
PAIRS = {"0.3": "runs/s37/adv/a0.3/pair.keras", "0.5": "runs/s37/adv/a0.5/pair.keras", "0.7": "runs/s37/adv/a0.7/pair.keras",
         "1": "runs/s37/adv/a1/pair.keras"}


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    committed = artifacts.load_model(ROOT / "models/mnist_advanced.keras")
    card = json.loads((ROOT / "models/mnist_advanced.json").read_text())
    wide_card = card["members"][1]
    assert wide_card["name"] == "rsw_s59cc", wide_card["name"]
    cfg = wide_card["config"]
    wide = builders.build(cfg["builder"], **cfg["model_kwargs"], name=wide_card["name"])
    for layer, weights in trainer.twin_weights(wide, committed, 1, "models/mnist_advanced.keras", cfg["builder"]):
        layer.set_weights(weights)
    wide.save(OUT / "wide.keras")
    (OUT / "wide.json").write_text(json.dumps(wide_card, indent=2) + "\n")

    x = mnist.load(os.environ.get("DIGITLAB_MNIST"), prepared=True).x_test[:2000]
    pair = artifacts.load_model(ROOT / "runs/s33/pair.keras")
    again = ensemble.combine([pair, wide], weights=[2, 1])
    got = adapter.logits_model(again).predict(x, batch_size=500, verbose=0)
    want = adapter.logits_model(committed).predict(x, batch_size=500, verbose=0)
    diff = float(np.abs(got - want).max())
    print(f"committed pair + copied wide vs models/mnist_advanced.keras: max logit difference {diff:.2e} on 2,000 MNIST test digits")
    if diff >= 1e-4:
        print("not the committed model: stopped")
        return 1
    for a, pair_file in PAIRS.items():
        subprocess.run([sys.executable, str(ROOT / "training/ensemble.py"), str(ROOT / pair_file), str(OUT / "wide.keras"),
                        "--weights", "2", "1", "--name", "mnist_advanced", "--out", str(OUT / f"p{a}")], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
