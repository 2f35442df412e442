#!/bin/bash
# RULE42's eight candidates: the committed mnist_cnn and one network Y, the plain mean of their logits (training/ensemble.py).
# build42.sh [K ...]: only those candidates (default all whose Y exists).
export DIGITLAB_MNIST=${DIGITLAB_MNIST:-/work/shared/data/mnist.npz}
cd "$(dirname "$0")/../.."
Y=(_ runs/s41/cnn/rscl64_91.keras runs/s41/cnn/rscl64_92.keras runs/s35/cnn/c8v8_81.keras runs/s35/cnn/c8v8_82.keras
   runs/s35/cnn/c8v8_81c.keras runs/s35/cnn/c8v8_82c.keras runs/s36/cnn/c8v8_81c_a0.5.keras runs/s36/cnn/c8v8_82c_a0.5.keras)
for k in "${@:-1 2 3 4 5 6 7 8}"; do
  for kk in $k; do
    [ -f "${Y[$kk]}" ] || { echo "e$kk: ${Y[$kk]} missing"; continue; }
    python training/ensemble.py models/mnist_cnn.keras "${Y[$kk]}" --name "e$kk" --out runs/s41/ens 2>&1 | grep -E "^(saved|member)|rror"
  done
done
