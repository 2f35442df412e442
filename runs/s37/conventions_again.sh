#!/bin/bash
# The committed conventions reports measured again by their own commands (same models, same seeds): their figures
# should not move; the reports gain the paired tables (session 36's code).
export DIGITLAB_MNIST=${DIGITLAB_MNIST:-/work/shared/data/mnist.npz} DIGITLAB_UNIPEN=${DIGITLAB_UNIPEN:-/work/shared/data/unipen_dev.json.gz}
set -e
cd "$(dirname "$0")/../.."
python evaluation/conventions.py
python evaluation/conventions.py --writing continental --per-style 1200 --seed 2
python evaluation/conventions.py --model mnist_advanced --model mnist_cnn --style '0 slashed' --per-style 4800 --seed 3 --out evaluation/reports/conventions_4800
python evaluation/conventions.py --model mnist_advanced --model mnist_cnn --writing continental --style '0 slashed' --style '7 crossed low, long bar' --per-style 4800 --seed 3 --out evaluation/reports/conventions_continental_4800
echo done
