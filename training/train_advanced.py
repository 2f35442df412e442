"""python training/train_advanced.py [--epochs 36] [--batch-size 128] [--dry-run]

Depthwise-separable CNN with BatchNorm and residual stages, trained with AdamW,
cosine decay with warm restarts, label smoothing, an exponential moving average of the
weights (the saved model is the average) and augmentation (rotation, translation, zoom,
stroke thickness). Writes models/mnist_advanced.keras with its card: one network.

The committed mnist_advanced is two runs of this script averaged by training/ensemble.py
(see its docstring and the README, "Committed models"); one run alone reaches ~99.5% test.
"""

import _bootstrap  # noqa: F401

from digitlab.train import TrainConfig, main

DEFAULTS = TrainConfig(
    name="mnist_advanced",
    builder="advanced",
    model_kwargs={"width": 64, "stem": 32, "dropout": 0.3},
    epochs=36,  # 12 + 24: two full cosine cycles, the second ends at the lowest learning rate
    batch_size=128,
    learning_rate=3e-3,
    weight_decay=1e-4,
    schedule="cosine_restarts",
    restart_epochs=12,
    label_smoothing=0.1,
    ema=0.999,  # Polyak averaging of the weights over the last ~1,000 steps (~2 epochs); the saved model is the average
    patience=25,  # longer than the last cycle: early stopping must not cut the final low-rate epochs
)

if __name__ == "__main__":
    main(DEFAULTS, __doc__)
