"""Fine-tuning as a background job of the app: ``training/finetune_on_custom.py`` in its own process,
its progress read from a status file it writes (``training.cli.finetune_main --status-file``)."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from digitlab import memory
from digitlab.paths import ROOT
from digitlab.training.finetune import FinetuneConfig

SCRIPT = ROOT / "training" / "finetune_on_custom.py"


class JobError(RuntimeError):
    """A fine-tuning job cannot start (another one is writing the same model)."""


@dataclass
class Job:
    """``training/finetune_on_custom.py`` running in its own process; its progress comes from a status file."""

    name: str
    out: Path
    proc: subprocess.Popen
    status_path: Path
    log_path: Path
    command: list[str]
    owner: str | None = None  # who started it (the app passes its session): only they see its progress and errors
    started: float = field(default_factory=time.time)

    def status(self) -> dict:
        """{"state": "running" | "done" | "error", "fraction", "message", ("model", "card" when done)}."""
        try:
            state = json.loads(self.status_path.read_text())
        except (OSError, ValueError):
            state = {"state": "running", "fraction": 0.0, "message": "starting (loading TensorFlow)"}
        code = self.proc.poll()
        if code is None and state.get("state") == "done":
            # Saved, and the process is still exiting (TensorFlow's teardown).  Not over until it has: the page
            # would load the new model for serving now and a second TensorFlow process (its conversion) would
            # overlap this one (the benchmark's fine-tuning tour peaked at 2.9 GB for the server and both).
            state = {"state": "running", "fraction": 1.0, "message": "saved; the fine-tuning process is exiting"}
        elif code is not None and state.get("state") == "running":
            # The process ended without saying why (killed, out of memory): show the end of its log.
            tail = self.log_path.read_text(errors="replace").strip().splitlines()[-5:] if self.log_path.is_file() else []
            state = {"state": "error", "message": f"fine-tuning stopped (exit code {code}): " + " | ".join(tail)}
        state["seconds"] = round(time.time() - self.started, 1)
        return state

    def running(self) -> bool:
        """Still working: the process is alive and has not reported an error ("done" counts once it has exited)."""
        return self.proc.poll() is None and self.status()["state"] == "running"

    def cancel(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


_JOBS: dict[str, Job] = {}  # per server process: one job per output model at a time, whichever session started it


def start_job(folder: Path, out: Path, base: str, name: str = FinetuneConfig.name, extra: list[str] | None = None,
              owner: str | None = None) -> Job:
    """Run the fine-tuning script in the background; returns at once.  Raises JobError when a job
    writing the same model is still running (whoever started it)."""
    key = str(Path(out).resolve() / name)
    old = _JOBS.get(key)
    if old is not None and old.running():
        raise JobError(f"{name} is already being fine-tuned (started {time.time() - old.started:.0f} s ago)")
    if old is not None:
        old.proc.wait(timeout=60)  # done, and exiting: let it go before its file is written again
    work = Path(tempfile.mkdtemp(prefix="digitlab-finetune-"))
    status_path, log_path = work / "status.json", work / "log.txt"
    cmd = [sys.executable, str(SCRIPT), str(folder), "--base", str(base), "--out", str(out), "--name", name,
           "--status-file", str(status_path), *(extra or [])]
    env = memory.environment(defaults=memory.SERVER_TF_ENV)  # the server's TensorFlow settings (an explicit one wins):
    # oneDNN off keeps fine-tuning mnist_advanced under 1 GiB (docs/results.md#the-app-as-a-person-meets-it)
    with log_path.open("w") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    job = Job(name, Path(out), proc, status_path, log_path, cmd, owner)
    _JOBS[key] = job
    return job


def job_for(out: Path, name: str = FinetuneConfig.name, owner: str | None = None) -> Job | None:
    """The latest job (running or finished) that writes ``<out>/<name>.keras`` in this server process;
    with ``owner``, only one that this owner started (another session's progress and errors are theirs)."""
    job = _JOBS.get(str(Path(out).resolve() / name))
    return job if job is not None and (owner is None or job.owner == owner) else None


def busy(out: Path, name: str = FinetuneConfig.name) -> bool:
    """Is anyone (any session) fine-tuning ``<out>/<name>.keras`` right now?"""
    job = _JOBS.get(str(Path(out).resolve() / name))
    return job is not None and job.running()
