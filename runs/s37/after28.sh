#!/bin/bash
# RULE28 A: the committed pair beside RULE27's wide network (mixed back at A, or alone), at the committed weights.
export DIGITLAB_MNIST=${DIGITLAB_MNIST:-/work/shared/data/mnist.npz}
set -e
cd "$(dirname "$0")/../.."
A=runs/s37/adv
for a in 0.3 0.5 0.7; do
  python training/ensemble.py runs/s33/pair.keras $A/a$a/wp_mixed.keras --weights 2 1 --name mnist_advanced --out $A/w$a
done
python training/ensemble.py runs/s33/pair.keras $A/wp.keras --weights 2 1 --name mnist_advanced --out $A/w1
echo done
