#!/bin/bash
# RULE26: the six mixes, their logits on the prepared pictures, the 8 apart on 1,200 drawings (seed 7), the table.
export DIGITLAB_MNIST=${DIGITLAB_MNIST:-/work/shared/data/mnist.npz} DIGITLAB_UNIPEN=${DIGITLAB_UNIPEN:-/work/shared/data/unipen_dev.json.gz}
set -e
cd "$(dirname "$0")/../.."
args=() models=()
for a in 0.3 0.5 0.7; do
  for k in 1 2; do
    python training/interpolate.py runs/s35/cnn/c8v8_8${k}c.keras --alpha $a --name c8v8_8${k}c_a$a --out runs/s36/cnn
    args+=("c8v8_8${k}c_a$a=runs/s36/cnn/c8v8_8${k}c_a$a.keras") models+=(--model "runs/s36/cnn/c8v8_8${k}c_a$a.keras")
  done
done
python runs/s36/score26.py runs/s36/logits_cnn.npz "${args[@]}"
python evaluation/conventions.py --model models/mnist_cnn.keras "${models[@]}" --style "8 two circles apart" --per-style 1200 --seed 7 \
  --out runs/s36/eights_1200
python runs/s36/score26.py runs/s36/logits_cnn.npz --score | tee runs/s36/score26.txt
echo done
