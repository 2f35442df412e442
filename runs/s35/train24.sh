#!/bin/bash
# RULE24's two networks at once: RULE21's, each one more cosine cycle (logs beside each model).
export DIGITLAB_MNIST=${DIGITLAB_MNIST:-/work/shared/data/mnist.npz} DIGITLAB_UNIPEN=${DIGITLAB_UNIPEN:-/work/shared/data/unipen_dev.json.gz}
cd "$(dirname "$0")/../.."
cycle() {  # SEED NEW
  /usr/bin/time -v python training/train_cnn.py --init-from "runs/s35/cnn/c8v8_$1.keras" --width 64 --seed "$2" --epochs 8 --schedule onecycle \
    --learning-rate 0.001 --checkpoint last --clean-epochs 0 --ema 0.999 --redraw 0.25 --redraw-brush 0.06 0.14 \
    --redraw-conventions 1.0 --redraw-pen-path 0.5 --lowres 0.2 --real-strokes "$DIGITLAB_UNIPEN" --real-share 0.25 \
    --conventions-classes 014789 --name "c8v8_$1c" --out runs/s35/cnn > "runs/s35/cnn/c8v8_$1c.log" 2>&1
}
cycle 81 85 & cycle 82 86 & wait
echo done
