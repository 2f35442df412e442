#!/bin/bash
# RULE20's two fine-tunes at once, after RULE19's networks have trained (logs beside each model); RULE23's with seeds
# 53 54 (train23.sh). train20.sh [SEED0 SEED1]: member 0 with SEED0, member 1 with SEED1 (default 51 52, RULE20's run,
# which waits for RULE19's).
export DIGITLAB_MNIST=${DIGITLAB_MNIST:-/work/shared/data/mnist.npz} DIGITLAB_UNIPEN=${DIGITLAB_UNIPEN:-/work/shared/data/unipen_dev.json.gz}
cd "$(dirname "$0")/../.."
if [ $# -eq 0 ]; then
  until grep -q done runs/s35/train19.log 2>/dev/null; do sleep 20; done
fi
pair() {  # K SEED
  /usr/bin/time -v python training/train_advanced.py --out runs/s35/pair --name "rs7_m$1_s$2" --clean-epochs 0 --redraw 0.15 --redraw-brush 0.06 0.14 \
    --redraw-conventions 1.0 --redraw-pen-path 0.5 --seed "$2" --epochs 6 --learning-rate 0.001 --checkpoint last --lowres 0.2 \
    --init-from runs/s33/pair.keras --init-member "$1" --distill-from runs/s33/pair.keras --distill 0.8 \
    --real-strokes "$DIGITLAB_UNIPEN" --real-share 0.25 --conventions-classes 014789 > "runs/s35/pair/rs7_m$1_s$2.log" 2>&1
}
pair 0 "${1:-51}" & pair 1 "${2:-52}" & wait
echo done
