"""Training survives a kill at any moment: real dry-run training runs, each in its own process,
SIGKILLed by this test at every phase of a run, then run again until one finishes; the model it saves
must be the model of an uninterrupted run.

A run is ``trainer.run`` (what every training script calls) on a dry-run config, in
``python tests/test_kill_training.py RUNS OUT NAME`` (so nothing is written under runs/ or models/).
``$DIGITLAB_PAUSE_AT=<phase>=<marker>`` makes the run stop at the phase and write the marker
(``digitlab.files.pause_point``); the test then sends SIGKILL, so every kill lands exactly there:

    mid_epoch       after the first batch of the second epoch (the first epoch is committed)
    backup          the second epoch's weights written to their temp file, not yet renamed
    checkpoint      the second epoch's best.keras written to its temp file, its score in best.json, not renamed
    after_training  fit has returned; nothing is evaluated or saved yet
    final_save      the model written to its temp file in the models folder, not yet renamed

The chain kills one process per phase, in that order (each resumes what the one before left), and
the last process finishes; after the after_training kill the newest snapshot is damaged, so the run after
it skips it and trains the second epoch again from the one before.  Augmentation is off: a resumed dry run then replays the uninterrupted one
exactly (tests/test_training_loops.py explains why augmentation is not reproducible even within one run).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow  # real training runs, killed and resumed

ROOT = Path(__file__).resolve().parents[1]
PHASES = ["mid_epoch", "backup", "checkpoint", "after_training", "final_save"]
# The dry run's 1,024 digits are 2 batches of 512: the second epoch starts a new pass over the data, so the resume after
# the mid-epoch kill needs batches past the end of the first pass (a resume used to skip into an empty stream, train
# no step, log a row without validation columns and fail in read_history).
FIELDS = {"builder": "cnn", "model_kwargs": {"width": 8}, "epochs": 2, "batch_size": 512, "seed": 7, "ema": 0.5,
          "dry_run": True, "rotation_deg": 0.0, "translate": 0.0, "zoom": 0.0, "stroke": 0.0}


MNIST: str | None = None  # the MNIST file the fixture found, passed on to every run


def start(runs: Path, out: Path, name: str, phase: str | None = None, marker: Path | None = None) -> subprocess.Popen:
    """One run of ``FIELDS`` in its own process."""
    env = {k: v for k, v in os.environ.items() if k != "DIGITLAB_PAUSE_AT"}
    env["DIGITLAB_MNIST"] = MNIST
    if phase:
        env["DIGITLAB_PAUSE_AT"] = f"{phase}={marker}"
    return subprocess.Popen([sys.executable, __file__, str(runs), str(out), name], cwd=ROOT, env=env,
                            text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def kill_at(runs: Path, out: Path, name: str, phase: str, tmp: Path, timeout: float = 180) -> str:
    """Run until ``phase``, SIGKILL there; returns the run's output.  Fails when the run ends without reaching it."""
    marker = tmp / f"reached-{phase}"
    marker.unlink(missing_ok=True)
    proc = start(runs, out, name, phase, marker)
    t0 = time.time()
    while not marker.exists():
        if proc.poll() is not None:
            pytest.fail(f"the run ended (exit {proc.returncode}) without reaching {phase}:\n{proc.stdout.read()[-3000:]}")
        if time.time() - t0 > timeout:
            proc.kill()
            pytest.fail(f"no {phase} after {timeout:.0f} s:\n{proc.communicate()[0][-3000:]}")
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    output = proc.communicate(timeout=60)[0]
    assert proc.returncode == -signal.SIGKILL
    return output


def finish(proc: subprocess.Popen) -> str:
    output = proc.communicate(timeout=900)[0]
    assert proc.returncode == 0, output[-3000:]
    return output


def hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob(".*"))


@pytest.fixture(scope="module")
def runs(tmp_path_factory, mnist_path):
    """The uninterrupted run and the killed chain, side by side (2 cores): their folders, outputs and what
    the test saw after each kill."""
    global MNIST
    MNIST = str(mnist_path)
    tmp = tmp_path_factory.mktemp("kill")
    runs_dir, out = tmp / "runs", tmp / "models"
    reference = start(runs_dir, out, "uninterrupted")
    seen = {}
    try:
        for phase in PHASES:
            output = kill_at(runs_dir, out, "killed", phase, tmp)
            run_dir = runs_dir / "killed-dry"
            state = json.loads((run_dir / "state" / "state.json").read_text()) if (run_dir / "state" / "state.json").is_file() else None
            seen[phase] = {"output": output, "state": state, "hidden_run": hidden(run_dir), "hidden_out": hidden(out) if out.exists() else [],
                           "saved": (out / "killed.keras").exists()}
            if phase == "after_training":  # the newest snapshot damaged: the next run trains its epoch again
                newest = run_dir / "state" / state["snapshots"][0]["weights"]
                newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])
        final = finish(start(runs_dir, out, "killed"))
        reference_output = finish(reference)
    finally:
        if reference.poll() is None:
            reference.kill()
    return {"tmp": tmp, "runs": runs_dir, "out": out, "seen": seen, "final": final, "reference_output": reference_output}


def card(runs, name):
    return json.loads((runs["out"] / f"{name}.json").read_text())


def history(runs, name):
    return json.loads((runs["out"] / f"{name}.history.json").read_text())


def test_every_kill_landed_in_its_phase(runs):
    """What each kill left shows it struck where it was meant to (so the recovery below was exercised)."""
    seen = runs["seen"]
    assert seen["mid_epoch"]["state"]["snapshots"][0]["epoch"] == 1  # epoch 0 committed, epoch 1 under way
    for phase in ("backup", "checkpoint"):
        assert seen[phase]["state"]["snapshots"][0]["epoch"] == 1, phase  # the second epoch is not committed
        assert any(".tmp" in name for name in seen[phase]["hidden_run"]), (phase, seen[phase]["hidden_run"])
    assert seen["after_training"]["state"]["snapshots"][0]["epoch"] == 2 and not seen["after_training"]["saved"]
    assert seen["final_save"]["state"] is not None and not seen["final_save"]["saved"]
    assert any(name.startswith(".killed.keras.") for name in seen["final_save"]["hidden_out"]), seen["final_save"]["hidden_out"]
    for phase in PHASES[1:]:  # each rerun resumed what the kill before it left
        assert "resuming the interrupted run" in seen[phase]["output"], seen[phase]["output"][-2000:]


def test_the_rerun_ends_with_the_uninterrupted_model(runs):
    """Same epochs, same scores, and the same weights as the uninterrupted run's."""
    ours, ref = card(runs, "killed"), card(runs, "uninterrupted")
    assert ours["epochs_run"] == ref["epochs_run"] == 2
    h_ours, h_ref = history(runs, "killed"), history(runs, "uninterrupted")
    assert h_ours["epoch"] == h_ref["epoch"] == [0.0, 1.0]  # no epoch lost or logged twice
    # the checkpoint phase needs the second epoch to improve (a deterministic dry run: it does for this seed)
    assert h_ref["val_accuracy"][1] > h_ref["val_accuracy"][0], h_ref
    np.testing.assert_allclose(h_ours["val_accuracy"], h_ref["val_accuracy"], atol=1e-6)
    np.testing.assert_allclose(h_ours["loss"], h_ref["loss"], rtol=1e-4)
    assert ours["metrics"]["val_accuracy"] >= ref["metrics"]["val_accuracy"]  # best val score not worse
    ours_w, ref_w = weights(runs["out"] / "killed.keras"), weights(runs["out"] / "uninterrupted.keras")
    assert sorted(ours_w) == sorted(ref_w) and len(ours_w) > 10
    for name, value in ref_w.items():
        np.testing.assert_allclose(ours_w[name], value, rtol=1e-5, atol=1e-6, err_msg=name)


def weights(path: Path) -> dict[str, np.ndarray]:
    """Every array in a .keras file's model.weights.h5 (read with h5py: no TensorFlow in the test process)."""
    import io
    import zipfile

    import h5py

    out = {}
    with zipfile.ZipFile(path) as z, h5py.File(io.BytesIO(z.read("model.weights.h5")), "r") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return out


def test_training_seconds_count_every_part(runs):
    """The card's train_seconds is the total of every process that trained, not the last part's."""
    first_part = runs["seen"]["mid_epoch"]["state"]["snapshots"][0]["train_seconds"]
    total = runs["seen"]["final_save"]["state"]["snapshots"][0]["train_seconds"]  # its second epoch trained twice
    assert 0 < first_part < total
    assert card(runs, "killed")["train_seconds"] == pytest.approx(total, abs=0.06)
    cpu_first = runs["seen"]["mid_epoch"]["state"]["snapshots"][0]["cpu_seconds"]
    cpu_total = runs["seen"]["final_save"]["state"]["snapshots"][0]["cpu_seconds"]
    assert 0 < cpu_first < cpu_total
    assert card(runs, "killed")["cpu_seconds"] == pytest.approx(cpu_total, abs=0.06)


def test_nothing_is_left_behind(runs):
    """No hidden temp file in the models folder or the run folder, and the state is gone
    once the model is saved (the next run starts fresh)."""
    assert hidden(runs["out"]) == []
    run_dir = runs["runs"] / "killed-dry"
    assert hidden(run_dir) == [] and not (run_dir / "state").exists()
    assert (runs["out"] / "killed.keras").is_file() and card(runs, "killed")["name"] == "killed"


def test_a_resume_past_the_end_of_the_data_trains_its_epoch_and_a_damaged_snapshot_is_skipped(runs):
    """The run after the mid-epoch kill resumed into the data's second pass and trained; the run after the damage
    skipped the damaged snapshot (the weights equal the uninterrupted run's: the epoch was trained again on the same
    batches, test_the_rerun_ends_with_the_uninterrupted_model)."""
    resumed = runs["seen"]["backup"]["output"]
    assert "resuming the interrupted run" in resumed and "ran no training step" not in resumed
    damaged = runs["seen"]["after_training"]["state"]["snapshots"][0]["weights"]
    assert f"skipped damaged state: {damaged.split('.')[0]}" in runs["seen"]["final_save"]["output"], runs["seen"]["final_save"]["output"][-2000:]
    assert set(history(runs, "killed")) >= {"val_accuracy", "val_loss", "loss"}


def test_read_history_keeps_the_complete_rows_of_a_damaged_log(tmp_path):
    """A row without the validation columns (fewer fields: once a TypeError), Keras' "NA", a row a kill cut
    short and an epoch logged twice: the log reads as the epochs it really holds, in order."""
    from digitlab.training import trainer

    log = tmp_path / "history.csv"
    log.write_text("epoch,accuracy,loss,val_accuracy,val_loss\n"
                   "0,0.5,1.5,0.6,1.2\n"
                   "1,0.7,0.9\n"  # the resumed epoch logged without its validation
                   "1,0.7,0.9,NA,NA\n"
                   "2,0.8,0.7,0.8,0.6\n"
                   "1,0.75,0.8,0.7,0.9\n"  # epoch 1 trained again: its last row counts
                   "3,0.9,0.5,0.")  # cut short by a kill
    assert trainer.read_history(log) == {"epoch": [0.0, 1.0, 2.0], "accuracy": [0.5, 0.75, 0.8], "loss": [1.5, 0.8, 0.7],
                                         "val_accuracy": [0.6, 0.7, 0.8], "val_loss": [1.2, 0.9, 0.6]}


def test_a_killed_digit_save_leaves_nothing_the_next_save_keeps(tmp_path, mnist_test):
    """A save of the user's digits killed between its temp file and its link used to leave
    ``.saving.*.tmp`` for ever (188 MB after 15).  The next save removes it, and never the temp file of
    a save that is still running."""
    from digitlab.data import user_digits

    folder, picture, label = tmp_path / "my_digits", mnist_test[0][0], int(mnist_test[1][0])
    np.save(tmp_path / "digit.npy", picture)
    marker = tmp_path / "reached"
    code = "import sys, numpy as np; from digitlab.data import user_digits; user_digits.save(np.load(sys.argv[1]), sys.argv[2], sys.argv[3])"
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "digit.npy"), str(label), str(folder)], cwd=ROOT,
                            env={**os.environ, "DIGITLAB_PAUSE_AT": f"digit_save={marker}"})
    t0 = time.time()
    while not marker.exists():
        assert proc.poll() is None and time.time() - t0 < 120, "the save ended without reaching its pause point"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    label_dir = folder / str(label)
    [left] = [p for p in label_dir.iterdir()]
    assert left.name.startswith(f".saving.{proc.pid}-") and left.stat().st_size > 0
    running = label_dir / f".saving.{os.getpid()}-inprogress.tmp"  # a save in progress (this process is alive)
    running.write_bytes(b"half a picture")
    # the first look at the folder sweeps it, before that digit is saved again
    assert user_digits.read_folder(folder, min_per_class=0).paths == []  # a temp file is never a sample
    assert not left.exists() and running.exists()
    left.write_bytes(b"another killed save")  # listing one digit's samples sweeps that digit's folder too
    assert user_digits.samples(label, folder) == [] and not left.exists()
    saved = user_digits.save(picture, label, folder)
    assert sorted(p.name for p in label_dir.iterdir()) == sorted([running.name, saved.name])
    assert user_digits.samples(label, folder) == [saved]


def main(runs_dir: str, out: str, name: str) -> None:
    from digitlab.training import recipe, trainer

    trainer.RUNS_DIR = Path(runs_dir)  # this test's folder, not the repository's runs/
    trainer.run(recipe.TrainConfig(name=name, **FIELDS), Path(out), command="tests/test_kill_training.py")


if __name__ == "__main__":
    main(*sys.argv[1:4])
