#!/bin/bash
# Measure again every figure the promotion of mnist_advanced (two more cycles of the wide network, w = 1) retired
# (python -m digitlab.report.results --stale), the issue's sets first; one after another on this machine
cd /work/main
export DIGITLAB_MNIST=/work/shared/data/mnist.npz DIGITLAB_UNIPEN=/work/shared/data/unipen_dev.json.gz
run() { echo "=== $(date +%T) $*"; "$@" > "runs/s23/log_$(echo "$*" | tr -c 'a-zA-Z0-9' '_' | cut -c1-80).txt" 2>&1; echo "=== $(date +%T) exit $?"; }
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
run python evaluation/finetune_memory.py
echo "=== $(date +%T) done"
