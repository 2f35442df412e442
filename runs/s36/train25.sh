#!/bin/bash
# RULE25: the committed chain's steps 3-13 on the two new starts (seeds 43, 44; runs/s35/train_starts.sh), then the
# conventions stage (RULE18's command), two networks at once in each stage; then the mixes at A = 0.5 and 0.7.
export DIGITLAB_MNIST=${DIGITLAB_MNIST:-/work/shared/data/mnist.npz} DIGITLAB_UNIPEN=${DIGITLAB_UNIPEN:-/work/shared/data/unipen_dev.json.gz}
set -e
cd "$(dirname "$0")/../.."
R=runs/s36/chain
REDRAW=(--clean-epochs 0 --redraw 0.15 --redraw-brush 0.06 0.14 --redraw-conventions 1.0 --redraw-pen-path 0.5 --epochs 6 --learning-rate 0.001
        --checkpoint last --lowres 0.2 --distill 0.8)
REAL=(--real-strokes "$DIGITLAB_UNIPEN" --real-share 0.25)
stage() {  # NAME FROM SEED0 EXTRA-FLAGS...: each member K of FROM trained 6 epochs further (seed SEED0 + K) into NAME_mK
  local name=$1 from=$2 seed=$3; shift 3
  for k in 0 1; do
    /usr/bin/time -v python training/train_advanced.py --init-from "$R/$from.keras" --init-member $k --distill-from "$R/$from.keras" "${REDRAW[@]}" \
      --seed $((seed + k)) --name "${name}_m$k" --out "$R" "$@" > "$R/${name}_m$k.log" 2>&1 &
  done
  wait
}
mix() {  # NAME ALPHA OUT: the stage's two networks mixed back at ALPHA, averaged into OUT
  for k in 0 1; do python training/interpolate.py "$R/$1_m$k.keras" --alpha "$2" --out "$R/a$2"; done
  python training/ensemble.py "$R/a$2/$1_m0_mixed.keras" "$R/a$2/$1_m1_mixed.keras" --name "$3" --out "$R"
}
python training/ensemble.py runs/s35/starts/advanced_s43_plain.keras runs/s35/starts/advanced_s44_ema.keras --name start --out $R
stage ke start 47
mix ke 0.6 ke
stage rs ke 47 "${REAL[@]}"
mix rs 0.3 pair
stage cv pair 49 "${REAL[@]}" --conventions-classes 014789
mix cv 0.5 new_a0.5
mix cv 0.7 new_a0.7
echo done
