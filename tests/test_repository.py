"""The repository describes the product, not its making: scratch is never tracked, and no tracked file speaks of
the lab's work sessions, rounds, issue numbers or the ids its decision notes had (the history keeps those)."""

from __future__ import annotations

import re
import subprocess

import pytest

from digitlab.paths import ROOT

# A work session or round with its number, an issue number, a decision-note id (RULE12, MEASURE3), a path into a
# session's scratch folder (runs/s42/...). "session" alone is fine: Streamlit's and ONNX Runtime's sessions are product
# words; so is an upstream project's issue link (keras-team/keras#20585).
DIARY = re.compile(r"\bsessions? \d+|\brounds? \d+(?!\s*(?:px|mm|%))|\bissues? #?\d+|\b(?:RULE|MEASURE)\d+|\brule \d+|runs/[sr]\d+",
                   re.IGNORECASE)


def _tracked() -> list[str]:
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [p for p in out.decode().split("\0") if p]


def test_the_diary_pattern_finds_what_it_must_and_nothing_else():
    for text in ("as session 41 found", "rounds 2-3", "RULE43 kept", "see issue #12", "runs/s42/note.md", "measure44",
                 "by rule 43", "issue 71"):
        assert DIARY.search(text), text
    for text in ("st.session_state", "an InferenceSession of the model", "a rounded 5", "#000000", "one session's pages",
                 "runs/rebuild/cnn_a.keras", "runs/cache", "sessions 10 browser sessions"[:12], "rounding 3.5"):
        assert not DIARY.search(text), text


def test_nothing_under_runs_is_tracked():
    assert not [p for p in _tracked() if p.startswith("runs/")]


def test_no_tracked_file_speaks_of_sessions_rounds_issues_or_note_ids():
    found = []
    for rel in _tracked():
        path = ROOT / rel
        if not path.is_file() or path.stat().st_size > 2_000_000:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # pictures, archives, models
        for n, line in enumerate(text.splitlines(), 1):
            if m := DIARY.search(line):
                found.append(f"{rel}:{n}: {m[0]!r} in {line.strip()[:120]}")
    assert not found, "\n".join(found[:40])
