#!/bin/bash
# RULE21's two networks at once, from random weights (logs beside each model).
export DIGITLAB_MNIST=${DIGITLAB_MNIST:-/work/shared/data/mnist.npz} DIGITLAB_UNIPEN=${DIGITLAB_UNIPEN:-/work/shared/data/unipen_dev.json.gz}
cd "$(dirname "$0")/../.."
cnn() {  # SEED
  /usr/bin/time -v python training/train_cnn.py --width 64 --seed "$1" --clean-epochs 0 --epochs 15 --ema 0.999 --redraw 0.25 \
    --redraw-brush 0.06 0.14 --redraw-conventions 1.0 --redraw-pen-path 0.5 --lowres 0.2 \
    --real-strokes "$DIGITLAB_UNIPEN" --real-share 0.25 --conventions-classes 014789 --name "c8v8_$1" --out runs/s35/cnn > "runs/s35/cnn/c8v8_$1.log" 2>&1
}
cnn 81 & cnn 82 & wait
echo done
