"""The stress side of the app and the command line, on the committed models and real MNIST digits:
the Robustness and Leaderboard pages (AppTest), the abstain rule on Home and in the predict CLI,
and evaluation/leaderboard.py.  Reports and caches go to a scratch folder ($DIGITLAB_REPORTS_DIR),
never into evaluation/reports/.

    DIGITLAB_MNIST=/path/to/mnist.npz python -m pytest -q tests/test_stress_pages.py
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from support import link_models, load_script

from digitlab import data, preprocess
from digitlab.data import synthetic
from digitlab.evaluation import inspect_input, leaderboard, robustness
from digitlab.models import artifacts
from digitlab.report import tables
from digitlab.serving import abstain
from digitlab.serving.classifiers import predictions

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app"

TIMEOUT = 300  # the first run imports TensorFlow and loads every model; the machine may be busy


# ----------------------------------------------------------------------------- helpers


@pytest.fixture(autouse=True)
def _the_app_sees_the_committed_models_only(scratch_models):
    """Every app run here lists a scratch folder of the committed models: a model the user added to (or
    fine-tuned into) models/ never changes what a test sees (a test may still point it elsewhere)."""
    return scratch_models


def new_app(page: str | None = None):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP / "Home.py"), default_timeout=TIMEOUT)
    if page is not None:
        at.run()
        at.switch_page(page)
    return at


def no_exception(at) -> None:
    assert not at.exception, [e.message for e in at.exception]


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


def captions(at) -> list[str]:
    return [c for img in at.image for c in img.captions]


def walk(block):
    for child in getattr(block, "children", {}).values():
        yield child
        yield from walk(child)


def draw(at, picture: np.ndarray):
    """Stand in for a stroke: the canvas' state under its key (see tests/test_app.py)."""
    keys = [e.key for e in walk(at.main) if type(e).__name__ == "UnknownElement" and str(e.key).startswith("canvas-")]
    assert len(keys) == 1, keys
    at.session_state[keys[0]] = inspect_input.canvas_state(picture)
    return at.run()


def chart_data(at) -> dict[str, list]:
    """The data behind the page's one Vega-Lite chart, as columns."""
    import pyarrow as pa

    (chart,) = at.get("vega_lite_chart")
    return pa.ipc.open_stream(chart.proto.data.data).read_all().to_pydict()


def percent(cell: str) -> float:
    return float(cell.rstrip("%")) / 100



def non_digit_inks(mnist_x: np.ndarray, n: int, seed: int = 0) -> list[tuple[str, np.ndarray]]:
    """``n`` things a user might draw that are not one digit, as (280, 280) uint8 ink (light on black):
    letters and symbols that look like no digit, shapes, and two MNIST digits drawn over each other."""
    import cv2
    from PIL import ImageDraw, ImageFont

    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        ink = Image.new("L", (280, 280), 0)
        kind = ("letter", "shape", "overlay")[i % 3]
        if kind == "letter":
            ch = "AHKMNRWXY#*&@%?€"[int(rng.integers(16))]
            ImageDraw.Draw(ink).text((140, 140), ch, fill=255, anchor="mm", font=ImageFont.load_default(size=int(rng.integers(150, 220))))
            a = np.asarray(ink)
        elif kind == "shape":
            a = np.zeros((280, 280), np.uint8)
            k = int(rng.integers(3, 9))  # a star or polygon with k points, drawn with a fat pen
            radii = np.where(np.arange(2 * k) % 2 == 0, 110, 110 * rng.uniform(0.35, 1.0))
            t = np.arange(2 * k) * np.pi / k + rng.uniform(0, np.pi)
            pts = np.stack([140 + radii * np.cos(t), 140 + radii * np.sin(t)], -1).astype(np.int32)
            cv2.polylines(a, [pts], True, 255, int(rng.integers(12, 24)), cv2.LINE_AA)
        else:
            i1, i2 = rng.choice(len(mnist_x), 2, replace=False)
            a = cv2.resize(np.maximum(mnist_x[i1], mnist_x[i2]), (280, 280), interpolation=cv2.INTER_CUBIC)
        out.append((kind, a))
    return out


@pytest.fixture
def reports(tmp_path, monkeypatch) -> Path:
    d = tmp_path / "reports"
    d.mkdir()
    monkeypatch.setenv("DIGITLAB_REPORTS_DIR", str(d))
    return d


@pytest.fixture(scope="module")
def calibrated(committed_models) -> artifacts.ModelEntry:
    """The best committed model whose card carries an abstain threshold (from evaluation/calibrate.py)."""
    for e in committed_models:
        if (((e.card or {}).get("calibration") or {}).get("abstain") or {}).get("threshold") is not None:
            return e
    pytest.fail("no committed model card has a calibration entry: run python evaluation/calibrate.py")


def require(names: list[str], committed_models) -> None:
    missing = set(names) - {e.name for e in committed_models}
    if missing:
        pytest.fail(f"committed models missing: {sorted(missing)}")


# ----------------------------------------------------------------------------- abstain: predict CLI


@pytest.mark.slow  # over 5 s on 2 cores: the full suite's, not the fast tier's
def test_predict_cli_abstains_on_non_digits_and_not_on_mnist(run_script, tmp_path, mnist_test, calibrated, capsys):
    folder = tmp_path / "pictures"
    folder.mkdir()
    x, y = mnist_test
    for i in range(200):
        Image.fromarray(x[i]).save(folder / f"mnist_{i:03d}_{y[i]}.png")
    for i, (kind, ink) in enumerate(non_digit_inks(x[5000:], 45, seed=3)):
        Image.fromarray(255 - ink).save(folder / f"other_{i:02d}_{kind}.png")  # dark ink on white paper
    proc = run_script("evaluation/predict.py", folder, "--model", calibrated.name, "--format", "json")
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(lines) == 245
    from digitlab.serving.classifiers import Classifier

    model = Classifier(calibrated)  # the Keras model itself: the CLI serves it through ONNX Runtime
    for line in lines:
        assert set(line) == {"path", "label", "confidence", "probabilities", "runner_up", "abstain", "reason", "notes"}, line
        assert isinstance(line["abstain"], bool) and line["reason"]
        prepared = preprocess.prepare(line["path"])  # the CLI's decision: the card's threshold and the digit gate
        raw = model.predict_proba(prepared.image[None])[0] if prepared.image is not None else np.zeros(10)
        decision = predictions(raw, calibrated.card, None if prepared.image is None else prepared.image[None], model.gate)[0]
        assert line["abstain"] == decision.abstain, line
        if line["label"] is None:
            assert line["abstain"] and line["reason"] == "no ink" and line["runner_up"] is None
        else:
            assert line["label"] == int(np.argmax(line["probabilities"])) == int(np.argmax(raw)), "label stays the model's answer"
            # one scale: the probabilities shown are the calibrated ones the abstain rule judges
            np.testing.assert_allclose(line["probabilities"], abstain.calibrated(raw, calibrated.card), atol=2e-6)
            assert line["confidence"] == max(line["probabilities"]) and line["runner_up"]["label"] != line["label"]
            assert line["runner_up"]["confidence"] == sorted(line["probabilities"])[-2]
    digits = [line for line in lines if "/mnist_" in line["path"]]
    others = [line for line in lines if "/other_" in line["path"] and line["label"] is not None]
    # calibrate.py fits the rule to refuse ~0.7% of validation digits (0.8-0.9% of the whole test split);
    # these first 200 test digits hold a few hard ones, so allow 2%
    assert sum(d["abstain"] for d in digits) <= 4, [d["reason"] for d in digits if d["abstain"]]
    assert np.mean([d["label"] == int(d["path"].rsplit("_", 1)[1][0]) for d in digits]) >= 0.96
    refused = [o for o in others if o["abstain"]]
    assert refused, "the abstain rule refused none of the inked non-digits"
    assert all("not sure this is a digit" in o["reason"] and o["label"] is not None for o in refused)

    # Text format: a fourth column when the model abstains, the usual three otherwise.
    assert load_script("evaluation/predict.py").main([refused[0]["path"], digits[0]["path"], "--model", calibrated.name]) == 0
    abstained, digit = (line.split("\t") for line in capsys.readouterr().out.splitlines())
    assert len(abstained) == 4 and abstained[3].startswith("not sure this is a digit: ") and abstained[1] == str(refused[0]["label"])
    assert len(digit) == 3 and digit[1] == str(digits[0]["label"])


# ----------------------------------------------------------------------------- abstain: Home, then Robustness on the drawing


@pytest.mark.slow  # over 10 s on 2 cores: the full suite's, not the fast tier's
def test_home_not_sure_on_a_non_digit_then_robustness_on_the_drawing(committed_models, reports, mnist_test):
    from digitlab.serving.classifiers import Classifier

    best = committed_models[0]  # the app's default model
    if not ((best.card or {}).get("calibration") or {}).get("abstain"):
        pytest.fail(f"{best.name}'s card has no abstain rule")
    clf = Classifier(best)
    chosen = None
    for _, ink in non_digit_inks(mnist_test[0][5000:], 60, seed=5):  # drawn black on the light canvas, as a user would
        picture = synthetic.canvas_picture(ink, 280)  # any uint8 ink -> opaque black-on-white RGBA
        pred = clf.predict_picture(picture, invert="yes")
        if pred.label is not None and predictions(pred.raw_probabilities, best.card)[0].abstain:
            chosen = (picture, pred)
            break
    assert chosen is not None, f"{best.name} is confident on 60 letters, shapes and overlaid digits"
    picture, pred = chosen

    at = draw(new_app().run(), picture)
    no_exception(at)
    warning = texts(at.warning)
    assert "Not sure this is a digit" in warning and "below" in warning and f"Best guess: {pred.label} ({pred.confidence:.1%})" in warning
    if "calibrated confidence" in warning:  # (the digit gate may refuse first)
        assert f"calibrated confidence {pred.confidence:.1%} is below" in warning, "one scale: the reason and the guess agree"
    assert not at.metric, "no confident headline when the model abstains"
    np.testing.assert_allclose(chart_data(at)["probability"], pred.probabilities, atol=1e-6, err_msg="the probabilities are still shown")

    at.switch_page("pages/4_Robustness.py")
    at.run()
    no_exception(at)
    assert "Input: the drawing on Home" in texts(at.caption)
    assert "No digit drawn" not in texts(at.info)
    tiles = captions(at)
    assert tiles[0] == f"clean → {pred.label} ({pred.confidence:.0%}), not sure", "the sweep starts from the drawing itself, judged as on Home"
    assert not [c for c in tiles if c.startswith("ε ")], "no attack (and no TensorFlow) until asked for"
    at.toggle(key="rob_attack").set_value(True).run()
    no_exception(at)
    assert len([c for c in captions(at) if c.startswith("ε ")]) == 2 * 5


# ----------------------------------------------------------------------------- Robustness page


@pytest.mark.slow
def test_robustness_page_live_curve_mnist_picker_and_attacks(reports, committed_models):
    from digitlab.serving.classifiers import Classifier

    at = new_app("pages/4_Robustness.py").run()
    no_exception(at)
    model = committed_models[0]
    assert "No digit drawn or uploaded on **Home** yet" in texts(at.info)
    # No report in the scratch folder: the curve is measured live on 200 test digits.
    table = at.dataframe[0].value
    name = at.selectbox(key="rob_corruption_suite").value
    levels = robustness.SUITE[name].levels
    assert list(table["severity"]) == ["clean"] + [f"{lv:g}" for lv in levels]
    shown = [percent(v) for v in table["live, 200 digits"]]
    x, y = data.load().inputs("test", 200)
    clf = Classifier(model)
    expected = [float((clf.predict_proba(x).argmax(1) == y).mean())]
    expected += [float((clf.predict_proba(robustness.corrupt(x, name, lv)).argmax(1) == y).mean()) for lv in levels]
    np.testing.assert_allclose(shown, expected, atol=0.0006)  # the table shows 0.1 %
    curve = chart_data(at)
    assert curve["source"] == ["live, 200 digits"] * (1 + len(levels)) and curve["severity"] == [0.0, *levels]
    np.testing.assert_allclose(curve["accuracy"], expected, atol=1e-9)
    assert shown[0] >= 0.95 and shown[-1] < shown[0] - 0.2, "the strongest level hurts"

    # The MNIST test digit stands in for a drawing: the sweep, then (asked for) FGSM and PGD at growing eps.
    assert len(captions(at)) == 1 + len(levels)
    at.toggle(key="rob_attack").set_value(True).run()
    no_exception(at)
    tiles = captions(at)
    assert tiles[0].startswith("clean → 7") and len(tiles) == 1 + len(levels) + 2 * 6
    pgd = [c for c in tiles if c.startswith("ε ")][5:]
    assert pgd[-1].startswith("ε 0.3 → ") and not pgd[-1].startswith("ε 0.3 → 7"), f"PGD at eps 0.3 should fool {model.name}: {pgd}"
    at.number_input(key="rob_mnist_index").set_value(1).run()
    no_exception(at)
    assert "MNIST test digit #1 (a 2)" in texts(at.caption)

    # Another corruption, then the MNIST-C-style family (one severity each).
    at.selectbox(key="rob_corruption_suite").set_value("rotation").run()
    assert list(at.dataframe[0].value["severity"]) == ["clean", "10", "20", "30", "45", "60"]
    at.segmented_control(key="rob_family").set_value("mnist_c").run()
    at.selectbox(key="rob_corruption_mnist_c").set_value("fog").run()
    no_exception(at)
    fog = at.dataframe[0].value
    assert list(fog["severity"]) == ["clean", "3"] and percent(fog["live, 200 digits"][1]) < percent(fog["live, 200 digits"][0])
    assert len(captions(at)) == 2 + 2 * 6


@pytest.mark.slow
def test_robustness_page_shows_the_script_report(reports, committed_models, monkeypatch, tmp_path):
    require(["mnist_baseline"], committed_models)
    monkeypatch.setenv("DIGITLAB_MODELS_DIR", str(link_models(tmp_path / "models", ["mnist_baseline"], gate=False)))
    assert load_script("evaluation/evaluate_robustness.py").main(["--model", "mnist_baseline", "--n", "40", "--out", str(reports)]) == 0
    report = json.loads((reports / "mnist_baseline" / "robustness.json").read_text())

    at = new_app("pages/4_Robustness.py").run()
    no_exception(at)
    at.selectbox(key="rob_corruption_suite").set_value("thicken").run()
    table = at.dataframe[0].value
    assert list(table.columns) == ["severity", "report, 40 digits"], "a report is shown without measuring"
    assert [percent(v) for v in table["report, 40 digits"]] == pytest.approx(
        [report["clean"], *report["suite"]["thicken"]["accuracy"]], abs=0.0006)
    assert "robustness.json" in texts(at.caption)
    at.button(key="rob_measure").click().run()
    no_exception(at)
    assert list(at.dataframe[0].value.columns) == ["severity", "report, 40 digits", "live, 200 digits"]
    assert sorted(set(chart_data(at)["source"])) == ["live, 200 digits", "report, 40 digits"], "both curves in one chart"


# ----------------------------------------------------------------------------- Leaderboard: script and page


@pytest.mark.slow
def test_leaderboard_script_then_page(reports, committed_models, monkeypatch, tmp_path, capsys):
    require(["mnist_robust", "mnist_baseline"], committed_models)
    # The script measures one model (quick settings) into the scratch reports folder.
    lb_script = load_script("evaluation/leaderboard.py")
    assert lb_script.main(["--dry-run", "--models", "mnist_robust", "--out", str(reports)]) == 0
    stdout = capsys.readouterr().out
    written = json.loads((reports / "leaderboard_quick.json").read_text())
    (robust,) = written["rows"]
    assert robust["name"] == "mnist_robust" and robust["n"] == {"clean": leaderboard.QUICK.n_clean, "corruptions": 100, "attacks": 50}
    assert robust["test_accuracy"] >= 0.95 and robust["fgsm_eps0.1"] >= 0.8, "the adversarially trained model resists FGSM"
    assert "| mnist_robust |" in stdout and "PGD-10 ε=0.3" in stdout
    # what a full run records in docs/results.json: FGSM eps 0.1 and PGD-40 per model, marked with the file measured
    # (a quick run records nothing: its PGD-10 is not the stress table's PGD-40)
    from digitlab.report import extractors

    robust_file = next(e.path for e in committed_models if e.name == "mnist_robust")
    (fgsm,) = extractors.from_leaderboard(written["rows"], written["command"], {"mnist_robust": robust_file})
    assert (fgsm.section, fgsm.key, fgsm.row, fgsm.value) == ("stress", "FGSM eps 0.1", "mnist_robust", robust["fgsm_eps0.1"])
    assert fgsm.model_sha == extractors.model_sha(robust_file) and fgsm.note == "50 MNIST test digits"

    # The page, on a folder with that model and one more, shows the cached row at once and measures the other.
    monkeypatch.setenv("DIGITLAB_MODELS_DIR", str(link_models(tmp_path / "models", ["mnist_robust", "mnist_baseline"], gate=False)))
    at = new_app("pages/5_Leaderboard.py").run()
    no_exception(at)
    assert "Not measured yet with these settings: mnist_robust, mnist_baseline" in texts(at.info), "standard settings: nothing cached"
    at.segmented_control(key="lb_settings").set_value("quick").run()
    no_exception(at)
    (row,) = at.dataframe[0].value.to_dict("records")
    script_row = next(line for line in stdout.splitlines() if line.startswith("| mnist_robust |"))
    assert " | ".join(row.values()) == script_row.strip("| "), "the page and the script print the same numbers"
    assert "Not measured yet with these settings: mnist_baseline." in texts(at.info)
    at.button(key="lb_measure").click().run()
    no_exception(at)
    rows = at.dataframe[0].value
    usable = [e.name for e in artifacts.list_models(tmp_path / "models") if e.usable]
    assert sorted(rows["model"]) == sorted(usable), "a row per usable model"
    assert list(rows["model"]) == ["mnist_robust", "mnist_baseline"], "best clean accuracy first"
    baseline = rows.set_index("model").loc["mnist_baseline"]
    assert 0.85 <= percent(baseline["clean accuracy"]) <= 1 and percent(baseline["FGSM ε=0.1"]) < robust["fgsm_eps0.1"]
    assert "Adversarially trained: mnist_robust." in texts(at.caption)
    assert not [b for b in at.button if b.key == "lb_measure"], "nothing left to measure"
    assert leaderboard.cache_path(artifacts.resolve("mnist_baseline"), leaderboard.QUICK, reports / "leaderboard").is_file()
    corr = at.dataframe[1].value
    assert len(corr) == 15 and list(corr.columns) == ["corruption", "mnist_robust", "mnist_baseline"]

    # The script's own error for a model that does not exist.
    assert lb_script.main(["--models", "no_such_model", "--out", str(reports)]) == 2
    assert "no model 'no_such_model'" in capsys.readouterr().err


def test_leaderboard_markdown_and_page_rows_share_one_format():
    row = {"name": "m", "test_accuracy": 0.99, "test_weighted_f1": 0.98765, "mean_corruption_accuracy": None,
           "fgsm_eps0.1": 0.5, "pgd10_eps0.3": 0.25, "ece": 0.01, "ece_calibrated": None, "latency_p50_ms": 1.234,
           "params": 12345, "file_kb": 48.2}
    (shown,) = leaderboard.formatted([row], leaderboard.QUICK)
    assert shown["PGD-10 ε=0.3"] == "25.0%" and shown["mean corruption acc. (MNIST-C-style)"] == "-" and shown["params"] == "12,345"
    assert tables.records(leaderboard.formatted([row], leaderboard.QUICK)).splitlines()[2] == "| " + " | ".join(shown.values()) + " |"
    assert leaderboard.cache_path(artifacts.ModelEntry("m", Path("m.keras"), None, True), leaderboard.QUICK).name.startswith("m.")
    assert leaderboard.cache_path(artifacts.ModelEntry("m", Path("m.keras"), None, True)).name == "m.json"
