"""What a fuzz run's answers count as: a crash, a hang, a wrong refusal or acceptance, a line that breaks the
predict CLI's contract; the counts of a run (``Tally``), whether it passed, and its headline.

A *crash* is anything but a clean refusal (``ImageError``, ``ModelError``): an internal-error line, another
exception on the app's path, or the worker dying.  A *hang* is no answer within the watchdog's timeout.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from digitlab.hardening import hostile_files
from digitlab.hardening.hostile_pictures import Case
from digitlab.serving import predict

FILE_KINDS = list(hostile_files.KINDS)  # ``fuzz_files``' kinds, in turn: any len(FILE_KINDS) consecutive cases hold each once


def strict_json(line: str):
    """``line`` parsed as a strict parser would: NaN and Infinity are refused, and so is a string holding a
    lone surrogate ("\\udcff" is valid JSON syntax, but not Unicode, and strict parsers reject it)."""
    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")

    def strings(o):
        if isinstance(o, str):
            yield o
        elif isinstance(o, dict):
            for k, v in o.items():
                yield k
                yield from strings(v)
        elif isinstance(o, list):
            for v in o:
                yield from strings(v)

    obj = json.loads(line, parse_constant=refuse)
    for text in strings(obj):
        if any(0xD800 <= ord(ch) <= 0xDFFF for ch in text):
            raise ValueError(f"lone surrogate in {text[:80]!r}")
    return obj


def check_line(line: str, path: Path) -> str | None:
    """Why one output line of the predict CLI (JSON) breaks its contract, or None."""
    if "\n" in line or "\r" in line:
        return "more than one line"
    try:
        obj = strict_json(line)
    except ValueError as e:
        return f"not JSON: {e}"
    if not isinstance(obj, dict) or obj.get("path") != predict.shown_path(path):
        return "no 'path' or another path"
    if "error" in obj:
        return None if isinstance(obj["error"], str) and "label" not in obj else f"error line with keys {sorted(obj)}"
    if "number" in obj:  # --number's line: the digits read in order
        missing = {"number", "read_by", "digits"} - set(obj)
        if missing:
            return f"no {sorted(missing)}"
        return None if isinstance(obj["digits"], list) and isinstance(obj["number"], str) else "digits not a list"
    missing = {"label", "confidence", "probabilities", "abstain", "reason"} - set(obj)
    if missing:
        return f"no {sorted(missing)}"
    if not (isinstance(obj["probabilities"], list) and len(obj["probabilities"]) == 10):
        return "not 10 probabilities"
    return None


@dataclass
class Tally:
    """Counts of one run over pictures or model files, and the first problems in detail."""

    items: int = 0
    crashes: int = 0
    hangs: int = 0
    wrong_refusals: int = 0
    wrong_acceptances: int = 0
    non_json_lines: int = 0
    read: int = 0
    refused: int = 0
    peak_mb: float = 0.0
    peak_item: str = ""
    seconds: list[float] = field(default_factory=list)
    by_kind: dict[str, dict[str, int]] = field(default_factory=dict)
    problems: list[dict] = field(default_factory=list)
    top_peaks: list[tuple[float, str]] = field(default_factory=list)
    valid_read: int = 0
    valid_no_ink: int = 0
    valid_right: int = 0
    rise_mb: float = 0.0  # the largest rise of RSS over what the worker held before the file
    harness_errors: int = 0  # the fuzz suite's own failures (a file it could not make): the run is not clean

    def count(self, kind: str, what: str) -> None:
        self.by_kind.setdefault(kind, {}).setdefault(what, 0)
        self.by_kind[kind][what] += 1

    def problem(self, kind: str, what: str, detail: dict) -> None:
        self.count(kind, what)
        if len(self.problems) < 100:
            self.problems.append({"kind": kind, "what": what, **detail})

    def peak(self, mb: float | None, name: str) -> None:
        if mb is None:
            return
        self.top_peaks = sorted([*self.top_peaks, (mb, name)], reverse=True)[:5]
        if mb > self.peak_mb:
            self.peak_mb, self.peak_item = mb, name

    def summary(self) -> dict:
        s = np.array(self.seconds or [0.0])
        return {
            "items": self.items, "crashes": self.crashes, "hangs": self.hangs, "wrong_refusals": self.wrong_refusals,
            "wrong_acceptances": self.wrong_acceptances, "non_json_lines": self.non_json_lines, "harness_errors": self.harness_errors,
            "read": self.read,
            "refused": self.refused, "peak_rss_mb": round(self.peak_mb, 1), "peak_rss_item": self.peak_item,
            "largest_rise_mb": round(self.rise_mb, 1),
            "top_peaks": [{"mb": m, "item": n} for m, n in self.top_peaks],
            "seconds": {"p50": round(float(np.median(s)), 4), "p99": round(float(np.percentile(s, 99)), 4), "max": round(float(s.max()), 4)},
            "by_kind": self.by_kind, "problems": self.problems,
        }


def _reproduce(seed: int, i: int) -> str:
    return f"python evaluation/fuzz.py --seed {seed} --only {i} --keep /tmp/fuzz-{seed}-{i}"


def count_picture(case: Case, answer: dict | None, tally: Tally, seed: int) -> None:
    """Count one picture's answer: crash, hang, wrong refusal or acceptance, non-JSON line."""
    tally.items += 1
    detail = {"i": case.i, "file": case.path.name, "what_file": case.what, "reproduce": _reproduce(seed, case.i)}
    if answer is None:
        tally.hangs += 1
        tally.problem(case.kind, "hang", detail)
        return
    if "harness" in answer:  # the fuzz suite's own code failed (making the file): nothing was tested
        tally.harness_errors += 1
        tally.problem(case.kind, "harness error", {**detail, "error": answer["harness"], "traceback": answer.get("traceback")})
        return
    if "died" in answer or "crash" in answer:
        tally.crashes += 1
        tally.problem(case.kind, "crash", {**detail, "error": answer.get("crash") or f"worker died ({answer['died']})",
                                            "traceback": answer.get("traceback")})
        return
    tally.seconds.append(answer["seconds"])
    tally.peak(answer["peak_mb"], f"{case.i} {case.kind} ({case.what}), {answer.get('rise_mb')} MB over the RSS before it")
    tally.rise_mb = max(tally.rise_mb, answer.get("rise_mb") or 0.0)
    cli, app = answer["cli"], answer["app"]
    if cli["problem"]:
        tally.non_json_lines += 1
        tally.problem(case.kind, "non-JSON line", {**detail, "error": cli["problem"]})
    if answer.get("text_problem"):
        tally.non_json_lines += 1
        tally.problem(case.kind, "text line", {**detail, "error": answer["text_problem"]})
    crashed = [f"{where}: {r.get('error')}" for where, r in (("cli", cli), ("app", app)) if r["outcome"] == "internal"]
    if crashed:
        tally.crashes += 1
        tally.problem(case.kind, "crash", {**detail, "error": "; ".join(crashed), "traceback": app.get("traceback")})
        return
    outcomes = {cli["outcome"]} | ({app["outcome"]} if app["outcome"] != "skipped" else set())
    if len(outcomes) > 1:  # the CLI and the app disagree on the same bytes
        tally.problem(case.kind, "cli and app disagree", {**detail, "error": f"cli {cli}, app {app}"})
    refused = "error" in outcomes
    tally.count(case.kind, "refused" if refused else "read")
    if refused:
        tally.refused += 1
    else:
        tally.read += 1
    if case.expect == "valid":
        if refused:
            tally.wrong_refusals += 1
            tally.problem(case.kind, "wrong refusal", {**detail, "error": cli.get("error") or app.get("error")})
        else:
            tally.valid_read += 1
            if cli["label"] is None:
                tally.valid_no_ink += 1
                tally.count(case.kind, "valid but no ink")
            tally.valid_right += cli["label"] == case.label
    elif case.expect == "refuse" and not refused:
        tally.wrong_acceptances += 1
        tally.problem(case.kind, "wrong acceptance", detail)


def check_cli_json(result: dict, expected: list[Path]) -> dict:
    """The real CLI's JSON run over a folder: one line per picture entry, in order, every line valid JSON."""
    lines = result["stdout"].decode("utf-8", errors="surrogateescape").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    bad = [line[:200] for line, path in zip(lines, expected) if check_line(line, path)]
    paths = []
    for line in lines:
        try:
            paths.append(strict_json(line).get("path"))
        except (ValueError, AttributeError):
            paths.append(None)
    return {"entries": len(expected), "lines": len(lines), "non_json_lines": len(bad) + max(0, len(lines) - len(expected)),
            "missing_lines": max(0, len(expected) - len(lines)), "in_order": paths == [predict.shown_path(p) for p in expected],
            "exit_code": result["exit_code"], "hung": result["hung"], "seconds": result["seconds"],
            "peak_rss_mb": result["peak_rss_mb"], "first_bad_lines": bad[:5],
            "stderr_tail": result["stderr"][-1500:] if result["exit_code"] not in (0, 1) or result["hung"] else ""}


def check_cli_text(result: dict, expected: list[Path]) -> dict:
    """The real CLI's text run: exactly one line per file, no control characters or escape codes."""
    raw = result["stdout"]
    lines = raw.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    controls = sum(1 for line in lines if re.search(rb"[\x00-\x08\x0b-\x1f\x7f]", line))
    return {"files": len(expected), "lines": len(lines), "lines_with_control_bytes": controls, "exit_code": result["exit_code"],
            "hung": result["hung"], "valid_utf8": _utf8(raw)}


def _utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def count_file(answer: dict | None, request: dict, tally: Tally, seed: int) -> None:
    """Count one case of ``fuzz_files``: a crash (anything raised that is not a refusal, a line that is not JSON or
    is an internal error), a hang, a wrong acceptance (a damaged file served, a bad card or side file used, a dropped
    model's claim made the default) or a wrong refusal (a control refused)."""
    tally.items += 1
    i = request["i"]
    kind = (answer or {}).get("kind") or FILE_KINDS[(seed + i) % len(FILE_KINDS)]
    detail = {"i": i, "what_file": (answer or {}).get("what"), "reproduce": f"python evaluation/fuzz.py --n 1 --model-files {i + 1} --seed {seed} --keep /tmp/fuzz-{seed}"}
    if answer is None:
        tally.hangs += 1
        tally.problem(kind, "hang", detail)
        return
    if "harness" in answer:
        tally.harness_errors += 1
        tally.problem(kind, "harness error", {**detail, "error": answer["harness"], "traceback": answer.get("traceback")})
        return
    if "died" in answer or "crash" in answer:
        tally.crashes += 1
        tally.problem(kind, "crash", {**detail, "error": answer.get("crash") or f"worker died ({answer['died']})",
                                      "traceback": answer.get("traceback")})
        return
    tally.seconds.append(answer["seconds"])
    tally.peak(answer.get("peak_mb"), f"{i} {kind} ({answer.get('what')})")
    if answer.get("problems"):
        tally.non_json_lines += 1
        tally.problem(kind, "non-JSON line", {**detail, "error": answer["problems"][0]})
        return
    if "internal" in answer.get("outcomes", []):
        tally.crashes += 1
        tally.problem(kind, "crash", {**detail, "error": "an internal-error line"})
        return
    served, expect, target = answer.get("load") == "served", answer["expect"], answer["target"]
    unavailable = "digit gate unavailable" if target == "gate" else "number reader unavailable"
    if target == "side":
        wrong = (answer.get("panel") == "refused") if expect == "usable" else (answer.get("panel") != "refused" or not answer.get("panel_reason"))
    elif expect == "usable":
        wrong = not served or answer.get("labels") != answer.get("expected_labels")
    elif expect == "refuse":
        wrong = served or not answer.get("reason")
    elif expect == "not_default":
        wrong = answer.get("default") == "model" or not served
    else:  # "degrade": read without the gate or the reader, and told so
        told = all(unavailable in (r or "") for r in answer.get("reasons", [])) if target == "gate" else answer.get("read_by") == "cuts"
        warned = any(unavailable in w for w in answer.get("warnings", []))
        wrong = not served or not told or not warned
    refused = not served if target != "side" else answer.get("panel") == "refused"
    tally.count(kind, "refused" if refused else "used")
    if refused:
        tally.refused += 1
    else:
        tally.read += 1
    if wrong and (expect == "usable"):
        tally.wrong_refusals += 1
        tally.problem(kind, "wrong refusal", {**detail, "error": answer.get("reason") or answer.get("panel_reason")})
    elif wrong:
        tally.wrong_acceptances += 1
        tally.problem(kind, "wrong acceptance", {**detail, "error": json.dumps({k: answer.get(k) for k in
                                                 ("listed", "load", "reason", "reasons", "read_by", "default", "panel", "warnings")})[:600]})


def passed(report: dict) -> bool:
    """True when the run is clean: no crash, hang, wrong refusal or bad line anywhere."""
    p = report["pictures"]
    ok = not (p["crashes"] or p["hangs"] or p["wrong_refusals"] or p["non_json_lines"] or p["harness_errors"])
    j, t = p.get("cli_json_run"), p.get("cli_text_run")
    if j:
        ok = ok and not (j["non_json_lines"] or j["missing_lines"] or j["hung"]) and j["in_order"] and j["exit_code"] in (0, 1)
    if t:
        ok = ok and not (t["lines_with_control_bytes"] or t["hung"]) and t["lines"] == t["files"] and t["exit_code"] in (0, 1)
    m = report.get("models")
    if m:
        ok = ok and not (m["crashes"] or m["hangs"] or m["wrong_refusals"])
    f = report.get("model_files")
    if f:
        ok = ok and not (f["crashes"] or f["hangs"] or f["wrong_refusals"] or f["wrong_acceptances"] or f["non_json_lines"]
                         or f["harness_errors"])
    return ok


def headline(report: dict) -> dict:
    """The figures a run is judged by, in one line."""
    p = report["pictures"]
    out = {"ok": report["ok"], "files": p["files"], "crashes": p["crashes"], "hangs": p["hangs"], "wrong_refusals": p["wrong_refusals"],
           "wrong_acceptances": p["wrong_acceptances"], "harness_errors": p["harness_errors"], "non_json_lines": p["non_json_lines"] + p.get("cli_json_run", {}).get("non_json_lines", 0),
           "read": p["read"], "refused": p["refused"], "peak_rss_mb": p["peak_rss_mb"],
           "cli_peak_rss_mb": p.get("cli_json_run", {}).get("peak_rss_mb"), "seconds": report["seconds"]}
    if report.get("models"):
        m = report["models"]
        out["models"] = {k: m[k] for k in ("files", "crashes", "hangs", "wrong_refusals", "wrong_acceptances", "peak_rss_mb")}
    if report.get("model_files"):
        f = report["model_files"]
        out["model_files"] = {k: f[k] for k in ("files", "crashes", "hangs", "wrong_refusals", "wrong_acceptances", "non_json_lines",
                                          "harness_errors", "peak_rss_mb")}
    return out
