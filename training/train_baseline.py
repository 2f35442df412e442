"""python training/train_baseline.py [--dry-run] [--out models/]

Softmax regression baseline: scikit-learn LogisticRegression on the 784 pixels of
preprocessed MNIST, copied into a one-layer Keras model (models/mnist_baseline.keras)
so the app and the CLI serve it like any other model.
"""


from digitlab.training import presets
from digitlab.training.cli import main

DEFAULTS = presets.BASELINE

if __name__ == "__main__":
    main(DEFAULTS, __doc__)
