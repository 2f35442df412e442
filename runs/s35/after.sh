#!/bin/bash
# After runs/s35/train19.sh and train20.sh: RULE20's mixes and ensembles, then every candidate's logits and both tables.
export DIGITLAB_MNIST=${DIGITLAB_MNIST:-/work/shared/data/mnist.npz} DIGITLAB_UNIPEN=${DIGITLAB_UNIPEN:-/work/shared/data/unipen_dev.json.gz}
set -e
cd "$(dirname "$0")/../.."
until grep -q done runs/s35/train20.log 2>/dev/null; do sleep 20; done
for a in 0.5 0.7; do
  for f in runs/s34/ftp/rs7_m0 runs/s34/ftp/rs7_m1 runs/s35/pair/rs7_m0_s51 runs/s35/pair/rs7_m1_s52; do
    python training/interpolate.py "$f.keras" --alpha $a --out runs/s35/pair/a$a
  done
  python training/ensemble.py runs/s35/pair/a$a/rs7_m0_mixed.keras runs/s35/pair/a$a/rs7_m1_mixed.keras \
    runs/s35/pair/a$a/rs7_m0_s51_mixed.keras runs/s35/pair/a$a/rs7_m1_s52_mixed.keras --name quad_a$a --out runs/s35/pair
done
python runs/s35/score19.py runs/s35/logits.npz c8_81=runs/s35/cnn/c8_81.keras c8_82=runs/s35/cnn/c8_82.keras \
  quad_a0.5=runs/s35/pair/quad_a0.5.keras quad_a0.7=runs/s35/pair/quad_a0.7.keras
python runs/s35/score19.py runs/s35/logits.npz --score | tee runs/s35/score19.txt
