#!/bin/bash
# After runs/s35/train21.sh and train23.sh: RULE23's mixes and ensembles, then RULE21's and RULE23's logits and every table.
export DIGITLAB_MNIST=${DIGITLAB_MNIST:-/work/shared/data/mnist.npz} DIGITLAB_UNIPEN=${DIGITLAB_UNIPEN:-/work/shared/data/unipen_dev.json.gz}
set -e
cd "$(dirname "$0")/../.."
until grep -q done runs/s35/train21.log 2>/dev/null && grep -q done runs/s35/train23.log 2>/dev/null; do sleep 20; done
for a in 0.5 0.7; do
  for f in rs7_m0_s53 rs7_m1_s54; do python training/interpolate.py "runs/s35/pair/$f.keras" --alpha $a --out runs/s35/pair/a$a; done
  python training/ensemble.py runs/s35/pair/a$a/rs7_m0_mixed.keras runs/s35/pair/a$a/rs7_m1_mixed.keras \
    runs/s35/pair/a$a/rs7_m0_s51_mixed.keras runs/s35/pair/a$a/rs7_m1_s52_mixed.keras \
    runs/s35/pair/a$a/rs7_m0_s53_mixed.keras runs/s35/pair/a$a/rs7_m1_s54_mixed.keras --name hexa_a$a --out runs/s35/pair
done
python runs/s35/score19.py runs/s35/logits.npz c8v8_81=runs/s35/cnn/c8v8_81.keras c8v8_82=runs/s35/cnn/c8v8_82.keras \
  hexa_a0.5=runs/s35/pair/hexa_a0.5.keras hexa_a0.7=runs/s35/pair/hexa_a0.7.keras
python runs/s35/score19.py runs/s35/logits.npz --score | tee runs/s35/score19.txt
