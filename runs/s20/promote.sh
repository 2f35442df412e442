#!/bin/bash
# Promote the committed pair + rsw_s59 at weight $1 (only if runs/s20/score.py's table says that w passes)
set -euo pipefail
W=$1
cd /work/main
export DIGITLAB_MNIST=/work/shared/data/mnist.npz DIGITLAB_UNIPEN=/work/shared/data/unipen_dev.json.gz
git -C /work/s20wt diff -- digitlab tests docs > /tmp/promo.patch
git apply /tmp/promo.patch
sed -i "s/^WEIGHT_WIDE = .*/WEIGHT_WIDE = $W/" digitlab/training/rebuild.py; sed -i "s/\\bWEIGHT\\b/$W/g" docs/training.md
RUN=runs/rebuild/mnist_advanced
mkdir -p $RUN
cp models/mnist_advanced.keras $RUN/pair.keras
cp models/mnist_advanced.json $RUN/pair.json
cp runs/s20/rsw_s59.keras runs/s20/rsw_s59.json $RUN/
python training/rebuild.py mnist_advanced
python -m digitlab.report.results --from-cards
