#!/bin/bash
# Measure again every figure the promotion of mnist_advanced (two more cycles of the wide network, w = 1) retired
# (python -m digitlab.report.results --stale), the issue's sets first; one after another on this machine.
# `runs/s23/remeasure.sh more`: the rest (peak memory, the TF.js export, the fine-tuning study, the app), after
# `npm ci --prefix web` and `python evaluation/export.py --setup-tfjs`, which this machine had not.
cd /work/main
export DIGITLAB_MNIST=/work/shared/data/mnist.npz DIGITLAB_UNIPEN=/work/shared/data/unipen_dev.json.gz
run() { echo "=== $(date +%T) $*"; "$@" > "runs/s23/log_$(echo "$*" | tr -c 'a-zA-Z0-9' '_' | cut -c1-80).txt" 2>&1; echo "=== $(date +%T) exit $?"; }
if [ "${1:-}" != more ]; then
  run python evaluation/handwriting.py
  run python evaluation/conventions.py
  run python evaluation/writers.py --part held-out --renders 5 --model mnist_advanced --top 5
  run python evaluation/writers.py --part val --renders 5 --model mnist_advanced --top 5
  run python evaluation/drawn_digits.py
  run python evaluation/numbers.py
  run python evaluation/photo_cases.py
  run python evaluation/serving.py --parity 10000
  run python evaluation/evaluate_robustness.py
  run python evaluation/leaderboard.py
  run python evaluation/export.py --model mnist_advanced
else
  run python evaluation/finetune_memory.py
  run python evaluation/export.py --formats tfjs,onnx
  run python evaluation/finetune_study.py --per-class 2,5,20 --replay 0,1,3 --seeds 0
  run python evaluation/app_benchmark.py
fi
echo "=== $(date +%T) done"
