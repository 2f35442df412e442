#!/bin/bash
# RULE17's two fine-tunes at once, then RULE18's two pair stages at once (logs beside each model).
export DIGITLAB_MNIST=${DIGITLAB_MNIST:-/work/shared/data/mnist.npz} DIGITLAB_UNIPEN=${DIGITLAB_UNIPEN:-/work/shared/data/unipen_dev.json.gz}
cd "$(dirname "$0")/../.."
cnn() {  # NAME [extra flags]
  /usr/bin/time -v python training/train_cnn.py --init-from models/mnist_cnn.keras --distill-from models/mnist_cnn.keras --distill 0.8 \
    --width 64 --seed 80 --epochs 4 --learning-rate 0.001 --schedule onecycle --checkpoint last --clean-epochs 0 --ema 0.999 \
    --redraw 0.25 --redraw-brush 0.06 0.14 --redraw-conventions 1.0 --redraw-pen-path 0.5 --lowres 0.2 \
    --real-strokes "$DIGITLAB_UNIPEN" --real-share 0.25 "${@:2}" --name "$1" --out runs/s34/ftc > "runs/s34/ftc/$1.log" 2>&1
}
pair() {  # K
  /usr/bin/time -v python training/train_advanced.py --out runs/s34/ftp --name "rs7_m$1" --clean-epochs 0 --redraw 0.15 --redraw-brush 0.06 0.14 \
    --redraw-conventions 1.0 --redraw-pen-path 0.5 --seed $((49 + $1)) --epochs 6 --learning-rate 0.001 --checkpoint last --lowres 0.2 \
    --init-from runs/s33/pair.keras --init-member "$1" --distill-from runs/s33/pair.keras --distill 0.8 \
    --real-strokes "$DIGITLAB_UNIPEN" --real-share 0.25 --conventions-classes 014789 > "runs/s34/ftp/rs7_m$1.log" 2>&1
}
cnn fte --conventions-classes 014789 & cnn ftk & wait
pair 0 & pair 1 & wait
echo done
