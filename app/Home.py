"""Draw, upload or photograph a digit and see what the model thinks, live: ``streamlit run app/Home.py``."""

import common
import keep_ui
import streamlit as st

from digitlab import preprocess
from digitlab.evaluation import inspect_input

CANVAS = 280  # px; 10x MNIST's 28
# background, ink, invert, and the background's tone: every pixel off it is ink (preprocess.prepare's drawn_on)
THEMES = {"Light": ("#FFFFFF", "#000000", "yes", 1.0), "Dark": ("#000000", "#FFFFFF", "no", 0.0)}


def canvas_key() -> str:
    return f"canvas-{st.session_state.get('canvas_theme', 'Light')}-{st.session_state.canvas_nonce}"


def clear_canvas() -> None:
    st.session_state.canvas_nonce += 1
    st.session_state.canvas_json = st.session_state.canvas_restore = st.session_state.drawn = None


DRAW_PROMPT = "Draw a digit on the canvas (or upload a picture): the prediction appears here as soon as a stroke ends."


def show_prediction(clf, digit: common.Digit | None, prompt: str = DRAW_PROMPT) -> None:
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
    st.caption(f"Model: **{clf.name}** · input from the {digit.origin}" + (f" ({strokes} stroke{'s' if strokes != 1 else ''})" if strokes else ""))


def show_steps(digit: common.Digit | None) -> None:  # optional inline inspector (the Preprocessing page's, smaller)
    if digit is not None and st.toggle("Show the preprocessing steps", key="show_steps"):
        common.show_steps(digit.prepared, size=130)
        if digit.prepared.image is not None:
            common.show_likeness(digit.prepared.image)


@st.fragment
def draw_panel(clf) -> None:
    """Canvas, prediction and steps.  A fragment: a stroke reruns only this, not the page and
    sidebar around it, which keeps stroke-to-prediction short."""
    left, right = st.columns([1, 1], gap="large")
    with left:
        # The controls are drawn below the canvas and its toolbar (common.CANVAS_FIX),
        # so the canvas reads their values from session state.
        brush = st.session_state.get("brush", 20)
        theme = st.session_state.get("canvas_theme") or "Light"
        background, ink, invert, drawn_on = THEMES[theme]
        key = canvas_key()
        if key not in st.session_state:
            # A fresh mount (first visit, or back from another page, which drops widget state):
            # redraw the last strokes.  Kept constant while the canvas lives, so undo keeps working.
            st.session_state.canvas_restore = st.session_state.canvas_json
        result = common.canvas(key, CANVAS, CANVAS, brush, ink, background, initial=st.session_state.canvas_restore)
        c1, c2, c3 = st.columns([2, 2, 1], vertical_alignment="bottom")
        c1.slider("Brush size", 6, 40, 20, key="brush", persist_state="session")
        c2.segmented_control("Canvas", list(THEMES), default="Light", required=True, key="canvas_theme", on_change=clear_canvas,
                             persist_state="session")
        c3.button("Clear", on_click=clear_canvas, key="clear", width="stretch")
        st.caption("Draw one digit, large. Undo and redo are in the canvas toolbar (below the canvas); **Clear** starts over.")
        picture = result.image_data
        if picture is not None:  # the canvas sent a new drawing
            st.session_state.canvas_json = result.json_data
            st.session_state.drawn = common.Digit(preprocess.prepare(picture, invert=invert, drawn_on=drawn_on), "drawing", drawn_on=drawn_on,
                                                  picture=picture)
        elif inspect_input.stroke_count(result.json_data) == 0 and st.session_state.canvas_restore is None:
            st.session_state.drawn = None  # a blank canvas, not a restored one
        st.session_state[common.DIGIT_KEY] = st.session_state.drawn
    with right:
        show_prediction(clf, st.session_state[common.DIGIT_KEY])
    show_steps(st.session_state[common.DIGIT_KEY])


def picture_digit(data: bytes, file_id: str, name: str, origin: str, invert: str, memo: str) -> common.Digit | None:
    """An uploaded or photographed picture through ``preprocess.prepare``, the one path; a picture that cannot be
    used shows the reason and gives None.  ``memo``: the session-state key that keeps the last good
    (file id, invert, Digit), so reruns reuse the prepared picture."""
    last = st.session_state.get(memo)
    if last and last[:2] == (file_id, invert):
        return last[2]
    try:
        prepared = preprocess.prepare(data, invert=invert)
    except preprocess.ImageError as e:
        st.error(f"Cannot use **{name}**: {e}")
        return None
    digit = common.Digit(prepared, origin, picture=data)
    st.session_state[memo] = (file_id, invert, digit)
    return digit


def show_picture(digit: common.Digit | None, caption: str) -> None:
    if digit is not None:
        st.image(inspect_input.enlarge(digit.prepared.steps[0][1], CANVAS), caption=caption)
        for note in digit.prepared.notes:
            st.caption(f"ℹ️ {note}")


PICTURE_PANELS = {  # widget, its label, what to do, the prediction column's prompt, the memo key
    "Upload": ("Picture of one digit", "Upload a photo or scan of one handwritten digit.", DRAW_PROMPT, "uploaded"),
    "Camera": ("Photo of one handwritten digit",
               "Allow the camera, hold the paper flat and well lit with the digit filling a good part of the frame, and take the photo.",
               "Take a photo of one handwritten digit: the prediction appears here.", "photographed"),
}


def picture_panel(clf, source: str) -> None:
    """An uploaded picture or a photo from the laptop's or phone's camera: the same path for both."""
    label, hint, prompt, memo = PICTURE_PANELS[source]
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
            name, origin, caption = ((got.name, f"upload: {got.name}", got.name) if source == "Upload"
                                     else ("the camera photo", "camera photo", "the photo, as taken"))
            digit = picture_digit(got.getvalue(), got.file_id, name, origin, invert, memo)
            st.session_state[common.DIGIT_KEY] = digit
            show_picture(digit, caption)
    with right:
        show_prediction(clf, st.session_state[common.DIGIT_KEY], prompt)
    show_steps(st.session_state[common.DIGIT_KEY])


common.page("Draw a digit")
clf = common.require_model(common.sidebar())
source = st.segmented_control(
    "Input", ["Draw", "Upload", "Camera"], default="Draw", required=True, key="input_mode", label_visibility="collapsed", persist_state="session"
)
if source == "Draw":
    draw_panel(clf)
else:
    picture_panel(clf, source)
