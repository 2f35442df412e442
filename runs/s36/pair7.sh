#!/bin/bash
# RULE25's M family: RULE18's two fine-tunes of the committed pair (runs/s34/ftp), mixed back at 0.7 by session 35
# (runs/s35/pair/a0.7) and averaged; then both A's logits. (At 0.5 the average is runs/s34/ftp/pair7_a0.5.keras.)
export DIGITLAB_MNIST=${DIGITLAB_MNIST:-/work/shared/data/mnist.npz} DIGITLAB_UNIPEN=${DIGITLAB_UNIPEN:-/work/shared/data/unipen_dev.json.gz}
set -e
cd "$(dirname "$0")/../.."
python training/ensemble.py runs/s35/pair/a0.7/rs7_m0_mixed.keras runs/s35/pair/a0.7/rs7_m1_mixed.keras --name pair7_a0.7 --out runs/s36
python runs/s36/score25.py runs/s36/logits.npz pair7_a0.5=runs/s34/ftp/pair7_a0.5.keras pair7_a0.7=runs/s36/pair7_a0.7.keras
echo done
