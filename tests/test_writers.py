"""Which real writers a model reads worst (evaluation/writers.py, digitlab.evaluation.writers): real pen strokes of
the real file (skipped without it, like tests/test_unipen.py) read by a committed model."""

from __future__ import annotations

import dataclasses
import json

import pytest
from support import MODELS
from test_unipen import _real_file

from digitlab.data import unipen
from digitlab.evaluation import writers


@pytest.fixture(scope="module")
def real_split():
    path = _real_file()
    if path is None:
        pytest.skip(f"no real-strokes file: set ${unipen.ENV_VAR} to unipen_dev.json.gz")
    return path, unipen.split(unipen.load(path))


def test_each_writer_gets_his_own_row_and_the_most_misread_comes_first(real_split):
    """Two validation writers' digits, one of them with every third label made wrong: his row comes first, holds
    those misreads under the wrong label, and the counts add up to every drawing read."""
    _, split = real_split
    by = {}
    for item in split.val:
        by.setdefault((item.source, item.writer), []).append(item)
    (a, items_a), (b, items_b) = sorted(((k, v) for k, v in by.items() if len(v) >= 40), key=lambda kv: kv[0])[:2]
    items_a, items_b = items_a[:40], items_b[:40]
    wrong = [dataclasses.replace(i, label=(i.label + 1) % 10) if k % 3 == 0 else i for k, i in enumerate(items_b)]
    from digitlab.serving.classifiers import load_classifier

    rows = writers.by_writer(items_a + wrong, load_classifier(str(MODELS / "mnist_cnn.keras")), seed=3, renders=2)
    assert [(r["site"], r["writer"]) for r in rows] == [b, a]
    top = rows[0]
    assert top["digits"] == rows[1]["digits"] == 80  # two drawings of each of 40 digits
    relabelled = sum(v for k, v in top["misread"].items() if int(k.split("->")[0]) in {(i.label + 1) % 10 for i in items_b[::3]})
    assert relabelled >= 2 * len(items_b[::3]) - 3  # the made-up labels are misread, whatever the model reads well
    assert top["digits"] - top["right"] == sum(top["misread"].values())
    assert rows[1]["accuracy"] > 0.85  # the other writer's real digits are read as digits by a committed model
    s = writers.summary(rows)
    assert s["digits"] == 160 and s["right"] == sum(r["right"] for r in rows)
    table = writers.markdown(rows, top=1)
    assert f"| {b[0]} | {b[1]} | 80 |" in table and f"| {a[1]} |" not in table


def test_the_script_reads_a_part_and_refuses_what_it_cannot(real_split, run_script, scratch_models, tmp_path):
    path, _ = real_split
    out = tmp_path / "rows.json"
    proc = run_script("evaluation/writers.py", "--part", "held-out", "--model", "mnist_cnn", "--top", "3", "--real-strokes", path, "--out", out)
    report = json.loads(out.read_text())
    assert report["part"] == "held-out" and {r["site"] for r in report["writers"]} == {unipen.HELD_OUT_SITE}
    assert report["summary"]["digits"] == sum(r["digits"] for r in report["writers"]) > 1000
    assert "| site | writer |" in proc.stdout
    bad = run_script("evaluation/writers.py", "--part", "test", check=False)
    assert bad.returncode == 2 and "--part" in bad.stderr
    none = run_script("evaluation/writers.py", "--real-strokes", tmp_path / "missing.json.gz", check=False)
    assert none.returncode == 2 and "missing.json.gz" in none.stderr
