"""Fuzzing the picture path (and model files): hostile inputs made from seeds, run through the code the
predict CLI and the app use, counted.

    python evaluation/fuzz.py --n 20000 --seed 0 --out report.json [--models 40]

The pictures are ``digitlab.hardening.hostile_pictures`` (``generate(seed, i, folder)``: file ``i`` of a run, its
kind fixed by ``i``, its variant by ``(seed, i)``), every one made from a real MNIST test digit; its docstring says
what each kind holds: *valid* (refusing one is a wrong refusal), *refuse* (reading one is a wrong acceptance) and
*any* (damaged files: read or refused, never a crash or a hang).

Each file goes, in a worker process (``digitlab.hardening.pool``) holding a real committed model (loaded once,
by the CLI's own ``runtime.load``: ONNX Runtime, as the CLI and the app serve it), through

    the CLI's path   ``digitlab.serving.predict.predict_lines`` on the file's path, as the CLI runs it:
                     decode -> prepare -> predict -> one JSON line, parsed strictly (NaN is not JSON)
    the app's path   the file's bytes -> ``preprocess.prepare`` -> ``predict_prepared`` (app/Home.py's upload)

What each answer counts as is ``digitlab.hardening.tally``.  A *crash* is anything but a clean refusal
(``ImageError``): an internal-error line, another exception on the app's path, or the worker dying.  A *hang* is no answer within ``--timeout`` seconds: the worker
is killed and restarted, and the run goes on.  Peak RSS is the worker's (the CLI's code with the
model loaded), reset before each file (``/proc/self/clear_refs``), so it is the peak of that one file
as a CLI run on it would see it.  Then the real CLI runs once over the whole folder (JSON, and text for the odd names):
one line per entry, every line JSON, exit code 0 or 1, its own peak RSS.

``--models N`` does the same for N hostile ``.keras`` files from ``digitlab.hardening.hostile_models``
(``artifacts.inspect`` per file with the same watchdog, then ``artifacts.list_models`` on the folder).

``--model-files N`` (``fuzz_files``) runs N cases of ``digitlab.hardening.hostile_files``, the files beside a model:
damaged, foreign or hostile serving files and records (the model's, the digit gate's, the number reader's), cards
whose values break the answers, side files of the wrong shape.  Each case is its own models folder, run by worker
processes (``files_worker``, same watchdog) through the listing, the model's load, the predict command's lines and
the Models page's confusion panel and summary.  A *crash* is anything raised that is not a refusal, or an
internal-error line; a *wrong acceptance* is damage served (or a bad card or side file used, the digit gate or the
number reader used though damaged, a card's claim made the default); a *wrong refusal* is a control refused.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from digitlab import pictures
from digitlab.hardening.hostile_pictures import KINDS, SCHEDULE, Case
from digitlab.hardening.pool import run_pool
from digitlab.hardening.tally import FILE_KINDS, Tally, check_cli_json, check_cli_text, count_file, count_picture
from digitlab.paths import ROOT

PREDICT_SCRIPT = ROOT / "evaluation" / "predict.py"  # the real command, run over a whole folder as a user runs it


def run_cli(paths: list[str], fmt: str, model: str | None, timeout: float) -> dict:
    """The real predict CLI once on ``paths`` (a folder, or files): exit code, stdout, its own peak RSS."""
    cmd = [sys.executable, str(PREDICT_SCRIPT), *paths, "--format", fmt] + (["--model", model] if model else [])
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=ROOT, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
        hung = False
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - t0 > timeout:
                hung = True
                os.kill(proc.pid, signal.SIGKILL)  # the CLI this function started, by its pid
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.2)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return {"exit_code": proc.returncode, "hung": hung, "seconds": round(time.monotonic() - t0, 1),
                "peak_rss_mb": round(usage.ru_maxrss / 1024, 1), "stdout": out.read(), "stderr": err.read()[-4000:].decode(errors="replace")}


def case_of(seed: int, i: int, answer: dict | None, folder: Path) -> Case:
    """The Case of file ``i``: as the worker made it, or (no answer) its kind from the schedule."""
    if answer and "case" in answer:
        c = answer["case"]
        return Case(i, Path(c["path"]), c["kind"], c["expect"], c["label"], c["what"])
    kind = SCHEDULE[i % len(SCHEDULE)]
    return Case(i, folder / f"{i:06d}-{kind}", kind, KINDS[kind], None, "(no answer: made by the worker)")


def fuzz_pictures(seed: int, n: int, folder: Path, model: str | None, timeout: float, mnist: str | None = None,
                  workers: int = 2, cli_run: bool = True, only: int | None = None, log: Callable[[str], None] = print) -> dict:
    """Make and run ``n`` pictures (or just number ``only``) in ``folder`` (see the module docstring)."""
    folder.mkdir(parents=True, exist_ok=True)
    indices = [only] if only is not None else list(range(n))
    tally, cases = Tally(), []

    def answered(request: dict, answer: dict | None) -> None:
        case = case_of(seed, request["i"], answer, folder)
        cases.append(case)
        count_picture(case, answer, tally, seed)
        if tally.items % 1000 == 0:
            log(f"{tally.items}/{len(indices)}: {tally.crashes} crashes, {tally.hangs} hangs, {tally.wrong_refusals} wrong refusals, "
                f"{tally.non_json_lines} bad lines, peak {tally.peak_mb:.0f} MB")

    t0 = time.monotonic()
    pool = run_pool([{"i": i, "seed": seed, "folder": str(folder)} for i in indices], answered, workers, model, mnist, timeout)
    report = {"files": len(indices), "worker_seconds": round(time.monotonic() - t0, 1), **pool, **tally.summary(),
              "valid": {"read": tally.valid_read, "no_ink": tally.valid_no_ink,
                        "right_label": round(tally.valid_right / max(1, tally.valid_read), 4)},
              "kinds": {k: KINDS[k] for k in sorted({c.kind for c in cases})}}
    if cli_run:
        entries = sorted(p for p in folder.iterdir() if pictures.is_image_file(p))
        log(f"the real CLI on the folder ({len(entries)} picture entries)")
        result = run_cli([str(folder)], "json", model, timeout=120 + timeout * len(entries) / 10)
        report["cli_json_run"] = check_cli_json(result, entries)
        odd = sorted(c.path for c in cases if c.kind == "valid_odd_name") or [cases[0].path]
        result = run_cli([str(p.resolve()) for p in odd], "text", model, timeout=120 + timeout * len(odd))
        report["cli_text_run"] = check_cli_text(result, odd)
    return report


def fuzz_models(seed: int, n: int, folder: Path, model: str | None, timeout: float, mnist: str | None = None,
                log: Callable[[str], None] = print) -> dict:
    """N hostile model files (``digitlab.hardening.hostile_models``) through ``artifacts.inspect`` one by one,
    then ``artifacts.list_models`` on the folder, with the same watchdog and peak RSS per file."""
    from digitlab.hardening import hostile_models

    paths = hostile_models.generate(seed, n, folder)
    tally = Tally()
    listing: dict = {}

    def answered(request: dict, answer: dict | None) -> None:
        if request.get("list"):
            listing["answer"] = answer if answer is not None else {"outcome": "hang"}
            return
        path = Path(request["path"])
        try:
            kind = hostile_models.kind_of(path)
            name, expect = kind.name, kind.expect
        except (AttributeError, KeyError):
            name, expect = "model", "either"
        tally.items += 1
        detail = {"i": request["i"], "file": path.name}
        if answer is None:
            tally.hangs += 1
            tally.problem(name, "hang", detail)
            return
        if "died" in answer or "crash" in answer or answer.get("outcome") == "internal":
            tally.crashes += 1
            tally.problem(name, "crash", {**detail, "error": answer.get("error") or answer.get("crash") or f"worker died ({answer.get('died')})"})
            return
        tally.seconds.append(answer["seconds"])
        tally.peak(answer["peak_mb"], f"{request['i']} {name}, {answer['rise_mb']} MB over the RSS before it")
        tally.rise_mb = max(tally.rise_mb, answer["rise_mb"])
        tally.count(name, "usable" if answer["usable"] else "refused")
        tally.read += answer["usable"]
        tally.refused += not answer["usable"]
        if expect == "usable" and not answer["usable"]:
            tally.wrong_refusals += 1
            tally.problem(name, "wrong refusal", {**detail, "error": answer["reason"]})
        elif expect == "refuse" and answer["usable"]:
            tally.wrong_acceptances += 1
            tally.problem(name, "wrong acceptance", detail)

    requests = [{"i": i, "path": str(p), "model": True} for i, p in enumerate(paths)]
    requests.append({"i": -1, "path": str(folder), "model": True, "list": True})  # last: one worker answers in order
    pool = run_pool(requests, answered, 1, model, mnist, timeout)
    report = {"files": len(paths), **tally.summary(), **pool}
    answer = listing["answer"]
    if answer.get("outcome") == "hang":
        report["list_models"] = "hang"
        report["hangs"] += 1
    elif answer.get("outcome") != "ok":
        report["list_models"] = f"crash: {answer.get('error') or answer.get('crash') or answer}"
        report["crashes"] += 1
    else:
        report["list_models"] = {"entries": answer["n"], "seconds": answer["seconds"], "peak_rss_mb": answer["peak_mb"]}
    log(f"models: {report['crashes']} crashes, {report['hangs']} hangs, peak {report['peak_rss_mb']} MB")
    return report


def fuzz_files(seed: int, n: int, folder: Path, timeout: float, mnist: str | None = None, workers: int = 2,
               log: Callable[[str], None] = print) -> dict:
    """N cases of ``digitlab.hardening.hostile_files`` (damaged serving files and records, cards, side files; case
    ``i`` of kind ``FILE_KINDS[(seed + i) % len]``), each in its own models folder under ``folder``, run by
    ``files_worker`` processes with the same watchdog; serving files of the cases go to ``folder/serving_cache``."""
    folder.mkdir(parents=True, exist_ok=True)
    tally = Tally()
    kinds = set()

    def answered(request: dict, answer: dict | None) -> None:
        count_file(answer, request, tally, seed)
        kinds.add((answer or {}).get("kind") or FILE_KINDS[(seed + request["i"]) % len(FILE_KINDS)])

    previous = os.environ.get("DIGITLAB_SERVING_CACHE")
    os.environ["DIGITLAB_SERVING_CACHE"] = str(folder / "serving_cache")  # the workers' (they inherit it), never runs/cache
    try:
        t0 = time.monotonic()
        pool = run_pool([{"i": i, "seed": seed, "folder": str(folder)} for i in range(n)], answered, workers, None, mnist,
                        timeout, entry="files_worker")
    finally:
        if previous is None:
            os.environ.pop("DIGITLAB_SERVING_CACHE", None)
        else:
            os.environ["DIGITLAB_SERVING_CACHE"] = previous
    from digitlab.hardening import hostile_files

    report = {"files": n, "worker_seconds": round(time.monotonic() - t0, 1), **pool, **tally.summary(),
              "kinds": {k: hostile_files.KINDS[k].expect for k in sorted(kinds)}}
    log(f"files: {report['crashes']} crashes, {report['hangs']} hangs, {report['wrong_acceptances']} wrong acceptances, "
        f"{report['wrong_refusals']} wrong refusals")
    return report


