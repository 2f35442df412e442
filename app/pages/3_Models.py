"""Every model on disk side by side: card numbers, training curves, confusion matrix; add your own .keras."""

import common
import streamlit as st

from digitlab.evaluation import metrics
from digitlab.models import artifacts
from digitlab.report import model_report
from digitlab.training import rebuild

PER_ROW = 2  # two cards a row: wide enough for the curves and the confusion matrix to be read


def made_by(made: model_report.HowMade) -> None:
    """The recipe's paragraph and file, the command that makes the model (again), and the paths it names that a
    clone does not have."""
    if made.description:
        st.markdown(common.plain(made.description))
    if made.recipe_file:
        st.caption(f"Recipe: {common.code(made.recipe_file)}")
    st.caption("made again, step by step, by" if made.rebuild else "made by")
    st.code(made.command, language="bash", wrap_lines=True)
    if made.steps:
        with st.expander(f"The {len(made.steps)} steps it runs"):
            st.code("\n".join(made.steps), language="bash", wrap_lines=True)
    if made.missing:
        st.caption("Not in this checkout: " + ", ".join(common.code(p) for p in made.missing)
                   + ("" if made.rebuild else " (the training run's own files: the command shows how the model was made, not one to run here)"))


common.routed()
st.title("Models")

entries = common.list_models()
usable = [e for e in entries if e.usable]
if not usable:
    st.info(f"No usable model in {common.code(common.models_dir())} yet. Train one with `python training/train_cnn.py`, or add a .keras file below.")
for start in range(0, len(usable), PER_ROW):
    row = usable[start : start + PER_ROW]
    for col, entry in zip(st.columns(len(row), border=True), row):
        with col:
            st.subheader(common.plain(entry.name))
            if entry.card is None:
                st.caption("No model card: added by hand, so only what the file itself tells.")
            rows = model_report.summary(entry)
            rows.pop("command")  # shown below, whole
            st.table({"": list(rows), "value": [common.plain(v) for v in rows.values()]})
            made_by(model_report.how_made(entry, recipe_of=rebuild.in_checkout))
            curves = model_report.curves_path(entry.path)
            if curves is not None:
                st.image(str(curves), caption="training curves (train solid, validation dashed)", width="stretch")
            png, refused = common.confusion_png(str(entry.path), entry.path.stat().st_mtime_ns)
            if refused:
                st.warning(f"No confusion matrix: {common.plain(refused)}")
            if png is not None:
                st.image(png, caption="test confusion matrix (rows: true digit)")
                cm = model_report.confusion(entry.path)
                worst = ", ".join(f"{c['true']}→{c['pred']} ×{c['count']}" for c in metrics.most_confused(cm, top=3))
                st.caption(f"Most frequent mistakes: {worst or 'none'}")

bad = [e for e in entries if not e.usable]
if bad:
    st.subheader("Files that cannot be used")
    for e in bad:
        st.warning(common.plain(e.reason))

st.subheader("Add a model")
st.caption(
    f"A Keras 3 `.keras` file mapping a 28×28 grey digit ((28,28,1), (28,28) or (784,)) to 10 classes, up to "
    f"{artifacts.MAX_MODEL_BYTES / 2**20:.0f} MB. It is loaded with Keras safe mode on and checked before anything is saved; a refused file changes nothing."
)
st.file_uploader("Keras model", type=["keras"], key="model_file", label_visibility="collapsed", on_change=common.install_uploaded_model)
result = st.session_state.model_upload_result
if result is not None:
    (st.success if result[0] == "success" else st.error)(result[1])
