"""Installing an uploaded model (artifacts.install_model_file, the Models page's uploader): two uploads of one name
never both succeed, a name never takes another model's side file for its card, and checking an upload never waits on
the network.

    python -m pytest -q tests/test_installs.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import numpy as np
import pytest
from support import MODELS

from digitlab.models import archive, artifacts

BASE = MODELS / "mnist_baseline.keras"
SIDE_STEMS = (".metrics", ".history", ".curves")  # <name>.metrics.json, .history.json, .curves.png


@pytest.fixture
def accepted(monkeypatch):
    """Every upload passes validation at once (what is tested here is the name and the write, not Keras's check),
    after ``hold``: a hook the race test uses to stop both uploads between their checks and their writes."""
    hold = {"wait": lambda: None}

    def record(data, suffix=archive.MODEL_SUFFIX):
        hold["wait"]()
        sha = archive.bytes_sha256(data)
        return {"sha256": sha, "usable": True, "reason": None, "layout": "28x28x1", "outputs": "probabilities", "params": 7850,
                "probe": "none"}, None

    monkeypatch.setattr(archive, "validation_record", record)
    return hold


def _names(seed: int, n: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(list("abcdefghij_0123456789"), int(rng.integers(3, 12)))) for _ in range(n)]


@pytest.mark.parametrize("seed", range(5))
def test_of_two_uploads_of_one_name_one_is_installed_and_the_other_refused(seed, tmp_path, accepted):
    [name] = _names(seed, 1)
    a, b = BASE.read_bytes(), BASE.read_bytes() + b"\0" * int(np.random.default_rng(seed).integers(1, 64))
    both, calls = threading.Barrier(2, timeout=20), []

    def meet() -> None:  # the two validations meet: each upload has found the name free before either writes
        calls.append(1)
        if len(calls) <= 2:
            both.wait()

    accepted["wait"] = meet
    outcomes: dict[int, object] = {}

    def upload(i: int, data: bytes) -> None:
        try:
            outcomes[i] = artifacts.install_model_file(data, f"{name}.keras", tmp_path)
        except artifacts.ModelError as e:
            outcomes[i] = e

    threads = [threading.Thread(target=upload, args=(i, d)) for i, d in enumerate((a, b))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    refused = [o for o in outcomes.values() if isinstance(o, artifacts.ModelError)]
    installed = [o for o in outcomes.values() if isinstance(o, artifacts.ModelEntry)]
    assert len(installed) == 1 and len(refused) == 1 and "already exists" in str(refused[0]), outcomes
    written = installed[0].path.read_bytes()
    assert written in (a, b) and archive.bytes_sha256(written) == installed[0].sha256, "the file is the one reported installed"
    assert list(tmp_path.iterdir()) == [installed[0].path], "no temp file left"


def test_overwrite_replaces_in_one_step(tmp_path, accepted):
    artifacts.install_model_file(BASE.read_bytes(), "m.keras", tmp_path)
    new = BASE.read_bytes() + b"\0"
    assert artifacts.install_model_file(new, "m.keras", tmp_path, overwrite=True).sha256 == archive.bytes_sha256(new)
    assert [p.name for p in tmp_path.iterdir()] == ["m.keras"]


@pytest.mark.parametrize("seed", range(4))
def test_a_name_that_would_take_another_models_side_file_for_its_card_is_refused(seed, tmp_path, accepted):
    for base in _names(seed, 3):
        for stem in SIDE_STEMS:
            name = base + (stem.upper() if seed % 2 else stem)
            with pytest.raises(artifacts.ModelError, match="card"):
                artifacts.install_model_file(BASE.read_bytes(), f"{name}.keras", tmp_path)
    assert list(tmp_path.iterdir()) == []
    artifacts.install_model_file(BASE.read_bytes(), "metrics_and_history.keras", tmp_path)  # a name that only contains them


def test_a_model_file_named_like_a_side_file_is_listed_unusable_and_its_neighbour_keeps_its_metrics(tmp_path):
    (tmp_path / "mnist_baseline.keras").symlink_to(BASE)
    (tmp_path / "mnist_baseline.json").symlink_to(MODELS / "mnist_baseline.json")
    (tmp_path / "mnist_baseline.metrics.json").symlink_to(MODELS / "mnist_baseline.metrics.json")
    (tmp_path / "mnist_baseline.metrics.keras").symlink_to(BASE)
    entries = {e.name: e for e in artifacts.list_models(tmp_path)}
    assert entries["mnist_baseline"].usable
    odd = entries["mnist_baseline.metrics"]
    assert not odd.usable and "mnist_baseline's metrics file" in odd.reason and odd.card is None


_OFFLINE = r"""
import json, socket, sys, time
def stall(self, *a, **k):  # a network that drops packets: a connection never answers
    time.sleep(600)
socket.socket.connect = stall
socket.socket.connect_ex = stall
socket.create_connection = lambda *a, **k: stall(None)
t0 = time.monotonic()
from digitlab.models import adapter
digits, source = adapter.probe_digits()
print(json.dumps({"seconds": time.monotonic() - t0, "source": source, "shape": list(digits.shape),
                  "tf": "tensorflow" in sys.modules}))
"""


def test_checking_an_upload_never_waits_on_the_network(tmp_path):
    """Without $DIGITLAB_MNIST and without the keras cache's copy, the probe digits an upload is run on are drawn
    at once: no download is tried (one that stalls would hold the upload for as long as the network does)."""
    env = {k: v for k, v in os.environ.items() if k != "DIGITLAB_MNIST"}
    env["HOME"] = str(tmp_path)  # no ~/.keras/datasets/mnist.npz
    env["KERAS_HOME"] = str(tmp_path / ".keras")
    try:
        proc = subprocess.run([sys.executable, "-c", _OFFLINE], capture_output=True, text=True, timeout=60, env=env)
    except subprocess.TimeoutExpired:
        pytest.fail("checking an upload waited on the network for 60 s")
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.splitlines()[-1])
    assert out["shape"] == [10, 28, 28] and "drawn" in out["source"] and not out["tf"], out
    assert out["seconds"] < 20, out


def test_with_mnist_at_hand_the_probe_digits_are_mnists(tmp_path, mnist_path):
    env = {**os.environ, "DIGITLAB_MNIST": str(mnist_path), "HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", _OFFLINE], capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.splitlines()[-1])["source"] == "MNIST test digits"
