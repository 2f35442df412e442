"""What every page shares: the set-up and the sidebar the entry point (Home.py) lays out once for every
page, session state, the one cached model loader, and a few render helpers.  Layout only: every number
comes from a ``digitlab`` call.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import re
import runpy
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import streamlit as st

from digitlab import memory, paths, preprocess
from digitlab.evaluation import inspect_input
from digitlab.models import artifacts
from digitlab.serving import classifiers, runtime, writing


def _keep_tensorflow_warm() -> None:
    """Stop Streamlit from resetting Keras after every script run.

    ``streamlit.runtime.scriptrunner.script_runner._clean_problem_modules`` calls
    ``keras.backend.clear_session()`` after each run, which empties TensorFlow's kernel
    cache: the next stroke's forward pass then rebuilds every kernel (~40 ms on an idle
    machine, several hundred under load) instead of taking ~2 ms.  The models here are
    loaded once and shared (``st.cache_resource``) and no page builds a model per run, so
    there is nothing to reset.  Only Streamlit's matplotlib clean-up is kept, and the memory the run
    freed goes back to the system (``memory.release_free_memory``, under a millisecond), so one page's work does not stay
    on top of the next page's.  (The other per-run cost, a full ``gc.collect`` that holds the GIL for
    100-300 ms while the last deltas wait to be sent, is switched off in .streamlit/config.toml:
    runner.postScriptGC.)
    """
    from streamlit.runtime.scriptrunner import script_runner

    current = getattr(script_runner, "_clean_problem_modules", None)
    if current is None or getattr(current, "_digitlab", False):
        return  # another Streamlit version, or already done

    def clean_matplotlib_only() -> None:
        plt = sys.modules.get("matplotlib.pyplot")
        if plt is not None:
            plt.close("all")
        memory.release_free_memory()

    clean_matplotlib_only._digitlab = True
    script_runner._clean_problem_modules = clean_matplotlib_only


_keep_tensorflow_warm()
memory.limit_malloc_arenas()  # before the pages that need TensorFlow start its threads (digitlab/memory.py)
memory.prepare_tensorflow_for_the_server()  # before a page imports TensorFlow: no oneDNN kernels (digitlab/memory.py)

HOME = "pages/0_Draw.py"  # the page at the app's root URL ("Home" in the navigation), for st.page_link
MODEL_KEY = "model"  # name of the chosen model; survives page switches (not a widget key)
PICKER_KEY = "_model_picker"  # the sidebar widget; widget state is dropped on page switches
DIGIT_KEY = "digit"  # the current input (a Digit), shared by every page
WRITING_KEY = "writing"  # how the writer writes 1 and 7 (serving.writing), the sidebar's setting for every page
WRITING_LOCALE_KEY = "writing_locale"  # the browser language the setting started from, when it started continental
WRITING_LABELS = {writing.DEFAULT: "As MNIST's writers", writing.CONTINENTAL: "Continental"}


@dataclass
class Digit:
    """The input drawn or uploaded on Home, as the other pages see it."""

    prepared: preprocess.Prepared
    origin: str  # "drawing", "upload: <file name>" or "camera photo"
    several: dict = field(default_factory=dict)  # model name -> its numbers.held_number reading (or None), asked once
    drawn_on: float | None = None  # a canvas drawing: its background's tone (preprocess.prepare's drawn_on)
    picture: object = None  # what was drawn or uploaded, as handed over (the canvas array, the file's bytes): to keep it

    @property
    def invert(self) -> str:
        """The ink as this input was read ("yes": dark on light), for reading the same picture again."""
        return "yes" if self.prepared.inverted else "no"

    @functools.cached_property
    def key(self) -> str:
        """This input apart from every other: its picture's hash, the same on every rerun that reads it again."""
        data = self.picture if isinstance(self.picture, bytes) else np.ascontiguousarray(self.picture).tobytes()
        return hashlib.sha1(data + self.origin.encode()).hexdigest()[:16]

    @property
    def what(self) -> str:
        """The input as a message names it."""
        if self.origin.startswith("upload: "):
            return f"the uploaded picture **{plain(self.origin.removeprefix('upload: '))}**"
        return {"drawing": "the drawing", "camera photo": "the photo"}.get(self.origin, self.origin)

    def no_ink_text(self) -> str:
        """What the prediction column says when this input has no ink: a picture is not a drawing to go on with."""
        if self.origin == "drawing":
            return NO_INK
        return (f"No ink found in {self.what}: it looks blank, or its strokes are too faint to tell from the paper. "
                "Try a picture of one digit written darker, or set **Ink** to how it is written.")


# Markdown that text from a file could start: emphasis, code, links and images ([ ]), HTML and autolinks (<),
# tables, strike-through, LaTeX, entities.  Streamlit renders every caption, message, title and radio label
# as Markdown, so a model file named "[click me](https://x).keras" would show a link, and a card value
# "![t](https://example.com/x.png)" would make the browser fetch that picture.
_MARKUP = re.compile(r"([\\`*\[\]<>|~$&])")
_EDGE_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")  # one inside a word never emphasises
# where a line starts: a heading, a quote, a list item ("- ", "1. ") or a rule ("---")
_LINE_START = re.compile(r"^(\s*)(#{1,6}(?=\s|$)|>|[-+](?=\s|$)|-(?=\s*-\s*-)|\d{1,9}(?=[.)](?:\s|$)))")
# GFM turns bare web and mail addresses into links after the Markdown is parsed (backslashes do not stop
# it): a word joiner (U+2060, invisible) between "https" and "://", "www" and ".", "@" and the domain.
_AUTOLINK = re.compile(r"(?i)(?<=http)(?=s?:)|(?<=www)(?=\.)|(?<=@)")
_JOINER = "\u2060"


def plain(text) -> str:
    """``text`` from outside the code (a model's name, a card's value, a reason that quotes them, an uploaded
    file's name) as Markdown that shows it letter for letter: no link, picture, emphasis or heading.  Every
    page passes such text through here before Streamlit renders it (captions, messages, titles, labels)."""
    text = " ".join(str(text).splitlines())
    text = _MARKUP.sub(r"\\\1", text)
    text = _EDGE_UNDERSCORE.sub(r"\\_", text)
    text = _LINE_START.sub(lambda m: m.group(1) + (f"{m.group(2)}\\" if m.group(2)[0].isdigit() else f"\\{m.group(2)}"), text)
    return _AUTOLINK.sub(_JOINER, text)


def code(text) -> str:
    """``text`` from outside the code as an inline code span (a path, a command): fenced by more backticks than
    it holds, so no backtick in it can close the span; a code span shows its text as it is."""
    text = " ".join(str(text).splitlines())
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def sentence(text: str) -> str:
    """``text`` with its first letter made a capital, the rest as it is (a path or a name keeps its case)."""
    return text[:1].upper() + text[1:]


def point_to_numbers(clf, digit: Digit) -> None:
    """Under a refused prediction: when the picture holds several digits, each a digit to the abstain rule (the
    Numbers page's reader, asked once per input and model), say so and link the Numbers page instead of leaving
    "not sure" alone.  A picture that is no digit at all (a line, a scribble) gets no such hint."""
    from digitlab.serving import numbers

    if clf.name not in digit.several:
        picture = digit.prepared.steps[0][1]  # the picture as read, before the one-digit steps
        digit.several[clf.name] = numbers.held_number(picture, clf, invert=digit.invert, drawn_on=digit.drawn_on)
    reading = digit.several[clf.name]
    if reading is not None:
        st.info(f"{sentence(digit.what)} holds **{len(reading.digits)} digits** side by side (read as **{reading.number}**), "
                "and Home reads one digit at a time. The **Numbers** page reads a whole number, digit by digit.")
        st.page_link("pages/7_Numbers.py", label="Read it on the Numbers page", icon=":material/pin:")


def models_dir() -> Path:
    """Re-read $DIGITLAB_MODELS_DIR on every run (tests point it at a scratch folder)."""
    env = os.environ.get("DIGITLAB_MODELS_DIR")
    return Path(env) if env else paths.MODELS_DIR


def user_models_dir() -> Path:
    """The user's own models ($DIGITLAB_USER_MODELS, else user_models/; git-ignored): where fine-tuning writes."""
    return paths.user_models_dir()


def reports_dir() -> Path:
    """Where the evaluation scripts write their reports and the stress pages keep their caches;
    re-read $DIGITLAB_REPORTS_DIR on every run (tests point it at a scratch folder)."""
    env = os.environ.get("DIGITLAB_REPORTS_DIR")
    return Path(env) if env else paths.REPORTS_DIR


# streamlit-drawable-canvas 0.13 floats its toolbar (undo, redo, clear), invisible, over the top edge of the
# canvas while the pointer is elsewhere (.dc-toolbar: opacity 0, top -1rem, ~141x46 px): a stroke started
# there went to the toolbar and was lost, and with touch (no hover) always.  The component lives in a shadow
# root (isolate_styles), out of reach of the page's CSS, so a small script adds this rule to every shadow
# root, as it is made (remounted canvases included): the toolbar is laid out below the canvas, always visible, and no
# part of the canvas is covered (tests/browser/test_canvas_corners.py).
CANVAS_FIX = """<script>
(() => {
  if (window.__digitlabCanvasFix) return;
  window.__digitlabCanvasFix = true;
  const css = ".dc-toolbar{position:static!important;opacity:1!important;padding:.35rem 0 0 0!important}";
  const fix = (root) => {
    const style = document.createElement("style");
    style.dataset.digitlab = "toolbar";
    style.textContent = css;
    root.appendChild(style);
  };
  // every shadow root made from now on (a canvas remounted by Clear), and the ones already there
  const attach = Element.prototype.attachShadow;
  Element.prototype.attachShadow = function (init) { const root = attach.call(this, init); fix(root); return root; };
  for (const host of document.querySelectorAll("*")) if (host.shadowRoot) fix(host.shadowRoot);
})();
</script>"""


UPLOAD_TYPES = sorted(suffix.lstrip(".") for suffix in preprocess.IMAGE_SUFFIXES)  # what the file uploaders take: what pictures reads
INVERT = {"auto": "Detect", "yes": "Dark ink on light paper", "no": "Light ink on dark background"}  # the ink choice beside an upload


def ink_choice(key: str) -> str:
    """The "Ink" radio beside an upload or a photo: "auto", "yes" or "no" (preprocess.Invert)."""
    return st.radio("Ink", list(INVERT), format_func=INVERT.get, horizontal=True, key=key)


def canvas(key: str, width: int, height: int, brush: int, ink: str = "#000000", background: str = "#FFFFFF", initial=None):
    """The drawable canvas every page draws on (freehand, image data returned, the toolbar laid out
    below it by CANVAS_FIX); its result has ``.image_data`` (H, W, 4) and ``.json_data``."""
    from streamlit_drawable_canvas import st_canvas  # lazily: imported outside a running app it raises

    return st_canvas(stroke_width=brush, stroke_color=ink, background_color=background, height=height, width=width,
                     drawing_mode="freedraw", update_streamlit=True, return_image_data=True, initial_drawing=initial, key=key)


ROUTER = Path(__file__).with_name("Home.py")  # the entry point: st.navigation, page config, the shared sidebar


def routed() -> None:
    """The first call of every page: make sure the entry point runs it.  Streamlit runs a file of pages/ by itself,
    without the entry point, as long as it reads pages/ the old way: until st.navigation is first called in the
    server's process (the first run after a start, e.g. a link straight to /Explain) and on every run under
    AppTest, which starts each run anew.  Then the entry point is run here instead, which runs this page with the
    set-up and the sidebar every page has, and the direct run ends."""
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:  # st.navigation sets it to False
        runpy.run_path(str(ROUTER))
        st.stop()


def setup(page) -> None:
    """What the entry point does once for whichever page runs (``page``: the st.Page picked): the page config,
    the canvas fix (CANVAS_FIX) and the session-state defaults (set once per session)."""
    st.set_page_config(page_title=f"digitlab · {page.title}", page_icon=page.icon, layout="wide")
    st.html(CANVAS_FIX, unsafe_allow_javascript=True)
    defaults = {
        MODEL_KEY: None,
        DIGIT_KEY: None,
        "drawn": None,  # Digit from the canvas
        "uploaded": {},  # (file id, invert) -> Digit: the pictures uploaded on Home, each prepared once
        "canvas_nonce": 0,  # part of the canvas key: Clear bumps it, which empties the canvas
        "canvas_json": None,  # the last strokes (Fabric.js JSON), redrawn when Home is opened again
        "canvas_restore": None,
        "model_upload_result": None,  # ("success" | "error", message) from the Models page
    }
    for key, value in defaults.items():
        if key not in st.session_state:
            st.session_state[key] = value


# ----------------------------------------------------------------------------- models


@st.cache_resource(show_spinner="Loading the model…", max_entries=8)
def _served(path: str, key: str) -> runtime.ServedModel:
    """One ONNX Runtime session per model file version (keyed by its hash), shared by every page and
    session: what Home, Collect and every prediction use.  No TensorFlow in the server for these."""
    entry = next((e for e in runtime.list_models(Path(path).parent) if str(e.path) == path), None)
    if entry is None or not entry.usable:
        raise artifacts.ModelError(entry.reason if entry else f"{path}: not in its models folder any more")
    clf = runtime.ServedModel(entry, runtime.served_file(Path(path), "classifier", Path(path).parent))
    clf.predict_prepared([preprocess.prepare(np.zeros((28, 28), np.uint8))])  # first run, gate included, now
    return clf


@st.cache_resource(show_spinner="Loading the Keras model (for gradients)…", max_entries=4)
def _keras(path: str, key: str) -> classifiers.Classifier:
    """The Keras model in the server, only for Explain's neighbours of a model with no served file: the maps and the
    attacks compute in a child process (``digitlab.evaluation.gradients``), so TensorFlow stays out of the server."""
    entry = artifacts.inspect(Path(path))
    clf = classifiers.Classifier(entry)
    clf.predict_proba(np.zeros((1, 28, 28), np.float32))  # traces the tf.function now, not on the first stroke
    return clf


def list_models() -> list[artifacts.ModelEntry]:
    """Every model in models/ and then in the user's folder (``user_models_dir``), from the cards and the
    conversion records (no model is loaded): usable ones first, the committed before the user's, so a
    user's model never becomes the default pick.  A user model named like a committed one is listed as
    unusable (the picker tells models apart by name)."""
    committed = runtime.list_models(models_dir(), background=True)  # new files: listed at once, converted in the background
    mine_dir = user_models_dir()
    if not mine_dir.is_dir() or mine_dir.resolve() == models_dir().resolve():
        return committed
    names = {e.name for e in committed}
    mine = [e if e.name not in names else
            dataclasses.replace(e, usable=False, reason=f"{e.path.name} in {paths.shown(mine_dir)}: a model in {paths.shown(models_dir())} has that name")
            for e in runtime.list_models(mine_dir, background=True)]
    return [e for e in committed + mine if e.usable] + [e for e in committed + mine if not e.usable]


def is_users(entry: artifacts.ModelEntry) -> bool:
    """Is this model from the user's own folder (fine-tuned here), not models/?"""
    return entry.path.parent.resolve() == user_models_dir().resolve()


def classifier(entry: artifacts.ModelEntry, keras: bool = False) -> runtime.ServedModel | classifiers.Classifier:
    """The chosen model: served through ONNX Runtime, or (``keras``) the Keras model itself."""
    return (_keras if keras else _served)(str(entry.path), runtime.file_key(entry.path))


def _remember_pick() -> None:
    st.session_state[MODEL_KEY] = st.session_state[PICKER_KEY]


def sidebar() -> None:
    """The sidebar every page shares, laid out once by the entry point: the model picker (every usable model
    with its card's headline, unusable files with their reason) and how you write 1 and 7.  It loads no
    model: a page that predicts asks for the chosen one (``require_model``), so the pages that only show
    cards or data never load one."""
    entries = list_models()
    usable = [e for e in entries if e.usable]
    bad = [e for e in entries if not e.usable]
    with st.sidebar:
        st.header("Model")
        if not usable:
            st.error(f"No usable model in {code(models_dir())}. Train one: `python training/train_cnn.py` (or add a .keras file on the Models page).")
        else:
            names = [e.name for e in usable]
            if st.session_state[MODEL_KEY] not in names:
                st.session_state[MODEL_KEY] = names[0]  # the best test accuracy on its card
            st.session_state[PICKER_KEY] = st.session_state[MODEL_KEY]
            captions = [plain(("yours · " if is_users(e) else "") + e.headline().removeprefix(e.name).strip(" ·")) for e in usable]
            st.radio("Model", names, key=PICKER_KEY, format_func=plain, captions=captions, on_change=_remember_pick,
                     label_visibility="collapsed")
        if bad:
            st.caption(f"{len(bad)} model file(s) cannot be used:")
            for e in bad:
                st.caption(f"⚠️ {plain(e.reason)}")
        writing_choice()


def chosen() -> artifacts.ModelEntry | None:
    """The model picked in the sidebar (its listing entry), or None when no model is usable."""
    usable = [e for e in list_models() if e.usable]
    return next((e for e in usable if e.name == st.session_state.get(MODEL_KEY)), usable[0] if usable else None)


def writing_choice() -> None:
    """The sidebar's "How you write 1 and 7": every page's predictions read the odds between 1 and 7 this way.  It
    starts where the browser's language suggests (``writing.for_locale``: "de-DE" continental, "en-US" as MNIST's
    writers) and says so when that is continental; the writer's choice then stands for the session."""
    if WRITING_KEY not in st.session_state:
        locale = st.context.locale
        st.session_state[WRITING_KEY] = writing.for_locale(locale)
        st.session_state[WRITING_LOCALE_KEY] = locale if st.session_state[WRITING_KEY] != writing.DEFAULT else None
    st.radio("How you write 1 and 7", list(writing.WRITINGS), format_func=WRITING_LABELS.get, key=WRITING_KEY,
             captions=[writing.ABOUT[w] for w in writing.WRITINGS], persist_state="session",
             help="The same shape is a 1 to a continental European and a 7 to MNIST's American writers. Continental moves "
                  "the odds between 1 and 7 only; every other digit is read as before.")
    locale = st.session_state.get(WRITING_LOCALE_KEY)
    if locale and st.session_state[WRITING_KEY] == writing.for_locale(locale):
        st.caption(f"Set from your browser's language ({plain(locale)}); change it if you write otherwise.")


def current_writing() -> str:
    return st.session_state.get(WRITING_KEY) or writing.DEFAULT


def require_model(keras: bool = False) -> runtime.ServedModel | classifiers.Classifier:
    """Guard and loader: the model picked in the sidebar, served by ONNX Runtime, or (``keras``) the Keras model
    itself for the pages that need gradients; the page stops with a clear message when there is none."""
    entry = chosen()
    if entry is None:
        st.warning("There is no usable model yet, so there is nothing to predict with. See the sidebar.")
        st.stop()
    try:
        return classifier(entry, keras)
    except artifacts.ModelError as e:  # a model listed before its check (pending) that the check refused
        st.error(f"**{plain(entry.name)}** cannot be used: {plain(e)}")
        st.stop()


def require_digit() -> Digit:
    """Guard for the pages that explain the current digit."""
    digit = st.session_state.get(DIGIT_KEY)
    if digit is None:
        st.info("No digit yet: draw one or upload a picture on the **Home** page, then come back.")
        st.page_link(HOME, label="Go to Home", icon=":material/edit:")
        st.stop()
    if digit.prepared.no_ink:
        st.info("The current picture has no ink: draw a digit on **Home** first.")
        st.page_link(HOME, label="Go to Home", icon=":material/edit:")
        st.stop()
    return digit


# ----------------------------------------------------------------------------- rendering


CALIBRATED_NOTE = ("Confidences are calibrated: of the answers shown at 90%, about 90% are right on held-out MNIST digits "
                   "(the model's scores divided by the temperature in its card). Every page uses this scale.")

PROBABILITY_CHART = {
    "height": 200,
    "mark": {"type": "bar", "tooltip": True},
    "encoding": {
        "x": {"field": "digit", "type": "ordinal", "axis": {"labelAngle": 0}},
        "y": {"field": "probability", "type": "quantitative", "scale": {"domain": [0, 1]}, "axis": {"format": "%"}},
    },
}


NO_INK = "No ink found yet: draw a digit (or upload a picture of one) and the prediction appears here."


def show_prediction(pred: classifiers.Prediction, no_ink: str = NO_INK) -> None:
    """The predicted digit, its confidence and a bar chart over all ten digits; a refusal of the
    abstain rule ("not sure this is a digit") with its reason and the best guess instead of a digit.
    ``no_ink``: what to say when the input has no ink (an upload is not a drawing to go on with)."""
    if pred.no_ink:
        st.info(no_ink)
        return
    if pred.refused:
        st.warning(f"**Not sure this is a digit** ({plain(pred.reason)}). Best guess: {pred.label} ({pred.confidence:.1%}).")
        show_probabilities(pred)
        return
    if pred.close:
        second, p2 = pred.runner_up
        st.metric("Prediction", f"{pred.label} or {second}?", f"{pred.label}: {pred.confidence:.1%} · {second}: {p2:.1%}", delta_color="off", delta_arrow="off")
    else:
        st.metric("Prediction", str(pred.label), f"{pred.confidence:.1%} confident", delta_color="off", delta_arrow="off")
    if pred.by_writing:
        st.caption(f"Read as {WRITING_LABELS[pred.writing].lower()} hands write: on its own the model reads a "
                   f"{int(np.argmax(pred.raw_probabilities))} (the sidebar's *How you write 1 and 7*).")
    elif pred.writing == writing.DEFAULT and (other := writing.label(pred.raw_probabilities, writing.CONTINENTAL)) != pred.label:
        st.caption(f"Continental hands would mean a {other} here (a 1 with a long up-stroke): if you write that way, say so in "
                   "the sidebar's *How you write 1 and 7*.")
    show_probabilities(pred)
    st.caption(CALIBRATED_NOTE)


def show_probabilities(pred: classifiers.Prediction) -> None:
    """Bar chart of all ten probabilities."""
    data = {"digit": [str(d) for d in range(10)], "probability": [float(p) for p in pred.probabilities]}
    st.vega_lite_chart(data, PROBABILITY_CHART, width="stretch")  # a plain spec: ~1 ms, against ~10 ms for st.bar_chart


def show_steps(prepared: preprocess.Prepared, size: int = 150) -> None:
    """Every preprocessing step from the raw picture to the 28x28 input, side by side."""
    cols = st.columns(len(prepared.steps))
    for col, (title, picture) in zip(cols, prepared.steps):
        h, w = picture.shape[:2]
        col.image(inspect_input.enlarge(picture, size, square=True), caption=f"{title} ({w}×{h})")
    for note in prepared.notes:
        st.caption(f"ℹ️ {note}")


def show_likeness(image) -> None:
    """How MNIST-like the 28x28 input is, quantity by quantity."""
    from digitlab import data

    try:
        with st.spinner("Measuring MNIST's typical digit shape (once per server)…"):
            reference = inspect_input.mnist_reference()
    except data.DataError as e:
        st.info(f"Cannot compare with MNIST: {e}")
        return
    rows = inspect_input.mnist_likeness(image, reference)
    summary = inspect_input.likeness_score(rows)
    (st.success if summary.startswith("MNIST-like") else st.warning)(summary)
    st.dataframe([r.as_row() for r in rows], hide_index=True, width="stretch")


# ----------------------------------------------------------------------------- explanations


def model_key(clf) -> str:
    """Identifies a model file version in cache keys (keras models are not hashable by st.cache_data)."""
    return f"{clf.entry.path}:{runtime.file_key(clf.entry.path)}"


@st.cache_data(max_entries=64, show_spinner=False)
def confusion_png(model_path: str, mtime_ns: int) -> tuple[bytes | None, str | None]:
    """The test confusion matrix from ``<name>.metrics.json`` as a PNG (cached per file version), and None; (None, why)
    when the file's matrix is refused (``model_report.confusion_checked``); (None, None) when there is none."""
    from digitlab.report import model_report, plots

    cm, why = model_report.confusion_checked(Path(model_path))
    return (None if cm is None else plots.confusion_png(cm, "test confusion matrix")), why


def install_uploaded_model() -> None:
    """Models page uploader callback (runs once per new file): validate and save through
    artifacts, and remember the outcome to show it."""
    upload = st.session_state.get("model_file")
    if upload is None:  # the file was removed from the uploader
        st.session_state.model_upload_result = None
        return
    try:
        entry = artifacts.install_model_file(upload.getvalue(), upload.name, models_dir())
    except artifacts.ModelError as e:
        st.session_state.model_upload_result = ("error", f"**{plain(upload.name)}** was refused, nothing was saved: {plain(e)}")
    else:
        st.session_state.model_upload_result = ("success", f"Added **{plain(entry.name)}** ({entry.layout} input, {entry.outputs}). It is now in the model picker.")
