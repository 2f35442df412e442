"""Multi-worker training: TF_CONFIG checks, and two real worker processes on 127.0.0.1 running
the real training script (--dry-run --distribute multiworker) to identical weights."""

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from digitlab.models import artifacts
from digitlab.training import distributed

ROOT = Path(__file__).resolve().parents[1]


def tf_config(workers, index, kind="worker", **cluster):
    return json.dumps({"cluster": {"worker": workers, **cluster}, "task": {"type": kind, "index": index}})


def test_tf_config_places_each_worker():
    workers = ["10.0.0.1:2222", "10.0.0.2:2222"]
    first, second = (distributed.parse_tf_config(tf_config(workers, i)) for i in (0, 1))
    assert first.is_chief and first.rank == 0 and first.workers == tuple(workers)
    assert not second.is_chief and second.rank == 1 and second.label == "worker 1 of 2"
    # with a "chief" task, the chief comes first and worker 0 is not the chief
    chief = distributed.parse_tf_config(tf_config(workers, 0, "chief", chief=["10.0.0.9:2222"]))
    w0 = distributed.parse_tf_config(tf_config(workers, 0, chief=["10.0.0.9:2222"]))
    assert chief.is_chief and chief.workers[0] == "10.0.0.9:2222"
    assert not w0.is_chief and w0.rank == 1


@pytest.mark.parametrize("raw, message", [
    (None, "needs the TF_CONFIG environment variable"),
    ("  ", "needs the TF_CONFIG environment variable"),
    ("{cluster: ", "not valid JSON"),
    ('["a"]', 'needs a "cluster" object and a "task" object'),
    (json.dumps({"cluster": {"worker": ["h:1"]}}), 'needs a "cluster" object and a "task" object'),
    (tf_config("h:1", 0), "must be a list"),
    (tf_config(["h"], 0), "is not \"host:port\""),
    (tf_config(["h:99999"], 0), "is not \"host:port\""),
    (tf_config([], 0), "lists no workers"),
    (tf_config(["h:1", "h:1"], 1), "lists an address twice"),
    (tf_config(["h:1"], 0, ps=["p:2"]), "uses only 'worker'"),
    (tf_config(["h:1", "h:2"], 2), "outside the cluster's 2 \"worker\""),
    (tf_config(["h:1", "h:2"], -1), "outside the cluster's 2"),
    (tf_config(["h:1", "h:2"], "0"), "must be an integer"),
    (tf_config(["h:1"], 0, "evaluator"), 'must be "worker"'),
    (tf_config(["h:1"], 0, chief=["c:1", "c:2"]), "at most one"),
])
def test_bad_tf_config_is_refused_with_the_reason(raw, message):
    with pytest.raises(distributed.DistributedError, match=re.escape(message)):
        distributed.parse_tf_config(raw)


def test_script_without_tf_config_says_what_is_missing(run_main, tmp_path, monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    proc = run_main("training/train_cnn.py", "--dry-run", "--distribute", "multiworker", "--out", tmp_path, check=False)
    assert proc.returncode == 2  # a configuration error (digitlab.cli: 0 ok, 1 some inputs failed, 2 usage or configuration)
    assert "error: --distribute multiworker needs the TF_CONFIG environment variable" in proc.stderr
    assert '"task": {"type": "worker", "index": 0}' in proc.stderr  # the example to copy
    assert not list(tmp_path.iterdir())


def test_unsupported_recipes_are_refused_before_waiting_for_workers():
    from digitlab.training.recipe import TrainConfig

    for config, message in [
        (TrainConfig(builder="logistic"), "scikit-learn baseline"),
        (TrainConfig(adversarial={"attack": "pgd"}), "adversarial training"),
    ]:
        with pytest.raises(distributed.DistributedError, match=message):
            distributed.start(config, environ={"TF_CONFIG": tf_config(["127.0.0.1:1"], 0)})


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def run_workers(out, envs=({}, {})):
    """Start one real train_cnn.py per env on 127.0.0.1 (free ports), wait; returns [(returncode, log)]."""
    workers = [f"127.0.0.1:{p}" for p in free_ports(len(envs))]
    cmd = [sys.executable, str(ROOT / "training/train_cnn.py"), "--dry-run", "--distribute", "multiworker",
           "--out", str(out), "--name", "mw_probe", "--seed", "5"]
    procs = [
        subprocess.Popen(cmd, cwd=ROOT, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         env={**os.environ, **env, "TF_CONFIG": tf_config(workers, i)})
        for i, env in enumerate(envs)
    ]
    logs = []
    try:
        for p in procs:
            logs.append(p.communicate(timeout=240)[0])
    finally:
        for p in procs:  # a worker left waiting for a dead peer would hang forever
            if p.poll() is None:
                p.kill()
                p.wait()
    return [(p.returncode, log) for p, log in zip(procs, logs)]


@pytest.mark.slow
def test_two_workers_train_to_identical_weights(tmp_path):
    """Two processes, each the real train_cnn.py with its own TF_CONFIG; the chief saves, the other
    does not, and both end with the same weights (BatchNorm statistics included)."""
    out = tmp_path / "models"
    results = run_workers(out)
    for i, (code, log) in enumerate(results):
        assert code == 0, f"worker {i} exited {code}\n{log[-3000:]}"
    logs = [log for _, log in results]

    digests = [re.findall(r"weights (sha256:[0-9a-f]{64})", log) for log in logs]
    assert all(len(d) == 1 for d in digests), logs
    assert digests[0] == digests[1], "the workers ended with different weights"
    epoch_lines = [re.findall(r"epoch \d/2 (loss .*) \(", log) for log in logs]
    assert len(epoch_lines[0]) == 2 and epoch_lines[0] == epoch_lines[1]  # the same all-reduced figures

    # only the chief wrote into the models folder, and what it saved is exactly those weights
    assert sorted(f.name for f in out.iterdir()) == [f"mw_probe{s}" for s in (".curves.png", ".history.json", ".json", ".keras", ".metrics.json")]
    card = json.loads((out / "mw_probe.json").read_text())
    assert card["config"]["distribute"] == "multiworker" and card["epochs_run"] == 2
    assert card["distributed"] == {"strategy": "MultiWorkerMirroredStrategy", "workers": 2, "replicas": 2, "weights_sha256": digests[0][0]}
    assert distributed.weights_digest(artifacts.load_model(out / "mw_probe.keras")) == digests[0][0]
    [entry] = artifacts.list_models(out)
    assert entry.usable, entry.reason
    # the other worker's temporary copy is gone
    [temporary] = re.findall(r"the chief keeps the model, (\S+) was temporary", logs[1])
    assert not Path(temporary).exists()


@pytest.mark.slow
def test_workers_with_different_data_refuse_to_train(tmp_path, mnist_arrays, mnist_file_with):
    """Each worker reads MNIST from its own disk; a copy that differs by one pixel stops both."""
    x_train = mnist_arrays[0][0].copy()
    x_train[0, 14, 14] ^= 0xFF
    other = mnist_file_with(tmp_path / "other_mnist.npz", x_train=x_train)
    results = run_workers(tmp_path / "models", envs=({}, {"DIGITLAB_MNIST": str(other)}))
    for code, log in results:
        assert code == 2 and "error: the workers do not have the same data: 2 of 2 differ" in log, log[-2000:]
    assert not (tmp_path / "models").exists()
