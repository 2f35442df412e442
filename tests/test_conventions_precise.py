"""The conventions set style by style (evaluation/conventions.py): the Wilson interval (digitlab.evaluation.metrics)
against scipy and its closed forms, the verdicts against a target, the streamed drawings (the benchmark's own,
chunk by chunk), and the script's --dry-run end to end on the committed mnist_baseline."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from support import load_script

from digitlab.data import handwriting_test as hw
from digitlab.evaluation import handwriting, metrics
from digitlab.paths import ROOT
from digitlab.report import extractors, results


@pytest.mark.parametrize("k, n", [(50, 54), (0, 54), (54, 54), (291, 300), (1, 1), (3, 7)])
def test_wilson_interval_is_scipys(k, n):
    stats = pytest.importorskip("scipy.stats")
    z = float(stats.norm.ppf(0.975))
    ci = stats.binomtest(k, n).proportion_ci(method="wilson")
    assert metrics.wilson(k, n, z) == pytest.approx((ci.low, ci.high), abs=1e-12)


def test_wilson_interval_at_the_edges_and_its_refusals():
    z2 = 1.96**2
    for n in (1, 6, 54, 300):  # closed forms: k=0 -> (0, z2/(n+z2)), k=n -> (n/(n+z2), 1)
        assert metrics.wilson(0, n) == (0.0, pytest.approx(z2 / (n + z2)))
        assert metrics.wilson(n, n) == (pytest.approx(n / (n + z2)), 1.0)
    low, high = metrics.wilson(50, 54)
    assert low < 50 / 54 < high and (low, high) == pytest.approx((0.82446, 0.97082), abs=1e-5)
    for k, n in ((0, 0), (-1, 5), (6, 5)):
        with pytest.raises(ValueError):
            metrics.wilson(k, n)


def test_verdicts_against_a_target():
    assert handwriting.target_outcome(291, 300, 0.97) == "meets"  # exactly at the target
    assert handwriting.target_outcome(285, 300, 0.97) == "below"  # 95 %: interval up to 96.9 %
    assert handwriting.target_outcome(51, 54, 0.97) == "unresolved"  # 94.4 %: interval up to 98.1 %
    assert handwriting.target_outcome(53, 54, 0.97) == "meets" and handwriting.target_outcome(1, 1, 1.0) == "meets"
    for n in (6, 54, 300):  # as more are right: below, then unresolved, then meets, never back
        seen = [handwriting.target_outcome(k, n, 0.97) for k in range(n + 1)]
        assert seen == sorted(seen, key=["below", "unresolved", "meets"].index) and seen[0] == "below" and seen[-1] == "meets"
        for k, v in enumerate(seen):
            assert (v == "below") == (metrics.wilson(k, n)[1] < 0.97 and k / n < 0.97)


def test_the_stream_is_the_benchmarks_drawings_a_chunk_at_a_time():
    chunks = list(hw.conventions_stream(2, seed=3, chunk=10))
    whole = hw.conventions(2 * len(hw.STYLES), seed=3)
    assert [len(c.pictures) for c in chunks] == [10] * 7 + [4]
    assert all(c.name == whole.name and c.invert == "no" and c.about == whole.about for c in chunks)
    streamed = [p for c in chunks for p in c.pictures]
    assert len(streamed) == len(whole.pictures) and all(np.array_equal(a, b) for a, b in zip(streamed, whole.pictures))
    assert np.array_equal(np.concatenate([c.labels for c in chunks]), whole.labels)
    assert [s for c in chunks for s in c.styles] == whole.styles and [s for c in chunks for s in c.sampling] == whole.sampling
    styles = [s for c in chunks for s in c.styles]
    assert {s: styles.count(s) for s in hw.STYLES} == dict.fromkeys(hw.STYLES, 2)  # balanced: every style twice
    other = next(hw.conventions_stream(2, seed=4, chunk=10))
    assert not any(np.array_equal(a, b) for a, b in zip(other.pictures, chunks[0].pictures))
    with pytest.raises(ValueError):
        next(hw.conventions_stream(2, seed=3, chunk=0))


class _AlwaysOne:
    """A classifier that reads every input as a 1."""

    name = "always_one"

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return np.tile(np.eye(10)[1], (len(x), 1))


def test_per_style_counts_every_drawing_once():
    r = handwriting.conventions_per_style([_AlwaysOne()], per_style=3, seed=0, target=0.97, chunk=40)
    assert r["per_style"] == 3 and r["styles"] == {s: label for s, (label, _) in hw.STYLES.items()}
    m = r["results"]["always_one"]
    ones = [s for s, label in r["styles"].items() if label == 1]
    assert m["n"] == 3 * len(hw.STYLES) and m["right"] == 3 * len(ones)
    for s, row in m["styles"].items():
        assert row["n"] == 3 and row["right"] == (3 if s in ones else 0)
        assert row["verdict"] == ("meets" if s in ones else "below")  # 0 of 3: interval up to 56 %
    assert m["verdicts"] == {"meets": len(ones), "below": len(hw.STYLES) - len(ones), "unresolved": 0}
    for s, row in m["styles"].items():  # what the misreads were read as, and each sampling's drawings
        assert row["read_as"] == ({} if s in ones else {"1": 3})
        assert sum(c["n"] for c in row["sampling"].values()) == 3 and set(row["sampling"]) <= set(r["samplings"])
        assert sum(c["right"] for c in row["sampling"].values()) == row["right"]
    assert r["samplings"] == list(hw.SAMPLING) and "misread_inputs" not in r  # keep=0: no pictures kept
    text = handwriting.conventions_markdown(r)
    assert "| style (3 each) | always_one |" in text and f"{len(hw.STYLES) - len(ones)} below, 0 unresolved of {len(hw.STYLES)}" in text
    under = text[text.index("## Styles under 97.0%"):]
    assert under.count("| always_one |") == len(hw.STYLES) - len(ones) and "| always_one | 0 oval | 0.0% | 1 (3) |" in under
    with pytest.raises(ValueError, match="per_style"):
        handwriting.conventions_per_style([_AlwaysOne()], per_style=0, seed=0, target=0.97)
    assert handwriting.conventions_per_style([_AlwaysOne()], per_style=1, seed=0, target=0.97)["results"]["always_one"]["styles"]["0 oval"]["read_as"] == {"1": 1}
    with pytest.raises(ValueError, match="target"):
        handwriting.conventions_per_style([_AlwaysOne()], per_style=1, seed=0, target=1.5)


class _AlwaysSeven(_AlwaysOne):
    name = "always_seven"

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return np.tile(np.eye(10)[7], (len(x), 1))


def test_models_after_the_first_are_compared_with_it_drawing_by_drawing():
    r = handwriting.conventions_per_style([_AlwaysOne(), _AlwaysSeven()], per_style=4, seed=0, target=0.97, chunk=50)
    ones = [s for s, label in r["styles"].items() if label == 1]
    sevens = [s for s, label in r["styles"].items() if label == 7]
    assert "paired" not in r["results"]["always_one"]  # the first is what the others are compared with
    paired = r["results"]["always_seven"]["paired"]
    assert paired["against"] == "always_one" and (paired["only_against"], paired["only_this"]) == (4 * len(ones), 4 * len(sevens))
    for s, c in paired["styles"].items():  # every 1 only the first reads, every 7 only the second, the rest neither
        assert (c["only_against"], c["only_this"]) == ((4, 0) if s in ones else (0, 4) if s in sevens else (0, 0))
        assert c["p"] == (pytest.approx(2 / 16) if s in ones + sevens else 1.0)  # 4 of 4 one way: 2 x (1/2)^4
    assert paired["p"] == pytest.approx(metrics.mcnemar(4 * len(ones), 4 * len(sevens)))
    text = handwriting.conventions_markdown(r)
    section = text[text.index("## Against always_one, drawing by drawing"):]
    assert "| style | always_seven |" in section and "| 0 oval |" not in section  # a style neither reads is left out
    assert f"| {ones[0]} | -4 / +0 (p 0.12) |" in section and f"| {sevens[0]} | -0 / +4 (p 0.12) |" in section
    alone = handwriting.conventions_per_style([_AlwaysOne()], per_style=1, seed=0, target=0.97)
    assert "Against" not in handwriting.conventions_markdown(alone)


@pytest.mark.parametrize("b, c", [(11, 2), (6, 1), (0, 5), (30, 30), (1, 0)])
def test_mcnemar_is_the_exact_binomial_test(b, c):
    stats = pytest.importorskip("scipy.stats")
    assert metrics.mcnemar(b, c) == pytest.approx(stats.binomtest(b, b + c, 0.5).pvalue, abs=1e-12)
    assert metrics.mcnemar(b, c) == pytest.approx(metrics.mcnemar(c, b))  # two-sided: symmetric
    from math import comb
    assert metrics.mcnemar(b, c) == pytest.approx(min(1.0, 2 * sum(comb(b + c, i) for i in range(min(b, c) + 1)) / 2 ** (b + c)))


def test_mcnemar_edges_and_refusals():
    assert metrics.mcnemar(0, 0) == 1.0  # no drawing read differently: nothing tells them apart
    with pytest.raises(ValueError):
        metrics.mcnemar(-1, 3)


@pytest.mark.slow
def test_dry_run_reports_every_style_with_consistent_figures(committed_models, tmp_path, capsys):
    script = load_script("evaluation/conventions.py")
    assert script.main(["--dry-run", "--model", "mnist_baseline", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "conventions.json").read_text())
    assert report["dry_run"] and report["per_style"] == 6 and report["seed"] == 1 and report["target"] == 0.97
    assert report["command"].startswith("python evaluation/conventions.py --dry-run")
    assert list(report["models"]) == ["mnist_baseline"] and report["models"]["mnist_baseline"]["sha256"].startswith("sha256:")
    assert list(report["styles"]) == list(hw.STYLES)
    m = report["results"]["mnist_baseline"]
    assert list(m["styles"]) == list(hw.STYLES) and m["n"] == 6 * len(hw.STYLES)
    assert m["right"] == sum(r["right"] for r in m["styles"].values()) and m["accuracy"] == pytest.approx(m["right"] / m["n"])
    for r in [m, *m["styles"].values()]:
        assert 0 <= r["right"] <= r["n"] and 0 <= r["low"] <= r["accuracy"] <= r["high"] <= 1
        assert r["verdict"] == handwriting.target_outcome(r["right"], r["n"], 0.97)
    assert m["styles"]["1 bare stroke"]["n"] == 6 and sum(m["verdicts"].values()) == len(hw.STYLES)
    assert 0.5 <= m["accuracy"] < 1  # softmax regression reads most drawings, not all
    assert "misread_inputs" not in report and report["samplings"] == list(hw.SAMPLING)
    for r in m["styles"].values():  # every misread is read as something, every drawing sampled one way
        assert sum(r["read_as"].values()) == r["n"] - r["right"] and sum(c["n"] for c in r["sampling"].values()) == r["n"]
    under = [s for s, r in m["styles"].items() if r["verdict"] != "meets"]
    assert under and (tmp_path / "misreads_mnist_baseline.png").read_bytes().startswith(b"\x89PNG")
    text = (tmp_path / "conventions.md").read_text()
    assert "| style (6 each) | mnist_baseline |" in text and len(re.findall(r"^\| \d ", text, re.M)) == len(hw.STYLES)
    assert len(re.findall(r"^\| mnist_baseline \| ", text, re.M)) == len(under)  # the styles under the target, read as what
    assert f"written {tmp_path / 'conventions.json'}" in capsys.readouterr().out
    # the figures docs/results.json gets from such a report (a dry run records none): every style, all, the verdict counts
    figures = extractors.from_conventions(report)
    path = tmp_path / "results.json"
    assert results.record_all(figures, path) == len(figures) == len(hw.STYLES) + 3
    stored = results.load(path)["figures"]["conventions"]
    assert stored["1 bare stroke"]["mnist_baseline"]["value"] == m["styles"]["1 bare stroke"]["accuracy"]
    assert stored["styles below 97%"]["mnist_baseline"]["value"] == m["verdicts"]["below"]
    assert stored["every style"]["mnist_baseline"]["model_sha"] == report["models"]["mnist_baseline"]["sha256"]
    # two real models on the same drawings: what each reads and the other does not accounts for their difference
    assert script.main(["--dry-run", "--model", "mnist_baseline", "--model", "mnist_cnn", "--out", str(tmp_path / "two")]) == 0
    two = json.loads((tmp_path / "two" / "conventions.json").read_text())["results"]
    paired = two["mnist_cnn"]["paired"]
    assert paired["against"] == "mnist_baseline" and paired["only_this"] > paired["only_against"]  # the CNN reads more of them
    for s in hw.STYLES:
        a, b, c = two["mnist_baseline"]["styles"][s], two["mnist_cnn"]["styles"][s], paired["styles"][s]
        assert b["right"] - a["right"] == c["only_this"] - c["only_against"] and c["only_this"] + c["only_against"] <= a["n"]
    assert paired["only_this"] - paired["only_against"] == two["mnist_cnn"]["right"] - two["mnist_baseline"]["right"]
    assert "## Against mnist_baseline, drawing by drawing" in (tmp_path / "two" / "conventions.md").read_text()
    capsys.readouterr()
    # without --out a dry run writes into a new temporary folder, never into evaluation/reports/
    assert script.main(["--dry-run", "--per-style", "1", "--model", "mnist_baseline"]) == 0
    out = Path(re.search(r"^written (.+)$", capsys.readouterr().out, re.M).group(1))
    assert out.is_file() and not out.resolve().is_relative_to(ROOT) and json.loads(out.read_text())["per_style"] == 1


@pytest.mark.slow  # over 5 s on 2 cores: the full suite's, not the fast tier's
def test_a_continental_run_reads_more_long_flag_1s_and_keeps_its_own_report_and_table(committed_models, tmp_path, capsys, monkeypatch):
    """--writing continental: the same drawings read with the writer's setting (serving.writing), its report said so,
    its figures in their own table, and without --out its own folder beside the default report's (never that one)."""
    script = load_script("evaluation/conventions.py")
    reports = {}
    for w in ("default", "continental"):
        assert script.main(["--dry-run", "--per-style", "12", "--model", "mnist_cnn", "--writing", w, "--out", str(tmp_path / w)]) == 0
        reports[w] = json.loads((tmp_path / w / "conventions.json").read_text())
    assert reports["continental"]["writing"] == "continental" and reports["default"]["writing"] == "default"
    styles = {w: r["results"]["mnist_cnn"]["styles"] for w, r in reports.items()}
    assert styles["continental"]["1 long flag"]["right"] >= styles["default"]["1 long flag"]["right"]
    for s in hw.STYLES:  # only the odds between 1 and 7 move: a style of another digit is read alike unless a 1 or 7 overtook
        if hw.STYLES[s][0] not in (1, 7):
            assert styles["continental"][s]["right"] <= styles["default"][s]["right"]
            assert set(styles["continental"][s]["read_as"]) - set(styles["default"][s]["read_as"]) <= {"1", "7"}
    assert "1 and 7 read as continental hands write them" in (tmp_path / "continental" / "conventions.md").read_text()
    assert {f.section for f in extractors.from_conventions(reports["continental"])} == {"conventions_continental"}
    assert {f.section for f in extractors.from_conventions(reports["default"])} == {"conventions"}
    capsys.readouterr()
    written = []
    monkeypatch.setattr(script.cli, "output_folder", lambda out, default, dry_run, name: written.append((out, default)) or tmp_path / "x")
    assert script.main(["--dry-run", "--per-style", "1", "--model", "mnist_cnn", "--writing", "continental"]) == 0
    assert written == [(script.DEFAULT_OUT.with_name("conventions_continental"),) * 2]


def test_misread_gallery_shows_the_styles_under_the_target_and_their_misreads():
    r = handwriting.conventions_per_style([_AlwaysOne()], per_style=3, seed=0, target=0.97, keep=2)
    kept = r["misread_inputs"]["always_one"]
    for s, (label, _) in hw.STYLES.items():  # the first 2 of 3 misreads of every style that is not a 1, none of the 1s
        assert len(kept[s]) == (0 if label == 1 else 2)
        for image, read, confidence, sampling in kept[s]:
            assert image.shape == (28, 28) and image.max() > 0.5 and read == 1 and confidence == 1.0 and sampling in hw.SAMPLING
    styles = r["results"]["always_one"]["styles"]

    def rows_drawn(first: tuple[str, ...]) -> int:  # the gallery's height, of the styles whose names start so
        r["results"]["always_one"]["styles"] = {s: st for s, st in styles.items() if s.startswith(first)}
        png = handwriting.conventions_misreads_png(r, "always_one")
        assert png.startswith(b"\x89PNG")
        return Image.open(io.BytesIO(png)).size[1]

    assert rows_drawn(("0", "1")) < 0.75 * rows_drawn(("0", "1", "2", "3"))  # a row per style under the target: 5 against 10
    everything = handwriting.conventions_per_style([_Truth()], per_style=1, seed=0, target=0.97, keep=2)
    assert handwriting.conventions_misreads_png(everything, "truth") is None  # every style meets the target
    assert "## Styles under" not in handwriting.conventions_markdown(everything)


class _Truth:
    """A classifier that reads each prepared conventions drawing as its style's label (it is told them in order)."""

    name = "truth"

    def __init__(self):
        self.labels = iter(label for _, (label, _) in zip(range(len(hw.STYLES)), hw.STYLES.values()))

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return np.eye(10)[[next(self.labels) for _ in range(len(x))]]


def test_bad_flags_and_unknown_models_are_usage_errors(tmp_path, capsys):
    script = load_script("evaluation/conventions.py")
    for flags, said in ((["--per-style", "0"], "--per-style must be at least 1"), (["--target", "0"], "--target must be in (0, 1]"),
                        (["--target", "1.5"], "--target must be in (0, 1]"), (["--misreads", "-1"], "--misreads must be 0 or more")):
        with pytest.raises(SystemExit) as e:
            script.main([*flags, "--out", str(tmp_path)])
        assert e.value.code == 2 and said in capsys.readouterr().err
    assert script.main(["--dry-run", "--model", "no_such_model", "--out", str(tmp_path)]) == 2
    assert "no_such_model" in capsys.readouterr().err and not list(tmp_path.iterdir())
    for flags, said in ((["--style", "0 crossed"], "invalid choice: '0 crossed' (choose from '0 oval', "),
                        (["--style", "0 slashed"], "give --out")):  # never over the committed report of every style
        with pytest.raises(SystemExit) as e:
            script.main([*flags, *(["--out", str(tmp_path)] if said != "give --out" else [])])
        assert e.value.code == 2 and said in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_two_models_of_one_name_are_a_clear_error_not_a_summed_report(committed_models, tmp_path, capsys):
    """A candidate saved as runs/.../mnist_advanced.keras beside models/mnist_advanced.keras: every report keys a model's
    figures by its name, so the two would be counted as one (a style's right drawings summed over both files)."""
    import shutil

    script = load_script("evaluation/conventions.py")
    committed = next(e.path for e in committed_models if e.name == "mnist_baseline")
    other = tmp_path / "candidate" / committed.name
    other.parent.mkdir()
    shutil.copy(committed, other)
    shutil.copy(committed.with_suffix(".json"), other.with_suffix(".json"))
    out = tmp_path / "out"
    assert script.main(["--dry-run", "--model", str(other), "--model", str(committed), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "two models are named mnist_baseline" in err and "under another name" in err and not out.exists()
    from digitlab.models import artifacts  # the scripts that name their models through artifacts.select refuse them too

    with pytest.raises(artifacts.ModelError, match="two models are named mnist_baseline"):
        artifacts.select([str(other), str(committed)])
    assert [e.name for e in artifacts.select([str(other)])] == ["mnist_baseline"]


def test_some_styles_are_a_draw_of_their_own_and_record_no_figure(committed_models, tmp_path, capsys, monkeypatch):
    """--style draws only the styles named (a style named twice once), as many as --per-style each, and its report says
    so; no figure goes to the results file, whose conventions table holds the draw of every style."""
    record = tmp_path / "results.json"
    monkeypatch.setenv("DIGITLAB_RESULTS", str(record))
    script = load_script("evaluation/conventions.py")
    out = tmp_path / "two"
    assert script.main(["--model", "mnist_baseline", "--style", "0 slashed", "--style", "1 long flag", "--style", "0 slashed", "--per-style", "8",
                        "--seed", "3", "--misreads", "0", "--out", str(out)]) == 0
    report = json.loads((out / "conventions.json").read_text())
    assert report["styles"] == {"0 slashed": 0, "1 long flag": 1} and report["per_style"] == 8 and report["seed"] == 3
    m = report["results"]["mnist_baseline"]
    assert list(m["styles"]) == ["0 slashed", "1 long flag"] and m["n"] == 16 and sum(m["verdicts"].values()) == 2
    assert "of 2" in (out / "conventions.md").read_text() and not record.exists()
    parts = list(hw.conventions_stream(5, seed=3, chunk=4, styles=["8 two circles apart"]))
    assert [len(p.pictures) for p in parts] == [4, 1] and {s for p in parts for s in p.styles} == {"8 two circles apart"}
    assert all((p.labels == 8).all() for p in parts)
    for wrong, said in ((["0 crossed"], "no such style: '0 crossed'"), (["0 oval", "0 oval"], "name each style once")):
        with pytest.raises(ValueError, match=said):
            next(hw.conventions_stream(1, styles=wrong))
