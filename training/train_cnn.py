"""python training/train_cnn.py [--epochs 7] [--batch-size 64] [--dry-run]

Compact CNN (conv-BN, pool, conv-BN, pool, conv-BN, flatten, dense) trained fast: Adam with
cosine decay and warm restarts (cycles of 1, 2 and 4 epochs, each ending at a low learning
rate, so a usable model exists after the first epoch), and progressive augmentation: the first
epoch sees plain digits, the rest are augmented (rotation, translation, zoom, stroke
thickness) in tf.data.  Writes models/mnist_cnn.keras with its card.
"""


from digitlab.training import presets
from digitlab.training.cli import main

DEFAULTS = presets.CNN

if __name__ == "__main__":
    main(DEFAULTS, __doc__)
