"""The in-browser page's TF.js files (web/model/, made by `python web/build.py`) in Node, against Keras
and against Python's "not a digit" rule.

    python -m pytest -q tests/test_tfjs.py      (MNIST from $DIGITLAB_MNIST, see tests/conftest.py)

@tensorflow/tfjs as pinned in web/package-lock.json (`npm ci --prefix web`), run by web/tfjs_cli.mjs
through digitlab.serving.export.tfjs_run, with both of its pure-JavaScript backends (wasm, the page's;
cpu): the page's model and the digit gate on real MNIST test digits (the export probe: plain, and
redrawn as canvas strokes) and on generated non-digits (digitlab.data.nondigits, held-out and fresh
generators, which the gate never trained on).  Then web/abstain.js, the page's port of
digitlab.serving.abstain, judges every input in Node, and its verdicts must be Python's on the same
inputs, for each way of writing 1 and 7 (readAs, the port of digitlab.serving.writing.read_as, whose
numbers are held against Python's on Keras's probabilities, rows where 1 and 7 compete included).
The converter is not needed: these are the committed files.

Skips without `node` or web/node_modules, unless DIGITLAB_REQUIRE_BROWSER=1 (CI), where that is a failure.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from browser._support import require  # the browser tests' skip-or-fail rule (tests/ is on pytest's pythonpath)

from digitlab import files
from digitlab.data import nondigits
from digitlab.evaluation import nondigit_sets
from digitlab.paths import ROOT
from digitlab.serving import abstain, classifiers, export, parity, web_manifest, writing
from digitlab.serving import gate as gate_module

PAGE_MODEL = ROOT / "web" / "model"
MAX_DP = 1e-4  # parity.TOLERANCES["tfjs"]: float32 in another order; ~1e-6 measured
N_MNIST, N_DRAWN, N_NON_DIGITS = 300, 200, 150  # per non-digit set (held-out, fresh)


@pytest.fixture(scope="module")
def page() -> dict:
    """The page's default model and gate descriptions, and their TF.js folders."""
    require(export.tfjs_missing(), "TF.js tests in Node")
    index = json.loads((PAGE_MODEL / "index.json").read_text())
    info = json.loads((PAGE_MODEL / f"{index['default']}.json").read_text())
    gate_info = json.loads((PAGE_MODEL / info["gate"]).read_text())
    assert info["tfjs"] and gate_info["tfjs"], "the committed page model has no TF.js files: run `python web/build.py`"
    return {
        "info": info, "gate_info": gate_info,
        "model_dir": PAGE_MODEL / Path(info["tfjs"]["model"]).parent,
        "gate_dir": PAGE_MODEL / Path(gate_info["tfjs"]["model"]).parent,
    }


@pytest.fixture(scope="module")
def inputs(mnist_path) -> dict:
    """(N, 28, 28) model inputs and what each is: real MNIST test digits, redrawn ones, non-digits."""
    probe = parity.probe_set(N_MNIST, N_DRAWN, seed=1, mnist_path=mnist_path)
    others, kinds = [], []
    for name in ("held_out", "fresh"):
        pictures = nondigits.non_digit_pictures(N_NON_DIGITS, nondigit_sets.MEASURE_SEEDS[name], nondigit_sets.MEASURE_SPLITS[name])
        x, no_ink, k, _ = nondigits.prepare_pictures(pictures)
        others.append(x[~no_ink])
        kinds += [f"non-digit {kind}" for kind in np.asarray(k)[~no_ink]]
    x = np.concatenate([probe.x, *others])
    group = np.array([*probe.group, *["non-digit"] * (len(x) - len(probe.x))])
    return {"x": x, "group": group, "y": probe.y, "kinds": [*probe.group, *kinds]}


@pytest.fixture(scope="module")
def python_side(page, inputs) -> dict:
    """Keras and the Keras gate on the inputs, and Python's verdicts (digitlab.serving.abstain.decide)."""
    clf = classifiers.load_classifier(page["info"]["name"])
    gate = gate_module.load()
    probs, p_digit = clf.predict_proba(inputs["x"]), gate.score(inputs["x"])
    verdicts = abstain.decide(probs, clf.entry.card, inputs["x"], gate)
    return {"probs": probs, "p_digit": p_digit, "verdicts": verdicts, "card": clf.entry.card, "gate": gate}


def _rule(page) -> dict:
    return {"classifier": "model", "gate": "gate", "rule": page["info"]["abstain"], "gate_threshold": page["gate_info"]["threshold"]}


@pytest.mark.slow  # over 10 s on 2 cores: the full suite's, not the fast tier's
def test_page_rule_is_the_model_cards(page, python_side):
    """The rule the page applies is the one in the model card and the gate's card (rebuild when either changes)."""
    rebuild = "rebuild with `python web/build.py`"
    assert page["info"]["abstain"] == web_manifest.abstain_rule(python_side["card"]), rebuild
    assert page["info"]["abstain"]["temperature"] > 0 and 0 < page["info"]["abstain"]["threshold"] < 1
    assert page["gate_info"]["threshold"] == python_side["gate"].threshold, rebuild
    assert page["gate_info"]["keras_sha256"] == files.sha256(python_side["gate"].path), rebuild
    assert page["gate_info"]["tfjs"]["sha256"] == web_manifest.folder_sha256(page["gate_dir"]), rebuild
    assert page["info"]["tfjs"]["sha256"] == web_manifest.folder_sha256(page["model_dir"]), rebuild


def test_the_page_hesitates_where_the_app_does():
    """web/abstain.js's CLOSE ("7 or 2?") is the app's (digitlab.serving.classifiers.CLOSE)."""
    js = re.search(r"export const CLOSE = ([\d.]+);", (ROOT / "web" / "abstain.js").read_text())
    assert js and float(js.group(1)) == classifiers.CLOSE


def test_the_page_reads_1_and_7_as_the_app_does():
    """web/abstain.js's WRITINGS are digitlab.serving.writing's, and the page's select offers exactly them, in the
    same order, each with Python's words (writing.ABOUT) as its tooltip."""
    js = re.search(r"export const WRITINGS = \{([^}]*)\};", (ROOT / "web" / "abstain.js").read_text())
    assert js, "web/abstain.js has no WRITINGS"
    assert {k: float(v) for k, v in re.findall(r"(\w+): ([-\d.]+)", js.group(1))} == writing.WRITINGS
    select = re.search(r'<select id="writing">(.*?)</select>', (ROOT / "web" / "index.html").read_text(), re.S)
    assert select, "web/index.html has no writing select"
    options = re.findall(r'<option value="([^"]+)" title="([^"]+)">', select.group(1))
    assert [v for v, _ in options] == list(writing.WRITINGS)
    assert dict(options) == writing.ABOUT


_READ_AS = """
import { readFileSync } from "node:fs";
import { readAs } from "./abstain.js";
const { rows, writings } = JSON.parse(readFileSync(0, "utf8"));
const out = {};
for (const w of writings) {
  try {
    out[w] = rows.map((row) => readAs(row, w));
  } catch (e) {
    out[w] = { error: e.message };
  }
}
process.stdout.write(JSON.stringify(out));
"""


_FOR_LOCALE = """
import { readFileSync } from "node:fs";
import { CONTINENTAL_LANGUAGES, CONTINENTAL_REGIONS, forLocale } from "./abstain.js";
const tags = JSON.parse(readFileSync(0, "utf8"));
process.stdout.write(JSON.stringify({ regions: [...CONTINENTAL_REGIONS], languages: [...CONTINENTAL_LANGUAGES],
  read: tags.map((t) => forLocale(t)) }));
"""
LOCALES = ["de-DE", "de", "de_AT", "en-US", "en-GB", "en", "en-DE", "fr", "fr-CA", "fr-FR", "pt-BR", "pt-PT", "pt", "es-419",
           "es-ES", "sr-Latn-RS", "zh-Hant-TW", "zh", "EN-us", "DE-de", "nb-NO", "x", "", None, "--", "de-\u00fc\u00fc", "de-\u00b2\u00b2\u00b2",
           "\u212a", "it-CH-1996", "ru-RU-u-nu-latn"]


def test_the_page_starts_the_writing_where_the_app_does():
    """The page's forLocale (web/abstain.js) starts the writing setting where the app's ``writing.for_locale`` does, for
    browser languages from "de-DE" to odd tags, with the same lists of continental regions and languages; a German
    browser starts continental, an American one on the default."""
    require(None if shutil.which("node") else "node is missing", "web/abstain.js in Node")
    proc = subprocess.run(["node", "--input-type=module", "-e", _FOR_LOCALE], input=json.dumps(LOCALES), capture_output=True,
                          text=True, timeout=60, cwd=ROOT / "web")
    assert proc.returncode == 0, proc.stderr[-2000:]
    node = json.loads(proc.stdout)
    assert set(node["regions"]) == writing.CONTINENTAL_REGIONS and set(node["languages"]) == writing.CONTINENTAL_LANGUAGES
    python = [writing.for_locale(t) for t in LOCALES]
    assert node["read"] == python
    assert python[:6] == ["continental", "continental", "continental", "default", "default", "default"]
    assert set(python) == {"continental", "default"}


def _read_as_in_node(rows: np.ndarray, writings: list[str]) -> dict:
    """web/abstain.js's readAs on (N, 10) float32 rows in Node, for each of ``writings``: {writing: (N, 10) float32 or
    {"error": message}}.  The float32 values go over JSON exactly (float64 holds them, and JSON round-trips float64)."""
    require(None if shutil.which("node") else "node is missing", "web/abstain.js in Node")
    job = {"rows": np.asarray(rows, np.float32).astype(np.float64).tolist(), "writings": writings}
    proc = subprocess.run(["node", "--input-type=module", "-e", _READ_AS], input=json.dumps(job), capture_output=True,
                          text=True, timeout=60, cwd=ROOT / "web")
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    return {w: v if isinstance(v, dict) else np.asarray(v, np.float64) for w, v in out.items()}


def test_node_reads_1_and_7_as_python_does(python_side):
    """web/abstain.js's readAs on the model's probabilities gives digitlab.serving.writing.read_as's numbers, to the
    float32 rounding of the last bit: on every input of this file, on rows where 1 and 7 compete (Keras's 1s mixed
    with its 7s), on one-hot and half-and-half rows, and on the all-zero row of a picture without ink."""
    probs = python_side["probs"]
    ones, sevens = probs[probs.argmax(1) == 1][:12], probs[probs.argmax(1) == 7][:12]
    assert len(ones) >= 10 and len(sevens) >= 10, (len(ones), len(sevens))
    mixed = np.array([(1 - t) * a + t * b for a, b in zip(ones, sevens) for t in np.linspace(0, 1, 21)], np.float32)
    edges = np.zeros((4, 10), np.float32)  # no ink; a sure 1; a sure 7; half and half
    edges[1, 1] = edges[2, 7] = 1
    edges[3, [1, 7]] = 0.5
    rows = np.concatenate([probs, mixed, edges])
    node = _read_as_in_node(rows, [*writing.WRITINGS, "cursive"])
    assert node["cursive"] == {"error": "unknown writing \"cursive\": one of default, continental"}
    with pytest.raises(ValueError, match="one of default, continental"):
        writing.read_as(rows, "cursive")
    for name in writing.WRITINGS:
        py, js = writing.read_as(rows, name), node[name]
        assert js.shape == py.shape and (js.astype(np.float32) == js).all(), f"{name}: Node's numbers are not float32"
        ulp = np.spacing(np.abs(py)).astype(np.float64)
        assert (np.abs(js - py) <= ulp).all(), f"{name}: Node vs Python max |diff| {np.abs(js - py).max():.2e}"
        assert (js[:, [0, 2, 3, 4, 5, 6, 8, 9]] == rows[:, [0, 2, 3, 4, 5, 6, 8, 9]]).all(), f"{name} moved another digit"
        assert np.allclose(js[:, 1] + js[:, 7], rows[:, 1] + rows[:, 7], rtol=1e-6, atol=0), f"{name} changed p1 + p7"
        assert (js[-4] == 0).all(), f"{name}: a row without ink is no longer zero"
    assert (node["default"] == rows).all(), "the default reading is the model's own, exactly"
    # Not a vacuous agreement: continental reads as 1 some rows the model reads as 7, and never the other way round.
    before, after = rows.argmax(1), node["continental"].argmax(1)
    assert ((before == 7) & (after == 1)).sum() >= 10 and not ((before == 1) & (after == 7)).any()
    p1, p7 = node["continental"][-3:, 1], node["continental"][-3:, 7]
    assert (p1[0], p7[0], p1[1], p7[1]) == (1, 0, 0, 1) and p1[2] == np.float32(1 / (1 + np.exp(-1.5)))


@pytest.mark.slow  # over 10 s on 2 cores: the full suite's, not the fast tier's
@pytest.mark.parametrize("backend", ["wasm", "cpu"])
def test_page_tfjs_files_match_keras_in_node(page, inputs, python_side, backend):
    """The model and the gate, converted by the official converter, give Keras's outputs in Node
    (every input on wasm; every 16th on the pure-JavaScript cpu backend, ~25x slower)."""
    take = slice(None) if backend == "wasm" else slice(None, None, 16)
    x, want, want_gate, group = inputs["x"][take], python_side["probs"][take], python_side["p_digit"][take], inputs["group"][take]
    run = export.tfjs_run({"model": page["model_dir"], "gate": page["gate_dir"]}, x, backend=backend)
    probs, p_digit = run.outputs["model"], run.outputs["gate"]
    assert probs.shape == want.shape and p_digit.shape == want_gate.shape
    dp, dg = np.abs(probs - want).max(), np.abs(p_digit - want_gate).max()
    assert dp <= MAX_DP and dg <= MAX_DP, f"{run.runtime}: max |dp| model {dp:.2e}, gate {dg:.2e}"
    assert (probs.argmax(1) == want.argmax(1)).all()
    digits = group != "non-digit"
    assert (probs[digits].argmax(1) == inputs["y"][take]).mean() >= 0.95  # a real classifier, so agreement means something
    assert f"{backend} backend" in run.runtime and "@tensorflow/tfjs 4.22.0" in run.runtime


def _numbers(text: str) -> list[float]:
    return [float(v) for v in re.findall(r"\d+\.\d+", text)]


@pytest.mark.slow  # over 10 s on 2 cores: the full suite's, not the fast tier's
@pytest.mark.parametrize("how", list(writing.WRITINGS))
def test_node_verdicts_are_pythons(page, inputs, python_side, how):
    """web/abstain.js on TF.js outputs in Node says what digitlab.serving.abstain says on Keras outputs, the
    probabilities read as ``how`` writes 1 and 7 (the page's judge(readAs(...)), Python's ``predictions(...,
    writing=)``): the same best guess, the same abstain decision, the same reason (its percentages within 0.1 pp,
    the last printed digit, since the two runtimes' probabilities differ by ~1e-6)."""
    run = export.tfjs_run({"model": page["model_dir"], "gate": page["gate_dir"]}, inputs["x"], judge={**_rule(page), "writing": how})
    py = classifiers.predictions(python_side["probs"], python_side["card"], inputs["x"], python_side["gate"], writing=how)
    default = python_side["verdicts"]
    if how == writing.DEFAULT:
        assert [(p.label, p.abstain, p.message) for p in py] == [(v.label, v.abstain, v.message) for v in default]
    else:  # the writing reached Node: some answers moved, each to or from a 1 or a 7
        moved = [(v.label, p.label) for v, p in zip(default, py) if v.label != p.label]
        assert moved and all({1, 7} & set(m) for m in moved), moved
    assert len(run.judgements) == len(py)
    for i, (js, p) in enumerate(zip(run.judgements, py)):
        what = f"input {i} ({inputs['kinds'][i]}): Node {js['message']!r}, Python {p.message!r}"
        assert (js["label"], js["abstain"]) == (p.label, p.abstain), what
        assert re.sub(r"\d+\.\d+", "#", js["message"]) == re.sub(r"\d+\.\d+", "#", p.message), what
        assert np.allclose(_numbers(js["message"]), _numbers(p.message), atol=0.1 + 1e-9), what
    refused = np.array([j["abstain"] for j in run.judgements])
    group = inputs["group"]
    # Not a vacuous agreement: the rule refuses most non-digits and accepts nearly every MNIST digit.
    assert refused[group == "non-digit"].mean() >= 0.8, refused[group == "non-digit"].mean()
    assert refused[group == "mnist"].mean() <= 0.03, refused[group == "mnist"].mean()
    gate_refusals = sum(j["abstain"] and j["reason"].startswith("it does not look like one") for j in run.judgements)
    confidence_refusals = sum(j["abstain"] and j["reason"].startswith("calibrated confidence") for j in run.judgements)
    assert gate_refusals > 0 and confidence_refusals > 0, "both halves of the rule are exercised"


def test_the_node_runner_reports_bad_models_clearly(page, tmp_path):
    """A TF.js folder that is not a model is refused with its reason before Node runs it."""
    x = np.zeros((2, 28, 28), np.float32)
    (tmp_path / "empty").mkdir()
    with pytest.raises(export.ExportError, match="no model.json"):
        export.tfjs_run({"m": tmp_path / "empty"}, x)
    with pytest.raises(ValueError, match="backend"):
        export.tfjs_run({"m": page["model_dir"]}, x, backend="webgl")
