"""Draw, upload or photograph a digit and see what the model thinks, live: the app's home page
(``streamlit run app/Home.py``, then the root URL)."""

import common
import home_ui
import streamlit as st

from digitlab import preprocess
from digitlab.evaluation import inspect_input

CANVAS = home_ui.CANVAS
# background, ink, invert, and the background's tone: every pixel off it is ink (preprocess.prepare's drawn_on)
THEMES = {"Light": ("#FFFFFF", "#000000", "yes", 1.0), "Dark": ("#000000", "#FFFFFF", "no", 0.0)}


def canvas_key() -> str:
    return f"canvas-{st.session_state.get('canvas_theme', 'Light')}-{st.session_state.canvas_nonce}"


def clear_canvas() -> None:
    st.session_state.canvas_nonce += 1
    st.session_state.canvas_json = st.session_state.canvas_restore = st.session_state.drawn = None


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
        home_ui.answer(clf, st.session_state[common.DIGIT_KEY])
    home_ui.steps(st.session_state[common.DIGIT_KEY])


common.routed()
st.title("Draw a digit")
clf = common.require_model()
source = st.segmented_control(
    "Input", ["Draw", "Upload", "Camera"], default="Draw", required=True, key="input_mode", label_visibility="collapsed", persist_state="session"
)
if source == "Draw":
    draw_panel(clf)
else:
    home_ui.picture_panel(clf, source)
