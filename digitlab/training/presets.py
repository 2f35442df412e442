"""Each training script's defaults, one ``TrainConfig`` each; the scripts and the benchmark import them from
here (so a comparison always races the recipe the script trains).  A committed model is more than one
training: its whole chain (the flags each step adds to these defaults, then further training, mixing,
ensembling, calibration) is its recipe in ``training/configs/`` and ``python training/rebuild.py NAME``
runs it; ``--list`` prints it.  The mnist_cnn chain, for one, starts with 15 epochs and weight EMA on top of CNN.

    BASELINE   training/train_baseline.py   scikit-learn softmax regression, copied into Keras
    CNN        training/train_cnn.py        compact CNN, warm restarts, progressive augmentation
    ADVANCED   training/train_advanced.py   depthwise-separable residual CNN, AdamW, label smoothing, weight EMA
    ROBUST     training/train_robust.py     Madry et al.'s MNIST model, adversarially trained (PGD-7)
"""

from digitlab.training.recipe import TrainConfig

BASELINE = TrainConfig(name="mnist_baseline", builder="logistic", epochs=1)

CNN = TrainConfig(
    name="mnist_cnn",
    builder="cnn",
    model_kwargs={"width": 32, "dropout": 0.25},
    epochs=7,  # 1 + 2 + 4: three full cosine cycles, the last ends at the lowest learning rate
    batch_size=64,  # twice the updates of 128 per epoch: 99% test accuracy within the first epoch
    learning_rate=3e-3,
    schedule="cosine_restarts",
    restart_epochs=1,
    clean_epochs=1,
    label_smoothing=0.05,
    stroke=0.3,
    patience=7,  # never cut the last cycle short
)

ADVANCED = TrainConfig(
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

ROBUST = TrainConfig(
    name="mnist_robust",
    builder="madry",  # 3.3M parameters: the compact CNN (PGD-3) held 82% at PGD-40 and fell to 70% at PGD-100
    model_kwargs={},
    epochs=20,
    batch_size=128,
    learning_rate=3e-3,
    warmup_epochs=1.0,
    schedule="onecycle",
    label_smoothing=0.0,  # smoothing flattens logits and makes gradient attacks look weaker than they are
    rotation_deg=0.0,  # the adversary is the augmentation; geometric jitter only costs CPU here
    translate=0.0,
    zoom=0.0,
    stroke=0.0,
    patience=14,  # no early stop: robust accuracy dips and recovers while eps and the learning rate settle
    adversarial={"attack": "pgd", "eps": 0.3, "alpha": 1.25, "pgd_steps": 7, "ramp_epochs": 3.0, "val_steps": 10, "val_fraction": 0.25},
    monitor="val_pgd_accuracy",
)
