"""python training/train_advanced.py [--epochs 36] [--batch-size 128] [--dry-run]

Depthwise-separable CNN with BatchNorm and residual stages, trained with AdamW,
cosine decay with warm restarts, label smoothing, an exponential moving average of the
weights (the saved model is the average) and augmentation (rotation, translation, zoom,
stroke thickness). Writes models/mnist_advanced.keras with its card: one network (a taken name gets a
fresh one unless --overwrite).

mnist_advanced's recipe averages runs of this script and of train_cnn.py, each from its file in
training/configs/ (python training/rebuild.py mnist_advanced; docs/training.md, "Recipes").  The committed
mnist_advanced file still comes from an older chain of fine-tunes and mixes (its card lists the steps).
"""


from digitlab.training import presets
from digitlab.training.cli import main

DEFAULTS = presets.ADVANCED

if __name__ == "__main__":
    main(DEFAULTS, __doc__)
