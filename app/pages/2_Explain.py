"""Where does the model look?  Grad-CAM, Grad-CAM++, gradient saliency and activation maps
for the digit drawn, uploaded or photographed on Home; and what it thinks yours looks like: the
training digits nearest to it in the model's own feature space, and a map of the test set there.

The prediction comes from the served model (ONNX Runtime), as on Home; the maps need TensorFlow's gradients and
are computed in a child process that exits once they are done (``digitlab.evaluation.gradients``), so the
server does not keep TensorFlow's memory after this page."""

import common
import neighbours_ui
import streamlit as st

from digitlab.evaluation import explain, gradients, inspect_input
from digitlab.models import artifacts

SIZE = 210  # px for the main overlays


@st.cache_data(max_entries=64, show_spinner="Computing the maps in a separate process (it loads TensorFlow: ~10 s)…")
def explained(key: str, path: str, image, layer: str | None) -> gradients.DigitExplanation:
    """Every digit's maps for one model version, input and feature map (None: the model's default)."""
    return gradients.explain_digit(path, image, layer)


common.routed()
st.title("Explain the prediction")
clf = common.require_model()
digit = common.require_digit()

image = digit.prepared.image
pred = clf.predict_prepared([digit.prepared], common.current_writing())[0]
key = common.model_key(clf)
try:
    first = explained(key, str(clf.entry.path), image, None)
except (explain.ExplainError, artifacts.ModelError, gradients.ChildError) as e:  # e.g. a model that reuses a layer
    st.warning(f"Cannot explain **{common.plain(clf.name)}**: {common.plain(e)}")
    st.stop()
layers, has_conv = first.layers, first.has_conv

verdict = f"is not sure this is a digit ({common.plain(pred.reason)}); its best guess is **{pred.label}**" if pred.refused else f"predicts **{pred.label}**"
st.caption(
    f"Model **{common.plain(clf.name)}** {verdict} ({pred.confidence:.1%}) for the input from the {common.plain(digit.origin)}. "
    "Warm colours mark what raises the chosen digit's score against the other digits (its logit margin)."
)
c1, c2 = st.columns(2)
choice = c1.selectbox(
    "Digit to explain",
    ["predicted", *range(10)],
    format_func=lambda d: f"the predicted digit ({pred.label})" if d == "predicted" else f"{d} ({pred.probabilities[d]:.1%})",
    key="explain_class",
)
target = pred.label if choice == "predicted" else int(choice)
layer = None
if has_conv:
    networks, default = first.networks, first.default
    names = [explain.EVERY_NETWORK] * bool(networks) + [f.name for f in layers]

    def shown(n: str) -> str:
        if n == explain.EVERY_NETWORK:
            return f"every network: {len(networks)} last feature maps, one score"
        return next(f"{n} · {f.kind} · {'×'.join(map(str, f.shape))}" for f in layers if f.name == n)

    layer = c2.selectbox(
        "Feature map for Grad-CAM",
        names,
        index=names.index(default),
        format_func=shown,
        key=f"cam_layer::{clf.name}",
        help=(f"**{common.plain(clf.name)}** averages {len(networks)} networks' logits. Default: every network's last feature map "
              f"({common.plain(', '.join(networks))}), weighted by one gradient of the whole model's score; a layer's name shows only "
              "that network's share." if networks else
              "Default: the last convolution, after its BatchNorm and activation (the last feature map before pooling)."),
    )
else:
    c2.info(f"Grad-CAM and activation maps: {explain.NO_CONV}.")

maps = first
if has_conv and layer != first.layer:
    try:
        maps = explained(key, str(clf.entry.path), image, layer)
    except (explain.ExplainError, gradients.ChildError) as e:
        st.warning(f"Cannot read {common.code(layer)}: {common.plain(e)}")
        st.stop()
cols = st.columns(4)
cols[0].image(inspect_input.enlarge(image, SIZE), caption="model input (28×28)")
if has_conv:
    cam, campp = maps.grad_cam[target], maps.grad_cam_plus_plus[target]
    cols[1].image(explain.overlay(image, cam, SIZE), caption=f"Grad-CAM for {target}")
    cols[2].image(explain.overlay(image, campp, SIZE), caption=f"Grad-CAM++ for {target}")
    if not cam.any():
        where = "any network's last feature map" if layer == explain.EVERY_NETWORK else common.code(layer)
        st.caption(f"Grad-CAM is zero everywhere: nothing in {where} speaks for {target}.")
sal = maps.saliency[target]
cols[3].image(explain.overlay(image, sal, SIZE, alpha=0.65), caption=f"gradient saliency for {target} (SmoothGrad)")

if has_conv:
    st.subheader("Grad-CAM for every digit")
    row = st.columns(10)
    for d, col in enumerate(row):
        heat = maps.grad_cam[d]
        col.image(explain.overlay(image, heat, 112), caption=f"{d} · {pred.probabilities[d]:.1%}")

    st.subheader("Activation maps of every convolution")
    st.caption("Each small square is one channel's output for this input, scaled to its own range (white is high). Up to 64 channels per layer.")
    grid = st.columns(2)
    for i, a in enumerate(maps.activations):
        h, w, c = a.shape
        with grid[i % 2]:
            shown = min(c, 64)
            st.markdown(f"**{common.plain(a.name)}** · {a.kind} · output {h}×{w}×{c}" + (f" (first {shown} channels)" if shown < c else ""))
            st.image(inspect_input.enlarge(explain.tile(a.maps, limit=64), 360))

neighbours_ui.show(clf, image, pred)
