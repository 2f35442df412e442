"""The Explain page's "what it thinks yours looks like": the training digits nearest to the current input in
the model's own feature space, and a map of the test set there, with the input on it.

A component of app/pages/2_Explain.py (layout only): the features, the bank of training digits and the map are
``digitlab.evaluation.neighbours``, computed once per model file and kept on disk.  The features come from the
model's served ONNX file (no TensorFlow, several times faster to build); the Keras model is loaded only for a model
with no served file.
"""

from pathlib import Path

import common
import streamlit as st

from digitlab import data, paths
from digitlab.evaluation import inspect_input, neighbours
from digitlab.models import artifacts
from digitlab.serving import classifiers, runtime


@st.cache_resource(max_entries=4, show_spinner=False)
def extractor(key: str, onnx: str | None, _entry: artifacts.ModelEntry) -> neighbours.Extractor:
    """The model's penultimate features, from its ONNX file when there is one, else from its Keras model (one per
    model file version; raises NeighbourError)."""
    if onnx is None:
        return neighbours.feature_extractor(common.classifier(_entry, keras=True).model)
    return neighbours.onnx_feature_extractor(Path(onnx))


@st.cache_data(ttl=120, max_entries=8, show_spinner="Timing a few digits…")
def estimate(key: str, _extractor) -> float:
    """Seconds the build would take now (measured on a sample, neighbours.build_estimate)."""
    return neighbours.build_estimate(_extractor, key)


@st.cache_data(max_entries=64, show_spinner=False)
def look_up(key: str, image, _extractor, _bank, _map) -> tuple[list[neighbours.Neighbour], tuple[float, float]]:
    """The current input's nearest training digits and its place on the map (once per model version and input)."""
    feature = _extractor(image[None])[0][0]
    return neighbours.nearest(_bank, feature), neighbours.place(_map, feature)


def map_chart(dmap: neighbours.DigitMap, you: tuple[float, float], label: int) -> tuple[dict, dict]:
    """(data, vega-lite spec): the test digits coloured by their label, the current input as a black cross."""
    rows = {
        "x": dmap.xy[:, 0].round(4).tolist(), "y": dmap.xy[:, 1].round(4).tolist(),
        "digit": [str(d) for d in dmap.labels], "model says": [str(d) for d in dmap.predicted],
        "test digit": list(range(len(dmap.labels))),
    }
    axis = {"title": None, "labels": False, "ticks": False, "grid": False}
    spec = {
        "height": 520,
        "layer": [
            {
                "params": [{"name": "zoom", "select": "interval", "bind": "scales"}],
                "mark": {"type": "circle", "size": 14, "opacity": 0.55},
                "encoding": {
                    "x": {"field": "x", "type": "quantitative", "axis": axis},
                    "y": {"field": "y", "type": "quantitative", "axis": axis},
                    "color": {"field": "digit", "type": "nominal", "scale": {"scheme": "category10"}, "legend": {"title": "digit"}},
                    "tooltip": [{"field": "digit"}, {"field": "model says"}, {"field": "test digit"}],
                },
            },
            {
                "data": {"values": [{"x": you[0], "y": you[1], "you": f"your digit (read as {label})"}]},
                "mark": {"type": "point", "shape": "cross", "size": 420, "filled": True, "color": "black",
                         "stroke": "white", "strokeWidth": 1.5, "opacity": 1},
                "encoding": {"x": {"field": "x", "type": "quantitative"}, "y": {"field": "y", "type": "quantitative"},
                             "tooltip": [{"field": "you", "title": "this is"}]},
            },
        ],
    }
    return rows, spec


def show(clf: classifiers.Classifier, image, pred: classifiers.Prediction) -> None:
    """The section for the classifier ``clf`` (the served model Home uses), its (28, 28) input ``image`` and its
    decision ``pred``."""
    st.subheader("What it thinks yours looks like")
    file_key = runtime.file_key(clf.entry.path)
    onnx = str(clf.onnx) if clf.onnx is not None else None
    try:
        features = extractor(file_key, onnx, clf.entry)
    except neighbours.NeighbourError as e:
        st.info(f"No neighbours or map for **{common.plain(clf.name)}**: {common.plain(e)}.")
        return
    st.caption(
        f"The model's own view of a digit is what its last layer reads: {features.describe()}. Digits it sees as alike point the "
        f"same way there (cosine distance: 0 = the same direction, 1 = unrelated). Searched: {neighbours.BANK_SIZE:,} of the "
        "55,000 training digits, the same ones for every model."
    )
    bank = neighbours.training_bank(features, file_key, build=False)
    dmap = neighbours.digit_map(features, file_key, build=False)
    if bank is None or dmap is None:
        try:
            seconds = estimate(file_key, features)  # times a few MNIST training digits
        except data.DataError as e:
            st.info(f"No neighbours or map without MNIST's training digits: {common.plain(e)}")
            return
        prompt = st.empty()  # the offer goes away once they are computed
        with prompt.container():
            st.info(
                f"Not computed yet for **{common.plain(clf.name)}**: the features of {neighbours.BANK_SIZE:,} training digits and of the "
                f"{neighbours.MAP_SIZE:,} test digits, once per model file (roughly {seconds:.0f} s on this machine now, "
                "timed on a few digits; preparing the digits is most of a first build, and it is done once for every model), then kept in "
                f"`{paths.shown(neighbours.cache_dir())}`."
            )
            clicked = st.button("Find the nearest training digits and draw the map", key=f"build_neighbours::{file_key}")
        if not clicked:
            return
        prompt.empty()
        bar = st.progress(0.0, text="Training digits…")
        share = 2 / 3  # the bank has twice the map's digits
        try:
            bank = neighbours.training_bank(
                features, file_key, progress=lambda d, n: bar.progress(share * d / n, text=f"Training digits: {d / n:.0%}"))
            dmap = neighbours.digit_map(
                features, file_key, progress=lambda d, n: bar.progress(share + (1 - share) * d / n, text=f"Test digits for the map: {d / n:.0%}"))
        except (neighbours.NeighbourError, data.DataError, OSError) as e:
            bar.empty()
            st.error(f"Could not compute them for **{common.plain(clf.name)}**: {common.plain(e)}")
            return
        bar.empty()

    near, you = look_up(file_key, image, features, bank, dmap)
    (st.success if neighbours.majority(near)[0] == pred.label else st.warning)(neighbours.agreement_sentence(near, pred.label))
    cols = st.columns(len(near) + 1)
    cols[0].image(inspect_input.enlarge(image, 84), caption="yours")
    for col, n in zip(cols[1:], near):
        col.image(inspect_input.enlarge(n.picture, 84), caption=f"**{n.label}** · {n.distance:.3f}")
    st.caption(f"The {len(near)} closest training digits, closest first, as the model saw them (its 28×28 inputs), each with its label and cosine distance.")

    st.markdown("**The map**: the 10,000 MNIST test digits in the same feature space, flattened to two dimensions")
    rows, spec = map_chart(dmap, you, pred.label)
    st.vega_lite_chart(rows, spec, width="stretch", key="digit_map")
    e1, e2 = (float(v) for v in dmap.explained)
    misread = int((dmap.predicted != dmap.labels).sum())
    st.caption(
        f"PCA of the test digits' features (fitted once for this model file): the two axes hold {e1:.1%} and {e2:.1%} of their variance, "
        f"so digits far apart in all {features.dim} dimensions can overlap here; the neighbours above are found in all of them. "
        f"The black cross is your digit, projected the same way. Hover a point for its label and the model's answer "
        f"({misread} of the {len(dmap.labels):,} are misread); drag to pan, scroll to zoom."
    )
