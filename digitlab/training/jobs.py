"""Fine-tuning as a background job of the app: ``training/finetune_on_custom.py`` in its own process,
its progress read from a status file it writes (``training.cli.finetune_main --status-file``).

One job per output model at a time in a server process, whichever session started it; every session
sees it and may stop it.  A watcher thread per job reaps the process the moment it ends (no zombie
waiting for a page to look), kills it when Stop's terminate is not enough, and stops it when the
session that started it has gone (``owner_alive``): the model is then no longer locked for everyone else.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from digitlab import memory
from digitlab.paths import ROOT
from digitlab.training.finetune import FinetuneConfig

SCRIPT = ROOT / "training" / "finetune_on_custom.py"
OWNER_GRACE_S = 20.0  # the owner may be away this long (a dropped connection that comes back) before its job is stopped
KILL_AFTER_S = 10.0  # a stopped process still alive this long after SIGTERM gets SIGKILL
WATCH_EVERY_S = 0.5
OWNER_GONE = "the browser session that started it was closed"


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
    owner: str | None = None  # who started it (the app passes its session): its errors are shown to them only
    owner_alive: Callable[[], bool] | None = None  # False for OWNER_GRACE_S: the job is stopped (None: never asked)
    started: float = field(default_factory=time.time)
    ended: float | None = None  # when the watcher saw the process end (and reaped it)
    stop_reason: str | None = None  # why it was stopped (Stop, the owner gone), None while nobody stopped it
    stop_requested: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _reported(self) -> dict | None:
        try:
            state = json.loads(self.status_path.read_text())
        except (OSError, ValueError):
            return None
        return state if isinstance(state, dict) else None

    def status(self) -> dict:
        """{"state": "running" | "stopping" | "stopped" | "done" | "error", "fraction", "message",
        ("model", "card" when done), "seconds"}."""
        state = self._reported() or {"state": "running", "fraction": 0.0, "message": "starting (loading TensorFlow)"}
        code = self.proc.poll()
        if state.get("state") == "done":  # saved: a Stop that came later changes nothing
            if code is None:
                # Saved, and the process is exiting (a fraction of a second: the script skips the interpreter's
                # teardown).  Not over until it has: the page would load the new model for serving now and a
                # second TensorFlow process (its conversion) would overlap this one.
                state = {"state": "running", "fraction": 1.0, "message": "saved; the fine-tuning process is exiting"}
        elif self.stop_reason is not None:
            state = {"state": "stopping" if code is None else "stopped", "fraction": state.get("fraction", 0.0),
                     "message": f"stopped: {self.stop_reason}"}
        elif code is not None and state.get("state") == "running":
            # The process ended without saying why (killed, out of memory): show the end of its log.
            tail = self.log_path.read_text(errors="replace").strip().splitlines()[-5:] if self.log_path.is_file() else []
            state = {"state": "error", "message": f"fine-tuning stopped (exit code {code}): " + " | ".join(tail)}
        state["seconds"] = round((self.ended or time.time()) - self.started, 1)
        return state

    def running(self) -> bool:
        """The process is alive: the model is being written (or the job is stopping), nobody else may start."""
        return self.proc.poll() is None

    def stop(self, reason: str = "stopped from the app") -> None:
        """Ask the process to end (SIGTERM) and return at once; the watcher kills it if it lingers.
        Nothing is saved: the model is written only at the end, atomically (a half-written file never
        replaces the last one)."""
        with self._lock:
            if self.proc.poll() is not None or self.stop_reason is not None:
                return
            self.stop_reason, self.stop_requested = reason, time.time()
        with contextlib.suppress(ProcessLookupError):
            self.proc.terminate()

    def cancel(self) -> None:
        """Stop and wait until the process is gone (tests: never leave a process behind)."""
        self.stop("cancelled")
        try:
            self.proc.wait(timeout=KILL_AFTER_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def _watch(self) -> None:
        """The watcher thread: reap the process as soon as it ends, kill a stopped one that lingers, stop
        the job when its owner has been gone for OWNER_GRACE_S."""
        gone_since = None
        while self.proc.poll() is None:  # poll() reaps the child as soon as it has ended
            now = time.time()
            if self.stop_requested is not None and now - self.stop_requested > KILL_AFTER_S:
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()
            elif self.stop_reason is None and self.owner_alive is not None:
                try:
                    alive = bool(self.owner_alive())
                except Exception:  # noqa: BLE001 - a failing check must not stop someone's job
                    alive = True
                gone_since = None if alive else (gone_since or now)
                if gone_since is not None and now - gone_since >= OWNER_GRACE_S:
                    self.stop(OWNER_GONE)
            time.sleep(WATCH_EVERY_S)
        self.ended = time.time()


_JOBS: dict[str, Job] = {}  # per server process: one job per output model at a time, whichever session started it
_START = threading.Lock()  # two sessions pressing Fine-tune at once: one of them gets JobError


def _key(out: Path, name: str) -> str:
    return str(Path(out).resolve() / name)


def start_job(folder: Path, out: Path, base: str, name: str = FinetuneConfig.name, extra: list[str] | None = None,
              owner: str | None = None, owner_alive: Callable[[], bool] | None = None) -> Job:
    """Run the fine-tuning script in the background; returns at once.  Raises JobError when a job
    writing the same model is still running (whoever started it).  ``owner_alive``: asked every
    WATCH_EVERY_S; when it has said False for OWNER_GRACE_S the job is stopped."""
    key = _key(out, name)
    with _START:
        old = _JOBS.get(key)
        if old is not None and old.running():
            raise JobError(f"{name} is already being fine-tuned (started {time.time() - old.started:.0f} s ago)")
        work = Path(tempfile.mkdtemp(prefix="digitlab-finetune-"))
        status_path, log_path = work / "status.json", work / "log.txt"
        cmd = [sys.executable, str(SCRIPT), str(folder), "--base", str(base), "--out", str(out), "--name", name,
               "--status-file", str(status_path), *(extra or [])]
        env = memory.environment(defaults=memory.SERVER_TF_ENV)  # the server's TensorFlow settings (an explicit one wins):
        # oneDNN off keeps fine-tuning mnist_advanced under 1 GiB (docs/results.md#the-app-as-a-person-meets-it)
        with log_path.open("w") as log:
            proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        job = Job(name, Path(out), proc, status_path, log_path, cmd, owner, owner_alive)
        threading.Thread(target=job._watch, name=f"finetune-watch-{proc.pid}", daemon=True).start()
        _JOBS[key] = job
    return job


def job_for(out: Path, name: str = FinetuneConfig.name, owner: str | None = None) -> Job | None:
    """The latest job (running or finished) that writes ``<out>/<name>.keras`` in this server process;
    with ``owner``, only one that this owner started (another session's errors are theirs)."""
    job = _JOBS.get(_key(out, name))
    return job if job is not None and (owner is None or job.owner == owner) else None


def busy(out: Path, name: str = FinetuneConfig.name) -> bool:
    """Is anyone (any session) fine-tuning ``<out>/<name>.keras`` right now?"""
    job = _JOBS.get(_key(out, name))
    return job is not None and job.running()
