#!/bin/bash
# RULE19's two networks at once, from random weights (logs beside each model); RULE21's with PREFIX c8v8 (train21.sh).
# train19.sh [PREFIX]: the networks are named PREFIX_81 and PREFIX_82 (default c8).
export DIGITLAB_MNIST=${DIGITLAB_MNIST:-/work/shared/data/mnist.npz} DIGITLAB_UNIPEN=${DIGITLAB_UNIPEN:-/work/shared/data/unipen_dev.json.gz}
cd "$(dirname "$0")/../.."
prefix=${1:-c8}
cnn() {  # SEED
  /usr/bin/time -v python training/train_cnn.py --width 64 --seed "$1" --clean-epochs 0 --epochs 15 --ema 0.999 --redraw 0.25 \
    --redraw-brush 0.06 0.14 --redraw-conventions 1.0 --redraw-pen-path 0.5 --lowres 0.2 \
    --real-strokes "$DIGITLAB_UNIPEN" --real-share 0.25 --conventions-classes 014789 --name "${prefix}_$1" --out runs/s35/cnn \
    > "runs/s35/cnn/${prefix}_$1.log" 2>&1
}
cnn 81 & cnn 82 & wait
echo done
