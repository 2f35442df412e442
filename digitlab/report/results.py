"""Every measured figure the README and docs/ quote, written once, in one machine-written file.

``docs/results.json`` holds each figure with the command that measured it, the date and, where a model was
measured, the model file's sha256.  The measuring commands write into it through ``record`` (one figure) or
``record_all`` with the figures an extractor (``digitlab.report.extractors``) reads out of the report they just
wrote, for example ``record_all(extractors.from_handwriting(report))``.  Nothing else writes it, and nobody types a figure into the README
or docs/results.md: both are rendered from the file (``digitlab.report.prose``) by

    python -m digitlab.report.results --write    # README's results block and docs/results.md
    python -m digitlab.report.results --check    # exit 1 when either disagrees with the file (the tests run it)
    python -m digitlab.report.results --from-cards   # the committed models' cards -> the file, then --write
    python -m digitlab.report.results --stale        # the commands that measure again what an earlier model file measured
    python -m digitlab.report.results --remeasure    # run them, one after another, each output in runs/remeasure/

``$DIGITLAB_RESULTS`` points ``record`` at another file (the tests set it, so a script they run never
writes the tracked one).  A run with other settings than the figure's recorded command (``--n 200``) keeps
the documented figure unless ``$DIGITLAB_RECORD=replace``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import re
import sys
import tempfile
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from digitlab import paths
from digitlab.paths import MODELS_DIR, ROOT, shown
from digitlab.report import extractors
from digitlab.report.prose import rendered
from digitlab.report.schema import SECTIONS, Figure, ResultsError, check_figure

RESULTS_ENV = "DIGITLAB_RESULTS"
RECORD_ENV = "DIGITLAB_RECORD"  # "replace": a run with other settings replaces the documented figures
RESULTS_FILE = paths.RESULTS_FILE
SCHEMA = 1


def results_path() -> Path:
    return Path(os.environ.get(RESULTS_ENV) or RESULTS_FILE)


def load(path: Path | None = None) -> dict:
    """The results file as {"schema", "figures": {section: {row: {key: entry}}}}; empty when there is none yet."""
    path = Path(path) if path is not None else results_path()
    if not path.exists():
        return {"schema": SCHEMA, "figures": {}}
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ResultsError(f"cannot read the results file {shown(path)}: {e}") from e
    if not isinstance(data, dict) or data.get("schema") != SCHEMA or not isinstance(data.get("figures"), dict):
        raise ResultsError(f"{shown(path)} is not a results file of schema {SCHEMA}")
    return data


@contextlib.contextmanager
def _locked(path: Path):
    """Two measuring commands finishing together must not drop each other's figures: the read-modify-write
    runs under an advisory lock kept outside the repository (the file itself is replaced atomically)."""
    import fcntl

    name = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
    with open(Path(tempfile.gettempdir()) / f"digitlab-results-{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _save(path: Path, data: dict) -> None:
    """Write the results ``data`` to ``path`` (under ``_locked``), its sections in their rendering order; rows and
    keys keep the order they were first written in."""
    from digitlab.files import atomic_write_json

    data["figures"] = {s: data["figures"][s] for s in SECTIONS if s in data["figures"]}
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, data)


def record_all(figures: list[Figure], path: Path | None = None, *, replace: bool | None = None) -> int:
    """Write ``figures`` into the results file, each replacing the figure with the same section, row and key
    (the others stay).  Every figure is checked before anything is written: one bad figure writes none.

    A figure the file already holds from another command (other settings: ``--n 200`` where the docs quote
    ``--n 20000``) is kept, and the run says so on stderr: a quick run does not replace the documented
    figure.  ``replace=True``, or ``$DIGITLAB_RECORD=replace`` for a measuring command, replaces it anyway
    (a new documented setting).  Returns how many figures were written."""
    for f in figures:
        check_figure(f)
    if replace is None:
        replace = os.environ.get(RECORD_ENV, "") == "replace"
    path = Path(path) if path is not None else results_path()
    kept: Counter[tuple[str, str]] = Counter()  # (the held command, this run's) -> figures kept
    with _locked(path):
        data = load(path)
        written = 0
        for f in figures:
            row = data["figures"].setdefault(f.section, {}).setdefault(f.row, {})
            held = row.get(f.key, {}).get("command")
            if held is not None and held.strip() != f.command.strip() and not replace:
                kept[held, f.command] += 1
                continue
            row[f.key] = f.entry()
            written += 1
        if written:
            _save(path, data)
    for (held, command), n in kept.items():
        print(f"{shown(path)} keeps {n} figure{'s' * (n != 1)} measured by `{held}`, not replaced by this run's "
              f"`{command}` (set {RECORD_ENV}=replace to replace them)", file=sys.stderr)
    return written


def record(section: str, key: str, value, *, command: str, row: str = "", model: str | None = None,
           model_sha: str | None = None, fmt: str = "", note: str | None = None, path: Path | None = None,
           replace: bool | None = None) -> int:
    """Write one figure (see ``record_all``); ``model_sha`` defaults to the sha of ``model``'s file."""
    if model and model_sha is None:
        model_sha = extractors.model_sha(model)
    return record_all([Figure(section, key, value, command, row, model, model_sha, fmt, note=note)], path, replace=replace)


def value(results: dict, section: str, row: str, key: str):
    """The raw value of one figure; ResultsError naming the missing figure otherwise."""
    try:
        return results["figures"][section][row][key]["value"]
    except KeyError:
        raise ResultsError(f"no figure {section}/{row}/{key} in the results file") from None


def replace_section(section: str, figures: list[Figure], path: Path | None = None) -> int:
    """The results file's ``section`` made of ``figures`` alone (rows no longer measured go): for a section one
    command measures whole, whose rows name their counts. Every figure is checked first; returns how many."""
    if any(f.section != section for f in figures):
        raise ResultsError(f"replace_section({section!r}) was given figures of another section")
    for f in figures:
        check_figure(f)
    path = Path(path) if path is not None else results_path()
    with _locked(path):
        data = load(path)
        data["figures"][section] = {}
        for f in figures:
            data["figures"][section].setdefault(f.row, {})[f.key] = f.entry()
        _save(path, data)
    return len(figures)


def check(root: Path = ROOT, path: Path | None = None) -> list[str]:
    """The files that disagree with the results file (empty when all agree)."""
    want = rendered(load(path or root / "docs" / "results.json"), root)
    return [shown(p) for p, text in want.items() if not p.exists() or p.read_text() != text]


def write(root: Path = ROOT, path: Path | None = None) -> list[Path]:
    from digitlab.files import atomic_write_bytes

    changed = []
    for p, text in rendered(load(path or root / "docs" / "results.json"), root).items():
        if not p.exists() or p.read_text() != text:
            atomic_write_bytes(p, text.encode())
            changed.append(p)
    return changed


EARLIER = "measured on an earlier"  # how a retired figure's note names the file it was measured on


def _current_files(models_dir: Path = MODELS_DIR) -> dict[str, str | None]:
    """{model name: sha of its file in ``models_dir`` now}."""
    return {p.stem: extractors.model_sha(p) for p in Path(models_dir).glob("*.keras")}


def _on_earlier_file(e: dict, current: dict[str, str | None]) -> bool:
    """The figure ``e`` names a file of a model in the folder that is no longer there."""
    sha, model = e.get("model_sha"), e.get("model")
    return bool(sha and model in current and sha != current[model])


def stale(path: Path | None = None, models_dir: Path = MODELS_DIR) -> dict[str, Counter]:
    """What to measure again after a committed model's file changed: {command: Counter(section)} of the figures
    measured on another file of a model in ``models_dir`` than the one there now, retired ones included (their note
    says so), most figures first."""
    current = _current_files(models_dir)
    found: dict[str, Counter] = {}
    for section, rows in load(path)["figures"].items():
        for keys in rows.values():
            for e in keys.values():
                if _on_earlier_file(e, current) or EARLIER in (e.get("note") or ""):
                    found.setdefault(e["command"], Counter())[section] += 1
    return dict(sorted(found.items(), key=lambda kv: (-kv[1].total(), kv[0])))


def stale_lines(found: dict[str, Counter]) -> list[str]:
    """``stale``'s commands, one line each with how many figures they measure again and where."""
    return [f"{command}    # {n.total()} figure{'s' * (n.total() != 1)}: {', '.join(n)}" for command, n in found.items()]


class RemeasureError(ValueError):
    """A recorded command that is not one of this project's scripts: it is not run."""


MEASURING_ENV = {"DIGITLAB_REFRESH_DOCS": "1", "DIGITLAB_RECORD": "replace"}  # the settings a recorded command may begin with


def measuring_argv(command: str, root: Path = ROOT) -> tuple[list[str], dict[str, str]]:
    """A recorded measuring command as the argument list that runs it here, and the settings it begins with:
    ``python <a script of this project> ...`` or ``python -m pytest ... tests/...`` (the browser tests that refresh
    the docs), with this interpreter, never a shell, optionally after ``MEASURING_ENV`` settings
    (``DIGITLAB_REFRESH_DOCS=1``); anything else is refused."""
    import shlex

    try:
        argv = shlex.split(command)
    except ValueError as e:
        raise RemeasureError(f"{command!r} cannot be read as a command: {e}") from None
    env = {}
    while argv and "=" in argv[0] and argv[0].split("=", 1)[0] in MEASURING_ENV:
        name, value = argv.pop(0).split("=", 1)
        if value != MEASURING_ENV[name]:
            raise RemeasureError(f"{command!r}: {name}={value} is not a setting a measurement runs with: not run")
        env[name] = value
    tests = argv[1:3] == ["-m", "pytest"]
    paths = [a for a in argv[3:] if not a.startswith("-")] if tests else argv[1:2]
    if (len(argv) < 2 or argv[0] != "python" or not paths
            or any(a.startswith(("/", "-")) or ".." in Path(a).parts or (Path(a).parts[0] != "tests" if tests else not a.endswith(".py"))
                   for a in paths)):
        raise RemeasureError(f"{command!r} is not `python <a script of this project> ...` or `python -m pytest ... tests/...`: not run")
    for a in paths:
        if not ((root / a).is_dir() if tests and not a.endswith(".py") else (root / a).is_file()):
            raise RemeasureError(f"{command!r}: {a} is not in {shown(root)}")
    return [sys.executable, *argv[1:]], env


def remeasure(logs: Path, path: Path | None = None, models_dir: Path = MODELS_DIR, root: Path = ROOT, say=print) -> list[tuple[str, int]]:
    """Run every command ``stale`` lists, one after another (each its own process in ``root``, its output in
    ``logs``). Every command runs even if one before it failed; returns [(command, exit code)] (-1: refused, not run).
    A command measures again only what it writes: ``stale`` afterwards is what is left."""
    import subprocess
    import time

    logs.mkdir(parents=True, exist_ok=True)
    done = []
    for i, command in enumerate(stale(path, models_dir), 1):
        log = logs / f"{i:02d}_{re.sub(r'[^A-Za-z0-9]+', '_', command).strip('_')[:80]}.log"
        try:
            argv, env = measuring_argv(command, root)
        except RemeasureError as e:
            say(f"[{i}] refused: {e}")
            done.append((command, -1))
            continue
        say(f"[{i}] {time.strftime('%H:%M:%S')} {command}  (output: {shown(log)})")
        with log.open("w") as out:
            code = subprocess.run(argv, cwd=root, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                  env={**os.environ, **env}).returncode
        say(f"[{i}] {time.strftime('%H:%M:%S')} exit {code}")
        done.append((command, code))
    return done


def retire_stale(path: Path | None = None) -> int:
    """Figures measured on a committed model's earlier file lose that file's sha and say so in their note: a sha
    stands only for the file in models/ now.  Run after promoting a model (``--from-cards`` does).  Returns how
    many figures were retired."""
    path = path or results_path()
    current = _current_files()
    with _locked(path):
        results = load(path)
        retired = 0
        for rows in results["figures"].values():
            for keys in rows.values():
                for e in keys.values():
                    if _on_earlier_file(e, current):
                        sha = e.pop("model_sha")
                        e["note"] = "; ".join(filter(None, [e.get("note"), f"{EARLIER} {e['model']} ({sha})"]))
                        retired += 1
        if retired:
            from digitlab.files import atomic_write_json

            atomic_write_json(path, results)
    return retired


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m digitlab.report.results", description=__doc__.split("\n\n")[0])
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--write", action="store_true", help="render README.md's results block and docs/results.md")
    g.add_argument("--check", action="store_true", help="exit 1 when README.md or docs/results.md disagree with the file")
    g.add_argument("--from-cards", action="store_true", help="record every committed model card's figures, then --write")
    g.add_argument("--stale", action="store_true",
                   help="print the commands that measure again the figures taken on an earlier file of a committed model")
    g.add_argument("--remeasure", action="store_true",
                   help="run --stale's commands one after another (hours: the app benchmark wants a quiet machine), then --write")
    p.add_argument("--logs", type=Path, default=None, help="with --remeasure: folder for each command's output "
                   "(default runs/remeasure/<date and time>)")
    a = p.parse_args(argv)
    if a.logs is not None and not a.remeasure:
        p.error("--logs goes with --remeasure")
    try:
        if a.stale:
            lines = stale_lines(stale(RESULTS_FILE))
            print("\n".join(lines) if lines else "every figure of a committed model names the file in models/ now")
            return 0
        if a.remeasure:
            logs = a.logs or ROOT / "runs" / "remeasure" / datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
            ran = remeasure(logs, RESULTS_FILE)
            for changed in write():
                print(f"written {shown(changed)}")
            left = stale_lines(stale(RESULTS_FILE))
            print("still to measure again:\n  " + "\n  ".join(left) if left else "every figure of a committed model names the file in models/ now")
            for c, code in ran:
                if code:
                    print(f"refused: {c}" if code < 0 else f"failed (exit {code}): {c}, its output in {shown(logs)}", file=sys.stderr)
            return 1 if any(code for _, code in ran) else 0
        if a.check:
            disagree = check()
            for s in disagree:
                print(f"{s} disagrees with {shown(RESULTS_FILE)}: run python -m digitlab.report.results --write", file=sys.stderr)
            return 1 if disagree else 0
        if a.from_cards:
            figures = []
            from digitlab.models import cards

            for card_path in sorted(MODELS_DIR.glob("*.json")):
                if card_path.name.count(".") == 1:  # <name>.json, not <name>.metrics.json / .history.json
                    try:
                        card = cards.validate(json.loads(card_path.read_text()))
                    except cards.CardError as e:  # a card the listing refuses is no source of figures either
                        raise ResultsError(f"{shown(card_path)} is refused: {e}") from e
                    figures += extractors.from_card(card, card_path.with_suffix(".keras"))
            print(f"recorded {record_all(figures, RESULTS_FILE, replace=True)} figures from {shown(MODELS_DIR)}")
            print(f"{retire_stale(RESULTS_FILE)} figures measured on an earlier file of a committed model marked as such")
            if lines := stale_lines(stale(RESULTS_FILE)):
                print("to measure them again (python -m digitlab.report.results --remeasure runs them all):\n  " + "\n  ".join(lines))
        for changed in write():
            print(f"written {shown(changed)}")
    except ResultsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
