"""Collect your own digits, then fine-tune a model on them.

Draw a digit, pick its label, save it into my_digits/<label>/ ($DIGITLAB_MY_DIGITS when set);
browse and delete what is there; fine-tune in a background process
(training/finetune_on_custom.py) and use the new model from the sidebar picker.
"""

from pathlib import Path

import common
import finetune_ui
import streamlit as st

from digitlab.data import user_digits
from digitlab.evaluation import inspect_input

CANVAS = 280  # px, as on Home
SHOWN = 24  # newest samples shown per digit when browsing
DIGITS = list(range(10))


def save_drawing(picture: bytes | None, label: int | None) -> None:
    """Save the drawing under the chosen label; then a blank canvas and no label chosen (the next run), so
    the next digit cannot be saved under the last one's label by mistake."""
    if picture is None:
        st.session_state.collect_message = ("warning", "Draw a digit on the canvas first.")
        return
    if label is None:
        st.session_state.collect_message = ("warning", "Pick which digit you drew, then save.")
        return
    try:
        path = user_digits.save(picture, label, user_digits.default_dir(), invert="yes", drawn_on=1.0)  # dark ink on the white canvas
    except user_digits.CollectError as e:
        st.session_state.collect_message = ("error", common.plain(common.sentence(str(e))))
        return
    st.session_state.collect_message = ("success", f"Saved a **{label}** as `{path.parent.name}/{path.name}`.")
    clear_canvas()
    st.session_state.collect_unlabel = True  # the label widget exists in this run: it is reset in the next one


def clear_canvas() -> None:
    st.session_state.collect_nonce += 1  # a new canvas key: a blank canvas


def delete_sample(path: Path) -> None:
    try:
        user_digits.delete(path, user_digits.default_dir())
    except user_digits.CollectError as e:
        st.session_state.collect_message = ("error", common.plain(e))
    else:
        st.session_state.collect_message = ("success", f"Deleted {common.code(f'{path.parent.name}/{path.name}')}.")


@st.fragment
def draw_panel() -> None:
    """Canvas, label, Save and Clear.  A fragment: strokes rerun only this; Save reruns the page."""
    result = common.canvas(f"collect-canvas-{st.session_state.collect_nonce}", CANVAS, CANVAS, st.session_state.get("collect_brush", 20))
    strokes = inspect_input.stroke_count(result.json_data)
    st.caption("Draw one digit, large, pick which digit it is, and save." + (f" ({strokes} stroke{'s' if strokes != 1 else ''})" if strokes else ""))
    st.slider("Brush size", 6, 40, 20, key="collect_brush")
    if st.session_state.pop("collect_unlabel", False):
        st.session_state.collect_label = None
    label = st.segmented_control("Which digit is it?", DIGITS, key="collect_label", required=True)
    c1, c2 = st.columns(2)
    if c1.button("Save", key="collect_save", type="primary", width="stretch"):
        save_drawing(result.image_bytes, label)
        st.rerun()  # the whole page: counts, the browser, a blank canvas and no label
    c2.button("Clear", key="collect_clear", on_click=clear_canvas, width="stretch")


def show_counts() -> dict[int, int]:
    counts = user_digits.counts()
    st.table({"digit": ["pictures"], **{str(d): [counts[d]] for d in DIGITS}}, hide_index=True)
    st.caption(f"{sum(counts.values())} pictures in {common.code(user_digits.default_dir())}.")
    return counts


def picked_by_hand() -> None:
    st.session_state.collect_browse_picked = True


def browse(counts: dict[int, int]) -> None:
    """The pictures of one digit, with Delete.  It opens on the first digit that has pictures, and follows the
    saved pictures until a digit is picked by hand."""
    if "collect_browse" not in st.session_state or not st.session_state.get("collect_browse_picked"):
        st.session_state.collect_browse = next((d for d in DIGITS if counts[d]), 0)
        st.session_state.collect_browse_picked = False
    digit = st.segmented_control("Browse the pictures of", DIGITS, format_func=lambda d: f"{d} ({counts[d]})", key="collect_browse",
                                 on_change=picked_by_hand)
    if digit is None:
        return
    files = user_digits.samples(digit)
    if not files:
        st.caption(f"No {digit}s saved yet.")
        return
    st.caption(f"{len(files)} picture(s) of {digit}, newest first" + (f"; showing {SHOWN}" if len(files) > SHOWN else "") + ".")
    cols = st.columns(8)
    for i, path in enumerate(files[:SHOWN]):
        with cols[i % len(cols)]:
            st.image(str(path), width=80, caption=common.plain(path.name.split("_", 1)[-1].rsplit(".", 1)[0]))
            st.button("Delete", key=f"collect_delete_{digit}_{path.name}", on_click=delete_sample, args=(path,))


common.routed()
st.title("Collect your digits")
for key, value in {"collect_nonce": 0, "collect_message": None, "collect_job_seen": None}.items():
    st.session_state.setdefault(key, value)

left, right = st.columns([1, 1], gap="large")
with left:
    st.subheader("Draw, label, save")
    draw_panel()
with right:
    st.subheader("Your digits")
    message = st.session_state.collect_message
    if message is not None:
        getattr(st, message[0])(message[1])
    counts = show_counts()
browse(counts)
st.subheader("Fine-tune a model on them")
finetune_ui.panel(counts)
