#!/bin/bash
# Two new starts for mnist_advanced's pair, by the chain's first two steps with seeds 43 and 44 (the chain's: 42), at once.
# Not candidates and judged by nothing yet: the next rule is written before anything made from them is scored.
export DIGITLAB_MNIST=${DIGITLAB_MNIST:-/work/shared/data/mnist.npz}
cd "$(dirname "$0")/../.."
/usr/bin/time -v python training/train_advanced.py --ema 0 --seed 43 --name advanced_s43_plain --out runs/s35/starts > runs/s35/starts/advanced_s43_plain.log 2>&1 &
/usr/bin/time -v python training/train_advanced.py --seed 44 --name advanced_s44_ema --out runs/s35/starts > runs/s35/starts/advanced_s44_ema.log 2>&1 &
wait
echo done
