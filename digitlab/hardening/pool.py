"""Worker processes that run the code under test, one hostile input at a time, with a watchdog.

Each worker holds what the predict CLI holds (a real committed model, loaded once by the CLI's own
``runtime.load``: ONNX Runtime, as the CLI and the app serve it) and sends each input through

    the CLI's path   ``digitlab.serving.predict.predict_lines`` on the file's path, as the CLI runs it:
                     decode -> prepare -> predict -> one JSON line, parsed strictly (NaN is not JSON)
    the app's path   the file's bytes -> ``preprocess.prepare`` -> ``predict_prepared`` (app/Home.py's upload)

(``worker``: pictures, and model files through ``artifacts.inspect``; ``files_worker``: the cases of
``hostile_files``, each its own models folder).  ``run_pool`` sends the requests and kills a worker that
gives no answer within the timeout (a hang), then starts a fresh one.  Peak RSS is the worker's, reset
before each file (``/proc/self/clear_refs``), so it is the peak of that one file as a CLI run on it would see it.
"""

from __future__ import annotations

import json
import os
import select
import signal
import stat
import subprocess
import sys
import time
import traceback
import unicodedata
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from digitlab import memory
from digitlab.hardening.hostile_pictures import generate
from digitlab.hardening.tally import FILE_KINDS, check_line, strict_json
from digitlab.paths import ROOT
from digitlab.serving import predict, runtime


def _peak_mb() -> float | None:
    peak = memory.status_mb("VmHWM")
    if peak is not None:
        return peak
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux kB; no reset possible


def _rss_mb() -> float:
    return memory.status_mb("VmRSS") or 0.0


def _run_item(item: dict, state: dict) -> dict:
    """Make file ``item["i"]`` of the run, then send it through the CLI's path and the app's path (see the
    module docstring); the peak RSS of each is measured on its own (reset before each), as a CLI run on
    that one file would see it, and also as the rise over the RSS the worker had before the file."""
    from digitlab import preprocess

    classifier = state["classifier"]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's complaints while writing odd metadata
            case = generate(item["seed"], item["i"], Path(item["folder"]), state["digits"], state["labels"])
    except Exception as e:  # the fuzz suite's own bug: reported as such, never as the code under test's
        return {"i": item["i"], "harness": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc(limit=8)}
    path = case.path
    out: dict = {"i": item["i"], "case": {"path": str(path), "kind": case.kind, "expect": case.expect, "label": case.label,
                                          "what": case.what}}
    rss_before = _rss_mb()
    out["peak_reset"] = memory.reset_peak()
    t0 = time.perf_counter()
    [(line, outcome)] = list(predict.predict_lines(classifier, [(path, None)], "auto", "json"))
    out["cli_seconds"] = round(time.perf_counter() - t0, 4)
    out["peak_mb"] = _peak_mb()
    problem = check_line(line, path)
    obj = strict_json(line) if problem is None else {}
    out["cli"] = {"outcome": outcome, "problem": problem, "error": obj.get("error"), "label": obj.get("label")}
    shown = predict.printable(str(path))  # the text format's name: one line, no control characters
    out["text_problem"] = None if not any(unicodedata.category(ch)[0] == "C" for ch in shown) else f"text name {shown!r}"
    # The app's upload: the file's bytes (regular files only: the uploader hands over bytes).
    try:
        data = path.read_bytes() if stat.S_ISREG(os.stat(path).st_mode) and os.access(path, os.R_OK) else None
    except OSError:
        data = None
    memory.reset_peak()
    t1 = time.perf_counter()
    if data is None:
        out["app"] = {"outcome": "skipped"}
    else:
        try:
            prepared = preprocess.prepare(data, invert="auto")
            pred = classifier.predict_prepared([prepared])[0]
            out["app"] = {"outcome": "ok", "label": pred.label}
        except preprocess.ImageError as e:
            out["app"] = {"outcome": "error", "error": str(e)}
        except Exception as e:
            out["app"] = {"outcome": "internal", "error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc(limit=8)}
    out["app_seconds"] = round(time.perf_counter() - t1, 4)
    out["peak_mb"] = round(max(out["peak_mb"], _peak_mb()), 1)
    out["rise_mb"] = round(out["peak_mb"] - rss_before, 1)
    out["seconds"] = round(time.perf_counter() - t0, 4)
    return out


def _run_model(item: dict, state: dict) -> dict:
    """One model file through ``artifacts.inspect`` (what listing ``models/`` and the upload page call)."""
    from digitlab.models import artifacts

    rss_before = _rss_mb()
    reset = memory.reset_peak()
    t0 = time.perf_counter()
    out: dict = {"i": item["i"]}
    if item.get("list"):
        try:
            entries = artifacts.list_models(Path(item["path"]))
            out["outcome"], out["n"] = "ok", len(entries)
        except Exception as e:
            out["outcome"], out["error"] = "internal", f"{type(e).__name__}: {e}"
    else:
        try:
            entry = artifacts.inspect(Path(item["path"]))
            out["outcome"], out["usable"], out["reason"] = "ok", entry.usable, entry.reason
        except Exception as e:  # inspect never raises: anything here is a crash
            out["outcome"], out["error"] = "internal", f"{type(e).__name__}: {e}"
            out["traceback"] = traceback.format_exc(limit=8)
    out["seconds"] = round(time.perf_counter() - t0, 4)
    out["peak_mb"] = round(_peak_mb(), 1)
    out["rise_mb"] = round(out["peak_mb"] - rss_before, 1)
    out["peak_reset"] = reset
    return out


def _run_file(item: dict, state: dict) -> dict:
    """Make case ``item["i"]`` of ``hostile_files`` (its kind fixed by the index, its variant by (seed, index)) in its
    own folder and run it through what the CLI and the app call: the listing, the model resolved and loaded, the
    predict command's lines on MNIST pictures (for the number reader: a number), the Models page's confusion panel
    and card summary.  Rebuilding a serving file (TensorFlow, ~15 s) is off here: what is run is what happens when a
    damaged file cannot be rebuilt."""
    import contextlib

    from digitlab.hardening import hostile_files
    from digitlab.models import artifacts
    from digitlab.report import model_report
    from digitlab.serving import gate, reader

    kind = FILE_KINDS[(item["seed"] + item["i"]) % len(FILE_KINDS)]
    k = hostile_files.KINDS[kind]
    try:
        case = hostile_files.make_case(kind, Path(item["folder"]) / f"{item['i']:06d}-{kind}", item["seed"] * 1_000_003 + item["i"])
    except Exception as e:  # the fuzz suite's own bug: reported as such, never as the code under test's
        return {"i": item["i"], "harness": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc(limit=8)}
    out: dict = {"i": item["i"], "kind": kind, "target": k.target, "expect": k.expect, "what": case.what}
    t0 = time.perf_counter()
    saved = (gate.GATE_PATH, reader.READER_PATH)
    gate.GATE_PATH, reader.READER_PATH = case.gate or saved[0], case.reader or saved[1]
    try:
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always")
            entries = {e.name: e for e in runtime.list_models(case.folder)}
            entry = entries[hostile_files.NAME]
            out["listed"] = "unusable" if not entry.usable else "pending" if entry.pending else "usable"
            if k.expect == "not_default":
                out["default"] = runtime.load(None, case.folder).name
            try:
                clf = runtime.load(hostile_files.NAME, case.folder)
            except artifacts.ModelError as e:
                out["load"], out["reason"] = "refused", str(e)
            else:
                out["load"] = "served"
                pictures = state["pictures"] if k.target != "reader" else state["number"]
                run = predict.number_lines if k.target == "reader" else predict.predict_lines
                lines = list(run(clf, pictures, "auto", "json"))
                out["problems"] = [p for (line, _), (path, _) in zip(lines, pictures) if (p := check_line(line, path))]
                out["outcomes"] = sorted({o for _, o in lines})
                answers = [] if out["problems"] else [strict_json(line) for line, _ in lines]
                out["labels"] = [a.get("label") for a in answers]
                out["reasons"] = [a.get("reason") or a.get("read_by") for a in answers]
                with contextlib.suppress(StopIteration):
                    out["read_by"] = next(a["read_by"] for a in answers if "read_by" in a)
            if entry.usable:
                matrix, why = model_report.confusion_checked(entry.path)
                out["panel"] = "refused" if why else "shown" if matrix is not None else "none"
                out["panel_reason"] = why
                model_report.summary(entry)
        out["warnings"] = [str(w.message)[:300] for w in said][:5]
    except Exception as e:  # the listing, a load or a line raised something that is not a refusal
        out["crash"] = f"{type(e).__name__}: {e}"
        out["traceback"] = traceback.format_exc(limit=8)
    finally:
        gate.GATE_PATH, reader.READER_PATH = saved
    out["seconds"] = round(time.perf_counter() - t0, 4)
    out["peak_mb"] = _peak_mb()
    return out


def files_worker(model: str | None, mnist: str | None) -> None:
    """``worker`` for ``fuzz_files``: no model is loaded up front (each case brings its own), two MNIST test digits
    as PNG files and a number written with three; serving files are never rebuilt (``_run_file``)."""
    from digitlab import files
    from digitlab.models import artifacts
    from digitlab.serving import store

    def no_rebuild(path, kind, key, out_dir):
        raise artifacts.ModelError(f"{Path(path).name}: rebuilding serving files is off in this run")

    store._convert = no_rebuild
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    digits, labels = mnist_digits(mnist, 100)
    state: dict = {"labels": [int(v) for v in labels[:2]]}

    def pictures(run_folder: Path) -> None:  # in the run's folder (removed with it), made on the first request
        folder = run_folder / f"pictures-{os.getpid()}"
        folder.mkdir(parents=True, exist_ok=True)
        state["pictures"] = []
        for i in range(2):
            (folder / f"digit{i}.png").write_bytes(files.png_bytes(digits[i]))
            state["pictures"].append((folder / f"digit{i}.png", None))
        page = np.zeros((60, 148), np.uint8)
        for k in range(3):
            page[16:44, 20 + 36 * k : 48 + 36 * k] = digits[k]
        (folder / "number.png").write_bytes(files.png_bytes(page))
        state["number"] = [(folder / "number.png", None)]

    proto.write(json.dumps({"ready": "files", "baseline_mb": _peak_mb()}) + "\n")
    for request in sys.stdin:
        item = json.loads(request)
        if "pictures" not in state:
            pictures(Path(item["folder"]))
        try:
            answer = _run_file(item, state)
        except Exception as e:
            answer = {"i": item["i"], "crash": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc(limit=8)}
        answer["expected_labels"] = state["labels"]
        proto.write(json.dumps(answer) + "\n")


def worker(model: str | None, mnist: str | None) -> None:
    """Serve requests (one JSON object a line on stdin) with the CLI's code and a model loaded once;
    answers go to the original stdout, anything a library prints goes to stderr."""
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    digits, labels = mnist_digits(mnist)
    state = {"classifier": runtime.load(model), "digits": digits, "labels": labels}
    proto.write(json.dumps({"ready": state["classifier"].name, "baseline_mb": _peak_mb()}) + "\n")
    for request in sys.stdin:
        item = json.loads(request)
        run = _run_model if item.get("model") else _run_item
        try:
            answer = run(item, state)
        except Exception as e:  # the code under test raised out of its own guards (predict_lines, inspect)
            answer = {"i": item["i"], "crash": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc(limit=8)}
        proto.write(json.dumps(answer) + "\n")


class Worker:
    """One worker process (``worker``): started, sent one request at a time, killed when it hangs."""

    def __init__(self, model: str | None, mnist: str | None, entry: str = "worker"):
        self.model, self.mnist, self.entry = model, mnist, entry
        self.proc: subprocess.Popen | None = None
        self.buffer = b""
        self.request: dict | None = None  # the request in flight
        self.deadline = 0.0
        self.name = self.baseline_mb = None
        self.starts = 0

    def spawn(self) -> None:
        code = f"from digitlab.hardening import pool; pool.{self.entry}({self.model!r}, {self.mnist!r})"
        self.proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, cwd=ROOT, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
        self.buffer, self.request = b"", None
        self.starts += 1

    def ready(self, timeout: float) -> None:
        """Wait for the worker's ready line (the model loaded)."""
        answer = self.read(time.monotonic() + timeout)
        if answer is None or "ready" not in answer:
            self.kill()
            raise RuntimeError(f"the fuzz worker did not start (model {self.model!r}): {answer or 'no answer'}")
        self.name, self.baseline_mb = answer["ready"], answer["baseline_mb"]

    def send(self, request: dict, timeout: float) -> None:
        self.request, self.deadline = request, time.monotonic() + timeout
        self.proc.stdin.write((json.dumps(request) + "\n").encode())
        self.proc.stdin.flush()

    def read(self, deadline: float) -> dict | None:
        """The next answer, None at ``deadline``, or {"died": exit status} when the process is gone."""
        fd = self.proc.stdout.fileno()
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return None
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return {"died": self.proc.wait()}
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return json.loads(line)

    def kill(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                os.kill(self.proc.pid, signal.SIGKILL)  # the worker this object started, by its pid
            self.proc.wait()
            for f in (self.proc.stdin, self.proc.stdout):
                f.close()
            self.proc, self.request = None, None


def run_pool(requests: list[dict], answered: Callable[[dict, dict | None], None], workers: int, model: str | None,
             mnist: str | None, timeout: float, startup_timeout: float = 600, entry: str = "worker") -> dict:
    """Send every request to one of ``workers`` worker processes (``entry``: ``worker``, or ``files_worker``) and call
    ``answered(request, answer)`` for each, in the order answers come; ``answer`` is None when the worker gave none
    within ``timeout`` seconds (a hang: the worker is killed and a fresh one takes the next request)."""
    pool = [Worker(model, mnist, entry) for _ in range(max(1, min(workers, len(requests))))]
    todo = list(reversed(requests))
    try:
        for w in pool:
            w.spawn()
        for w in pool:
            w.ready(startup_timeout)
        while True:
            for w in pool:
                if w.request is None and todo:
                    if w.proc is None:
                        w.spawn()
                        w.ready(startup_timeout)
                    w.send(todo.pop(), timeout)
            busy = [w for w in pool if w.request is not None]
            if not busy:
                break
            wait = max(0.0, min(w.deadline for w in busy) - time.monotonic())
            readable = select.select([w.proc.stdout.fileno() for w in busy], [], [], wait)[0]
            for w in busy:
                if w.proc.stdout.fileno() in readable or b"\n" in w.buffer:
                    answer = w.read(time.monotonic() + 5)
                    if answer is None:
                        continue  # part of a line: the rest comes with the next select
                    request = w.request
                    if "died" in answer:
                        w.kill()
                    else:
                        w.request = None
                    answered(request, answer)
                elif time.monotonic() >= w.deadline:
                    request = w.request
                    w.kill()
                    answered(request, None)
    finally:
        for w in pool:
            w.kill()
    return {"model": pool[0].name, "worker_baseline_mb": pool[0].baseline_mb, "worker_starts": sum(w.starts for w in pool),
            "workers": len(pool)}




def mnist_digits(path: str | None = None, n: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n`` real MNIST test digits and labels (the project's one MNIST lookup)."""
    from digitlab import data

    m = data.load(path)
    return np.asarray(m.x_test[:n]), np.asarray(m.y_test[:n])


