#!/bin/bash
# After runs/s35/train24.sh: RULE24's logits, then every table.
export DIGITLAB_MNIST=${DIGITLAB_MNIST:-/work/shared/data/mnist.npz} DIGITLAB_UNIPEN=${DIGITLAB_UNIPEN:-/work/shared/data/unipen_dev.json.gz}
set -e
cd "$(dirname "$0")/../.."
until grep -q done runs/s35/train24.log 2>/dev/null; do sleep 20; done
python runs/s35/score19.py runs/s35/logits.npz c8v8_81c=runs/s35/cnn/c8v8_81c.keras c8v8_82c=runs/s35/cnn/c8v8_82c.keras
python runs/s35/score19.py runs/s35/logits.npz --score > runs/s35/score19.txt
sed -n '/RULE24/,/RULE20/p' runs/s35/score19.txt
