"""Progress of long measurements: a callback (fraction done, message) that scripts print and pages draw."""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[float, str], None] | None  # called with the fraction done in [0, 1] and what is running


def console_progress(label: str) -> Callable[[float, str], None]:
    """A progress callback for scripts: a bar redrawn in place on a terminal, a line per 10 % in a log."""
    import sys

    state = {"last": -1}

    def show(fraction: float, message: str) -> None:
        pct = int(fraction * 100)
        if sys.stderr.isatty():
            bar = "#" * (pct // 4)
            end = "\n" if fraction >= 1 else ""
            print(f"\r{label}: [{bar:<25}] {pct:3d}% {message[:60]:<60}", end=end, file=sys.stderr, flush=True)
        elif pct // 10 > state["last"]:
            state["last"] = pct // 10
            print(f"{label}: {pct:3d}% {message}", file=sys.stderr, flush=True)

    return show


def json_progress() -> Callable[[float, str], None]:
    """A progress callback that prints one JSON line {"progress": f, "message": m} per step on stdout:
    what ``run_with_progress`` reads from a measurement run in its own process."""
    import json

    def show(fraction: float, message: str) -> None:
        print(json.dumps({"progress": round(float(fraction), 4), "message": message}), flush=True)

    return show


def run_with_progress(command: list[str], progress: Progress = None) -> tuple[int, str]:
    """Run ``command`` (a script with ``--progress-json``) in its own process, relaying its progress lines
    to ``progress``; returns (exit code, the end of its stderr).  If the caller is interrupted (the app's
    Stop raises inside ``progress``), the process is killed: what it finished (cached rows) stays.
    A measurement in its own process gives all its memory back when it ends (the app stays small)."""
    import json
    import subprocess
    import tempfile

    from digitlab import memory

    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL, text=True, env=memory.environment())
        try:
            for line in proc.stdout:
                try:
                    step = json.loads(line)
                except ValueError:
                    continue  # the script's own printing
                if isinstance(step, dict) and "progress" in step and progress is not None:
                    progress(float(step["progress"]), str(step.get("message", "")))
            code = proc.wait()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
        err.seek(0)
        return code, err.read()[-2000:]
