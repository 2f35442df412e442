#!/bin/bash
# RULE43's two new networks at once: RULE21's c8v8 recipe with --real-path 0.25, seeds 93 and 94.
export DIGITLAB_MNIST=${DIGITLAB_MNIST:-/work/shared/data/mnist.npz} DIGITLAB_UNIPEN=${DIGITLAB_UNIPEN:-/work/shared/data/unipen_dev.json.gz}
cd "$(dirname "$0")/../.."
mkdir -p runs/s42/cnn
cnn() {  # SEED
  /usr/bin/time -v python training/train_cnn.py --out runs/s42/cnn --name "c8v8p_$1" --width 64 --seed "$1" --clean-epochs 0 --epochs 15 \
    --ema 0.999 --redraw 0.25 --redraw-brush 0.06 0.14 --redraw-conventions 1.0 --redraw-pen-path 0.5 --lowres 0.2 \
    --real-strokes "$DIGITLAB_UNIPEN" --real-share 0.25 --conventions-classes 014789 --real-path 0.25 > "runs/s42/cnn/c8v8p_$1.log" 2>&1
}
cnn 93 & cnn 94 & wait
echo done
