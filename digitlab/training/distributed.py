"""Multi-worker training: ``tf.distribute.MultiWorkerMirroredStrategy`` driven by ``$TF_CONFIG``.

    python training/train_cnn.py --distribute multiworker     # on every worker, each with its own TF_CONFIG

Keras 3's ``model.fit`` fails under this strategy ("unsupported type ... PerReplica",
keras-team/keras#20585), so the workers train with a custom loop instead: ``strategy.run`` of a
``tf.GradientTape`` step on each worker's own shard of the training split, the per-example loss
averaged over the *global* batch (the gradients are summed across workers, so the sum is the
gradient of the global mean), and ``strategy.reduce`` for the loss and accuracy every worker logs.
Everything else is the single-machine path: the same builder (``digitlab.models``), the same
preprocessed MNIST (``trainer.prepare_mnist``, read locally by every worker), the same tf.data
pipeline and augmentation (``recipe.training_data``, progressive augmentation included), the same optimizer, schedule and loss
(``recipe.compile_model``), and ``trainer.run`` evaluates and saves.  Only the chief (worker 0) keeps
the model and its card; the other workers save into a temporary folder that is then deleted.

BatchNorm keeps its moving mean and variance per worker (Keras' variables carry no cross-worker
aggregation), so they drift apart; they are averaged across workers before every validation.
The moving averages are linear in the batch statistics and start equal, so averaging at the end
of an epoch gives exactly what averaging after every step would.

An interrupted multi-worker run starts again from scratch (no BackupAndRestore in this loop).
"""

from __future__ import annotations

import atexit
import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

TF_CONFIG_EXAMPLE = (
    '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}'
)


class DistributedError(ValueError):
    """A multi-worker run that cannot start; the message says what to fix."""


@dataclass(frozen=True)
class Cluster:
    """This worker's place in the cluster described by ``$TF_CONFIG``."""

    workers: tuple[str, ...]  # every task's host:port, chief first when there is a "chief" task
    task_type: str  # "worker" or "chief"
    index: int  # index within its task type
    rank: int  # position in ``workers``

    @property
    def is_chief(self) -> bool:
        return self.rank == 0

    @property
    def label(self) -> str:
        return f"{self.task_type} {self.index} of {len(self.workers)}" + (" (chief)" if self.is_chief else "")


def parse_tf_config(raw: str | None) -> Cluster:
    """Check a ``TF_CONFIG`` string and return this task's place; raises DistributedError.

    Accepted: {"cluster": {"worker": [...], optional "chief": [one]}, "task": {"type", "index"}}.
    Without a "chief" task, worker 0 is the chief (MultiWorkerMirroredStrategy's rule).
    """
    if raw is None or not raw.strip():
        raise DistributedError(
            "distribute='multiworker' needs the TF_CONFIG environment variable, the same cluster on every "
            f"worker and each worker's own index, e.g. TF_CONFIG='{TF_CONFIG_EXAMPLE}'"
        )
    try:
        cfg = json.loads(raw)
    except json.JSONDecodeError as e:
        raise DistributedError(f"TF_CONFIG is not valid JSON ({e}); expected e.g. {TF_CONFIG_EXAMPLE}") from e
    if not isinstance(cfg, dict) or not isinstance(cfg.get("cluster"), dict) or not isinstance(cfg.get("task"), dict):
        raise DistributedError(f'TF_CONFIG needs a "cluster" object and a "task" object, e.g. {TF_CONFIG_EXAMPLE}')
    cluster, task = cfg["cluster"], cfg["task"]
    unsupported = sorted(set(cluster) - {"worker", "chief"})
    if unsupported:
        raise DistributedError(f"TF_CONFIG cluster has {unsupported}: multi-worker mirrored training uses only 'worker' (and 'chief') tasks")
    groups = {}
    for kind in ("chief", "worker"):
        addresses = cluster.get(kind, [])
        if not isinstance(addresses, list) or not all(isinstance(a, str) for a in addresses):
            raise DistributedError(f'TF_CONFIG cluster "{kind}" must be a list of "host:port" strings, got {addresses!r}')
        for a in addresses:
            host, _, port = a.rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise DistributedError(f'TF_CONFIG cluster "{kind}" address {a!r} is not "host:port" with a port in 1-65535')
        groups[kind] = addresses
    if not groups["worker"] and not groups["chief"]:
        raise DistributedError(f'TF_CONFIG cluster lists no workers, e.g. {TF_CONFIG_EXAMPLE}')
    if len(groups["chief"]) > 1:
        raise DistributedError(f"TF_CONFIG cluster has {len(groups['chief'])} chiefs; there can be at most one")
    workers = (*groups["chief"], *groups["worker"])
    if len(set(workers)) != len(workers):
        raise DistributedError(f"TF_CONFIG cluster lists an address twice: {list(workers)}")
    kind, index = task.get("type"), task.get("index", 0)
    if kind not in ("worker", "chief"):
        raise DistributedError(f'TF_CONFIG task type {kind!r} must be "worker" (or "chief")')
    if isinstance(index, bool) or not isinstance(index, int):
        raise DistributedError(f"TF_CONFIG task index {index!r} must be an integer")
    if not 0 <= index < len(groups[kind]):
        raise DistributedError(f'TF_CONFIG task index {index} is outside the cluster\'s {len(groups[kind])} "{kind}" address(es)')
    rank = index if kind == "chief" else len(groups["chief"]) + index
    return Cluster(workers, kind, index, rank)


# ----------------------------------------------------------------------------- start-up


@dataclass
class Worker:
    """A started worker: its place in the cluster and the strategy."""

    cluster: Cluster
    strategy: object  # tf.distribute.MultiWorkerMirroredStrategy
    scratch: Path | None = None  # non-chief workers save here, then delete it

    @property
    def is_chief(self) -> bool:
        return self.cluster.is_chief

    def output_dir(self, out: Path) -> Path:
        """Where ``trainer.run`` saves: ``out`` on the chief, a temporary folder elsewhere (every worker
        runs the same code to the end, but two workers writing one models/ folder would race)."""
        if self.is_chief:
            return Path(out)
        self.scratch = Path(tempfile.mkdtemp(prefix=f"digitlab-worker{self.cluster.rank}-"))
        atexit.register(shutil.rmtree, self.scratch, ignore_errors=True)  # gone even when the run fails
        return self.scratch

    def run_suffix(self) -> str:
        """Suffix of the runs/ folder: workers sharing a host must not share it."""
        return "" if self.is_chief else f"-worker{self.cluster.rank}"

    def card(self, model) -> dict:
        """What the model card records about the run."""
        return {
            "strategy": "MultiWorkerMirroredStrategy",
            "workers": len(self.cluster.workers),
            "replicas": int(self.strategy.num_replicas_in_sync),
            "weights_sha256": weights_digest(model),
        }

    def finish(self, path: Path) -> None:
        """Drop what a non-chief worker saved: only the chief keeps the model."""
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)
            print(f"{self.cluster.label}: finished; the chief keeps the model, {path} was temporary", flush=True)


def check_supported(config) -> None:
    """Refuse recipes the custom loop does not implement, before any worker waits for the others."""
    if config.builder == "logistic":
        raise DistributedError("the scikit-learn baseline does not train with distribute='multiworker' (it is not a Keras fit)")
    if config.adversarial:
        raise DistributedError("adversarial training is not implemented for distribute='multiworker'")
    if config.monitor != "val_accuracy":
        raise DistributedError(f"distribute='multiworker' picks checkpoints on val_accuracy only, not monitor={config.monitor!r}")
    if config.checkpoint != "best" or config.init_from or config.distill_from:
        raise DistributedError("checkpoint='last', init_from and distill_from are not implemented for distribute='multiworker'")


def start(config, environ=os.environ) -> Worker:
    """Validate ``$TF_CONFIG`` and create the strategy.

    Call it before any other TensorFlow operation: the collective ops are configured when the
    strategy is created.  It blocks until every worker in the cluster has started.
    """
    check_supported(config)
    cluster = parse_tf_config(environ.get("TF_CONFIG"))
    import tensorflow as tf

    print(f"{cluster.label}: waiting for {len(cluster.workers)} workers {list(cluster.workers)}", flush=True)
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    if strategy.num_replicas_in_sync < 1:  # pragma: no cover - TensorFlow guarantees at least one
        raise DistributedError("the strategy found no replica")
    if config.batch_size % strategy.num_replicas_in_sync:
        raise DistributedError(
            f"batch_size={config.batch_size} (the global batch) must be a multiple of the {strategy.num_replicas_in_sync} replicas"
        )
    return Worker(cluster, strategy)


# ----------------------------------------------------------------------------- training


def weights_digest(model) -> str:
    """sha256 over every weight array (trainable and not), in layer order: equal on every worker."""
    h = hashlib.sha256()
    for w in model.get_weights():
        h.update(np.ascontiguousarray(w).tobytes())
    return "sha256:" + h.hexdigest()


def _check_same_data(worker: Worker, d, all_sum) -> None:
    """Every worker reads MNIST from its own disk: refuse to train when the copies (or the
    preprocessing versions) differ, on every worker at once so none is left waiting."""
    import tensorflow as tf

    from digitlab import preprocess

    key = f"{d.fingerprint}|{preprocess.PREPROCESS_VERSION}|{len(d.x_train)}|{len(d.x_val)}"
    digest = hashlib.sha256(key.encode()).digest()
    mine = np.frombuffer(digest[:8], np.uint16).astype(np.float32)  # 4 values exact in float32
    n = len(worker.cluster.workers)
    mean = all_sum(tf.constant(mine)).numpy() / n
    differs = all_sum(tf.constant([float(not np.array_equal(mine, mean))])).numpy()[0]
    if differs:
        raise DistributedError(
            f"the workers do not have the same data: {int(differs)} of {n} differ from the others ({worker.cluster.label} has "
            f"{d.fingerprint}, preprocessing {preprocess.PREPROCESS_VERSION}); give every host the same mnist.npz and commit"
        )


def fit(worker: Worker, config, d, run_dir: Path):
    """Train ``config`` with a custom loop under the worker's strategy; returns (model, history).

    The model returned is a plain (not distributed) copy holding the weights of the epoch with
    the best validation accuracy, so evaluating and saving it needs no collective operation.
    history: {"epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"} per epoch.
    """
    import tensorflow as tf

    from digitlab.models import builders
    from digitlab.training import recipe

    strategy = worker.strategy
    rank, n_workers = worker.cluster.rank, len(worker.cluster.workers)
    global_batch = config.batch_size
    # Every worker must run the same number of steps (each step is a collective), so the shards
    # repeat and an epoch is a fixed count of global batches.
    epoch_steps = max(1, len(d.x_train) // global_batch)
    steps = 2 if config.dry_run else epoch_steps
    epochs = min(config.epochs, 2) if config.dry_run else config.epochs

    @tf.function
    def all_sum(values):
        return strategy.reduce("SUM", strategy.run(lambda t: t, args=(values,)), axis=None)

    _check_same_data(worker, d, all_sum)

    with strategy.scope():
        model = builders.build(config.builder, **config.model_kwargs)
        # the optimizer, schedule and loss of fit_keras; the schedule spans the steps this loop runs (N // B per
        # epoch, where fit runs ceil(N / B)), so it ends where training ends, as fit's does
        recipe.compile_model(model, config, steps_per_epoch=epoch_steps)
        optimizer = model.optimizer
        optimizer.build(model.trainable_variables)
    # The compiled loss averages over the local batch; the same loss per example is averaged over
    # the global batch below instead.
    loss_fn = type(model.loss).from_config({**model.loss.get_config(), "reduction": None})

    recipe_callbacks = []  # what recipe.training_data asks of the loop (e.g. progressive augmentation's switch)

    def dataset_fn(ctx):
        # Each worker's own shard of the training split, its own shuffle and augmentation seed.
        local = dataclasses.replace(config, batch_size=ctx.get_per_replica_batch_size(global_batch), seed=config.seed + ctx.input_pipeline_id)
        k, i = ctx.num_input_pipelines, ctx.input_pipeline_id
        ds, callbacks = recipe.training_data(d.x_train[i::k], d.y_train[i::k], local)
        recipe_callbacks.extend(callbacks)
        return ds.repeat()

    iterator = iter(strategy.distribute_datasets_from_function(dataset_fn))

    def replica_step(x, y):
        with tf.GradientTape() as tape:
            p = model(x, training=True)
            loss = tf.nn.compute_average_loss(loss_fn(y, p), global_batch_size=global_batch)
            if model.losses:
                loss += tf.nn.scale_regularization_loss(tf.add_n(model.losses))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))  # sums the gradients across workers
        correct = tf.reduce_sum(tf.cast(tf.equal(tf.argmax(p, 1), tf.argmax(y, 1)), tf.float32))
        return loss, correct, tf.cast(tf.shape(x)[0], tf.float32)

    @tf.function
    def train_step(it):
        x, y = next(it)
        out = strategy.run(replica_step, args=(x, y))
        return [strategy.reduce("SUM", v, axis=None) for v in out]

    sync_vars = [v for v in model.non_trainable_variables if "float" in str(v.dtype)]  # BatchNorm moving statistics

    @tf.function
    def sync_statistics():
        def replica_fn():
            ctx = tf.distribute.get_replica_context()
            for v in sync_vars:
                v.assign(ctx.all_reduce("MEAN", tf.identity(v.value)))

        strategy.run(replica_fn)

    def swap_averaged_weights():
        """With ``config.ema``: exchange the weights and the optimizer's moving average of them, in
        place (what keras.callbacks.SwapEMAWeights does in fit_keras).  Every worker holds the same
        values of both, so each swaps its own copy."""
        if not config.ema:
            return
        for v, avg in zip(optimizer._trainable_variables, optimizer._model_variables_moving_average, strict=True):
            raw = v.numpy()
            v.assign(avg.numpy())
            avg.assign(raw)

    forward = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    x_val, y_val = d.x_val[rank::n_workers, ..., None].astype(np.float32), d.y_val[rank::n_workers]
    y_val1 = np.eye(10, dtype=np.float32)[y_val]

    def validate() -> tuple[float, float]:
        """(loss, accuracy) on the whole validation split: each worker scores its own shard and the
        sums are all-reduced, so every worker gets the same figures and takes the same decisions."""
        correct = loss_sum = 0.0
        for s in range(0, len(x_val), 1024):
            p = forward(tf.constant(x_val[s : s + 1024]))
            correct += float(np.sum(np.argmax(p, 1) == y_val[s : s + 1024]))
            loss_sum += float(np.sum(loss_fn(y_val1[s : s + 1024], p)))
        total = all_sum(tf.constant([correct, loss_sum, float(len(x_val))]))
        return float(total[1] / total[2]), float(total[0] / total[2])

    history = {k: [] for k in ("epoch", "accuracy", "learning_rate", "loss", "val_accuracy", "val_loss")}
    best_acc, best_weights, since_best = -1.0, None, 0
    for epoch in range(epochs):
        t0 = time.time()
        for cb in recipe_callbacks:  # only epoch hooks: the recipe's callbacks switch things per epoch
            cb.on_epoch_begin(epoch)
        loss = correct = count = 0.0
        for _ in range(steps):
            l_, c_, n_ = train_step(iterator)
            loss, correct, count = loss + float(l_), correct + float(c_), count + float(n_)
        sync_statistics()
        swap_averaged_weights()  # validation and the kept weights use the average when the recipe keeps one
        val_loss, val_acc = validate()
        # convert_to_tensor: a constant schedule's learning rate is a MirroredVariable, which float() refuses
        lr = float(tf.convert_to_tensor(optimizer.learning_rate))
        for k, v in (("epoch", epoch), ("accuracy", correct / count), ("learning_rate", lr),
                     ("loss", loss / steps), ("val_accuracy", val_acc), ("val_loss", val_loss)):
            history[k].append(float(v))
        print(f"{worker.cluster.label}: epoch {epoch + 1}/{epochs} loss {loss / steps:.4f} accuracy {correct / count:.4f} "
              f"val_loss {val_loss:.4f} val_accuracy {val_acc:.4f} ({time.time() - t0:.0f}s)", flush=True)
        improved = val_acc > best_acc
        if improved:
            best_acc, best_weights, since_best = val_acc, model.get_weights(), 0
        swap_averaged_weights()  # back to the raw weights, which training goes on from
        if not improved:
            since_best += 1
            if since_best >= config.patience:  # the same rule as keras.callbacks.EarlyStopping
                print(f"{worker.cluster.label}: early stop, no better val_accuracy for {since_best} epochs", flush=True)
                break
    plain = builders.build(config.builder, **config.model_kwargs)
    plain.set_weights(best_weights)
    print(f"{worker.cluster.label}: weights {weights_digest(plain)}", flush=True)
    return plain, history
