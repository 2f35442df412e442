"""The one preprocessing path, on real MNIST digits and on pictures made from them."""

import io

import cv2
import numpy as np
import pytest
from PIL import Image
from support import fat_drawings, form_box_page, form_line_page, on_canvas

from digitlab import preprocess as P
from digitlab.data import synthetic
from digitlab.data.synthetic import naive_input, photo


def corr(a, b) -> float:
    """Shape similarity of two images: correlation after a 1 px blur, so a half-pixel shift of a thin
    stroke (which rescaling always causes) does not count as a different digit."""
    a, b = (cv2.GaussianBlur(np.asarray(v, np.float32), (0, 0), 1.0) for v in (a, b))
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def test_mnist_digits_come_out_nearly_unchanged(mnist_test):
    x, _ = mnist_test
    raw = x[:1000]
    ref = raw.astype(np.float32) / 255
    recipe = np.stack([P.prepare(d, stroke=False).image for d in raw])
    diff = np.abs(recipe - ref)
    assert diff.mean() < 0.002, diff.mean()  # mean absolute change, on a [0, 1] scale
    assert np.percentile(diff.mean(axis=(1, 2)), 99) < 0.01
    # the recipe's invariants hold on its own output
    stats = [P.shape_stats(im) for im in recipe[:200]]
    assert all(s["box_height"] == 20 or s["box_width"] == 20 for s in stats)
    assert max(s["centre_offset"] for s in stats) < 1.0
    # the default path also normalises stroke width: digits inside MNIST's 5-95 % band are
    # untouched, the outliers keep their shape
    default = P.prepare_batch(raw)
    touched = np.abs(default - recipe).max(axis=(1, 2)) > 0
    assert 0.02 < touched.mean() < 0.15, touched.mean()
    assert min(corr(a, b) for a, b in zip(default[touched], recipe[touched])) > 0.8
    assert np.abs(default - ref).mean() < 0.01


def test_steps_are_recorded_from_raw_to_model_input(mnist_test):
    p = P.prepare(mnist_test[0][0])
    titles = [t for t, _ in p.steps]
    assert titles[0] == "input" and len(titles) == 6
    assert p.steps[-1][1] is p.image and p.image.shape == (28, 28) and p.image.dtype == np.float32
    assert p.image.min() >= 0.0 and p.image.max() <= 1.0


def test_canvas_drawings_match_the_mnist_digit(mnist_test):
    x, _ = mnist_test
    scores = []
    for digit in x[:50]:
        ref = P.prepare(digit).image
        white = P.prepare(synthetic.canvas_picture(digit, background="transparent", ink="white"))
        black = P.prepare(synthetic.canvas_picture(digit, background="transparent", ink="black"))  # black strokes on a transparent canvas
        assert not white.inverted
        scores += [corr(white.image, ref), corr(black.image, ref)]
    # 28 -> 280 -> 20 px resampling can never give back the exact pixels; the shape must survive
    assert np.median(scores) > 0.95 and min(scores) > 0.85, (np.median(scores), min(scores))


def test_photos_of_dark_ink_on_paper_are_inverted_and_cleaned(mnist_test):
    x, _ = mnist_test
    scores = []
    for i, digit in enumerate(x[:60]):
        p = P.prepare(photo(digit, i))
        assert p.inverted and not p.no_ink
        scores.append(corr(p.image, P.prepare(digit).image))
    assert np.median(scores) > 0.85, np.median(scores)
    # the naive route (resize the whole photo) loses the digit in the page
    naive = [corr(naive_input(photo(d, i)), P.prepare(d).image) for i, d in enumerate(x[:60])]
    assert np.median(naive) < np.median(scores) - 0.3


def test_invert_override(mnist_test):
    digit = mnist_test[0][0]
    dark_on_light = 255 - cv2.resize(digit, (140, 140))
    forced = P.prepare(dark_on_light, invert="yes")
    assert forced.inverted and corr(forced.image, P.prepare(digit).image) > 0.9
    wrong = P.prepare(dark_on_light, invert="no")  # told the paper is the ink: it cannot look like the digit
    assert wrong.no_ink or corr(wrong.image, P.prepare(digit).image) < 0.5
    with pytest.raises(ValueError):
        P.prepare(digit, invert="maybe")


def _encode(im: Image.Image, fmt="PNG", **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA", "P", "I;16", "CMYK", "1"])
def test_every_image_mode_gives_the_same_input(mnist_test, mode):
    digit = cv2.resize(mnist_test[0][3], (112, 112))
    paper = Image.fromarray(255 - digit)  # dark ink on white, like a scan
    ref = P.prepare(_encode(paper)).image
    if mode == "I;16":
        im = Image.fromarray((255 - digit).astype(np.uint16) * 257)
    elif mode == "1":
        im = paper.point(lambda v: 255 if v > 128 else 0).convert("1")
    else:
        im = paper.convert(mode)
    fmt = "TIFF" if mode in ("CMYK", "I;16") else "PNG"
    got = P.prepare(_encode(im, fmt))
    assert got.inverted and corr(got.image, ref) > (0.85 if mode == "1" else 0.98)


def test_exif_orientation_is_honoured(mnist_test):
    digit = Image.fromarray(255 - cv2.resize(mnist_test[0][0], (100, 100)))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display": store the picture turned 90 CCW
    stored = _encode(digit.rotate(90, expand=True), "JPEG", exif=exif, quality=95)
    upright = P.prepare(_encode(digit)).image
    assert corr(P.prepare(stored).image, upright) > 0.95


@pytest.mark.parametrize(
    "picture",
    [
        np.zeros((280, 280, 4), np.uint8),  # empty canvas, transparent
        np.full((280, 280, 4), [0, 0, 0, 255], np.uint8),  # empty canvas, opaque black
        np.clip(np.random.default_rng(0).normal(235, 4, (300, 300)), 0, 255).astype(np.uint8),  # blank paper
        # blank paper photographed, lit from one side: its grain came out as a "1" (98.6%) before the specks rule
        np.clip(np.linspace(198, 236, 640)[None, :] + np.linspace(-6, 6, 480)[:, None]
                + np.random.default_rng(0).normal(0, 2.5, (480, 640)), 0, 255).astype(np.uint8),
    ],
    ids=["transparent", "black", "paper", "paper photo"],
)
def test_blank_pictures_are_no_ink(picture):
    p = P.prepare(picture)
    assert p.no_ink and p.image is None


def test_a_speck_is_no_ink():
    a = np.zeros((280, 280), np.uint8)
    a[100:103, 100:103] = 255
    assert P.prepare(a).no_ink


def test_dust_beside_the_digit_is_dropped(mnist_test):
    big = cv2.resize(mnist_test[0][0], (280, 280))
    dusty = big.copy()
    dusty[5:8, 5:8] = 255  # a speck far from the digit would stretch the bounding box
    assert corr(P.prepare(dusty).image, P.prepare(big).image) > 0.98


def test_bad_inputs_raise_clear_errors(tmp_path):
    with pytest.raises(P.ImageError, match="not an image"):
        P.prepare(b"%PDF-1.4 definitely not a picture")
    png = _encode(Image.fromarray(np.zeros((64, 64), np.uint8)))
    with pytest.raises(P.ImageError, match="cannot decode"):
        P.prepare(png[: len(png) // 2])
    with pytest.raises(P.ImageError, match="too small"):
        P.prepare(_encode(Image.new("L", (1, 1))))
    with pytest.raises(P.ImageError, match="megapixels"):
        P.prepare(_encode(Image.new("L", (10000, 10000))))
    with pytest.raises(P.ImageError, match="no such file"):
        P.prepare(tmp_path / "missing.png")
    with pytest.raises(P.ImageError, match="shape"):
        P.prepare(np.zeros((28, 28, 2)))
    with pytest.raises(P.ImageError, match="NaN"):
        P.prepare(np.full((28, 28), np.nan, np.float32))


def test_animated_gif_uses_first_frame(mnist_test):
    frames = [Image.fromarray(255 - cv2.resize(d, (84, 84))) for d in mnist_test[0][:3]]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:])
    p = P.prepare(buf.getvalue())
    assert any("first frame" in n for n in p.notes)
    assert corr(p.image, P.prepare(mnist_test[0][0]).image) > 0.9


def test_mnist_reference_stats_are_recomputable(mnist_test):
    ref = P.reference_stats(mnist_test[0][:500].astype(np.float32) / 255)
    assert ref["box_height"]["median"] == 20
    assert 1.8 < ref["stroke_width"]["median"] < 2.8
    assert ref["centre_offset"]["p95"] < 1.0


def test_stroke_width_is_brought_into_mnist_range(mnist_test):
    from digitlab.data.synthetic import restroke

    lo, hi = P.STROKE_BAND
    for fraction in (0.04, 0.3):  # a thin pen, a fat brush (MNIST is ~0.11)
        widths_off, widths_on = [], []
        for i, digit in enumerate(mnist_test[0][:30]):
            drawing = restroke(digit, fraction, seed=i)
            widths_off.append(P.shape_stats(P.prepare(drawing, stroke=False).image)["stroke_width"])
            widths_on.append(P.shape_stats(P.prepare(drawing, stroke=True).image)["stroke_width"])
        assert not lo <= np.median(widths_off) <= hi  # the drawing really was off MNIST's range
        assert lo <= np.median(widths_on) <= hi + 0.5, (fraction, np.median(widths_on))


# Marker photos (photo_cases "marker") whose ink the polarity rule took for the paper: read as nothing before.
MARKER_MISREAD = (1, 12, 18, 22, 28, 33, 50, 51)


@pytest.mark.parametrize("light_ink", [False, True], ids=["dark marker on paper", "light marker on a dark board"])
def test_a_marker_filling_a_tight_crop_is_read_with_the_other_polarity(mnist_test, light_ink):
    """A marker's strokes filling the crop are not thin next to it, so the polarity rule can take the paper
    between them for the ink; read that way nothing is left.  The picture is then read the other way round,
    and says so.  The same photos inverted (a light marker on a dark board) go through the mirror case."""
    from digitlab.data import photo_cases

    x, _ = mnist_test
    scores = []
    for i in MARKER_MISREAD:
        grey = cv2.imdecode(np.frombuffer(photo_cases.make("marker", x[i], i), np.uint8), cv2.IMREAD_GRAYSCALE)
        p = P.prepare(255 - grey if light_ink else grey)
        first = "light ink on a dark background" if light_ink else "dark ink on a light background"
        assert not p.no_ink and p.inverted is not light_ink, p.notes
        assert any(n.startswith("no ink found as") and n.endswith(f"read as {first} instead") for n in p.notes), p.notes
        assert [t for t, _ in p.steps][1] == "grey, ink light" + ("" if light_ink else " (inverted)")
        scores.append(corr(p.image, P.prepare(x[i]).image))
    assert min(scores) > 0.8, scores


def test_a_picture_that_is_all_ink_says_so():
    p = P.prepare(np.full((280, 280, 4), 255, np.uint8))  # a canvas scribbled over completely
    assert p.no_ink and any("one flat tone" in n for n in p.notes)


# ----------------------------------------------------------------------------- the paper inside the strokes


def _ring(inside: tuple[int, int, int], paper=(236, 232, 222)) -> np.ndarray:
    """A 0 drawn as a dark ring on paper, 320x320 RGB, its inside painted ``inside``."""
    rgb = np.zeros((320, 320, 3), np.uint8)
    rgb[:] = paper
    cv2.ellipse(rgb, (160, 160), (70, 105), 0, 0, 360, inside, -1)
    cv2.ellipse(rgb, (160, 160), (70, 105), 0, 0, 360, (30, 30, 40), 12, cv2.LINE_AA)
    return rgb


def test_a_ring_enclosing_skin_is_refused_and_a_written_0_is_not():
    written, face = P.prepare(_ring((236, 232, 222))), P.prepare(_ring((224, 172, 120)))
    assert written.refusal is None and written.paper_shift < 3, written.paper_shift
    assert face.refusal is not None and face.paper_shift > 2 * P.PAPER_SHIFT_LIMIT, face.paper_shift
    assert "not the paper" in face.refusal and face.refusal in face.notes
    assert face.image is not None  # refused by every caller, but still prepared: the inspector shows what was read
    # lightness alone is a shadow, not a picture: a grey inside of the same hue is not refused
    assert P.prepare(_ring((150, 147, 140))).refusal is None


def test_transparent_pixels_colour_nothing():
    """A canvas-like RGBA whose transparent pixels hold colour (as files often do) is seen as composited: the
    preview the paper check and the inspector use holds no colour that is not shown."""
    rgba = np.zeros((280, 280, 4), np.uint8)
    rgba[..., 0] = 255  # red under alpha 0: invisible
    cv2.ellipse(rgba, (140, 140), (60, 90), 0, 0, 360, (255, 255, 255, 255), 18)  # no blending: ink or nothing
    p = P.prepare(rgba)
    assert not p.no_ink and p.refusal is None and p.paper_shift < 3, p.paper_shift
    preview = p.steps[0][1]
    assert np.abs(preview[..., 0].astype(int) - preview[..., 1]).max() <= 2  # grey: the red was never seen


def test_a_grey_drawing_is_composited_as_a_coloured_one_would_be():
    """A picture without colour (the canvas's: white strokes, half-transparent edges) takes the cheap path, one
    channel composited and copied; its preview is byte for byte what compositing the three channels gives, and
    one coloured pixel sends the picture down the three-channel path."""
    from digitlab import pictures

    rng = np.random.default_rng(3)
    rgb = np.repeat(rng.integers(0, 256, (97, 61, 1), dtype=np.uint8), 3, axis=-1)
    alpha = rng.integers(0, 256, (97, 61)).astype(np.float32) / 255
    for back in (0.0, 1.0, 0.37):
        three = np.clip(alpha[..., None] * rgb.astype(np.float32) + (1 - alpha[..., None]) * (back * 255), 0, 255).round().astype(np.uint8)
        np.testing.assert_array_equal(pictures._composite_rgb(rgb, alpha, back), three)
    coloured = rgb.copy()
    coloured[5, 7] = (255, 0, 0)
    out = pictures._composite_rgb(coloured, np.ones_like(alpha), 0.0)
    assert tuple(out[5, 7]) == (255, 0, 0) and (out[..., 0] == out[..., 1]).sum() == out[..., 0].size - 1


def test_a_drawing_that_reaches_the_canvas_edge_is_read_as_the_same_drawing_inside_it():
    """Strokes apart that touch the canvas's edge are part of the digit, not a desk's rim: a 5 whose top bar
    runs along the edge is prepared as the same 5 drawn 20 px lower (the recipe crops to the ink, so both give
    nearly the same 28x28), and its bar is there. 1.3 read such a drawing as a photo and dropped the bar."""
    from test_preprocess_js import five_at_the_edge

    at_edge = five_at_the_edge()
    inside = np.zeros_like(at_edge)
    inside[20:] = at_edge[:-20]
    a, b = P.prepare(at_edge), P.prepare(inside)
    clean = dict(a.steps)["background removed"]
    assert clean[:16, 100:210].mean() > 0.5  # the bar, where it was drawn
    assert np.abs(a.image - b.image).max() < 0.05, np.abs(a.image - b.image).max()


def test_a_fat_brush_drawing_is_read_the_same_wherever_it_lies_on_its_canvas(mnist_test):
    """Ink drawn on transparency is known to be the ink (1.5): a fat-brush drawing whose strokes cover most of the
    canvas, or run off it, is prepared exactly as the same drawing with a transparent margin around it, white ink or
    black, with the ink found by itself.  1.4 took the median tone for the background (the ink, when strokes cover
    most of the picture: no ink found, or the background read as ink) and a drawing off the edge for a photo."""
    x, _ = mnist_test
    drawings = fat_drawings(x[:120])
    assert len(drawings) >= 5, len(drawings)  # the case is there to be tested
    for rgba in drawings:
        framed = np.pad(rgba, ((50, 50), (50, 50), (0, 0)))  # 380 px: no shrinking either way
        black = rgba.copy()
        black[..., :3] = 0
        prepared = [P.prepare(rgba), P.prepare(framed), P.prepare(black), P.prepare(black, invert="yes")]
        assert not any(p.no_ink for p in prepared), [p.notes for p in prepared]
        assert [p.inverted for p in prepared] == [False, False, True, True]
        for p in prepared[1:]:  # the framed drawing's border is one flat tone: no photo step there, so none here

            np.testing.assert_array_equal(p.image, prepared[0].image)


def test_a_fat_brush_drawing_on_the_apps_canvas_is_read_as_a_drawing(mnist_test):
    """The app's canvas hands over its strokes on its opaque plain background (black on white in the Light theme,
    white on black in the Dark one), and Home says which tone that is (``drawn_on``).  So a fat-brush drawing that
    covers most of the canvas or runs off it is prepared exactly as the same strokes drawn on transparency, in either
    theme. Read without ``drawn_on``, as any picture is, some of the same drawings lose their ink or their strokes at
    the edge."""
    x, _ = mnist_test
    drawings = fat_drawings(x[:120])
    differ = 0
    for rgba in drawings:
        on_transparency = P.prepare(rgba)
        for invert, tone in (("yes", 1.0), ("no", 0.0)):
            canvas = on_canvas(rgba, tone)
            drawn = P.prepare(canvas, invert=invert, drawn_on=tone)
            assert not drawn.no_ink and drawn.inverted == (invert == "yes")
            np.testing.assert_array_equal(drawn.image, on_transparency.image)
            guessed = P.prepare(canvas, invert=invert)
            differ += guessed.no_ink or not np.array_equal(guessed.image, drawn.image)
    assert differ >= 2, differ  # the case is there to be tested


@pytest.mark.parametrize("tone", [0.5, 2, -1.0, "white"])
def test_drawn_on_is_a_canvas_tone(tone):
    with pytest.raises(ValueError, match="drawn_on"):
        P.prepare(np.zeros((28, 28), np.uint8), drawn_on=tone)


def _tagged(picture: np.ndarray, text: str) -> bytes:
    from digitlab import pictures
    from digitlab.files import png_bytes

    return png_bytes(picture, {pictures.DRAWN_ON_TAG: text})


def test_a_png_that_says_it_is_a_drawing_is_read_as_one_when_its_pixels_agree(mnist_test):
    """A PNG's DRAWN_ON_TAG (the Collect page writes it) makes the file read as the canvas it came from is read, in
    either tone.  A tag the pixels contradict (a background tinted afterwards, transparency added) or whose value is
    no canvas tone is not followed, and the notes say why; the picture is then read as any picture."""
    from digitlab import pictures

    x, _ = mnist_test
    rgba = fat_drawings(x[:60])[0]
    for text, tone, invert in (("white", 1.0, "yes"), ("black", 0.0, "no")):
        canvas = on_canvas(rgba, tone)
        loaded = pictures.load(_tagged(canvas, text))
        assert loaded.drawn_on == tone and any("its file says so" in n for n in loaded.notes), loaded.notes
        np.testing.assert_array_equal(P.prepare(_tagged(canvas, text)).image, P.prepare(canvas, invert=invert, drawn_on=tone).image)
        assert pictures.load(_tagged(canvas, text), drawn_on=1.0 - tone).drawn_on == 1.0 - tone  # the caller's word first
    canvas = on_canvas(rgba, 1.0)
    tinted = np.clip(canvas.astype(int) - np.array([0, 6, 18, 0]), 0, 255).astype(np.uint8)  # a sepia filter over it
    rim = canvas.copy()
    rim[:3, ..., 3] = rim[-3:, ..., 3] = rim[:, :3, 3] = rim[:, -3:, 3] = 0  # cut out with a transparent rim: a sheet
    for picture, text, why in ((tinted, "white", "plain white"), (rim, "white", "transparency"), (canvas, "grey", "no canvas tone")):
        loaded = pictures.load(_tagged(picture, text))
        assert loaded.drawn_on is None and any(why in n and "read as any picture" in n for n in loaded.notes), loaded.notes
    thin = on_canvas(synthetic.restroke(x[0], 0.1, seed=0), 1.0)
    assert pictures.load(_tagged(thin, "black")).drawn_on is None  # a white canvas that says black: under a quarter is black


def test_a_sheet_with_a_transparent_rim_is_paper(mnist_test):
    """Transparency alone does not make a drawing: an opaque white sheet with a transparent rim holding a small dark
    digit (under 1 % of its pixels) is paper with ink on it, read as dark ink on light, not as white ink."""
    from digitlab import pictures

    x, _ = mnist_test
    rgba = np.full((400, 400, 4), 255, np.uint8)
    rgba[:3], rgba[-3:], rgba[:, :3], rgba[:, -3:] = 0, 0, 0, 0
    digit = cv2.resize(x[0], (30, 30), interpolation=cv2.INTER_AREA)
    rgba[180:210, 180:210, :3] = 255 - digit[..., None]
    assert pictures.load(rgba).drawn_on is None
    p = P.prepare(rgba)
    assert not p.no_ink and p.inverted and 20 <= max(p.bbox[2:]) <= 30, (p.notes, p.bbox)


def test_faint_coverage_everywhere_is_not_a_drawing():
    """A canvas picture whose every pixel is a little covered (an empty page's grain and ruled lines as alpha, from the
    gate's non-digit generators) is no drawing on transparency: it is read as the same picture without transparency
    (its coverage as grey), its background estimated, not taken as exactly 0.  (A first 1.5 took any one-tone picture
    with a quarter not opaque for a drawing and read the grain as ink: 10 of 100 such pictures that were no ink.)"""
    from digitlab import pictures
    from digitlab.data import nondigits

    rng = np.random.default_rng(4)
    empty = 0
    for _ in range(8):
        rgba = nondigits.as_picture_canvas(nondigits.noise(rng, "paper"))
        assert pictures.load(rgba).drawn_on is None
        a, b = P.prepare(rgba), P.prepare(rgba[..., 3])
        assert a.no_ink == b.no_ink and (a.no_ink or np.array_equal(a.image, b.image))
        empty += a.no_ink
    assert empty >= 3, empty  # the grain alone is no ink


def _hairline_page(digit: np.ndarray, side: int, pen: int) -> bytes:
    """A real MNIST digit written with a ``pen``-px pen on a ``side``-px white page (its skeleton's polylines, dark
    ink), as a PNG: a drawing made in a paint program at full size, or a tablet's trajectory plotted thin."""
    from digitlab.data.handwriting_test import stroke_paths

    page = np.full((side, side), 255, np.uint8)
    scale = 0.8 * side / 28
    for path in stroke_paths(digit, 0.3):
        cv2.polylines(page, [np.round((path * scale + 0.1 * side) * 4).astype(np.int32)], False, 0, pen, cv2.LINE_AA, shift=2)
    return cv2.imencode(".png", page)[1].tobytes()


@pytest.mark.slow
def test_a_hairline_survives_the_shrink(mnist_test, tmp_path_factory, committed_models, monkeypatch):
    """A 1-px pen on a 1,000-px page, or a 2-px pen on a 2,000-px page, gives strokes a few thousandths of the page
    wide.  Shrunk to the stroke normalisation's 80 px they fade into the paper, and many such pictures were read as
    scattered specks (preprocessing 1.5).  ``thicken_hairline`` draws them a pixel wide there first."""
    from support import link_models

    from digitlab.serving.classifiers import load_classifier

    clf = load_classifier(str(link_models(tmp_path_factory.mktemp("models"), ["mnist_cnn"], gate=False) / "mnist_cnn.keras"))
    x, y = mnist_test[0][:100], mnist_test[1][:100]
    lost = 0
    for side, pen in ((1000, 1), (2000, 2)):
        pages = [_hairline_page(d, side, pen) for d in x]
        prepared = [P.prepare(page) for page in pages]
        assert all(not p.no_ink and P.HAIRLINE_NOTE in p.notes for p in prepared)
        read = clf.predict_proba(np.stack([p.image for p in prepared])).argmax(1)
        assert (read == y).mean() >= 0.95, (side, pen, (read == y).mean())
        with monkeypatch.context() as m:  # without it, pictures of real digits with no digit in them
            m.setattr(P, "thicken_hairline", lambda crop: crop)
            lost += sum(P.prepare(page).no_ink for page in pages)
    assert lost >= 20


def _blank_page_jpeg(seed: int, quality: int) -> bytes:
    """A phone's photo of blank paper lit from one side (480x640), JPEG-compressed at ``quality``."""
    rng = np.random.default_rng(seed)
    light = np.linspace(198, 236, 640)[None, :] + np.linspace(-6, 6, 480)[:, None]
    page = (light + rng.normal(0, 2.5, (480, 640))).clip(0, 255).astype(np.uint8)
    return cv2.imencode(".jpg", page, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes()


@pytest.mark.parametrize("seed", range(6))
def test_blank_paper_photographed_is_not_a_hairline(seed):
    """A phone's photo of blank paper, JPEG-compressed: read as light ink, its grain came out of the background removal
    as specks a few pixels across, thin and far apart (1.6; 1.7 finds no contrast there first).  They are not a hairline
    (``HAIRLINE_REACH``): never thickened, so the picture has no ink."""
    for quality in (75, 92):
        p = P.prepare(_blank_page_jpeg(seed, quality))
        assert p.no_ink and P.HAIRLINE_NOTE not in p.notes, (quality, p.notes)


@pytest.mark.parametrize("seed", range(6))
def test_blank_paper_as_a_low_quality_jpeg_is_no_ink(seed, monkeypatch):
    """The same page saved at JPEG quality 10-60.  Neither extreme of a blank page stands out, so it can be taken for
    light ink on a dark background; a photo read so is divided by 1 - its background's tone (0.1-0.2 here), which
    stretched the JPEG's block edges, 1-2% of full scale, past MIN_CONTRAST.  Its ink must stand MIN_CONTRAST above the
    background before that stretch too (1.7): no ink, "one flat tone".  Without that check most of these pages had ink."""
    for quality in (10, 20, 30, 45, 60):
        p = P.prepare(_blank_page_jpeg(seed, quality))
        assert p.no_ink and "one flat tone" in p.notes[-1], (quality, p.notes)
    stretched_only = P.remove_background
    monkeypatch.setattr(P, "remove_background", lambda ink, photo=None, level=None, floor=None, light_ink=False:
                        stretched_only(ink, photo, level, floor, light_ink=False))
    assert sum(not P.prepare(_blank_page_jpeg(seed, q)).no_ink for q in (10, 20)) >= 1


def test_light_ink_photos_keep_their_ink(mnist_test):
    """The contrast before the stretch binds only where the stretch made the ink: photos of light ink on a dark board
    (photo_cases' half-shadowed and desk-corner photos inverted: a bright patch on the board) are read as before."""
    from digitlab.data import photo_cases

    x = mnist_test[0]
    for case in ("half_shadow", "desk_corner", "plain"):
        for i in range(10):
            grey = cv2.imdecode(np.frombuffer(photo_cases.make(case, x[i], i), np.uint8), cv2.IMREAD_GRAYSCALE)
            p = P.prepare(255 - grey)
            assert not p.no_ink and not p.inverted, (case, i, p.notes)
            assert corr(p.image, P.prepare(x[i]).image) > 0.8, (case, i)


def test_thick_strokes_and_small_crops_are_not_thickened(mnist_test):
    """Only a crop that the stroke normalisation shrinks and whose strokes would come out under a pixel is touched:
    MNIST's digits, the canvas's drawings and a 4-px pen on a 500-px page pass through as they are."""
    x = mnist_test[0][:20]
    for d in x:
        crop = d.astype(np.float32) / 255
        assert P.thicken_hairline(crop) is crop
        canvas = cv2.resize(crop, (240, 240), interpolation=cv2.INTER_LINEAR)
        assert P.thicken_hairline(canvas) is canvas
        page = P.prepare(_hairline_page(d, 500, 4))
        assert not page.no_ink and P.HAIRLINE_NOTE not in page.notes


# ----------------------------------------------------------------------------- a form's printed box (1.8)


def test_a_forms_box_is_not_part_of_the_digit(mnist_test):
    """A digit written in a form's box, alone or in one cell of a comb field: the box and the separators are dropped,
    so the model input is the digit's own (its correlation with the digit prepared alone); 1.7 kept them."""
    x, _ = mnist_test
    for i in range(12):
        alone = P.prepare(x[i]).image
        for cells, mine in ((1, 0), (3, 1), (4, 0)):
            p = P.prepare(form_box_page(x[i], cells, mine))
            assert not p.no_ink and corr(p.image, alone) > 0.9, (i, cells, mine, corr(p.image, alone))


def test_a_forms_box_without_the_step_spoils_the_digit(mnist_test, monkeypatch):
    x, _ = mnist_test
    monkeypatch.setattr(P, "drop_frame", lambda ink: ink)
    spoiled = [corr(P.prepare(form_box_page(x[i], 3, 1)).image, P.prepare(x[i]).image) for i in range(12)]
    assert np.median(spoiled) < 0.6, spoiled


def test_a_digit_touching_its_box_is_still_read(mnist_test):
    x, _ = mnist_test
    scores = [corr(P.prepare(form_box_page(x[i], touch=True)).image, P.prepare(x[i]).image) for i in range(12)]
    assert np.median(scores) > 0.85, scores


def test_what_is_not_a_forms_box_is_kept(mnist_test):
    """An empty comb field has nothing written in it (no ink).  A 0 or an 8 drawn square, with nothing tall inside, is
    the digit, and so is an empty single box (a square 0 drawn with a thin pen, as far as pixels tell).  A drawing on
    the app's canvas is never cut: a box drawn there around the digit stays ink."""
    assert P.prepare(form_box_page(None, cells=4)).no_ink and not P.prepare(form_box_page(None)).no_ink
    square = np.full((200, 200), 232, np.uint8)
    cv2.rectangle(square, (60, 40), (140, 160), 40, 8)
    eight = square.copy()
    cv2.line(eight, (60, 100), (140, 100), 40, 8)
    for picture in (square, eight):
        p = P.prepare(picture)
        assert not p.no_ink and p.image.max() > 0.9 and (p.image[4:24, 4:24] > 0.5).sum() > 40
    for pen, side, turn in ((10, 90, 0), (10, 90, 1), (8, 70, -1), (5, 70, 3)):  # anti-aliased, or askew: the band
        # cuts a side's line, so its thickness is its run inward (1.10; 1.9 took each of these for a box and erased it)
        square = np.full((260, 260), 232, np.uint8)
        corners = cv2.boxPoints(((130, 130), (side, 1.3 * side), turn))
        cv2.polylines(square, [np.round(corners).astype(np.int32)], True, 40, pen, lineType=cv2.LINE_AA)
        p = P.prepare(square)
        assert not p.no_ink and P.FRAME_NOTE not in p.notes and p.bbox[2] > 1.3 * side, (pen, side, turn, p.notes, p.bbox)
    x, _ = mnist_test
    drawn = np.dstack([form_box_page(x[0])] * 3 + [np.full(form_box_page(x[0]).shape, 255, np.uint8)])
    on_canvas_picture = P.prepare(drawn, drawn_on=1.0)
    assert corr(on_canvas_picture.image, P.prepare(x[0]).image) < 0.6


# ----------------------------------------------------------------------------- a form's printed line (1.9)


def test_a_forms_line_under_the_digit_is_not_part_of_it(mnist_test):
    """A digit written above a form's printed answer line, level or tilted 3 degrees, apart from it: the line is
    dropped and the model input is the digit's own; without the step the digit is squashed above the line."""
    x, _ = mnist_test
    for i in range(12):
        alone = P.prepare(x[i]).image
        for tilt in (0.0, 0.05, -0.05):
            p = P.prepare(form_line_page(x[i], tilt=tilt))
            assert not p.no_ink and corr(p.image, alone) > 0.9, (i, tilt, corr(p.image, alone))


def test_a_forms_line_in_pieces_is_one_line(mnist_test):
    """A thin line broken by the paper or a JPEG into collinear pieces is judged as one line."""
    x, _ = mnist_test
    for i in range(6):
        page = form_line_page(x[i], width=1)
        page[:, 60:64] = 232  # two gaps in the line (the digit is further right)
        page[:, 300:303] = 232
        assert corr(P.prepare(page).image, P.prepare(x[i]).image) > 0.9, i


def test_without_the_line_steps_the_digit_is_squashed(mnist_test, monkeypatch):
    x, _ = mnist_test
    monkeypatch.setattr(P, "drop_rule_line", lambda ink: ink)
    monkeypatch.setattr(P, "drop_line_under", lambda ink: ink)  # (it would take a line apart from the writing too)
    monkeypatch.setattr(P, "isolate_digit", lambda clean: (clean, []))  # (and so would the marks step: an underline)
    scores = [corr(P.prepare(form_line_page(x[i])).image, P.prepare(x[i]).image) for i in range(12)]
    assert np.median(scores) < 0.6, scores


def test_a_forms_line_the_digit_touches_is_not_part_of_it(mnist_test, monkeypatch):
    """A digit whose lowest rows a form's line runs through (1.11): the line's band goes, with a sliver of the digit
    where they touch, and a note says so; without the step the digit is squashed above the line."""
    x, _ = mnist_test
    for tilt in (0.0, 0.05, -0.05):
        prepared = [P.prepare(form_line_page(x[i], gap=-3, tilt=tilt)) for i in range(12)]
        assert all(P.RULE_LINE_NOTE in p.notes for p in prepared), tilt
        scores = [corr(p.image, P.prepare(x[i]).image) for i, p in enumerate(prepared)]
        assert np.median(scores) > 0.75, (tilt, scores)
    monkeypatch.setattr(P, "drop_line_under", lambda ink: ink)
    monkeypatch.setattr(P, "isolate_digit", lambda clean: (clean, []))  # (the marks step takes a touching underline too)
    scores = [corr(P.prepare(form_line_page(x[i], gap=-3)).image, P.prepare(x[i]).image) for i in range(12)]
    assert np.median(scores) < 0.5, scores


def test_what_is_not_a_forms_line_is_kept(mnist_test):
    """A line alone (a minus, a 1 lying down), a line through the digit (more than RULE_SLIVER of its height above its
    bottom: struck through, not written on), a line no longer than twice the digit's width (a 5's or a 7's bar drawn
    apart is shorter: under the digit, the marks step leaves it out as an underline), and a line drawn on the canvas all
    stay ink."""
    x, _ = mnist_test
    alone = P.prepare(form_line_page(None))
    assert not alone.no_ink
    for gap in (-15, -40):
        through = P.prepare(form_line_page(x[0], gap=gap))
        assert corr(through.image, P.prepare(x[0]).image) < 0.8 and P.RULE_LINE_NOTE not in through.notes, gap
    short = P.prepare(form_line_page(x[1], length=60))  # not a form's line; under the digit it is an underline (1.12)
    assert P.RULE_LINE_NOTE not in short.notes and P.UNDERLINE_NOTE in short.notes, short.notes
    drawn = form_line_page(x[2])
    on_canvas_picture = P.prepare(np.dstack([drawn] * 3 + [np.full(drawn.shape, 255, np.uint8)]), drawn_on=1.0)
    assert corr(on_canvas_picture.image, P.prepare(x[2]).image) < 0.6
