"""How the model copes with digits unlike its training data: accuracy against corruption severity (the report of
evaluation/evaluate_robustness.py, or live), and the current digit under corruptions and FGSM / PGD attacks.
Everything but the attacks is answered by the model served through ONNX Runtime, like Home: the page opens
without TensorFlow.  The attacks need gradients: they run, when asked for, in a child process that loads
TensorFlow and exits once it has answered (``digitlab.evaluation.gradients``)."""

import common
import streamlit as st

from digitlab import data
from digitlab.evaluation import attacks, gradients, inspect_input, robustness
from digitlab.models import artifacts
from digitlab.paths import shown
from digitlab.report import plots
from digitlab.serving import classifiers

FAMILIES = {"suite": "Severity suite", "mnist_c": "MNIST-C-style"}
LIVE_SIZES = (100, 200, 500, 1000)  # MNIST test digits for a live measurement (~1 s per 1,000 digits and level)
EPS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3)  # attack strengths shown on the current digit (pixels are in [0, 1])
ATTACKS = {"fgsm": "FGSM (one signed-gradient step of ε)", "pgd": f"PGD-{attacks.PGD_STEPS} (random start, {attacks.PGD_STEPS} projected steps)"}
TILE = 96  # px per perturbed digit, whatever its caption's length (an image as wide as its caption grew with it)
ROW = max(len(EPS), 1 + max(len(c.levels) for c in [*robustness.SUITE.values(), *robustness.MNIST_C.values()]))  # tiles a row
CURVE = {"height": 260, "mark": {"type": "line", "point": True, "tooltip": True}, "encoding": {
    "y": {"field": "accuracy", "type": "quantitative", "scale": {"domain": [0, 1]}, "axis": {"format": "%"}},
    "color": {"field": "source", "type": "nominal", "legend": {"orient": "bottom", "title": None}}}}


@st.cache_data(show_spinner="Preparing MNIST test digits…", max_entries=16)
def test_digits(n: int | None, indices: tuple[int, ...] | None = None):
    return data.load().inputs("test", n, 0, indices=indices)


@st.cache_data(show_spinner=False, max_entries=128)
def digit_sweep(key: str, image, corruption: str, family: str, _predict):
    return robustness.sweep_one(image, _predict, corruption, family)


@st.cache_data(show_spinner="Attacking the digit in a separate process (it loads TensorFlow: ~10 s)…", max_entries=128)
def digit_attacks(key: str, path: str, image) -> dict[str, list[dict]]:
    """Every attack of ATTACKS on the digit at every strength of EPS: {attack: rows}, from one child process."""
    return gradients.attack_digit(path, image, EPS, tuple(ATTACKS))


@st.cache_data(show_spinner="Drawing every corruption…", max_entries=32)
def examples_png(image) -> bytes:
    return plots.corruption_examples_png(image, robustness.examples(image), robustness.SUITE, robustness.MNIST_C)


def tiles(rows: list[dict], caption, clf) -> None:
    """A row of perturbed (28, 28) digits, each captioned with its Prediction as on Home (calibrated, abstain rule)."""
    probs, images = [r["probabilities"] for r in rows], [r["image"] for r in rows]
    preds = classifiers.predictions(probs, clf.entry.card, images, clf.gate, writing=common.current_writing())
    for col, r, p in zip(st.columns(max(ROW, len(rows))), rows, preds):
        col.image(inspect_input.enlarge(r["image"], TILE), width=TILE, caption=f"{caption(r)} → {p.label} ({p.confidence:.0%})" + (", not sure" if p.refused else ""))


common.routed()
st.title("Robustness")
clf = common.require_model()  # ONNX Runtime: corruptions need no gradients
key = common.model_key(clf)
if "robustness_live" not in st.session_state:
    st.session_state.robustness_live = {}  # (model version, family, corruption, n) -> sweep result

c1, c2 = st.columns([1, 2])
family = c1.segmented_control("Corruptions", list(FAMILIES), format_func=FAMILIES.get, default="suite", required=True, key="rob_family",
                              help="The suite grows each corruption over several severities; the 15 MNIST-C-style corruptions "
                                   "(Mu & Gilmer 2019) have the one severity of the MNIST-C dataset each.")
table = robustness.SUITE if family == "suite" else robustness.MNIST_C
name = c2.selectbox("Corruption", list(table), format_func=lambda n: f"{n} · {table[n].unit}", key=f"rob_corruption_{family}")
corruption = table[name]
st.caption(
    f"Model **{common.plain(clf.name)}**. `{name}` at severities {', '.join(f'{lv:g}' for lv in corruption.levels)} ({corruption.unit}), "
    "applied to the 28×28 model input with a fixed seed (`digitlab.evaluation.robustness`, the code behind `evaluation/evaluate_robustness.py`)."
)

# ----------------------------------------------------------------------------- accuracy vs severity

st.subheader(f"Accuracy vs severity: {name}")
curves = []  # (source, curve)
report = robustness.read_report(common.reports_dir(), clf.name, clf.entry.path)
if report is not None and (curve := robustness.curve(report, name, family)) is not None:
    curves.append((f"report, {report['n']:,} digits", curve))
n = st.select_slider("Live measurement on", LIVE_SIZES, value=200, format_func=lambda v: f"{v:,} MNIST test digits", key="rob_live_n")
live_key = (key, family, name, n)
live = st.session_state.robustness_live
if live_key not in live and (not curves or st.button(f"Measure live on {n:,} digits too", key="rob_measure")):
    try:
        x, y = test_digits(n)
    except data.DataError as e:
        st.info(f"Cannot measure live without MNIST: {e}")
    else:
        bar = st.progress(0.0, text=f"{name} on {n:,} digits…")
        chosen = {name: corruption}
        result = robustness.sweep({clf.name: clf.predict_proba}, x, y, suite=chosen if family == "suite" else {},
                                  mnist_c=chosen if family == "mnist_c" else {}, progress=lambda f, msg: bar.progress(f, text=msg))
        bar.empty()
        live[live_key] = result[clf.name]
if live_key in live:
    curves.append((f"live, {n:,} digits", robustness.curve(live[live_key], name, family)))

if not curves:
    st.info("No robustness report for this model yet, and MNIST is not available to measure live.")
else:
    points, rows = robustness.chart_rows(curves)
    spec = {**CURVE, "encoding": {**CURVE["encoding"], "x": {"field": "severity", "type": "quantitative", "title": f"{name}: {corruption.unit}"}}}
    left, right = st.columns([3, 2])
    left.vega_lite_chart(points, spec, width="stretch")
    right.dataframe(rows, hide_index=True, width="stretch")
    if report is not None and curves[0][0].startswith("report"):
        path = common.reports_dir() / clf.name / "robustness.json"
        right.caption(f"The report is {common.code(shown(path))}, written by `python evaluation/evaluate_robustness.py` ({report['n']:,} test "
                      f"digits, seed {report.get('seed', 0)}" + (", re-prepared like pictures" if report.get("through_preprocess") else "") + ").")
    else:
        right.caption("No report for this model version: `python evaluation/evaluate_robustness.py` writes one (3,000 digits, every corruption).")

# ----------------------------------------------------------------------------- the current digit

st.subheader(f"Your digit under {name}")
digit = st.session_state.get(common.DIGIT_KEY)
if digit is not None and not digit.prepared.no_ink:
    image, origin = digit.prepared.image, f"the {digit.origin} on Home"
else:
    st.info("No digit drawn or uploaded on **Home** yet, so this uses an MNIST test digit: pick one by its index, or draw your own on Home.")
    st.page_link(common.HOME, label="Draw on Home", icon=":material/edit:")
    index = st.columns(4)[0].number_input("MNIST test digit (index)", 0, 9999, 0, key="rob_mnist_index")
    try:
        xs, ys = test_digits(None, (int(index),))
    except data.DataError as e:
        st.info(f"Cannot load MNIST either: {e}")
        st.stop()
    image, origin = xs[0], f"MNIST test digit #{int(index)} (a {int(ys[0])})"

st.caption(f"Input: {common.plain(origin)}. Each picture: severity → prediction (confidence) of **{common.plain(clf.name)}**.")
tiles(digit_sweep(key, image, name, family, clf.predict_proba), lambda r: "clean" if r["level"] == 0 else f"{r['level']:g}", clf)
if st.toggle("Show this digit under every corruption and level", key="rob_examples"):
    st.image(examples_png(image))

st.subheader("Your digit under attack")
st.caption("Each pixel moves by at most ε (in [0, 1]) in the direction that most lowers the model's score for its answer (`digitlab.evaluation.attacks`).")
# Gradients need the Keras model and TensorFlow (~600 MB): a child process loads them for each attack and exits.
if st.toggle("Attack this digit (loads TensorFlow in a separate process: ~10 s)", key="rob_attack"):
    try:
        attacked = digit_attacks(key, str(clf.entry.path), image)
    except (artifacts.ModelError, gradients.ChildError) as e:
        st.warning(f"Cannot attack with **{common.plain(clf.name)}**: {common.plain(e)}")
        st.stop()
    for attack, title in ATTACKS.items():
        st.markdown(f"**{title}**")
        tiles(attacked[attack], lambda r: "clean" if r["eps"] == 0 else f"ε {r['eps']:g}", clf)
