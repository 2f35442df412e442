"""Keeping a process's memory near what it uses (Linux, glibc; elsewhere nothing changes).

glibc gives every thread that allocates its own malloc arena, and TensorFlow starts dozens of
threads: on this project's 2-core machine the Explain page's work (TensorFlow, a model, Grad-CAM,
saliency, activation maps) peaked at 935 MB with the default arenas and 594 MB with two
(``MALLOC_ARENA_MAX=2``).  ``SUBPROCESS_ENV`` is given to every process the app starts (measurements,
fine-tuning, model conversion); ``limit_malloc_arenas`` does what it can for a process already
running (the Streamlit server: threads made after the call share the arenas).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os

ARENAS = 2
FORWARD_BATCH = 256  # images per forward pass in numpy-in, numpy-out helpers: the Leaderboard's measuring process
# peaked at 1.78 GB with 2,048 (mnist_advanced's activations), 0.94 GB with 256, at the same speed on 2 cores
ATTACK_BATCH = 100  # images per attack batch (forward and backward): 1.47 GB at 500 -> 1.02 GB at 100, same speed
SUBPROCESS_ENV = {"MALLOC_ARENA_MAX": str(ARENAS)}
_M_ARENA_MAX = -8  # glibc's mallopt parameter


@functools.cache
def _glibc(function: str):
    """glibc's ``function`` (``mallopt``, ``malloc_trim``) in this process, or None where there is none (macOS,
    Windows, musl).  Looked up once: ``ctypes.util.find_library`` runs a program, and the server trims after
    every script run."""
    name = ctypes.util.find_library("c") if os.name == "posix" else None
    if not name:
        return None
    try:
        return getattr(ctypes.CDLL(name), function, None)
    except OSError:
        return None


def limit_malloc_arenas(n: int = ARENAS) -> bool:
    """``mallopt(M_ARENA_MAX, n)`` in this process; False where there is no glibc (macOS, Windows, musl)."""
    mallopt = _glibc("mallopt")
    return bool(mallopt and mallopt(_M_ARENA_MAX, n) == 1)


TIME = "/usr/bin/time"  # GNU time (Debian's "time" package): a command's peak resident memory


def run_measured(argv: list[str], **run_kwargs):
    """``argv`` run under ``TIME -f %M`` with its output captured as text (``run_kwargs`` go to ``subprocess.run``):
    (the completed process, wall seconds, peak resident memory in bytes; 0 when the command failed)."""
    import subprocess
    import time

    t0 = time.perf_counter()
    proc = subprocess.run([TIME, "-f", "%M", *map(str, argv)], capture_output=True, text=True, **run_kwargs)
    seconds = time.perf_counter() - t0
    peak = int(proc.stderr.strip().splitlines()[-1]) * 1024 if proc.returncode == 0 else 0
    return proc, seconds, peak


SERVER_TF_ENV = {"TF_ENABLE_ONEDNN_OPTS": "0"}  # TensorFlow's oneDNN kernels off in the app's server: its work is one
# digit at a time (Grad-CAM, saliency, attacks on the current digit), where they held more memory and were slower
# (the server's memory per page: docs/results.md#the-app-as-a-person-meets-it, python evaluation/app_benchmark.py)


def prepare_tensorflow_for_the_server() -> bool:
    """Set ``SERVER_TF_ENV`` (an explicit setting in the environment wins) before anything imports TensorFlow;
    False when it is imported already (then nothing changes)."""
    import sys

    if "tensorflow" in sys.modules:
        return False
    for key, value in SERVER_TF_ENV.items():
        os.environ.setdefault(key, value)
    return True


def release_free_memory() -> bool:
    """``malloc_trim(0)``: give the heap's free pages back to the system (glibc keeps what Python and TensorFlow
    free for reuse; tests/test_memory.py shows the difference).  Under a millisecond after a page's work.
    False where there is no glibc."""
    trim = _glibc("malloc_trim")
    return bool(trim and trim(0) in (0, 1))


def environment(extra: dict[str, str] | None = None, defaults: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment over ``SUBPROCESS_ENV`` and ``defaults`` (an explicit setting wins), and ``extra``
    over all of it."""
    return {**SUBPROCESS_ENV, **(defaults or {}), **os.environ, **(extra or {})}


def status_mb(field: str) -> float | None:
    """A memory field of /proc/self/status in MiB: "VmRSS" (resident now), "VmHWM" (the peak since the start or
    the last ``reset_peak``); None where there is no such file (not Linux)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0), so the next peak is this process's from now on; False
    where it cannot be reset."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False
