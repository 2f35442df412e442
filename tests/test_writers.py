"""Which real writers a model reads worst (evaluation/writers.py, digitlab.evaluation.writers): real pen strokes of
the real file that ships with the project (failed without it, like tests/test_unipen.py) read by a committed model."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from support import MODELS
from test_unipen import _real_file

from digitlab.data import unipen
from digitlab.evaluation import writers


@pytest.fixture(scope="module")
def real_split():
    path = _real_file()
    if path is None:
        pytest.fail(f"no real-strokes file: {unipen.SHIPPED} ships with the project (or set ${unipen.ENV_VAR})")
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


@pytest.mark.slow  # over 10 s on 2 cores: the full suite's, not the fast tier's
def test_the_script_reads_a_part_and_refuses_what_it_cannot(real_split, run_main, scratch_models, tmp_path):
    path, _ = real_split
    out, results = tmp_path / "rows.json", tmp_path / "results.json"
    proc = run_main("evaluation/writers.py", "--part", "held-out", "--model", "mnist_cnn", "--top", "3", "--real-strokes", path, "--out", out,
                      env={"DIGITLAB_RESULTS": str(results)})
    report = json.loads(out.read_text())
    assert report["part"] == "held-out" and {r["site"] for r in report["writers"]} == {unipen.HELD_OUT_SITE}
    assert report["summary"]["digits"] == sum(r["digits"] for r in report["writers"]) > 1000
    # a committed model's figure goes into the results file, with the command that measured it
    [(key, figure)] = json.loads(results.read_text())["figures"]["writers"]["mnist_cnn"].items()
    assert key == "held-out site, 1 draw" and figure["value"] == report["summary"]["accuracy"] and "--part held-out" in figure["command"]
    assert "| site | writer |" in proc.stdout
    bad = run_main("evaluation/writers.py", "--part", "test", check=False)
    assert bad.returncode == 2 and "--part" in bad.stderr
    none = run_main("evaluation/writers.py", "--real-strokes", tmp_path / "missing.json.gz", check=False)
    assert none.returncode == 2 and "missing.json.gz" in none.stderr


def _most_prolific(items):
    """A digit of the writer who wrote the most (hundreds of every digit in the real file's validation writers)."""
    from collections import Counter

    (site, writer), _ = Counter((i.source, i.writer) for i in items).most_common(1)[0]
    return next(i for i in items if (i.source, i.writer) == (site, writer))


def test_a_real_writer_becomes_an_app_user_whose_other_digits_stay_out(real_split, tmp_path):
    from digitlab.data import user_digits

    path, split = real_split
    items = unipen.load(path)
    with pytest.raises(unipen.UnipenError, match="no writer 'syn/nobody'"):
        unipen.writer_items(items, "syn/nobody")
    who = _most_prolific(split.val)
    mine = unipen.writer_items(items, f"{who.source}/{who.writer}")
    assert mine and all((i.source, i.writer) == (who.source, who.writer) for i in mine)
    per_class = 2
    rest = unipen.as_user(mine, tmp_path / "user", per_class, seed=0, brushes=(12, 28))
    saved = user_digits.read_folder(tmp_path / "user")
    assert len(saved.labels) == 10 * per_class and sorted(set(saved.labels.tolist())) == list(range(10))
    assert len(rest) == len(mine) - 10 * per_class and len({i.index for i in rest}) == len(rest)
    # saved as the Collect page saves a dark-canvas drawing: read back like MNIST (light ink, centred by mass)
    from digitlab import preprocess

    assert np.abs(np.array([preprocess.centre_of_mass(im) for im in saved.images.reshape(-1, 28, 28)]) - preprocess.CENTRE).max() < 1.5
    with pytest.raises(unipen.UnipenError, match="too few digits"):
        unipen.as_user(mine, tmp_path / "more", per_class=len(mine), seed=0)


@pytest.mark.slow
def test_the_finetune_study_takes_a_real_writer_as_its_user(real_split, run_main, scratch_models, mnist_path, tmp_path):
    _, split = real_split
    who = _most_prolific(split.val)
    name = f"{who.source}/{who.writer}"
    run_main("evaluation/finetune_study.py", "--dry-run", "--base", "mnist_robust", "--per-class", "2", "--replay", "1",
               "--writer", name, "--mnist", mnist_path, "--out", tmp_path)
    report = json.loads((tmp_path / f"finetune_study_{who.source}-{who.writer}.json").read_text())
    [row] = report["rows"]
    assert report["user"] == name and row["pictures"] == 20 and row["fresh_n"] >= 10
    assert set(row["fresh_per_class"]) == {str(d) for d in range(10)}  # before and after, digit by digit
    bad = run_main("evaluation/finetune_study.py", "--dry-run", "--writer", "syn/nobody", "--out", tmp_path, check=False)
    assert bad.returncode == 2 and "no writer 'syn/nobody'" in bad.stderr
