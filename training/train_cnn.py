"""python training/train_cnn.py [--epochs 8] [--batch-size 128] [--dry-run]

Compact CNN (conv-BN, pool, conv-BN, pool, conv-BN, flatten, dense) trained fast: Adam with a
one-cycle schedule (warm-up then cosine decay) at a high peak learning rate, and
augmentation (rotation, translation, zoom, stroke thickness) in tf.data.
Writes models/mnist_cnn.keras with its card.
"""

import _bootstrap  # noqa: F401

from digitlab.train import TrainConfig, main

DEFAULTS = TrainConfig(
    name="mnist_cnn",
    builder="cnn",
    model_kwargs={"width": 32, "dropout": 0.25},
    epochs=8,
    batch_size=128,
    learning_rate=3e-3,
    warmup_epochs=0.3,
    schedule="onecycle",
    label_smoothing=0.05,
    stroke=0.3,
)

if __name__ == "__main__":
    main(DEFAULTS, __doc__)
