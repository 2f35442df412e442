"""The Streamlit app through streamlit.testing.v1.AppTest, on the real models and real MNIST digits,
plus the app-side library (digitlab.inspect_input, digitlab.model_report).

Drawing: streamlit-drawable-canvas 0.13 keeps its state under its widget key as
``{"drawing": {"raw": <Fabric.js JSON>, "data": <PNG data URL>}, "backgroundFit": None}``;
putting that into session state before ``at.run()`` stands in for a stroke (AppTest shows the
canvas as an unknown element and cannot draw on it).
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from digitlab import pictures, preprocess
from digitlab.data import synthetic
from digitlab.evaluation import inspect_input, metrics
from digitlab.hardening import hostile_pictures
from digitlab.models import artifacts
from digitlab.report import model_report, plots
from digitlab.training import rebuild

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app"
MODELS = ROOT / "models"  # the real, committed models

TIMEOUT = 180  # the first run imports TensorFlow and loads every model


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def usable(committed_models):
    return committed_models


@pytest.fixture(scope="module")
def samples(mnist_test):
    """The first test digit of each class: {label: (28, 28) uint8}."""
    x, y = mnist_test
    return {d: x[int(np.flatnonzero(y == d)[0])] for d in range(10)}


@pytest.fixture(autouse=True)
def _the_app_sees_the_committed_models_only(scratch_models):
    """Every app run here lists a scratch folder of the committed models: a model the user added to (or
    fine-tuned into) models/ never changes what a test sees (a test may still point it elsewhere)."""
    return scratch_models


def new_app(page: str = "Home.py"):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP / "Home.py"), default_timeout=TIMEOUT)
    if page != "Home.py":
        at.run()
        at.switch_page(page)
    return at


def png(picture: np.ndarray, **save) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(picture).save(buf, format="PNG", **save)
    return buf.getvalue()


def canvas_key(at) -> str:
    """The key of the canvas on the page (it changes with Clear and with the canvas theme)."""
    keys = [e.key for e in _walk(at.main) if type(e).__name__ == "UnknownElement" and str(e.key).startswith("canvas-")]
    assert len(keys) == 1, keys
    return keys[0]


def _walk(block):
    for child in getattr(block, "children", {}).values():
        yield child
        yield from _walk(child)


def draw(at, digit: np.ndarray, dark: bool = False):
    at.session_state[canvas_key(at)] = inspect_input.canvas_state(synthetic.canvas_picture(digit, 280, background="black" if dark else "white"))
    return at.run()


def no_exception(at) -> None:
    assert not at.exception, [e.message for e in at.exception]


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


def shown_digit(at) -> str:
    """The digit Home shows: its Prediction metric, or the best guess in its "Not sure this is a
    digit" warning (the model card's abstain rule refused to vouch for it)."""
    if at.metric:
        return at.metric[0].value
    warning = texts(at.warning)
    assert "Not sure this is a digit" in warning, "Home shows neither a prediction nor a 'not sure' warning"
    return re.search(r"Best guess: (\d)", warning).group(1)


def snapshot(folder: Path) -> dict[str, int]:
    return {p.name: p.lstat().st_size for p in folder.iterdir()}


# ----------------------------------------------------------------------------- Home


def test_home_draw_predicts_real_mnist_digits(usable, samples):
    at = new_app().run()
    no_exception(at)
    assert "the prediction appears here" in texts(at.info)
    assert not at.metric
    wrong, unsure = [], []
    for label, digit in samples.items():
        draw(at, digit)
        no_exception(at)
        shown = shown_digit(at)
        if shown != str(label):
            wrong.append((label, shown))
        if at.metric:
            assert at.metric[0].label == "Prediction"
            assert "confident" in at.metric[0].delta
        else:
            unsure.append(label)
    assert len(wrong) <= 1, f"(true, shown): {wrong}"
    assert len(unsure) <= 1, f"the abstain rule refused {unsure}: it may refuse ~1% of MNIST digits, not more"
    assert usable[0].name in texts(at.caption), "the best model is picked by default"


def test_home_dark_canvas(samples):
    at = new_app().run()
    at.segmented_control(key="canvas_theme").set_value("Dark").run()
    no_exception(at)
    for label in (3, 8):
        assert canvas_key(at).startswith("canvas-Dark-")
        draw(at, samples[label], dark=True)
        no_exception(at)
        assert shown_digit(at) == str(label)


def test_home_reads_1_and_7_as_the_writer_says(committed_models, samples):
    """The sidebar's "How you write 1 and 7": a long-flag 1 that the default model reads as 7 is a 1 once the writer says
    "continental", Home says the setting made the difference, and the choice holds on the Numbers page too."""
    from support import long_flag_ones

    from digitlab.serving import runtime

    (one,) = long_flag_ones(runtime.load("mnist_advanced"), n=1)
    at = new_app().run()
    assert at.radio(key="writing").value == "default"
    at.segmented_control(key="canvas_theme").set_value("Dark").run()
    draw(at, samples[7], dark=True)  # an MNIST 7: a 7 however its writer writes, and no word of the setting
    assert at.metric[0].value == "7" and "Continental hands" not in texts(at.caption)
    at.session_state[canvas_key(at)] = inspect_input.canvas_state(synthetic.canvas_picture(one, 280, background="black"))
    at.run()
    no_exception(at)
    assert at.metric[0].value.startswith("7") and "Read as continental" not in texts(at.caption)
    assert "Continental hands would mean a 1 here" in texts(at.caption)  # the way to the setting, where it matters
    at.radio(key="writing").set_value("continental").run()
    no_exception(at)
    assert at.metric[0].value.startswith("1")
    assert "Read as continental hands write: on its own the model reads a 7" in texts(at.caption)
    assert "Continental hands would mean" not in texts(at.caption)
    at.switch_page("pages/7_Numbers.py").run()
    no_exception(at)
    assert at.radio(key="writing").value == "continental"


def test_home_blank_drawing_is_no_ink_not_a_guess():
    at = new_app().run()
    blank = np.full((280, 280, 4), 255, np.uint8)
    at.session_state[canvas_key(at)] = inspect_input.canvas_state(blank)
    at.run()
    no_exception(at)
    assert not at.metric
    assert "No ink found yet" in texts(at.info)


def test_home_clear_button_empties_the_prediction(samples):
    at = new_app().run()
    draw(at, samples[5])
    assert at.metric[0].value == "5"
    at.button(key="clear").click().run()
    no_exception(at)
    assert not at.metric
    assert "the prediction appears here" in texts(at.info)


def test_home_preprocessing_toggle(samples):
    at = draw(new_app().run(), samples[2])
    at.toggle(key="show_steps").set_value(True).run()
    no_exception(at)
    prepared = preprocess.prepare(synthetic.canvas_picture(samples[2]), invert="yes", drawn_on=1.0)  # as the light canvas
    captions = [c for img in at.image for c in img.captions]
    assert len(captions) == len(prepared.steps)
    assert captions[-1].startswith("28x28, centre of mass at centre")
    table = at.dataframe[0].value
    assert list(table["quantity"]) == [r.label for r in inspect_input.mnist_likeness(prepared.image)]


@pytest.mark.slow
def test_model_picker_lists_what_is_on_disk(scratch_models, samples):
    (scratch_models / "broken.keras").write_bytes(b"this is not a keras archive")
    at = new_app().run()
    no_exception(at)
    on_disk = artifacts.list_models(scratch_models)
    picker = at.sidebar.radio[0]
    assert picker.options == [e.name for e in on_disk if e.usable]
    assert picker.value == on_disk[0].name
    assert "broken.keras: not a Keras 3 .keras archive" in texts(at.sidebar.caption)
    # Switching model changes what predicts.
    other = on_disk[-2] if not on_disk[-1].usable else on_disk[-1]
    draw(at, samples[7])
    picker.set_value(other.name).run()
    no_exception(at)
    assert at.sidebar.radio[0].value == other.name
    assert f"Model: **{other.name}**" in texts(at.caption)
    assert at.metric[0].value == "7"


def test_keep_a_misread_drawing_in_my_digits(samples, tmp_path, monkeypatch):
    """Home's "Keep it in my digits": the drawing just read is saved under the digit it really is, into the Collect
    page's folder, as the Collect page saves it (a PNG that says it is a drawing on the theme's canvas), so the
    fine-tune reads it exactly as Home read it; then the popover says where it went instead of saving it twice."""
    from digitlab.data import user_digits

    mine = tmp_path / "my_digits"
    monkeypatch.setenv(user_digits.ENV_VAR, str(mine))
    at = new_app().run()
    for dark, label in ((False, 3), (True, 8)):
        if dark:
            at.segmented_control(key="canvas_theme").set_value("Dark").run()
        at = draw(at, samples[5], dark=dark)  # a 5, kept as another digit: the label is the user's word, not the model's
        no_exception(at)
        [chooser] = [s for s in at.segmented_control if s.key.startswith("keep_label_")]
        assert chooser.value == int(shown_digit(at))  # the prediction, picked already
        chooser.set_value(label).run()
        at.button(key="keep_save").click().run()
        no_exception(at)
        [path] = user_digits.samples(label, mine)
        assert f"`{label}/{path.name}`" in texts(at.success)
        assert Image.open(path).info[pictures.DRAWN_ON_TAG] == ("black" if dark else "white")
        read_back = preprocess.prepare(path)  # a file's grey is computed in float, the canvas array's by OpenCV: rounding apart
        assert "its file says so" in read_back.notes[0] and np.abs(read_back.image - at.session_state["drawn"].prepared.image).max() < 1e-5
        at.run()  # shown again: saved, no second Save
        assert not [b for b in at.button if b.key == "keep_save"] and f"Saved as `{label}/{path.name}`" in texts(at.success)
    assert user_digits.counts(mine) == {d: int(d in (3, 8)) for d in range(10)}


def test_keep_an_uploaded_picture_as_it_was_uploaded(samples, tmp_path, monkeypatch):
    from digitlab.data import user_digits

    mine = tmp_path / "my_digits"
    monkeypatch.setenv(user_digits.ENV_VAR, str(mine))
    data = png(samples[4])
    at = _upload(_upload_mode(), "four.png", data)
    at.button(key="keep_save").click().run()  # the prediction, 4, is the label picked
    no_exception(at)
    [path] = user_digits.samples(4, mine)
    assert path.read_bytes() == data  # the file itself, not a copy of what Home read


@pytest.mark.slow  # over 5 s on 2 cores: the full suite's, not the fast tier's
def test_keep_a_photo_whose_ink_was_set_by_hand(mnist_test, tmp_path, monkeypatch):
    """A photo under a hard half shadow that the ink's detection reads the other way round: set to "dark ink on light" by
    hand on Home and kept, its file says so, and the fine-tune reads it as Home showed it."""
    from digitlab import pictures
    from digitlab.data import photo_cases, user_digits

    mine = tmp_path / "my_digits"
    monkeypatch.setenv(user_digits.ENV_VAR, str(mine))
    x, y = mnist_test
    i = next(i for i in range(200) if not preprocess.prepare(photo_cases.make("half_shadow", x[i], i)).inverted
             and not preprocess.prepare(photo_cases.make("half_shadow", x[i], i), invert="yes").no_ink)
    photo = photo_cases.make("half_shadow", x[i], i)
    at = _upload(_upload_mode(), "shadow.jpg", photo, "image/jpeg")
    at.radio(key="upload_invert").set_value("yes").run()
    no_exception(at)
    [chooser] = [s for s in at.segmented_control if s.key.startswith("keep_label_")]
    chooser.set_value(int(y[i])).run()
    at.button(key="keep_save").click().run()
    no_exception(at)
    [path] = user_digits.samples(int(y[i]), mine)
    assert pictures.load(path).ink == "yes"
    np.testing.assert_allclose(preprocess.prepare(path).image, preprocess.prepare(photo, invert="yes").image, atol=1e-6)


# ----------------------------------------------------------------------------- uploads


def _upload(at, name: str, data: bytes, mime: str = "image/png"):
    at.file_uploader(key="upload").upload(name, data, mime)
    return at.run()


def _upload_mode():
    at = new_app().run()
    at.segmented_control(key="input_mode").set_value("Upload").run()
    no_exception(at)
    assert at.file_uploader(key="upload").allowed_type
    return at


def test_upload_real_digit_png(samples):
    at = _upload_mode()
    at = _upload(at, "four.png", png(samples[4]))
    no_exception(at)
    assert at.metric[0].value == "4"
    assert "upload: four.png" in texts(at.caption)


BAD_UPLOADS = {
    "not_an_image.png": (lambda s: b"hello, I am a text file\n" * 20, "not an image file"),
    "truncated.png": (lambda s: png(np.kron(s[1], np.ones((8, 8), np.uint8)))[:400], "cannot decode image"),
    "one_pixel.png": (lambda s: png(np.zeros((1, 1), np.uint8)), "too small to hold a digit"),
    "huge_10000.png": (lambda s: hostile_pictures.png_header_only(10000, 10000), "the limit is 40 megapixels"),
    "bomb_60000.png": (lambda s: hostile_pictures.png_header_only(60000, 60000), "decompression bomb"),
    "big_7000.png": (lambda s: hostile_pictures.png_header_only(7000, 7000), "limit is 40 megapixels"),
}


@pytest.mark.parametrize("name", list(BAD_UPLOADS))
def test_bad_upload_shows_a_message_and_writes_nothing(name, samples, scratch_models, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make, expected = BAD_UPLOADS[name]
    before_models, before_cwd = snapshot(scratch_models), snapshot(tmp_path)
    at = _upload_mode()
    at = _upload(at, name, make(samples))
    no_exception(at)
    assert not at.metric, "no guess for a refused picture"
    message = texts(at.error)
    assert f"Cannot use **{name}**" in message and expected in message, message
    # The app keeps running: a good picture afterwards is predicted.
    at = _upload(at, "six.png", png(samples[6]))
    no_exception(at)
    assert at.metric[0].value == "6"
    assert snapshot(scratch_models) == before_models and snapshot(tmp_path) == before_cwd


def _cmyk_jpeg(digit):
    return _save(Image.fromarray(255 - np.kron(digit, np.ones((4, 4), np.uint8))).convert("CMYK"), "JPEG", quality=95)


def _save(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _animated_gif(first, second):
    frames = [Image.fromarray(255 - np.kron(d, np.ones((4, 4), np.uint8))) for d in (first, second)]
    return _save(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=200, loop=0)


def _transparent_png(digit):
    rgba = np.zeros((112, 112, 4), np.uint8)  # black ink, transparent background
    rgba[..., 3] = np.kron(digit, np.ones((4, 4), np.uint8))
    return png(rgba)


UNUSUAL_UPLOADS = {
    "sixteen_bit.png": (lambda s: png(s[9].astype(np.uint16) * 257), 9, None),
    "cmyk.jpg": (lambda s: _cmyk_jpeg(s[5]), 5, None),  # not s[3]: MNIST's first 3 is one the models are unsure of
    "animated.gif": (lambda s: _animated_gif(s[2], s[7]), 2, "animated image: using the first frame"),
    "transparent.png": (lambda s: _transparent_png(s[0]), 0, "transparent background composited"),
}


@pytest.mark.parametrize("name", list(UNUSUAL_UPLOADS))
def test_unusual_pictures_are_read(name, samples):
    make, label, note = UNUSUAL_UPLOADS[name]
    data = make(samples)
    if name == "sixteen_bit.png":
        assert Image.open(io.BytesIO(data)).mode.startswith("I;16")
    if name == "cmyk.jpg":
        assert Image.open(io.BytesIO(data)).mode == "CMYK"
    at = _upload(_upload_mode(), name, data, "image/gif" if name.endswith("gif") else "image/png")
    no_exception(at)
    assert not at.error
    assert shown_digit(at) == str(label)
    if note:
        assert note in texts(at.caption)


def numbers_on_paper(samples, labels, cell: int = 160, gap: int = 30) -> np.ndarray:
    """Real MNIST test digits written side by side in dark ink on light paper: (200, W) uint8."""
    w = gap + len(labels) * (cell + gap)
    paper = np.full((200, w), 245, np.uint8)
    for i, d in enumerate(labels):
        big = np.asarray(Image.fromarray(samples[d]).resize((cell, cell), Image.BILINEAR))
        x0 = gap + i * (cell + gap)
        paper[20 : 20 + cell, x0 : x0 + cell] = np.minimum(paper[20 : 20 + cell, x0 : x0 + cell], 255 - big)
    return paper


def test_a_blank_upload_speaks_of_the_uploaded_picture():
    """Not "draw a digit" right after an upload."""
    at = _upload(_upload_mode(), "empty page.png", png(np.full((300, 400), 250, np.uint8)))
    no_exception(at)
    info = texts(at.info)
    assert "No ink found in the uploaded picture **empty page.png**" in info and "draw a digit" not in info
    assert not at.metric


def test_an_ordinary_photo_gets_no_memory_note(samples):
    """An 800x600 picture read at half size is ordinary: no "to bound memory" note, the digit read."""
    paper = np.full((600, 800), 240, np.uint8)
    paper[150:450, 250:550] = 240 - np.asarray(Image.fromarray(samples[4]).resize((300, 300), Image.BILINEAR)) * 0.9
    at = _upload(_upload_mode(), "photo.png", png(paper))
    no_exception(at)
    captions = texts(at.caption)
    assert "memory" not in captions and "read at" not in captions, captions
    assert shown_digit(at) == "4"


def test_several_digits_on_home_point_to_the_numbers_page(samples):
    """A picture of a number is refused as one digit; Home says it holds several and links Numbers."""
    at = _upload(_upload_mode(), "number.png", png(numbers_on_paper(samples, [3, 5, 7])))
    no_exception(at)
    assert "Not sure this is a digit" in texts(at.warning)
    assert "The uploaded picture **number.png** holds **3 digits** side by side (read as **357**)" in texts(at.info)
    links = [e.proto for e in _walk(at.main) if getattr(e, "type", None) == "page_link"]
    assert [(link.label, "Numbers" in link.page) for link in links] == [("Read it on the Numbers page", True)], links
    at = _upload(at, "seven.png", png(255 - samples[7]))  # one digit: no such hint
    no_exception(at)
    assert "side by side" not in texts(at.info) and at.metric[0].value == "7"


def _not_handwriting(kind: str) -> np.ndarray:
    """A generated picture that is no handwriting: a checkerboard (grey), or coloured discs on grey paper (RGB)."""
    import cv2

    if kind == "checker":
        return ((np.indices((240, 320)).sum(0) // 40) % 2 * 255).astype(np.uint8)
    rng, blobs = np.random.default_rng(0), np.full((240, 320, 3), 200, np.uint8)
    for _ in range(12):
        centre, radius, colour = rng.integers(0, 320, 2), int(rng.integers(10, 50)), rng.integers(0, 255, 3)
        cv2.circle(blobs, tuple(int(v) for v in centre), radius, tuple(int(v) for v in colour), -1)
    return blobs


@pytest.mark.parametrize("kind", ["checker", "blobs"])
def test_a_picture_that_is_no_handwriting_is_refused_with_no_numbers_hint(kind):
    """Refused as a digit, and not said to hold a number either (the checkerboard was "4 digits, read as 7111")."""
    at = _upload(_upload_mode(), f"{kind}.png", png(_not_handwriting(kind)))
    no_exception(at)
    assert "Not sure this is a digit" in texts(at.warning) and not at.metric
    assert "side by side" not in texts(at.info), texts(at.info)


# ----------------------------------------------------------------------------- other pages


@pytest.mark.parametrize("page", ["pages/1_Preprocessing.py", "pages/2_Explain.py"])
def test_pages_without_a_digit_ask_for_one(page, usable):
    at = new_app(page).run()
    no_exception(at)
    assert "No digit yet" in texts(at.info)


def test_preprocessing_page_shows_every_step(samples):
    at = draw(new_app().run(), samples[1])
    at.switch_page("pages/1_Preprocessing.py").run()
    no_exception(at)
    prepared = preprocess.prepare(synthetic.canvas_picture(samples[1]), invert="yes", drawn_on=1.0)  # as the light canvas
    assert [c for img in at.image for c in img.captions] == [
        f"{title} ({p.shape[1]}×{p.shape[0]})" for title, p in prepared.steps
    ]
    assert "MNIST" in texts(at.success) + texts(at.warning)
    assert len(at.dataframe[0].value) == 5


@pytest.mark.slow
def test_explain_page_for_a_drawn_digit(samples, usable):
    at = draw(new_app().run(), samples[8])
    assert at.metric[0].value == "8"
    at.switch_page("pages/2_Explain.py").run()
    no_exception(at)
    assert "predicts **8**" in texts(at.caption)
    captions = [c for img in at.image for c in img.captions]
    for expected in ("Grad-CAM for 8", "Grad-CAM++ for 8", "gradient saliency for 8 (SmoothGrad)"):
        assert expected in captions
    assert sum(c.split(" · ")[0] in {str(d) for d in range(10)} for c in captions) == 10, "a Grad-CAM per digit"
    layers = [m.value for m in at.markdown if m.value.startswith("**") and "output" in m.value]
    assert any("last_conv" in v for v in layers), layers
    # The default model averages networks: its Grad-CAM opens on all of them, and any one layer can still be chosen.
    from digitlab.evaluation import explain

    (cam,) = [s for s in at.selectbox if (s.key or "").startswith("cam_layer::")]
    assert cam.value == explain.EVERY_NETWORK and len(cam.options) > 2, cam.options
    cam.set_value(cam.options[-1]).run()  # the last feature map listed: one network's
    no_exception(at)
    (chosen,) = [s.value for s in at.selectbox if (s.key or "").startswith("cam_layer::")]
    assert chosen != explain.EVERY_NETWORK and chosen.startswith("m2_"), chosen  # the fourth network's (the pair is m0_m0_, m0_m1_)
    assert "Grad-CAM for 8" in [c for img in at.image for c in img.captions]
    # Explain another class on request.
    at.selectbox(key="explain_class").set_value(3).run()
    no_exception(at)
    assert "Grad-CAM for 3" in [c for img in at.image for c in img.captions]
    # The digit survives the page switch: back on Home it is still predicted.
    at.switch_page("pages/0_Draw.py").run()
    no_exception(at)
    assert at.metric[0].value == "8"


@pytest.mark.slow  # over 10 s on 2 cores: the full suite's, not the fast tier's
def test_explain_page_with_the_dense_baseline(samples, usable):
    dense = [e for e in usable if e.name == "mnist_baseline"]
    if not dense:
        pytest.fail(f"mnist_baseline.keras is missing from {MODELS}")
    at = draw(new_app().run(), samples[6])
    at.sidebar.radio[0].set_value("mnist_baseline").run()
    at.switch_page("pages/2_Explain.py").run()
    no_exception(at)
    assert "no convolutional layer" in texts(at.info)
    captions = [c for img in at.image for c in img.captions]
    assert any(c.startswith("gradient saliency") for c in captions)
    assert not any(c.startswith("Grad-CAM") for c in captions)


def test_models_page_shows_every_card(usable):
    at = new_app("pages/3_Models.py").run()
    no_exception(at)
    assert [h.value for h in at.subheader][: len(usable)] == [e.name for e in usable]
    for entry, table in zip(usable, at.table):
        rows = dict(zip(table.value.iloc[:, 0], table.value.iloc[:, 1]))
        assert rows["parameters"] == f"{entry.model.count_params():,}"
        assert rows["file size"] == f"{entry.path.stat().st_size / 1e6:.2f} MB"
        if entry.card:
            assert rows["test accuracy"] == f"{entry.card['metrics']['test_accuracy']:.2%}"
            made = model_report.how_made(entry, recipe_of=rebuild.in_checkout)  # the recipe's rebuild command where the card has one, else its command
            assert made.command in [c.value for c in at.code]  # whole, in a code block (not clipped in a cell)
        else:
            assert rows["test accuracy"] == model_report.MISSING
    captions = [c for img in at.image for c in img.captions]
    assert captions.count("test confusion matrix (rows: true digit)") == sum(
        model_report.confusion(e.path) is not None for e in usable
    )
    assert captions.count("training curves (train solid, validation dashed)") == sum(
        model_report.curves_path(e.path) is not None for e in usable
    )


@pytest.mark.parametrize("matrix", ["ragged", "texts", "nan"])
def test_models_page_says_why_a_confusion_matrix_is_refused(matrix, scratch_models):
    """A model whose metrics file holds a matrix training never writes gets the reason on its card, not a blank panel."""
    bad = {"ragged": [[1] * 10] * 9 + [[1] * 9], "texts": [["1"] * 10] * 10, "nan": [[float("nan")] * 10] * 10}[matrix]
    side = scratch_models / "mnist_cnn.metrics.json"
    metrics_file = json.loads(side.read_text())
    side.unlink()  # a link to the committed file: replaced by a scratch copy, models/ is never written
    side.write_text(json.dumps({**metrics_file, "test": {**metrics_file["test"], "confusion": bad}}))
    at = new_app("pages/3_Models.py").run()
    no_exception(at)
    warnings = texts(at.warning)
    assert "No confusion matrix: " in warnings and "metrics.json" in warnings.split("No confusion matrix: ")[1], warnings
    assert "test confusion matrix (rows: true digit)" in [c for img in at.image for c in img.captions], "the other models keep theirs"


def test_models_page_upload(scratch_models, usable, tmp_path):
    import keras

    at = new_app("pages/3_Models.py").run()
    before = snapshot(scratch_models)
    # Refused: not a .keras archive.
    at.file_uploader(key="model_file").upload("junk.keras", b"PK\x03\x04 definitely not a model", "application/octet-stream")
    at.run()
    no_exception(at)
    assert "junk.keras** was refused, nothing was saved" in texts(at.error)
    assert snapshot(scratch_models) == before
    # Refused: a Lambda layer (Keras safe mode).
    inp = keras.Input((28, 28, 1))
    lam = keras.Model(inp, keras.layers.Dense(10)(keras.layers.Flatten()(keras.layers.Lambda(lambda t: t * 2)(inp))))
    lam.save(tmp_path / "lam.keras")
    at.file_uploader(key="model_file").upload("lam.keras", (tmp_path / "lam.keras").read_bytes(), "application/octet-stream")
    at.run()
    assert "safe mode" in texts(at.error)
    assert snapshot(scratch_models) == before
    # Accepted: a copy of a real model under a new name; it appears in the picker.
    at.file_uploader(key="model_file").upload("My copy.keras", usable[0].path.read_bytes(), "application/octet-stream")
    at.run()
    no_exception(at)
    assert "Added **My_copy**" in texts(at.success)
    assert (scratch_models / "My_copy.keras").is_file()
    at.run()
    assert "My_copy" in at.sidebar.radio[0].options
    assert "My_copy" in [h.value for h in at.subheader]


# ----------------------------------------------------------------------------- app-side library


def test_mnist_reference_judges_real_mnist_typical(mnist_test, mnist_train):
    """The reference (first 2000 test digits through the recipe) calls unseen real MNIST digits
    typical: each quantity's 5-95 % band should hold about 90 % of the training digits."""
    ref = inspect_input.mnist_reference()
    assert ref is inspect_input.mnist_reference(), "measured once per process"
    assert ref["box_height"]["median"] == 20.0, "the recipe fits the longer side, usually the height, into 20 px"
    train = preprocess.prepare_batch(mnist_train[0][:1000])
    verdicts = np.array([[r.verdict for r in inspect_input.mnist_likeness(img, ref)] for img in train])
    for j, key in enumerate(ref):
        typical = (verdicts[:, j] == "typical").mean()
        assert typical >= 0.8, (key, typical)


def test_likeness_verdicts_and_advice(samples):
    import cv2

    rows = inspect_input.mnist_likeness(preprocess.prepare(samples[0], invert="no").image)
    assert [r.verdict for r in rows] == ["typical"] * 5
    assert inspect_input.likeness_score(rows).startswith("MNIST-like")

    def seven(thickness: int) -> np.ndarray:
        canvas = np.full((280, 280), 255, np.uint8)
        cv2.polylines(canvas, [np.array([[60, 50], [220, 50], [120, 240]], np.int32)], False, 0, thickness)
        return canvas

    # Without the recipe's stroke-width normalisation, brush size shows in the verdicts ...
    thin = {r.key: r for r in inspect_input.mnist_likeness(preprocess.prepare(seven(8), stroke=False).image)}
    thick = {r.key: r for r in inspect_input.mnist_likeness(preprocess.prepare(seven(60), stroke=False).image)}
    assert thin["stroke_width"].verdict == "low" and "bigger brush" in thin["stroke_width"].advice
    assert thick["stroke_width"].verdict == "high" and "smaller brush" in thick["stroke_width"].advice
    # ... with it (the default, what the app uses), both become MNIST-like.
    for t in (8, 60):
        verdicts = {r.key: r.verdict for r in inspect_input.mnist_likeness(preprocess.prepare(seven(t)).image)}
        assert verdicts["stroke_width"] == "typical", (t, verdicts)
    # A flat dash is fitted by its width, so it is far less tall than any MNIST digit.
    dash = np.full((280, 280), 255, np.uint8)
    cv2.line(dash, (40, 140), (240, 150), 0, 25)
    rows = {r.key: r for r in inspect_input.mnist_likeness(preprocess.prepare(dash).image)}
    assert rows["box_height"].verdict == "low" and "fitted by its width" in rows["box_height"].advice
    assert "digit height low" in inspect_input.likeness_score(list(rows.values()))


def test_canvas_state_round_trip(samples):
    rgba = synthetic.canvas_picture(samples[3], 280)
    state = inspect_input.canvas_state(rgba)
    url = state["drawing"]["data"]
    assert url.startswith("data:image/png;base64,")
    import base64

    back = np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))
    np.testing.assert_array_equal(back, rgba)
    assert inspect_input.stroke_count(state["drawing"]["raw"]) == 1
    assert inspect_input.stroke_count(None) == 0
    assert inspect_input.enlarge(samples[3], 168).shape == (168, 168)
    tall = inspect_input.enlarge(np.ones((40, 20), np.float32), 100, square=True)
    assert tall.shape == (100, 100) and tall[50, 50] == 255 and tall[50, 0] == 64, "a tall crop is centred on grey"
    assert (inspect_input.enlarge(samples[3], 56)[::2, ::2] == samples[3]).all(), "nearest neighbour keeps every pixel"


def test_model_report_agrees_with_the_cards(usable):
    for entry in usable:
        card = entry.card or {}
        cm = model_report.confusion(entry.path)
        if cm is None:
            continue
        assert cm.shape == (10, 10) and cm.sum() == card["data"]["test"]
        assert np.trace(cm) / cm.sum() == pytest.approx(card["metrics"]["test_accuracy"], abs=1e-9)
        for c in metrics.most_confused(cm):
            assert c["true"] != c["pred"] and cm[c["true"], c["pred"]] == c["count"]
        png_bytes = plots.confusion_png(cm, entry.name)
        assert Image.open(io.BytesIO(png_bytes)).size[0] > 300
        summary = model_report.summary(entry)
        assert summary["test accuracy"] == f"{card['metrics']['test_accuracy']:.2%}"
        assert summary["file size"] == f"{entry.path.stat().st_size / 1e6:.2f} MB"
        assert json.loads(entry.path.with_name(entry.name + ".metrics.json").read_text())["test"]["confusion"] == cm.tolist()


# ----------------------------------------------------------------------------- navigation: one entry point for every page

PAGES = sorted(p.relative_to(APP).as_posix() for p in (APP / "pages").glob("*.py"))


def test_the_entry_point_declares_the_config_and_the_sidebar_once():
    """Home.py routes (st.navigation); no page sets the page config or lays out the sidebar itself."""
    router = (APP / "Home.py").read_text()
    assert "st.navigation(" in router and "common.setup(" in router and "common.sidebar()" in router
    for page in PAGES:
        source = (APP / page).read_text()
        for call in ("set_page_config", "common.sidebar(", "st.sidebar", "common.setup("):
            assert call not in source, f"{page} calls {call}: the entry point does, once for every page"
        assert f'st.Page("{page}"' in router, f"{page} is not in the navigation"


@pytest.mark.parametrize("page", [p for p in PAGES if p != "pages/2_Explain.py"])  # Explain loads TensorFlow: below
def test_every_page_has_the_shared_sidebar_and_keeps_it_on_a_rerun(page, usable):
    at = new_app(page).run()
    no_exception(at)
    for _ in range(2):  # a rerun (a widget's change) runs the page through the entry point again
        picker = at.sidebar.radio(key="_model_picker")
        assert picker.options == [e.name for e in usable] and picker.value == usable[0].name
        assert at.sidebar.radio(key="writing").value == "default"
        assert len(at.title) == 1, [t.value for t in at.title]
        at.run()
        no_exception(at)


def test_the_model_picked_holds_on_every_page(samples):
    at = draw(new_app().run(), samples[3])
    at.sidebar.radio(key="_model_picker").set_value("mnist_cnn").run()
    assert "Model: **mnist_cnn**" in texts(at.caption) and at.metric[0].value == "3"
    at.switch_page("pages/7_Numbers.py").run()
    no_exception(at)
    assert "Model: **mnist_cnn** · served by ONNX Runtime" in texts(at.caption)
    at.switch_page("pages/4_Robustness.py").run()
    no_exception(at)
    assert "of **mnist_cnn**" in texts(at.caption)
    at.switch_page("pages/0_Draw.py").run()
    no_exception(at)
    assert at.sidebar.radio(key="_model_picker").value == "mnist_cnn" and at.metric[0].value == "3"


# ----------------------------------------------------------------------------- text from files is shown as text

# What GitHub-flavoured Markdown, as Streamlit's front end renders it, turns into a link after parsing: bare web
# addresses and mail addresses (mdast-util-gfm-autolink-literal's two patterns, which backslashes do not stop).
GFM_AUTOLINK = re.compile(r"(https?://|www(?=\.))[-.\w]+|[-.\w+]+@[-\w]+(\.[-\w]+)+", re.IGNORECASE)
MARKDOWN_FIELDS = {"body", "label", "help", "caption", "captions", "options", "content", "placeholder"}
NOT_MARKDOWN = {"Html", "Selectbox", "MultiSelect", "Code", "Json"}  # shown as they are (st.html is the app's own)


def markdown_texts(at) -> list[str]:
    """Every string the page hands Streamlit to render as Markdown: bodies of text elements and messages, titles,
    widget labels, radio options and captions, help, image captions, table cells."""
    found = []

    def strings(msg) -> None:
        if type(msg).__name__ in NOT_MARKDOWN:
            return
        for f, v in msg.ListFields():
            if f.message_type is not None:
                for m in [v] if hasattr(v, "ListFields") else v:
                    strings(m)
            elif f.name in MARKDOWN_FIELDS and f.type == f.TYPE_STRING:
                found.extend([v] if isinstance(v, str) else v)

    for node in _walk(at._tree):
        if getattr(node, "proto", None) is not None:
            strings(node.proto)
        if type(node).__name__ == "Table":
            found += [str(c) for c in node.value.to_numpy().ravel()] + [str(c) for c in node.value.columns]
    return found


def rendered(markdown: str) -> tuple[list[str], str]:
    """(the links and pictures ``markdown`` makes, the text it shows) as CommonMark with GFM's tables, strike-through
    and bare-address links reads it (markdown-it-py, as Streamlit's remark does)."""
    from markdown_it import MarkdownIt

    links, shown = [], []

    def walk(tokens) -> None:
        for t in tokens:
            if t.type in ("link_open", "image", "html_inline", "html_block"):
                links.append(f"{t.type} {t.attrs or t.content}")
            if t.type in ("text", "code_inline"):
                shown.append(t.content)
                if t.type == "text" and (m := GFM_AUTOLINK.search(t.content)):
                    links.append(f"autolink {m.group()}")
            walk(t.children or [])

    walk(MarkdownIt("commonmark").enable(["table", "strikethrough"]).parse(markdown))
    return links, "".join(shown).replace("\u2060", "")


def hostile_models(folder: Path) -> dict[str, str]:
    """Copies of mnist_baseline in ``folder`` whose names and card values are Markdown: {what: the text as on disk}."""
    card = json.loads((MODELS / "mnist_baseline.json").read_text())
    link, autolink = "[click me](x.html)", "www.example.com"
    picture = "![t](https://example.com/x.png)"
    cards = {
        link: dict(card, name=link),
        autolink: dict(card, name=autolink, date=picture, builder="![b](https://example.com/b.png) me@example.com",
                       recipe={"file": "training/configs/[r](r.html).toml", "description": f"Made {picture} by [hand](https://example.com)."},
                       rebuild={"command": "python training/rebuild.py www.example.com", "steps": []}),
        "refused_card": dict(card, name="refused_card", metrics=dict(card["metrics"], test_accuracy=picture)),
    }
    for name, c in cards.items():
        (folder / f"{name}.keras").symlink_to(MODELS / "mnist_baseline.keras")
        (folder / f"{name}.json").write_text(json.dumps(c))
    (folder / "![see](y.png) broken.keras").write_bytes(b"not a zip archive")
    return {"link name": link, "autolink name": autolink, "card value": picture, "broken file": "![see](y.png) broken.keras"}


def assert_shown_as_text(at, *expected: str) -> None:
    texts_ = markdown_texts(at)
    leaks = {t: links for t in texts_ if (links := rendered(t)[0])}
    assert not leaks, f"Markdown from files became links or pictures: {leaks}"
    shown = "\n".join(rendered(t)[1] for t in texts_)
    for text in expected:
        assert text in shown, f"{text!r} is not shown as it is"


def test_text_from_files_is_shown_as_text(scratch_models, samples):
    """Model names, card values and refusal reasons that are Markdown are shown letter for letter: no link, no
    picture fetched, on Home (the sidebar, the answer) and on the Models page."""
    made = hostile_models(scratch_models)
    at = new_app().run()
    no_exception(at)
    assert_shown_as_text(at, made["link name"], made["autolink name"], made["broken file"], 'test_accuracy: "' + made["card value"])
    at.sidebar.radio(key="_model_picker").set_value(made["link name"]).run()
    draw(at, samples[2])
    no_exception(at)
    assert_shown_as_text(at, f"Model: {made['link name']} · input from the drawing")
    at.switch_page("pages/3_Models.py").run()
    no_exception(at)
    assert_shown_as_text(at, made["link name"], made["card value"], "Made ![t](https://example.com/x.png) by [hand](https://example.com).")
    assert "training/configs/[r](r.html).toml" in "\n".join(rendered(t)[1] for t in markdown_texts(at) if "Not in this checkout" in t)


def test_the_escape_helper_keeps_ordinary_text_as_it_is():
    import common

    for text in ("mnist_advanced", "mnist_finetuned (yours)", "test 99.56% · 865,480 params", "2026-11-22 10:00:00",
                 "broken.keras: not a Keras 3 .keras archive", "3.91 MB", "-1.5", "#3"):
        assert common.plain(text) == text
    for text in ("# heading", "1. first", "- item", "---", "> quote", "a *b* _c_ `d` ~e~ $f$ <g> a|b", "x\\y", "https://a.b www.c.d e@f.gh"):
        links, shown = rendered(common.plain(text))
        assert not links and shown == text, (text, common.plain(text), shown)
    assert rendered(f"run {common.code('a ``b`` c')}")[1] == "run a ``b`` c"


# ----------------------------------------------------------------------------- offline: no MNIST anywhere


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """No MNIST: $DIGITLAB_MNIST names a missing file (so nothing is downloaded), the keras cache is an empty home's,
    and no cache holds MNIST or what was measured on it."""
    import streamlit as st

    from digitlab.data import mnist

    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("DIGITLAB_MNIST", str(tmp_path / "nowhere" / "mnist.npz"))
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("KERAS_HOME", str(home / ".keras"))
    monkeypatch.setattr(mnist, "KERAS_CACHE", home / ".keras" / "datasets" / "mnist.npz")
    monkeypatch.setenv("DIGITLAB_FEATURES_CACHE", str(tmp_path / "features"))
    monkeypatch.setenv("DIGITLAB_REPORTS_DIR", str(tmp_path / "reports"))
    if hasattr(inspect_input.mnist_reference, "cache_clear"):
        inspect_input.mnist_reference.cache_clear()
    st.cache_data.clear()
    yield
    if hasattr(inspect_input.mnist_reference, "cache_clear"):
        inspect_input.mnist_reference.cache_clear()
    st.cache_data.clear()


OFFLINE = {  # page -> what it says instead (None: it needs no MNIST)
    "pages/0_Draw.py": "Cannot compare with MNIST",
    "pages/1_Preprocessing.py": "Cannot compare with MNIST",
    "pages/2_Explain.py": "No neighbours or map without MNIST",
    "pages/3_Models.py": None,
    "pages/4_Robustness.py": "Cannot measure live without MNIST",
    "pages/5_Leaderboard.py": None,
    "pages/6_Collect.py": None,
    "pages/7_Numbers.py": None,
    "pages/8_Data.py": "MNIST cannot be loaded",
}


@pytest.mark.parametrize("page", [pytest.param(p, marks=pytest.mark.slow) if "Explain" in p else p for p in OFFLINE])  # Explain loads TensorFlow: over 10 s
def test_every_page_says_so_without_mnist(page, offline, samples):
    import streamlit as st

    from digitlab import data

    with pytest.raises(data.DataError):
        data.load()
    if page == "pages/8_Data.py":
        st.cache_resource.clear()  # the page keeps MNIST open once loaded
    at = draw(new_app().run(), samples[4])
    assert at.metric[0].value == "4", "reading a digit needs no MNIST"
    if page == "pages/2_Explain.py":
        at.sidebar.radio(key="_model_picker").set_value("mnist_baseline").run()  # the smallest: a quick Keras load
    at.toggle(key="show_steps").set_value(True).run()
    at.switch_page(page).run()
    no_exception(at)
    messages = texts(at.info) + texts(at.warning) + texts(at.error)
    if OFFLINE[page] is not None:
        assert OFFLINE[page] in messages and "does not exist" in messages, messages


# ----------------------------------------------------------------------------- a line is not a digit, nor a number


def test_a_line_is_not_sure_and_holds_no_number():
    """One horizontal stroke: "not sure this is a digit", and no word of several digits, although the number
    reader reads it as "00" (tests/test_app.py::test_several_digits_on_home_point_to_the_numbers_page keeps the hint
    for a real number)."""
    import cv2

    at = new_app().run()
    for y0, y1, brush in ((140, 150, 20), (100, 105, 12), (150, 150, 40)):
        line = np.full((280, 280, 4), 255, np.uint8)
        cv2.line(line, (40, y0), (240, y1), (0, 0, 0, 255), brush)
        at.session_state[canvas_key(at)] = inspect_input.canvas_state(line)
        at.run()
        no_exception(at)
        assert "Not sure this is a digit" in texts(at.warning)
        assert "side by side" not in texts(at.info) and not [e for e in _walk(at.main) if getattr(e, "type", None) == "page_link"]


# ----------------------------------------------------------------------------- several pictures at once


def on_paper(digit: np.ndarray, side: int = 200) -> bytes:
    """An MNIST test digit scaled up and written dark on white paper, as a PNG."""
    return png(255 - np.asarray(Image.fromarray(digit).resize((side, side), Image.BILINEAR)))


def rows(at) -> list[str]:
    """Each uploaded picture's row as shown: its file name and its answer."""
    return [rendered(m.value)[1] for m in at.markdown if " · " in m.value and m.value.startswith("**")]


def test_several_pictures_each_get_their_answer(samples):
    at = _upload_mode()
    assert at.file_uploader(key="upload").accept_multiple_files
    files = [(f"digit {d}.png", on_paper(samples[d]), "image/png") for d in (3, 8, 1)]
    at.file_uploader(key="upload").set_value([*files, ("notes.png", b"not a picture", "image/png")]).run()
    no_exception(at)
    shown = rows(at)
    assert len(shown) == 4 and [r.split(" · ")[0] for r in shown] == ["digit 3.png", "digit 8.png", "digit 1.png", "notes.png"]
    for row, d in zip(shown, (3, 8, 1)):
        assert row.startswith(f"digit {d}.png · {d} · ") and row.endswith("% confident"), row
    assert shown[3].startswith("notes.png · cannot use it: ") and "not an image file" in shown[3]
    assert len(at.image) >= 3 and all(img.captions == [""] for img in at.image[:3]), "a thumbnail per readable picture"
    # The first is shown in full; another can be picked, and it is the digit every other page explains.
    assert at.metric[0].value == "3"
    at.selectbox(key="upload_shown").select_index(1).run()
    assert at.metric[0].value == "8" and "input from the upload: digit 8.png" in texts(at.caption)
    at.switch_page("pages/1_Preprocessing.py").run()
    assert "Input from the upload: digit 8.png" in texts(at.caption)


def test_more_pictures_than_home_reads_at_once(samples):
    import home_ui

    n = home_ui.MAX_PICTURES + 3
    files = [(f"{i:02d}.png", on_paper(samples[i % 10], 60), "image/png") for i in range(n)]
    at = _upload_mode()
    at.file_uploader(key="upload").set_value(files).run()
    no_exception(at)
    assert f"{n} pictures uploaded: Home reads {home_ui.MAX_PICTURES} at once" in texts(at.warning)
    shown = rows(at)
    assert [r.split(" · ")[0] for r in shown] == [f"{i:02d}.png" for i in range(home_ui.MAX_PICTURES)]
    wrong = [(i, r) for i, r in enumerate(shown) if not r.startswith(f"{i:02d}.png · {i % 10} · ") and "not sure" not in r]
    assert len(wrong) <= 1, wrong


# ----------------------------------------------------------------------------- Models: the recipe; Collect


def test_models_page_shows_the_recipe_and_what_a_clone_lacks(scratch_models):
    """A card with a recipe shows its paragraph and the rebuild command; a card written before recipes were files
    (mnist_robust's names runs/robust3, which a clone lacks) shows its recipe's rebuild command instead."""
    cnn = scratch_models / "mnist_cnn.json"
    card = json.loads(cnn.read_text())
    cnn.unlink()  # a link to the committed card: write a changed copy instead
    card["recipe"] = {"file": "training/configs/mnist_cnn.toml", "description": "Two compact networks, averaged."}
    card["rebuild"] = {"command": "python training/rebuild.py mnist_cnn", "steps": ["python training/train_cnn.py --out '{run}'"]}
    cnn.write_text(json.dumps(card))
    robust = json.loads((scratch_models / "mnist_robust.json").read_text())
    assert robust["command"] == "python training/train_robust.py --out runs/robust3" and "recipe" not in robust
    assert not (ROOT / "runs" / "robust3").exists()
    at = new_app("pages/3_Models.py").run()
    no_exception(at)
    assert "Two compact networks, averaged." in [m.value for m in at.markdown]
    code = [c.value for c in at.code]
    assert "python training/rebuild.py mnist_cnn" in code and "python training/train_cnn.py --out '{run}'" in code
    assert "python training/rebuild.py mnist_robust" in code and not any("runs/robust3" in c for c in code)
    assert not [c.value for c in at.caption if c.value.startswith("Not in this checkout")]
    assert "Recipe: `training/configs/mnist_cnn.toml`" in texts(at.caption)


def test_collect_page_says_both_phases_and_opens_on_saved_digits(tmp_path, monkeypatch, mnist_test):
    from digitlab.data import user_digits

    mine = tmp_path / "my_digits"
    monkeypatch.setenv(user_digits.ENV_VAR, str(mine))
    x, y = mnist_test
    for d in (3, 7, 7):
        user_digits.save(png(255 - x[int(np.flatnonzero(y == d)[0])]), d, mine)
    at = new_app("pages/6_Collect.py").run()
    no_exception(at)
    assert "3 epochs train the last layer only, then 12 train all layers: 15 epochs in all" in texts(at.caption)
    at.number_input(key="collect_epochs").set_value(5).run()
    assert "then 5 train all layers: 8 epochs in all" in texts(at.caption)
    assert at.segmented_control(key="collect_browse").value == 3 and "1 picture(s) of 3" in texts(at.caption)
    at.segmented_control(key="collect_browse").set_value(7).run()
    assert "2 picture(s) of 7" in texts(at.caption)


def test_made_by_points_at_the_recipe_a_clone_has(usable, tmp_path):
    """Every committed model's "made by" command is one a clone can run: training/rebuild.py with its recipe in
    training/configs/, even for a card written before recipes were files (mnist_robust's named runs/robust3); a model
    with no recipe of its name keeps its card's own command."""
    import dataclasses

    from digitlab.training import recipes

    for entry in usable:
        made = model_report.how_made(entry, recipe_of=rebuild.in_checkout)
        assert made.command == f"python training/rebuild.py {entry.name}" and made.rebuild, (entry.name, made.command)
        assert made.recipe_file == f"training/configs/{entry.name}.toml" and made.description and made.missing == [], made
        assert (ROOT / made.recipe_file).is_file() and entry.name in recipes.models()
    robust = next(e for e in usable if e.name == "mnist_robust")
    stranger = dataclasses.replace(robust, name="someone_elses", card={**robust.card, "name": "someone_elses"})
    made = model_report.how_made(stranger, recipe_of=rebuild.in_checkout)
    assert made.command == robust.card["command"] and not made.rebuild and made.recipe_file is None


def test_the_numbers_page_says_when_the_number_reader_is_unavailable(tmp_path, monkeypatch):
    """Without the number reader the page says so plainly, and that numbers are read by the cuts; with it, nothing."""
    from digitlab.serving import reader

    monkeypatch.setattr(reader, "READER_PATH", tmp_path / "no_reader" / "reader.keras")
    at = new_app("pages/7_Numbers.py").run()
    no_exception(at)
    assert "The number reader is unavailable" in texts(at.warning) and "cutting it into digits" in texts(at.warning)
    monkeypatch.undo()
    at = new_app("pages/7_Numbers.py").run()
    assert "The number reader is unavailable" not in texts(at.warning)
