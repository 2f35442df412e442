"""The training-speed race and the cost of one training step (``python evaluation/benchmark.py``).

Training the racers makes this a training concern; the clocks and the reference's own data path are
``digitlab.evaluation.bench``'s.
"""

from __future__ import annotations

import numpy as np

from digitlab.evaluation import bench


def race(mnist, cnn_recipe, target: float, max_epochs: int, quick: bool) -> dict:
    """The time-to-accuracy race of ``evaluation/benchmark.py``: ``cnn_recipe`` (a TrainConfig) against the
    keras-io reference, each fed as its own source feeds it, both on the same clock, to ``target`` test
    accuracy.  ``mnist``: ``data.load(prepared=True)`` (the dry-run subset when ``quick``)."""
    import dataclasses

    import keras

    from digitlab import data
    from digitlab.models import builders
    from digitlab.training import recipe

    x_tr, y_tr = mnist.x_train, mnist.y_train  # the dry-run subset (1,024 digits) under --quick
    ref = data.load(val_size=0)  # the reference's own feed: the file's 60,000 training digits, in its order
    ref_x, ref_y, ref_x_test, ref_y_test = ref.x_train, ref.y_train, ref.x_test, ref.y_test
    n_test = len(mnist.x_test)  # the same test digits for both: the prepared splits keep the test split's order
    if not np.array_equal(ref_y_test[:n_test], mnist.y_test):
        raise RuntimeError("the two racers' test digits differ")
    if quick:
        ref_x, ref_y = ref_x[: len(x_tr)], ref_y[: len(x_tr)]

    keras.utils.set_random_seed(0)
    ours = builders.build(cnn_recipe.builder, **cnn_recipe.model_kwargs)
    steps = int(np.ceil(len(x_tr) / cnn_recipe.batch_size))
    recipe.compile_model(ours, cnn_recipe, steps)
    ds, recipe_callbacks = recipe.training_data(x_tr, y_tr, cnn_recipe)
    print(f"racing train_cnn.py recipe to {target:.2%} test accuracy", flush=True)
    races = [bench.time_to_accuracy(
        "train_cnn.py recipe", ours, {"x": ds}, steps, mnist.x_test, mnist.y_test, target, max_epochs=max_epochs,
        callbacks=recipe_callbacks,
        feed="train_cnn.py's recipe.training_data: tf.data over digitlab-preprocessed digits (shuffle, progressive "
             "augmentation), batch 64; fit without validation_data (train_cnn.py validates at epoch ends, but the race "
             "never counts evaluation). Test digits through digitlab.preprocess")]

    keras.utils.set_random_seed(0)
    ref = builders.build_convnet_reference()
    ref.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    fit_kwargs, steps = bench.reference_fit(ref_x, ref_y)
    print(f"racing keras-io mnist_convnet to {target:.2%} test accuracy", flush=True)
    races.append(bench.time_to_accuracy(
        "keras-io mnist_convnet", ref, fit_kwargs, steps, bench.reference_inputs(ref_x_test[:n_test]), ref_y_test[:n_test], target,
        max_epochs=max_epochs, feed=bench.REFERENCE_FEED))

    ours_r, ref_r = races
    both = ours_r.reached and ref_r.reached
    return {
        "race_rules": {
            "test_digits": f"the first {n_test:,} MNIST test digits for both, each racer's own input path",
            "checkpoints": "test accuracy every 1/8 epoch of each racer's own epoch; evaluation time on neither clock",
            "tracing": "counted for both: both clocks start at the first training step's begin (first_step_seconds)",
            "wall_seconds": "first step to the checkpoint that reached the target, epoch boundaries included, evaluation "
                            "(test checks and fit's validation passes) excluded",
            "in_epoch_seconds": "wall minus epoch-boundary overhead: the gap between an epoch's last step and the next "
                                "epoch's first, and that first step's excess over the median step",
        },
        "race": [{**dataclasses.asdict(r), "boundary_seconds": r.boundary_seconds} for r in races],
        "speedup": {
            "epochs": ref_r.epochs / ours_r.epochs,
            "in_epoch": ref_r.in_epoch_seconds / ours_r.in_epoch_seconds,
            "wall": ref_r.wall_seconds / ours_r.wall_seconds,
        } if both else None,
    }


def step_costs(x: np.ndarray, y: np.ndarray, cnn_recipe, steps: int = 60) -> dict:
    """The cost of one training step: the CNN with BatchNorm after pooling (the builder's default), the
    same CNN in the textbook order (conv-BN-ReLU, then pool), and the keras-io reference."""
    import keras

    from digitlab.models import builders

    builder, kw = cnn_recipe.builder, cnn_recipe.model_kwargs
    costs = {}
    for label, build, batch in (
        ("cnn, BatchNorm after pooling (train_cnn.py)", lambda: builders.build(builder, **kw), cnn_recipe.batch_size),
        ("cnn, textbook order (conv-BN-ReLU, pool)", lambda: builders.build(builder, **kw, pool_first=False), cnn_recipe.batch_size),
        ("keras-io mnist_convnet", builders.build_convnet_reference, bench.REFERENCE_BATCH),
    ):
        keras.utils.set_random_seed(0)
        costs[label] = {"batch_size": batch, **bench.step_cost(build, x, y, batch, steps=steps)}
        print(f"step cost {label}: {costs[label]['median_ms']:.1f} ms", flush=True)
    return costs
