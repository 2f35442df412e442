"""What every command-line script shares: exit codes, flags and the model-name check.

Exit codes, the same for every script (each script's ``--help`` repeats them):
    0  done
    1  some inputs failed (e.g. unreadable pictures); the others were processed and reported
    2  usage or configuration error: a bad flag, MNIST or a model not found, nothing to do
    3  internal error: a bug, not a bad input, with its traceback on stderr; only a command that goes on
       past one input's crash returns it (evaluation/predict.py: that file still gets its line), so that
       a bug never looks like exit 1, "some inputs refused".  Any other script that crashes exits 1 with
       Python's traceback.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import NoReturn

OK, SOME_FAILED, USAGE, INTERNAL = 0, 1, 2, 3
EXIT_CODES = "exit codes: 0 done, 1 some inputs failed (reported, the rest processed), 2 usage or configuration error"
INTERNAL_EXIT_CODE = ", 3 internal error (a bug, not a bad input: traceback on stderr, the other inputs processed)"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")  # a model file stem: no path, no leading dot


LONG_SCRIPT = "Longer than a thin script because"  # scripts over ~80 lines of code say why (tests/test_structure.py)


def parser(doc: str | None, internal: bool = False, **kwargs) -> argparse.ArgumentParser:
    """An ArgumentParser whose help is the script's docstring and ends with the exit codes (``internal``: the
    script also returns ``INTERNAL``).  A paragraph of the docstring that starts with ``LONG_SCRIPT`` is for
    maintainers (why the script is long) and is left out."""
    if doc:
        doc = "\n\n".join(part for part in doc.split("\n\n") if not part.startswith(LONG_SCRIPT))
    epilog = EXIT_CODES + (INTERNAL_EXIT_CODE if internal else "")
    return argparse.ArgumentParser(description=doc, epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter, **kwargs)


def model_name(value: str) -> str:
    """argparse type of a model file stem (``--name``)."""
    if not NAME_RE.match(value):
        raise argparse.ArgumentTypeError(f"{value!r}: use letters, digits, '_', '.', '-' (at most 64, not starting with '.')")
    return value


def add_mnist(p: argparse.ArgumentParser) -> None:
    p.add_argument("--mnist", default=None, help="path to mnist.npz in keras layout (default: $DIGITLAB_MNIST, keras cache, download)")


def add_models(p: argparse.ArgumentParser, accepts: str = "model name in models/ or a .keras file") -> None:
    """``--model``, repeatable (``a.model``: a list, or None for every usable model in models/): the models a
    benchmark measures; ``accepts`` says what one value may be."""
    p.add_argument("--model", action="append", help=f"{accepts}; repeatable (default: every usable model)")


DRY_RUN_ALIASES = ("--quick",)  # the smoke flag's older names: still accepted, no longer shown in --help


def add_dry_run(p: argparse.ArgumentParser, what: str = "a few batches on a small subset, in seconds (for tests)") -> None:
    """``--dry-run``, every script's one name for its smoke mode (``a.dry_run``); the older ``--quick`` is a
    hidden alias, so commands written before still run."""
    p.add_argument("--dry-run", action="store_true", help=what)
    for alias in DRY_RUN_ALIASES:
        p.add_argument(alias, dest="dry_run", action="store_true", help=argparse.SUPPRESS)


def add_out(p: argparse.ArgumentParser, default: Path, what: str) -> None:
    from digitlab.paths import shown

    p.add_argument("--out", type=Path, default=default, help=f"{what} (default {shown(default)}/)")


def report_file(name: str):
    """An argparse ``type`` for a ``--out`` that names a report's file: a folder given there is a usage error at once,
    naming the file ``name`` in it that was probably meant (not a traceback when the report is written, after the run)."""
    def check(value: str) -> Path:
        path = Path(value)
        if path.is_dir():
            raise argparse.ArgumentTypeError(f"{value} is a folder: give the report's file (e.g. {path / name})")
        return path

    return check


def output_folder(out: Path, default: Path, dry_run: bool, name: str) -> Path:
    """Where a script writes: ``out``; but a dry run left at the default folder writes into a new
    temporary folder instead, so a smoke run never overwrites a committed report or model."""
    import tempfile

    if dry_run and Path(out) == Path(default):
        return Path(tempfile.mkdtemp(prefix=f"{name}-dry-run-"))
    return Path(out)


# A parameter as the library's messages name it: ``init_from='runs/x.keras'``, ``alpha=1.5``, ``overwrite=True``,
# or bare (``init_member``), never inside a path; a value is a quoted string or runs to the next space or punctuation.
_PARAMETER = re.compile(r"(?<![\w./\\$-])(?P<name>[a-z][a-z0-9_]*)(?:=(?P<value>'(?:[^'\\]|\\.)*'|[^\s,;:()\[\]'\"]+)|(?![\w/\\-]|\.\w))")


def in_flags(message, p: argparse.ArgumentParser) -> str:
    """``message`` (a library error, in its parameters' names) as the script's user reads it: each parameter
    that is one of ``p``'s options becomes its flag, ``init_from='runs/x.keras'`` -> ``--init-from runs/x.keras``,
    ``overwrite=True`` -> ``--overwrite``.  A bare name is a parameter only when it holds a "_" (``init_member``):
    ``name``, ``start`` or ``out`` alone are words, written ``name=NAME`` when the parameter is meant."""
    import ast
    import shlex

    options = {a.dest: a for a in p._actions if a.option_strings and a.help != argparse.SUPPRESS}

    def flag(m: re.Match) -> str:
        action, value = options.get(m["name"]), m["value"]
        if action is None or (value is None and "_" not in m["name"]):
            return m[0]
        shown = next(o for o in action.option_strings if o.startswith("--"))
        if value is None or action.nargs == 0:
            return shown
        return f"{shown} {shlex.quote(ast.literal_eval(value)) if value.startswith(chr(39)) else value}"

    return _PARAMETER.sub(flag, str(message))


def error(message, code: int = USAGE, p: argparse.ArgumentParser | None = None) -> int:
    """Print ``error: message`` on stderr and return ``code``, for ``return cli.error(e)`` in a script's main;
    ``p``: the script's parser, whose flags replace the parameter names a library message uses (``in_flags``)."""
    print(f"error: {message if p is None else in_flags(message, p)}", file=sys.stderr)
    return code


def fail(message, code: int = USAGE, p: argparse.ArgumentParser | None = None) -> NoReturn:
    """Print ``error: message`` on stderr and exit with ``code`` (2: usage or configuration); ``p`` as for ``error``."""
    sys.exit(error(message, code, p))
