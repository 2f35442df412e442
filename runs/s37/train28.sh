#!/bin/bash
# RULE28 B: RULE27's mnist_cnn command with the 8 edit (--conventions-classes 014789), seeds 88 and 89, at once, then
# each mixed back at A = 0.5 and 0.7 (logs beside each model).
export DIGITLAB_MNIST=${DIGITLAB_MNIST:-/work/shared/data/mnist.npz} DIGITLAB_UNIPEN=${DIGITLAB_UNIPEN:-/work/shared/data/unipen_dev.json.gz}
set -e
cd "$(dirname "$0")/../.."
C=runs/s37/cnn
cnn() {  # SEED
  /usr/bin/time -v python training/train_cnn.py --init-from models/mnist_cnn.keras --width 64 --seed "$1" --epochs 8 --schedule onecycle \
    --learning-rate 0.001 --checkpoint last --clean-epochs 0 --ema 0.999 --redraw 0.25 --redraw-brush 0.06 0.14 --redraw-conventions 1.0 \
    --redraw-pen-path 0.5 --lowres 0.2 --real-strokes "$DIGITLAB_UNIPEN" --real-share 0.25 --real-path 0.25 --conventions-classes 014789 \
    --name "cp8_$1" --out $C > "$C/cp8_$1.log" 2>&1
}
cnn 88 & cnn 89 & wait
for a in 0.5 0.7; do for s in 88 89; do python training/interpolate.py "$C/cp8_$s.keras" --alpha $a --out "$C/a$a"; done; done
echo done
