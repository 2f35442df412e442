#!/bin/bash
# session 26's rule (runs/s26/RULE.md): the candidate and the committed mnist_cnn measured side by side under
# preprocessing 1.5 by the benchmark's own commands; figures into runs/s26/judge/, a scratch results file
cd /work/main
export DIGITLAB_MNIST=/work/shared/data/mnist.npz DIGITLAB_UNIPEN=/work/shared/data/unipen_dev.json.gz
export DIGITLAB_RESULTS=/tmp/s26_judge_results.json
mkdir -p runs/s26/judge
# the candidate under its own name, so the reports keep the two apart (its card beside it)
cp runs/s26/models_cnn/mnist_cnn.keras runs/s26/judge/mnist_cnn_s26.keras
cp runs/s26/models_cnn/mnist_cnn.json runs/s26/judge/mnist_cnn_s26.json
M="--model runs/s26/judge/mnist_cnn_s26.keras --model models/mnist_cnn.keras"
python evaluation/handwriting.py $M --out runs/s26/judge/handwriting > runs/s26/judge/handwriting.log 2>&1; echo "handwriting exit $?"
python evaluation/conventions.py $M --out runs/s26/judge/conventions > runs/s26/judge/conventions.log 2>&1; echo "conventions exit $?"
