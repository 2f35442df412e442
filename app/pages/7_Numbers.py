"""Read a handwritten number: draw it on a wide canvas, upload a picture or take a photo.

    streamlit run app/Home.py   (then "Numbers" in the sidebar)

Each digit is found, boxed and read through the same preprocessing and the same abstain rule as one
digit on Home (digitlab.serving.numbers); the model is served by ONNX Runtime (no TensorFlow here).
"""

import warnings

import common
import streamlit as st

from digitlab import preprocess
from digitlab.evaluation import inspect_input
from digitlab.serving import numbers, reader

CANVAS_W, CANVAS_H = 840, 240  # px: room for eight digits of ~100 px
SOURCES = ["Draw", "Upload", "Camera"]


@st.cache_data(ttl=60, show_spinner=False)
def reader_unavailable(path: str) -> str | None:
    """Why the committed number reader at ``path`` cannot read (numbers are then read by the cuts alone), or None."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        found = reader.default()
    return None if found is not None else (str(caught[-1].message) if caught else "number reader unavailable")


def clear_canvas() -> None:
    st.session_state.numbers_nonce += 1
    st.session_state.numbers_drawn = None


def show_reading(reading: numbers.NumberReading, origin: str) -> None:
    """The picture with a numbered box per digit, the number, each digit's probabilities and its 28x28 input."""
    if reading.no_ink:
        st.info("No ink found yet: write a number (a few digits side by side) and it is read here.")
        for note in reading.notes:
            st.caption(f"ℹ️ {note}")
        return
    st.image(numbers.draw_boxes(reading), caption=f"{common.plain(origin)}: {len(reading.digits)} digit(s) found, numbered left to right")
    unsure = reading.unsure
    st.metric("Number read", reading.number, f"{len(unsure)} digit(s) not sure" if unsure else "every digit sure",
              delta_color="off", delta_arrow="off")
    if unsure:
        st.warning("Not sure of digit " + ", ".join(f"#{i + 1} (best guess {reading.digits[i].label})" for i in unsure)
                   + ": boxed in yellow. " + reading.digits[unsure[0]].prediction.message)
    if reading.read_by == "reader":
        st.info("Read by the **number reader**, which reads the whole line at once: the cuts between digits read it otherwise, "
                "and the reader finds their number far less likely than its own (the note below says by how much). Each digit's box is the ink between its neighbours' centres, and its probabilities are the "
                "reader's own (not calibrated like the model's).")
    st.dataframe(numbers.digit_rows(reading), hide_index=True, width="stretch")
    if reading.read_by != "reader":
        st.caption(common.CALIBRATED_NOTE)
    for i, d in enumerate(reading.digits, 1):
        with st.expander(f"Digit #{i}: {d.label} ({d.prediction.confidence:.1%}){' · not sure' if d.prediction.abstain else ''}"):
            left, right = st.columns([1, 3])
            if d.prediction.prepared is not None:
                left.image(inspect_input.enlarge(d.prediction.prepared.image, 140),
                           caption="its ink as a 28×28 input" if reading.read_by == "reader" else "the model's 28×28 input")
            with right:
                common.show_probabilities(d.prediction)
                st.caption(d.prediction.message)
    for note in reading.notes:
        st.caption(f"ℹ️ {note}")


def read(clf, picture, invert, origin: str, drawn_on: float | None = None) -> None:
    try:
        reading = numbers.read_number(picture, clf, invert=invert, drawn_on=drawn_on, writing=common.current_writing())
    except preprocess.ImageError as e:
        st.error(f"Cannot use **{common.plain(origin)}**: {common.plain(e)}")
        return
    show_reading(reading, origin)


@st.fragment
def draw_panel(clf) -> None:
    """The wide canvas and what is read from it.  A fragment: a stroke reruns only this."""
    result = common.canvas(f"numbers-canvas-{st.session_state.numbers_nonce}", CANVAS_W, CANVAS_H, st.session_state.get("numbers_brush", 12))
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    c1.slider("Brush size", 4, 30, 12, key="numbers_brush")
    c2.button("Clear", on_click=clear_canvas, key="numbers_clear", width="stretch")
    st.caption("Write a number with the digits side by side, like on paper. Undo and redo are in the toolbar below the canvas.")
    if result.image_data is not None and inspect_input.stroke_count(result.json_data) > 0:
        st.session_state.numbers_drawn = result.image_data
    elif inspect_input.stroke_count(result.json_data) == 0:
        st.session_state.numbers_drawn = None
    if st.session_state.numbers_drawn is None:
        st.info("Write a number on the canvas: it is read as soon as a stroke ends.")
        return
    read(clf, st.session_state.numbers_drawn, "yes", "drawing", drawn_on=1.0)  # black strokes on the canvas's white


common.routed()
st.title("Read a number")
for key, value in {"numbers_nonce": 0, "numbers_drawn": None}.items():
    if key not in st.session_state:
        st.session_state[key] = value
clf = common.require_model()
if (why := reader_unavailable(str(reader.READER_PATH))) is not None:
    st.warning("**The number reader is unavailable**, so each number is read by cutting it into digits, one digit at a time "
               f"(a digit that touches its neighbour may be read wrong). Why: {common.plain(why)}")
source = st.segmented_control("Input", SOURCES, default="Draw", required=True, key="numbers_source", label_visibility="collapsed")
if source == "Draw":
    draw_panel(clf)
elif source == "Upload":
    upload = st.file_uploader("Picture of a number", type=common.UPLOAD_TYPES, key="numbers_upload", help="PNG, JPEG, WebP, BMP, TIFF or GIF")
    invert = common.ink_choice("numbers_invert")
    if upload is None:
        st.info("Upload a photo or scan of a handwritten number.")
    else:
        read(clf, upload.getvalue(), invert, f"upload: {upload.name}")
else:
    shot = st.camera_input("Hold a written number up to the camera", key="numbers_camera")
    if shot is None:
        st.info("Allow the camera, hold the paper with the number flat and well lit, and take the photo.")
    else:
        read(clf, shot.getvalue(), "auto", "camera photo")
st.caption(f"Model: **{common.plain(clf.name)}** · served by ONNX Runtime")
