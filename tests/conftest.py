"""Shared fixtures: real MNIST from the offline copy, a scratch models folder."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest
from support import link_models

from digitlab import data
from digitlab.paths import ROOT

# The files that take a minute or more on 2 cores (pytest --durations), longest first.  Under -n, pytest-xdist hands
# whole files to the workers (--dist loadfile) in the order collected (--no-loadscope-reorder: pyproject.toml) and
# queues one or two per worker: started first, no long file starts last while the other worker has nothing left.
LONG_FILES = (
    "tests/browser/test_browser.py", "tests/test_finetune.py", "tests/test_reader.py", "tests/test_ensemble.py",
    "tests/test_neighbours.py", "tests/test_rebuild.py", "tests/test_kill_training.py", "tests/test_app.py",
    "tests/test_explain.py", "tests/test_export.py", "tests/browser/test_browser_collect.py", "tests/test_stress_pages.py",
    "tests/test_tfjs.py", "tests/browser/test_explain_neighbours.py", "tests/test_scripts.py",
    "tests/browser/test_browser_stress.py", "tests/test_serving.py", "tests/test_attacks.py", "tests/test_calibration.py",
    "tests/test_dry_runs.py",
)


def pytest_xdist_auto_num_workers(config):
    """``-n logical`` (or ``auto``): a worker per CPU for the fast tier, whose tests keep every CPU busy; one more for
    the full suite, whose browser, app-server, job and child-process tests leave a CPU idle while they wait."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return cpus if "not slow" in (config.getoption("markexpr") or "") else cpus + 1


def pytest_collection_modifyitems(items):
    """The long files first, each file's tests in their own order (a stable sort)."""
    rank = {name: i for i, name in enumerate(LONG_FILES)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))


@pytest.fixture(scope="session", autouse=True)
def _scratch_serving_cache(tmp_path_factory):
    """Models converted for serving during the tests (digitlab.serving.runtime) go to a scratch cache,
    never to runs/cache/serving; the committed models' files in models/serving/ are only read."""
    os.environ["DIGITLAB_SERVING_CACHE"] = str(tmp_path_factory.mktemp("serving_cache"))
    yield


@pytest.fixture(scope="session", autouse=True)
def _scratch_features_cache(tmp_path_factory):
    """The neighbours' and the map's features (digitlab.evaluation.neighbours) built during the tests, by the
    library or by an app server a test starts, go to a scratch cache, never to runs/cache/features."""
    os.environ["DIGITLAB_FEATURES_CACHE"] = str(tmp_path_factory.mktemp("features_cache"))
    yield


@pytest.fixture(scope="session", autouse=True)
def _scratch_results(tmp_path_factory):
    """Figures a script records while the tests run it (digitlab.report.results) go to a scratch file,
    never to the tracked docs/results.json."""
    os.environ["DIGITLAB_RESULTS"] = str(tmp_path_factory.mktemp("results") / "results.json")
    yield


@pytest.fixture(scope="session")
def mnist_path() -> Path:
    """The MNIST file the project's lookup finds (--mnist aside: $DIGITLAB_MNIST, the keras cache,
    else a download into the keras cache); CI sets $DIGITLAB_MNIST to an offline copy."""
    try:
        return Path(data.load().source)
    except data.DataError as e:
        pytest.fail(f"MNIST not found: {e}")


@pytest.fixture(scope="session")
def mnist_arrays(mnist_path) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Real MNIST through the project's one loader (checked as every run checks it), the file's own layout
    (``val_size=0``: no validation split carved out): ((x_train, y_train), (x_test, y_test)).  Tests read
    MNIST here, never from the file itself.  Writable copies, as ``np.load`` gives, not the cache's read-only maps."""
    m = data.load(mnist_path, val_size=0)
    return (np.array(m.x_train), np.array(m.y_train)), (np.array(m.x_test), np.array(m.y_test))


@pytest.fixture
def mnist_file_with(mnist_arrays):
    """Write MNIST's arrays with some changed as an .npz in keras layout, for the tests of what a wrong or
    different file does: ``mnist_file_with(path, **arrays)`` -> path (the real arrays where none is given)."""
    def write(path: Path, **arrays) -> Path:
        (x_train, y_train), (x_test, y_test) = mnist_arrays
        real = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
        np.savez(path, **{k: v for k, v in {**real, **arrays}.items() if v is not None})
        return path

    return write


@pytest.fixture(scope="session")
def mnist_train(mnist_arrays) -> tuple[np.ndarray, np.ndarray]:
    """The real MNIST training split: (60000, 28, 28) uint8 images and (60000,) labels."""
    return mnist_arrays[0]


@pytest.fixture(scope="session")
def mnist_test(mnist_arrays) -> tuple[np.ndarray, np.ndarray]:
    """The real MNIST test split: (10000, 28, 28) uint8 images and (10000,) labels."""
    return mnist_arrays[1]


@pytest.fixture
def run_script():
    """Run a repo script as a user would (python path/to/script.py ...), return the CompletedProcess."""
    import subprocess

    def run(script: str, *args: str, timeout: float = 300, check: bool = True, env: dict | None = None):
        proc = subprocess.run(
            [sys.executable, str(ROOT / script), *map(str, args)],
            capture_output=True, text=True, timeout=timeout, cwd=ROOT,
            env={**os.environ, **(env or {})},
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"{script} {' '.join(map(str, args))} exited {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        return proc

    return run


@pytest.fixture
def run_main(monkeypatch):
    """Run a repo script in this process as ``python path/to/script.py ...`` runs it (its ``__main__`` block, from
    ROOT, its folder first on the path), return a CompletedProcess with its exit code and what it printed.
    Scripts' smoke runs and refusals go through here: a process of its own costs a start and TensorFlow's import,
    6-8 s of CPU each time.  ``run_script`` is kept for what only a process shows: the rebuild chain (each step its
    own process, as a user runs it), kills and resumes, memory, the app's jobs, the predict CLI's exit codes."""
    import contextlib
    import io
    import runpy
    import subprocess

    def run(script: str, *args: str, check: bool = True, env: dict | None = None):
        path = ROOT / script
        out, err = io.StringIO(), io.StringIO()
        with monkeypatch.context() as m:
            for key, value in (env or {}).items():
                m.setenv(key, str(value))
            m.chdir(ROOT)
            m.syspath_prepend(str(path.parent))
            m.setattr(sys, "argv", [str(path), *map(str, args)])
            m.setattr(os, "_exit", sys.exit)  # a script that skips the interpreter's teardown: end this run, not the tests
            code = 0
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    runpy.run_path(str(path), run_name="__main__")
                except SystemExit as e:
                    code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
                    if not isinstance(e.code, int | None):
                        print(e.code, file=sys.stderr)
        proc = subprocess.CompletedProcess([script, *map(str, args)], code, out.getvalue(), err.getvalue())
        if check and code != 0:
            raise AssertionError(f"{script} {' '.join(map(str, args))} exited {code}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        return proc

    return run


@pytest.fixture(scope="session")
def committed_models():
    """The models committed in models/ (tracked by git, the real ones, not a scratch folder), best
    test accuracy first.  A missing or unusable one FAILS the test that asks for it: the committed
    models are part of the repository.  Models a user added to models/ are not in this list, so
    they can neither stand in for a committed one nor fail a test.
    (tests/test_committed_models.py checks that git tracks every name listed here.)"""
    from digitlab.models import artifacts

    names = ("mnist_advanced", "mnist_cnn", "mnist_robust", "mnist_baseline")
    models = ROOT / "models"
    entries = {e.name: e for e in artifacts.list_models(models)}
    missing = [f"{n}.keras (missing)" for n in names if n not in entries]
    missing += [f"{n}.keras (unusable: {entries[n].reason})" for n in names if n in entries and not entries[n].usable]
    if missing:
        pytest.fail(f"committed models broken in {models}: {', '.join(missing)}; restore them from git (git restore models/<name>.keras models/<name>.json)", pytrace=False)
    return [e for e in entries.values() if e.name in names]  # list_models' order: best test accuracy first


@pytest.fixture
def scratch_models(tmp_path, monkeypatch, committed_models):
    """A models folder of links to the committed models (their files and the gate folder, nothing a
    user added), set as $DIGITLAB_MODELS_DIR: whatever a test writes there (an uploaded or a
    fine-tuned model) never lands in models/, and a user's own models never change what a test sees."""
    d = link_models(tmp_path / "committed_models", [e.path.name[: -len(".keras")] for e in committed_models])
    monkeypatch.setenv("DIGITLAB_MODELS_DIR", str(d))
    monkeypatch.setenv("DIGITLAB_USER_MODELS", str(tmp_path / "user_models"))  # the app's fine-tuning writes there, and lists it
    return d
