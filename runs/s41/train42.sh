#!/bin/bash
# RULE42's two new networks at once: the committed mnist_cnn chain's training step (training/rebuild.py --list), seeds 91 and 92.
export DIGITLAB_MNIST=${DIGITLAB_MNIST:-/work/shared/data/mnist.npz} DIGITLAB_UNIPEN=${DIGITLAB_UNIPEN:-/work/shared/data/unipen_dev.json.gz}
cd "$(dirname "$0")/../.."
cnn() {  # SEED
  /usr/bin/time -v python training/train_cnn.py --out runs/s41/cnn --name "rscl64_$1" --width 64 --seed "$1" --clean-epochs 0 --epochs 15 \
    --ema 0.999 --redraw 0.25 --redraw-brush 0.06 0.14 --redraw-conventions 1.0 --redraw-pen-path 0.5 --lowres 0.2 \
    --real-strokes "$DIGITLAB_UNIPEN" --real-share 0.25 > "runs/s41/cnn/rscl64_$1.log" 2>&1
}
cnn 91 & cnn 92 & wait
echo done
