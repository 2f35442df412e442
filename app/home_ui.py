"""Home's parts beside its canvas: the answer column, the preprocessing toggle, and the picture uploaded or
photographed.

A component of app/pages/0_Draw.py (layout only): every picture goes through ``digitlab.preprocess.prepare``, the
one path, and is read by the served model.
"""

import common
import keep_ui
import streamlit as st

from digitlab import preprocess
from digitlab.evaluation import inspect_input

CANVAS = 280  # px; 10x MNIST's 28
DRAW_PROMPT = "Draw a digit on the canvas (or upload a picture): the prediction appears here as soon as a stroke ends."


def answer(clf, digit: common.Digit | None, prompt: str = DRAW_PROMPT) -> None:
    """The right-hand column: the prediction for the current digit, or a prompt; a picture the model refuses
    that holds several digits points to the Numbers page."""
    if digit is None:
        st.info(prompt)
        return
    pred = clf.predict_prepared([digit.prepared], common.current_writing())[0]
    common.show_prediction(pred, digit.no_ink_text())
    if pred.refused:
        common.point_to_numbers(clf, digit)
    keep_ui.keep(digit, None if pred.no_ink else pred.label)
    strokes = inspect_input.stroke_count(st.session_state.canvas_json) if digit.origin == "drawing" else 0
    st.caption(f"Model: **{common.plain(clf.name)}** · input from the {common.plain(digit.origin)}"
               + (f" ({strokes} stroke{'s' if strokes != 1 else ''})" if strokes else ""))


def steps(digit: common.Digit | None) -> None:  # optional inline inspector (the Preprocessing page's, smaller)
    if digit is not None and st.toggle("Show the preprocessing steps", key="show_steps"):
        common.show_steps(digit.prepared, size=130)
        if digit.prepared.image is not None:
            common.show_likeness(digit.prepared.image)


def picture_digit(data: bytes, file_id: str, origin: str, invert: str) -> common.Digit | str:
    """An uploaded or photographed picture through ``preprocess.prepare``, the one path: its Digit, or why it
    cannot be used.  Each (file, ink) is prepared once and kept for the reruns (session state "uploaded")."""
    memo = st.session_state.uploaded
    if (file_id, invert) in memo:
        return memo[(file_id, invert)]
    try:
        prepared = preprocess.prepare(data, invert=invert)
    except preprocess.ImageError as e:
        return str(e)
    memo[(file_id, invert)] = common.Digit(prepared, origin, picture=data)
    return memo[(file_id, invert)]


def show_picture(digit: common.Digit | None, caption: str) -> None:
    if digit is not None:
        st.image(inspect_input.enlarge(digit.prepared.steps[0][1], CANVAS), caption=caption)
        for note in digit.prepared.notes:
            st.caption(f"ℹ️ {note}")


PICTURE_PANELS = {  # widget, its label, what to do, the prediction column's prompt
    "Upload": ("Picture of one digit", "Upload a photo or scan of one handwritten digit.", DRAW_PROMPT),
    "Camera": ("Photo of one handwritten digit",
               "Allow the camera, hold the paper flat and well lit with the digit filling a good part of the frame, and take the photo.",
               "Take a photo of one handwritten digit: the prediction appears here."),
}


def picture_panel(clf, source: str) -> None:
    """An uploaded picture or a photo from the laptop's or phone's camera: the same path for both."""
    label, hint, prompt = PICTURE_PANELS[source]
    left, right = st.columns([1, 1], gap="large")
    with left:
        if source == "Upload":
            got = st.file_uploader(label, type=common.UPLOAD_TYPES, key="upload", help="PNG, JPEG, WebP, BMP, TIFF or GIF")
        else:
            got = st.camera_input(label, key="camera")
        invert = common.ink_choice(f"{source.lower()}_invert")
        st.session_state[common.DIGIT_KEY] = None
        if got is None:
            st.info(hint)
        else:
            name, origin, caption = ((common.plain(got.name), f"upload: {got.name}", got.name) if source == "Upload"
                                     else ("the camera photo", "camera photo", "the photo, as taken"))
            digit = picture_digit(got.getvalue(), got.file_id, origin, invert)
            st.session_state.uploaded = {k: d for k, d in st.session_state.uploaded.items() if k[0] == got.file_id}
            if isinstance(digit, str):
                st.error(f"Cannot use **{name}**: {common.plain(digit)}")
            else:
                st.session_state[common.DIGIT_KEY] = digit
                show_picture(digit, caption)
    with right:
        answer(clf, st.session_state[common.DIGIT_KEY], prompt)
    steps(st.session_state[common.DIGIT_KEY])
