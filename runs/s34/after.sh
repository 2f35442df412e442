#!/bin/bash
# After runs/s34/train.sh: RULE17's mixes and RULE18's pairs, then every candidate's logits on the same prepared pictures.
export DIGITLAB_MNIST=${DIGITLAB_MNIST:-/work/shared/data/mnist.npz} DIGITLAB_UNIPEN=${DIGITLAB_UNIPEN:-/work/shared/data/unipen_dev.json.gz}
set -e
cd "$(dirname "$0")/../.."
for a in 0.3 0.5 0.7; do
  python training/interpolate.py runs/s34/ftc/fte.keras --alpha $a --name fte_a$a --out runs/s34/ftc
done
for a in 0.3 0.5; do
  for k in 0 1; do python training/interpolate.py runs/s34/ftp/rs7_m$k.keras --alpha $a --out runs/s34/ftp/a$a; done
  python training/ensemble.py runs/s34/ftp/a$a/rs7_m0_mixed.keras runs/s34/ftp/a$a/rs7_m1_mixed.keras --name pair7_a$a --out runs/s34/ftp
done
python runs/s34/score17.py runs/s34/logits.npz fte_a0.3=runs/s34/ftc/fte_a0.3.keras fte_a0.5=runs/s34/ftc/fte_a0.5.keras \
  fte_a0.7=runs/s34/ftc/fte_a0.7.keras fte=runs/s34/ftc/fte.keras ftk=runs/s34/ftc/ftk.keras \
  pair7_a0.3=runs/s34/ftp/pair7_a0.3.keras pair7_a0.5=runs/s34/ftp/pair7_a0.5.keras
python runs/s34/score17.py runs/s34/logits.npz --score | tee runs/s34/score17.txt
