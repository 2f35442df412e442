#!/bin/bash
# Measure again every figure the promotion of ff692b84 retired (python -m digitlab.report.results --stale), and the app
cd /work/main
export DIGITLAB_MNIST=/work/shared/data/mnist.npz DIGITLAB_UNIPEN=/work/shared/data/unipen_dev.json.gz PYTHONPATH=/work/main
run() { echo "=== $(date +%T) $*"; "$@" > "runs/s21/log_$(echo "$*" | tr -c 'a-zA-Z0-9' '_' | cut -c1-80).txt" 2>&1; echo "=== $(date +%T) exit $?"; }
run python evaluation/numbers.py
run python evaluation/photo_cases.py
run python evaluation/serving.py --parity 10000
run python evaluation/evaluate_robustness.py
run python evaluation/leaderboard.py
run python evaluation/export.py --model mnist_advanced
run python evaluation/export.py --formats tfjs,onnx
run python evaluation/finetune_memory.py
run python evaluation/app_benchmark.py
run python evaluation/finetune_study.py --per-class 2,5,20 --replay 0,1,3 --seeds 0
echo "=== $(date +%T) done"
