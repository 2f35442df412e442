"""The in-browser page's TF.js files (web/model/, made by `python web/build.py`) in Node, against Keras
and against Python's "not a digit" rule.

    python -m pytest -q tests/test_tfjs.py      (MNIST from $DIGITLAB_MNIST, see tests/conftest.py)

@tensorflow/tfjs as pinned in web/package-lock.json (`npm ci --prefix web`), run by web/tfjs_cli.mjs
through digitlab.serving.export.tfjs_run, with both of its pure-JavaScript backends (wasm, the page's;
cpu): the page's model and the digit gate on real MNIST test digits (the export probe: plain, and
redrawn as canvas strokes) and on generated non-digits (digitlab.data.nondigits, held-out and fresh
generators, which the gate never trained on).  Then web/abstain.js, the page's port of
digitlab.serving.abstain, judges every input in Node, and its verdicts must be Python's on the same
inputs.  The converter is not needed: these are the committed files.

Skips without `node` or web/node_modules, unless DIGITLAB_REQUIRE_BROWSER=1 (CI), where that is a failure.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from browser._support import require  # the browser tests' skip-or-fail rule (tests/ is on pytest's pythonpath)

from digitlab import files
from digitlab.data import nondigits
from digitlab.paths import ROOT
from digitlab.serving import abstain, classifiers, export, web_manifest
from digitlab.serving import gate as gate_module

PAGE_MODEL = ROOT / "web" / "model"
MAX_DP = 1e-4  # export.TOLERANCES["tfjs"]: float32 in another order; ~1e-6 measured
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
    probe = export.probe_set(N_MNIST, N_DRAWN, seed=1, mnist_path=mnist_path)
    others, kinds = [], []
    for name in ("held_out", "fresh"):
        pictures = nondigits.non_digit_pictures(N_NON_DIGITS, nondigits.MEASURE_SEEDS[name], nondigits.MEASURE_SPLITS[name])
        x, no_ink, k, _ = nondigits.prepare_pictures(pictures)
        others.append(x[~no_ink])
        kinds += [f"non-digit {kind}" for kind in np.asarray(k)[~no_ink]]
    x = np.concatenate([probe.x, *others])
    group = np.array([*probe.group, *["non-digit"] * (len(x) - len(probe.x))])
    return {"x": x, "group": group, "y": probe.y, "kinds": [*probe.group, *kinds]}


@pytest.fixture(scope="module")
def python_side(page, inputs) -> dict:
    """Keras and the Keras gate on the inputs, and Python's verdicts (digitlab.serving.abstain.judge)."""
    clf = classifiers.load_classifier(page["info"]["name"])
    gate = gate_module.load()
    probs, p_digit = clf.predict_proba(inputs["x"]), gate.score(inputs["x"])
    verdicts = abstain.judge(probs, clf.entry.card, inputs["x"], gate)
    return {"probs": probs, "p_digit": p_digit, "verdicts": verdicts, "card": clf.entry.card, "gate": gate}


def _rule(page) -> dict:
    return {"classifier": "model", "gate": "gate", "rule": page["info"]["abstain"], "gate_threshold": page["gate_info"]["threshold"]}


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


@pytest.mark.parametrize("backend", ["wasm", "cpu"])
def test_page_tfjs_files_match_keras_in_node(page, inputs, python_side, backend):
    """The model and the gate, converted by the official converter, give Keras's outputs in Node
    (every input on wasm; every 8th on the pure-JavaScript cpu backend, ~25x slower)."""
    take = slice(None) if backend == "wasm" else slice(None, None, 8)
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


def test_node_verdicts_are_pythons(page, inputs, python_side):
    """web/abstain.js on TF.js outputs in Node says what digitlab.serving.abstain says on Keras outputs:
    the same best guess, the same abstain decision, the same reason (its percentages within 0.1 pp, the
    last printed digit, since the two runtimes' probabilities differ by ~1e-6)."""
    run = export.tfjs_run({"model": page["model_dir"], "gate": page["gate_dir"]}, inputs["x"], judge=_rule(page))
    py = python_side["verdicts"]
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
