"""The Data page (app/pages/8_Data.py) in AppTest and the library behind it (digitlab.data.overview,
digitlab.training.preview) on real MNIST: class counts, samples, the training augmentation applied live with
the recipe's own augmenter, the digit re-drawn as canvas strokes by the committed recipe's stroke re-drawing, and the
user's digits read from a scratch folder, never from my_digits/."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import numpy as np
import pytest

from digitlab import data
from digitlab.data import overview, synthetic, user_digits
from digitlab.paths import ROOT
from digitlab.training import presets, preview

PAGE = "pages/8_Data.py"
TIMEOUT = 180


@pytest.fixture(scope="module")
def raw():
    return data.load()


@pytest.fixture
def my_digits(tmp_path, monkeypatch):
    """An empty scratch digits folder as $DIGITLAB_MY_DIGITS."""
    folder = tmp_path / "my_digits"
    monkeypatch.setenv(user_digits.ENV_VAR, str(folder))
    return folder


def data_page():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app" / "Home.py"), default_timeout=TIMEOUT).run()
    at.switch_page(PAGE)
    return at.run()


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


def captions(at) -> list[str]:
    return [c for img in at.image for c in img.captions]


# ----------------------------------------------------------------------------- the library


def test_counts_samples_and_one_digit(raw):
    counts = overview.class_counts(raw)
    assert {s: sum(c) for s, c in counts.items()} == {"train": 55000, "val": 5000, "test": 10000}
    assert counts["test"] == np.bincount(raw.y_test, minlength=10).tolist()
    x, y = overview.class_samples(raw, "val", 3, seed=4)
    assert x.shape == (30, 28, 28) and y.tolist() == [d for d in range(10) for _ in range(3)]
    again, _ = overview.class_samples(raw, "val", 3, seed=4)
    other, _ = overview.class_samples(raw, "val", 3, seed=5)
    assert np.array_equal(x, again) and not np.array_equal(x, other)
    image, index = overview.nth_of_class(raw, "test", 7, 0)
    assert index == 0 and np.array_equal(image, raw.inputs("test", indices=[0])[0][0]), "test digit 0 is a 7"
    with pytest.raises(ValueError, match="holds 892 digits 5"):
        overview.nth_of_class(raw, "test", 5, 892)
    sheet = overview.contact_sheet(x, 3)
    assert sheet.shape == (10 * 30 + 2, 3 * 30 + 2) and sheet.dtype == np.uint8


def test_the_augmentation_is_the_recipes(raw):
    image, _ = overview.nth_of_class(raw, "train", 3, 0)
    out = preview.augmented(image, presets.CNN, 16, seed=0)
    assert out.shape == (16, 28, 28) and out.min() >= 0 and out.max() <= 1
    changed = np.abs(out - image).mean(axis=(1, 2))
    assert (changed > 0.01).all(), "every copy is augmented"
    assert len({round(float(c), 4) for c in changed}) == 16, "each copy differently"
    assert abs(out.sum(axis=(1, 2)).mean() / image.sum() - 1) < 0.35, "still one digit's worth of ink"
    assert np.array_equal(preview.augmented(image, presets.CNN, 16, seed=0), out), "a seed gives the same draws"
    # mnist_robust trains without it (the adversary is its augmentation): the digit comes back unchanged
    assert np.array_equal(preview.augmented(image, presets.ROBUST, 4), np.repeat(image[None], 4, 0))
    assert preview.knobs(presets.ROBUST) == "no geometric or stroke augmentation"
    assert "±10°" in preview.knobs(presets.CNN)
    with pytest.raises(ValueError, match="one \\(28, 28\\) prepared digit"):
        preview.augmented(np.zeros((1, 28, 28)), presets.CNN)


def test_the_stroke_recipe_is_the_committed_models(raw):
    """redraw_recipe reads the committed recipe's own values (its last network that re-draws), redrawn draws as its pool
    does: every re-drawn 7 of the committed recipe is crossed (conventions 1.0), an 8 only where the recipe or ``eights`` asks."""
    from digitlab.training import recipes

    network, config = preview.redraw_recipe("mnist_cnn")
    file = recipes.load(recipes.RECIPES_DIR / f"{network}.toml")
    assert network == recipes.model("mnist_cnn")["members"][-1].removesuffix(".toml") and config.redraw == file["redraw"] > 0
    assert [config.redraw_brush_min, config.redraw_brush_max] == file["redraw_brush"]
    # mnist_cnn's last network draws the 8 as two circles too; so does mnist_advanced's (the same strokes, with paper hands)
    assert config.seed == file["seed"] and config.conventions_classes == "014789" and network == "cnn_b"
    advanced, its = preview.redraw_recipe("mnist_advanced")
    assert advanced == recipes.model("mnist_advanced")["members"][-1].removesuffix(".toml") == "cnn_e" and its.paper > 0
    strokes = ("redraw", "redraw_brush_min", "redraw_brush_max", "redraw_conventions", "redraw_pen_path", "conventions_classes")
    assert [getattr(its, k) for k in strokes] == [getattr(config, k) for k in strokes]
    no_eights = dataclasses.replace(config, conventions_classes="01479")  # the recipe of every other committed network
    assert preview.redraw_recipe("mnist_robust") is None and preview.redraw_recipe("no such model") is None
    assert "`cnn_b` (training/configs/cnn_b.toml) trains with 25% of its training digits re-drawn" in preview.redraw_words("mnist_cnn")
    assert "re-draws no digit" in preview.redraw_words("mnist_robust")

    seven, _ = overview.nth_of_class(raw, "train", 7, 0)
    out, edited = preview.redrawn(seven, 7, config, 16, seed=0)
    assert out.shape == (16, 28, 28) and out.dtype == np.float32 and out.min() >= 0 and out.max() <= 1
    assert edited.sum() >= 12 and len({o.tobytes() for o in out}) == 16  # crossed, each drawing its own
    assert np.array_equal(preview.redrawn(seven, 7, config, 16, seed=0)[0], out), "a seed gives the same drawings"
    eight, _ = overview.nth_of_class(raw, "train", 8, 0)
    assert preview.redrawn(eight, 8, config, 8, seed=0)[1].sum() >= 6
    assert not preview.redrawn(eight, 8, no_eights, 8, seed=0)[1].any()
    assert preview.redrawn(eight, 8, no_eights, 8, seed=0, eights=True)[1].sum() >= 6


def test_the_users_digits_overview(tmp_path, mnist_test):
    x, y = mnist_test
    folder = tmp_path / "mine"
    assert not overview.user_overview(folder).exists and overview.user_overview(folder).total == 0
    for i in range(12):  # real MNIST test digits drawn on a canvas, saved as the Collect page saves them
        user_digits.save(synthetic.canvas_picture(x[i], 280), int(y[i]), folder)
    (folder / "3").mkdir()  # the first 12 test digits hold no 3
    (folder / "3" / "broken.png").write_bytes(b"not a picture at all")
    mine = overview.user_overview(folder, per_digit=8)
    assert mine.total == 13 and mine.counts[int(y[0])] >= 1
    assert sum(len(v) for v in mine.newest.values()) == 12
    assert mine.skipped and mine.skipped[0][0] == "3/broken.png" and "unreadable" in mine.skipped[0][1]
    assert set(mine.short()) == {d for d in range(10) if 0 < mine.counts[d] < user_digits.MIN_PER_CLASS}  # none: left to MNIST


# ----------------------------------------------------------------------------- the page


def test_the_page_shows_counts_samples_and_no_digits_yet(raw, my_digits):
    at = data_page()
    assert not at.exception, [e.message for e in at.exception]
    table = at.dataframe[0].value
    counts = overview.class_counts(raw)
    assert table["training"].tolist()[:10] == counts["train"] and table["test"].tolist()[-1] == 10000
    assert "12 random training digits of each class, 0 (top) to 9 (bottom)" in captions(at)
    assert "No digits collected yet" in texts(at.info)
    at.segmented_control(key="data_split").set_value("test").run()
    assert "12 random test digits of each class, 0 (top) to 9 (bottom)" in captions(at)
    # the live augmentation on request
    assert not any("augmented copies" in c for c in captions(at))
    at.button(key="augment_go").click().run()
    assert not at.exception, [e.message for e in at.exception]
    assert "16 augmented copies (seed 0)" in captions(at)
    at.selectbox(key="augment_digit").set_value(2).run()
    assert "16 augmented copies (seed 0)" in captions(at) and any(c.endswith("(a 2)") for c in captions(at))
    at.button(key="augment_go").click().run()
    assert "16 augmented copies (seed 1)" in captions(at)
    # the same digit re-drawn by the committed recipe's stroke re-drawing, on request, without TensorFlow's augmenter
    assert not any("re-drawings" in c for c in captions(at))
    at.button(key="redraw_go").click().run()
    assert not at.exception, [e.message for e in at.exception]
    [redrawn] = [c for c in captions(at) if "re-drawings" in c]
    assert redrawn.startswith("16 re-drawings (seed 0), 0 of them given a writing convention")  # a 2 has none
    at.selectbox(key="augment_digit").set_value(8).run()
    [redrawn] = [c for c in captions(at) if "re-drawings" in c]
    assert int(redrawn.split(", ")[1].split()[0]) >= 10, redrawn  # the 8 as two circles: the recipe's last network draws them
    assert not [c for c in at.checkbox if c.key == "redraw_eights"]  # so no box offers them
    at.selectbox(key="augment_recipe").set_value("mnist_robust").run()
    assert "re-draws no digit" in texts(at.caption)


def test_the_page_shows_the_users_digits(my_digits, mnist_test):
    x, y = mnist_test
    for i in range(5):
        user_digits.save(synthetic.canvas_picture(x[i], 280), int(y[i]), my_digits)
    (my_digits / "8").mkdir()
    (my_digits / "8" / "empty.png").write_bytes(b"")
    at = data_page()
    assert not at.exception, [e.message for e in at.exception]
    counts = at.dataframe[1].value.iloc[0]  # after the class counts
    assert counts["8"] == 1 and counts["all"] == 6 and [counts[str(d)] for d in range(10)] == [
        int(d in (7, 2, 1, 0, 4)) + int(d == 8) for d in range(10)]  # the first five test digits, and the empty file
    assert "your 7s: 1 picture(s)" in captions(at) and not any(c.startswith("your 8s") for c in captions(at))
    assert "6 picture(s)" in texts(at.caption)
    assert "still short" in texts(at.warning) and "1 of the pictures shown cannot be used" in texts(at.warning)
    assert "8/empty.png" in texts(at.caption)


def test_the_page_does_not_load_tensorflow_until_asked(my_digits):
    """In a fresh process: the page as first shown imports no TensorFlow (the ~680 MB stays free)."""
    code = (
        "import sys\n"
        "from streamlit.testing.v1 import AppTest\n"
        f"at = AppTest.from_file({str(ROOT / 'app' / 'Home.py')!r}, default_timeout={TIMEOUT}).run()\n"
        f"at.switch_page({PAGE!r}).run()\n"
        "assert not at.exception, [e.message for e in at.exception]\n"
        "assert at.dataframe, 'the page ran'\n"
        "print('tensorflow' in sys.modules)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "app"), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=TIMEOUT, cwd=ROOT, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == "False", "the Data page imported TensorFlow"
