"""python training/train_advanced.py [--epochs 36] [--batch-size 128] [--dry-run]

Depthwise-separable CNN with BatchNorm and residual stages, trained with AdamW,
cosine decay with warm restarts, label smoothing, an exponential moving average of the
weights (the saved model is the average) and augmentation (rotation, translation, zoom,
stroke thickness). Writes models/mnist_advanced.keras with its card: one network (a taken name gets a
fresh one unless --overwrite).

The committed mnist_advanced averages one run of this script (training/configs/advanced_a.toml: this preset
exactly) with two runs of train_cnn.py, each from random weights (python training/rebuild.py mnist_advanced;
docs/training.md, "Recipes").
"""


from digitlab.training import presets
from digitlab.training.cli import main

DEFAULTS = presets.ADVANCED

if __name__ == "__main__":
    main(DEFAULTS, __doc__)
