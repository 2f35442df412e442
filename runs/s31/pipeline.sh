#!/bin/bash
# RULE11's chain after r1: r2 trains (alone: two at once ran out of memory), r1 is scored at low priority meanwhile,
# then ens3 = committed + r1 + r2, scored; r2 last.   bash runs/s31/pipeline.sh > runs/s31/pipeline.log 2>&1 &
set -e
cd "$(dirname "$0")/../.."
export DIGITLAB_MNIST=${DIGITLAB_MNIST:-/work/shared/data/mnist.npz} DIGITLAB_UNIPEN=${DIGITLAB_UNIPEN:-/work/shared/data/unipen_dev.json.gz}
while pgrep -f "train_reader.py .*--name r1" > /dev/null; do sleep 20; done
test -f runs/s31/readers/r1.keras
echo "r1 done $(date)"
/usr/bin/time -v python training/train_reader.py --real-strokes "$DIGITLAB_UNIPEN" --seed 2 --line-seed 3 --name r2 --out runs/s31/readers > runs/s31/readers/r2.log 2>&1 &
TRAIN=$!
nice -n 19 python runs/s31/score_readers.py r1 > runs/s31/score_r1.log 2>&1 || echo "scoring r1 failed"
wait $TRAIN
echo "r2 done $(date)"
python training/train_reader.py --combine models/reader/number_reader.keras runs/s31/readers/r1.keras runs/s31/readers/r2.keras \
    --name ens3 --out runs/s31/readers > runs/s31/readers/ens3.log 2>&1
echo "ens3 combined $(date)"
python runs/s31/score_readers.py ens3 > runs/s31/score_ens3.log 2>&1
echo "ens3 scored $(date)"
python runs/s31/score_readers.py r2 > runs/s31/score_r2.log 2>&1
echo "r2 scored $(date)"
