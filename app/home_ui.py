"""Home's parts beside its canvas: the answer column, the preprocessing toggle, and the pictures uploaded (one
or several at once) or photographed.

A component of app/pages/0_Draw.py (layout only): every picture goes through ``digitlab.preprocess.prepare``, the
one path, and is read by the served model with one ``predict_prepared`` call.
"""

import common
import keep_ui
import streamlit as st

from digitlab import preprocess
from digitlab.evaluation import inspect_input

CANVAS = 280  # px; 10x MNIST's 28
THUMB = 56  # px: a picture in the list of several
MAX_PICTURES = 20  # read at once: each is decoded and prepared on every new upload (~0.1 s each)
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
    "Upload": ("Pictures of digits, one digit each", f"Upload a photo or scan of one handwritten digit, or up to {MAX_PICTURES} at once.",
               DRAW_PROMPT),
    "Camera": ("Photo of one handwritten digit",
               "Allow the camera, hold the paper flat and well lit with the digit filling a good part of the frame, and take the photo.",
               "Take a photo of one handwritten digit: the prediction appears here."),
}


def picture_panel(clf, source: str) -> None:
    """Uploaded pictures or a photo from the laptop's or phone's camera: the same path for both.  One picture is
    shown with its full answer; several are listed, each with its answer, and one of them is shown in full."""
    label, hint, prompt = PICTURE_PANELS[source]
    left, right = st.columns([1, 1], gap="large")
    with left:
        if source == "Upload":
            got = st.file_uploader(label, type=common.UPLOAD_TYPES, key="upload", accept_multiple_files=True,
                                   help=f"PNG, JPEG, WebP, BMP, TIFF or GIF; up to {MAX_PICTURES} at once, each read on its own")
        else:
            shot = st.camera_input(label, key="camera")
            got = [] if shot is None else [shot]
        invert = common.ink_choice(f"{source.lower()}_invert")
        st.session_state[common.DIGIT_KEY] = None
        files = got[:MAX_PICTURES]
        if not files:
            st.info(hint)
        if len(got) > MAX_PICTURES:
            st.warning(f"{len(got)} pictures uploaded: Home reads {MAX_PICTURES} at once, so only the first {MAX_PICTURES} are read "
                       "below. Remove some (✕ beside each file) to read the others.")
        read = [(f, picture_digit(f.getvalue(), f.file_id, f"upload: {f.name}" if source == "Upload" else "camera photo", invert))
                for f in files]
        st.session_state.uploaded = {k: d for k, d in st.session_state.uploaded.items() if k[0] in {f.file_id for f in files}}
        if len(read) == 1:
            f, digit = read[0]
            name = common.plain(f.name) if source == "Upload" else "the camera photo"
            if isinstance(digit, str):
                st.error(f"Cannot use **{name}**: {common.plain(digit)}")
            else:
                st.session_state[common.DIGIT_KEY] = digit
                show_picture(digit, f.name if source == "Upload" else "the photo, as taken")
        elif read:
            st.session_state[common.DIGIT_KEY] = several(clf, read)
    with right:
        answer(clf, st.session_state[common.DIGIT_KEY], prompt)
    steps(st.session_state[common.DIGIT_KEY])


def several(clf, read: list) -> common.Digit | None:
    """A compact row per picture (thumbnail, file name, answer), every usable one read in one model call; the one
    picked below them is the current digit, shown in full beside them and on every other page."""
    usable = [(f, d) for f, d in read if not isinstance(d, str)]
    preds = iter(clf.predict_prepared([d.prepared for _, d in usable], common.current_writing()) if usable else [])
    st.caption(f"{len(read)} pictures, each read on its own as one digit:")
    for i, (f, digit) in enumerate(read):
        with st.container(key=f"upload_row_{i}"):
            pic, words = st.columns([1, 6], vertical_alignment="center")
            if isinstance(digit, str):
                words.markdown(f"**{common.plain(f.name)}** · cannot use it: {common.plain(digit)}")
                continue
            pic.image(inspect_input.enlarge(digit.prepared.steps[0][1], THUMB), width=THUMB)
            words.markdown(f"**{common.plain(f.name)}** · {answer_words(next(preds))}")
    if not usable:
        return None
    by_id = {f.file_id: (f.name, d) for f, d in usable}
    shown = st.selectbox("Shown in full", list(by_id), format_func=lambda i: by_id[i][0], key="upload_shown",
                         help="The picture whose answer, probabilities and steps are shown in full, and that the other pages explain")
    return by_id[shown][1]


def answer_words(pred) -> str:
    """One picture's answer in a few words: the digit and its confidence, or "not sure"."""
    if pred.no_ink:
        return "no ink found"
    if pred.refused:
        return f"not sure this is a digit (best guess {pred.label})"
    return f"**{pred.label}** · {pred.confidence:.1%} confident"
