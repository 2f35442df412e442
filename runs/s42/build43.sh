#!/bin/bash
# RULE43's candidates: the committed pair and wide network beside a compact network Y at weight W (training/ensemble.py).
# build43.sh [NAME ...]: only those Y (default all whose file exists).
export DIGITLAB_MNIST=${DIGITLAB_MNIST:-/work/shared/data/mnist.npz}
cd "$(dirname "$0")/../.."
declare -A Y=([c81]=runs/s35/cnn/c8v8_81.keras [c82]=runs/s35/cnn/c8v8_82.keras [r91]=runs/s41/cnn/rscl64_91.keras
              [r92]=runs/s41/cnn/rscl64_92.keras [p93]=runs/s42/cnn/c8v8p_93.keras [p94]=runs/s42/cnn/c8v8p_94.keras)
for y in ${@:-c81 c82 r91 r92 p93 p94}; do
  [ -f "${Y[$y]}" ] || { echo "$y: ${Y[$y]} missing"; continue; }
  for w in 1 2; do
    [ -f "runs/s42/adv/${y}_w$w/mnist_advanced.keras" ] && continue
    python training/ensemble.py runs/s33/pair.keras runs/s38/adv/wide.keras "${Y[$y]}" --weights 2 1 "$w" --name mnist_advanced \
      --out "runs/s42/adv/${y}_w$w" 2>&1 | grep -E "^saved|rror"
  done
done
