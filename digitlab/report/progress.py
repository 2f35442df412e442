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
