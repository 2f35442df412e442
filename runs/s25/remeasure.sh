#!/bin/bash
# session 25: the figures preprocessing 1.4 can change, measured again one after another (logs in runs/s25/remeasure/)
cd /work/main
export DIGITLAB_MNIST=/work/shared/data/mnist.npz DIGITLAB_UNIPEN=/work/shared/data/unipen_dev.json.gz
mkdir -p runs/s25/remeasure
i=0
run() { i=$((i+1)); log=runs/s25/remeasure/$(printf %02d $i)_$(echo "$*" | tr -c 'A-Za-z0-9' _ | cut -c1-70).log; echo "[$i] $(date +%H:%M:%S) $*"; "$@" > $log 2>&1; echo "[$i] $(date +%H:%M:%S) exit $?"; }
run python evaluation/handwriting.py
run python evaluation/conventions.py
run python evaluation/drawn_digits.py
run python evaluation/photo_cases.py
run python evaluation/numbers.py
for m in mnist_advanced mnist_cnn mnist_robust mnist_baseline; do
  run python evaluation/writers.py --part held-out --renders 5 --model $m --top 5
  run python evaluation/writers.py --part val --renders 5 --model $m --top 5
done
run python web/bench.py
