#!/bin/bash
# RULE27's trainings (logs beside each model): lane 1 the mnist_cnn cycle, then the pair's two networks; lane 2 the
# wide network's cycle. Then every mix back at A = 0.3, 0.5, 0.7 and the advanced candidates' ensembles.
export DIGITLAB_MNIST=${DIGITLAB_MNIST:-/work/shared/data/mnist.npz} DIGITLAB_UNIPEN=${DIGITLAB_UNIPEN:-/work/shared/data/unipen_dev.json.gz}
set -e
cd "$(dirname "$0")/../.."
C=runs/s37/cnn
A=runs/s37/adv
REDRAW=(--redraw-brush 0.06 0.14 --redraw-conventions 1.0 --redraw-pen-path 0.5)
REAL=(--real-strokes "$DIGITLAB_UNIPEN" --real-share 0.25 --real-path 0.25)
cnn() {
  /usr/bin/time -v python training/train_cnn.py --init-from models/mnist_cnn.keras --width 64 --seed 87 --epochs 8 --schedule onecycle \
    --learning-rate 0.001 --checkpoint last --clean-epochs 0 --ema 0.999 --redraw 0.25 "${REDRAW[@]}" --lowres 0.2 "${REAL[@]}" \
    --name cp --out $C > $C/cp.log 2>&1
}
member() {  # K
  /usr/bin/time -v python training/train_advanced.py --out $A --name "pp_m$1" --clean-epochs 0 --redraw 0.15 "${REDRAW[@]}" \
    --seed $((63 + $1)) --epochs 6 --learning-rate 0.001 --checkpoint last --lowres 0.2 \
    --init-from runs/s33/pair.keras --init-member "$1" --distill-from runs/s33/pair.keras --distill 0.8 "${REAL[@]}" > "$A/pp_m$1.log" 2>&1
}
wide() {
  /usr/bin/time -v python training/train_advanced.py --init-from models/mnist_advanced.keras --init-member 1 --width 96 --seed 65 --epochs 12 \
    --learning-rate 0.001 --checkpoint last --redraw 0.15 "${REDRAW[@]}" --lowres 0.2 "${REAL[@]}" --name wp --out $A > $A/wp.log 2>&1
}
(cnn; member 0; member 1) & wide & wait
for a in 0.3 0.5 0.7; do
  python training/interpolate.py $C/cp.keras --alpha $a --out $C/a$a
  for m in pp_m0 pp_m1 wp; do python training/interpolate.py $A/$m.keras --alpha $a --out $A/a$a; done
done
for a in 0.3 0.5 0.7; do
  python training/ensemble.py $A/a$a/pp_m0_mixed.keras $A/a$a/pp_m1_mixed.keras --name pair --out $A/a$a
  python training/ensemble.py $A/a$a/pair.keras $A/a$a/wp_mixed.keras --weights 2 1 --name mnist_advanced --out $A/a$a/final
done
python training/ensemble.py $A/pp_m0.keras $A/pp_m1.keras --name pair --out $A/a1
python training/ensemble.py $A/a1/pair.keras $A/wp.keras --weights 2 1 --name mnist_advanced --out $A/a1/final
echo done
