#!/bin/bash
# RULE23's two fine-tunes at once (logs beside each model).
export DIGITLAB_MNIST=${DIGITLAB_MNIST:-/work/shared/data/mnist.npz} DIGITLAB_UNIPEN=${DIGITLAB_UNIPEN:-/work/shared/data/unipen_dev.json.gz}
cd "$(dirname "$0")/../.."
pair() {  # K SEED
  /usr/bin/time -v python training/train_advanced.py --out runs/s35/pair --name "rs7_m$1_s$2" --clean-epochs 0 --redraw 0.15 --redraw-brush 0.06 0.14 \
    --redraw-conventions 1.0 --redraw-pen-path 0.5 --seed "$2" --epochs 6 --learning-rate 0.001 --checkpoint last --lowres 0.2 \
    --init-from runs/s33/pair.keras --init-member "$1" --distill-from runs/s33/pair.keras --distill 0.8 \
    --real-strokes "$DIGITLAB_UNIPEN" --real-share 0.25 --conventions-classes 014789 > "runs/s35/pair/rs7_m$1_s$2.log" 2>&1
}
pair 0 53 & pair 1 54 & wait
echo done
