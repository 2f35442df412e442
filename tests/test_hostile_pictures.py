"""Hostile pictures: eleven defects of the picture reading path, one regression test (or a few) per defect,
numbered 1-11 in the test names.

Every input is made here from real MNIST test digits (nothing binary is committed), with the builders of
digitlab.hardening.hostile_pictures, and goes through what users hit: the decode path (``preprocess.prepare``,
digitlab.pictures underneath), the predict CLI as a real process, and the app's upload (AppTest).

    python -m pytest -q tests/test_hostile_pictures.py
"""

from __future__ import annotations

import io
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import GifImagePlugin, Image

from digitlab import files, pictures, preprocess
from digitlab.hardening import hostile_pictures
from digitlab.paths import ROOT

MODEL = "mnist_baseline"  # the committed model the CLI runs with here: every test is about pictures, not models


def corr(a, b) -> float:
    """Shape similarity after a 1 px blur (as tests/test_preprocess.py)."""
    a, b = (cv2.GaussianBlur(np.asarray(v, np.float32), (0, 0), 1.0) for v in (a, b))
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def scan(digit: np.ndarray, side: int = 112) -> np.ndarray:
    """(side, side) uint8: the digit as dark ink on white paper, with a margin."""
    page = np.full((side, side), 255, np.uint8)
    m = side // 8
    page[m : side - m, m : side - m] = 255 - cv2.resize(digit, (side - 2 * m, side - 2 * m), interpolation=cv2.INTER_LINEAR)
    return page


def encode(picture, fmt: str = "PNG", **kw) -> bytes:
    im = picture if isinstance(picture, Image.Image) else Image.fromarray(picture)
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def multipage_tiff(digits) -> bytes:
    return encode(Image.fromarray(scan(digits[0])), "TIFF", save_all=True, append_images=[Image.fromarray(scan(d)) for d in digits[1:]])


def run_cli(*args, fmt: str = "json", env: dict | None = None, nofile: int | None = None, timeout: float = 600,
            model: str | None = MODEL) -> dict:
    """The real predict CLI: exit code, stdout (bytes), stderr, its own peak RSS (MB).  Killed and failed
    after ``timeout``: a hang must fail the test, never block it.  ``model`` None: the CLI's default model."""
    cmd = [sys.executable, str(ROOT / "evaluation" / "predict.py"), *map(str, args), "--format", fmt]
    cmd += ["--model", model] if model else []

    def limit():
        if nofile:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=ROOT, env={**os.environ, **(env or {})}, preexec_fn=limit)
        t0 = time.monotonic()
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - t0 > timeout:
                os.kill(proc.pid, 9)
                os.wait4(proc.pid, 0)
                pytest.fail(f"predict.py {' '.join(map(str, args))[:200]} did not finish in {timeout:.0f} s")
            time.sleep(0.1)
        out.seek(0)
        err.seek(0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        return {"code": proc.returncode, "stdout": out.read(), "stderr": err.read().decode(errors="replace"),
                "peak_mb": usage.ru_maxrss / 1024}


def json_lines(result: dict) -> list[dict]:
    text = result["stdout"].decode("utf-8")
    assert text.endswith("\n"), result["stderr"][-2000:]
    return [json.loads(line) for line in text[:-1].split("\n")]


def by_name(lines: list[dict]) -> dict[str, dict]:
    return {Path(line["path"]).name: line for line in lines}


def test_the_decode_path_uses_the_recipes_constants():
    """digitlab.pictures cannot import digitlab.preprocess (which imports it): its copies must agree."""
    assert pictures.DECODE_SIDE == preprocess.WORK_SIDE and pictures.MIN_CONTRAST == preprocess.MIN_CONTRAST
    assert preprocess.ImageError is pictures.ImageError and preprocess.MAX_PIXELS == pictures.MAX_PIXELS


# ----------------------------------------------------------------------------- a folder of hostile files, one CLI run


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory, mnist_test):
    """A folder with 20 good scans, the malformed multi-page TIFFs that once crashed the reader, a damaged
    animated GIF, an unreadable file and special entries (FIFO, socket, dangling link, directory, a link to
    /dev/zero), plus a FIFO given directly: the CLI's JSON run over it."""
    x, y = mnist_test
    folder = tmp_path_factory.mktemp("hostile")
    for i in range(20):
        (folder / f"good_{i:02d}_{y[i]}.png").write_bytes(encode(scan(x[i])))
    tiff = multipage_tiff(x[20:23])
    (folder / f"tiff_second_ifd_empty_{y[20]}.tif").write_bytes(hostile_pictures.tiff_second_ifd_empty(tiff))
    (folder / f"tiff_width_as_byte_page2_{y[20]}.tif").write_bytes(hostile_pictures.tiff_tag_type(tiff, 256, 1, ifd=1))
    (folder / "tiff_width_as_byte_page1.tif").write_bytes(hostile_pictures.tiff_tag_type(tiff, 256, 1, ifd=0))
    gif = encode(Image.fromarray(scan(x[23])), "GIF", save_all=True, append_images=[Image.fromarray(scan(d)) for d in x[24:26]])
    (folder / "gif_bad_screen.gif").write_bytes(gif[:6] + b"\x00\x00\x00\x00" + gif[10:])  # a 0x0 logical screen
    unreadable = hostile_pictures._unreadable(folder / "unreadable.png")
    os.mkfifo(folder / "fifo.png")
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(folder / "socket.png"))
    (folder / "dangling.png").symlink_to(folder / "nowhere.png")
    (folder / "folder.png").mkdir()
    (folder / "zeros.png").symlink_to("/dev/zero")
    (folder / "notes.txt").write_text("not named like a picture: skipped, and counted on stderr")
    direct_fifo = folder.parent / f"{folder.name}-direct.png"
    os.mkfifo(direct_fifo)
    result = run_cli(folder, direct_fifo, timeout=600)
    return {"result": result, "lines": json_lines(result), "folder": folder, "unreadable": unreadable, "labels": y}


# ----------------------------------------------------------------------------- 1. malformed multi-frame files


def test_1_malformed_multiframe_files_are_read_or_refused_never_raise(mnist_test):
    """Pillow raises TypeError, ValueError, SyntaxError, KeyError, IndexError on damaged multi-frame
    TIFFs and GIFs; every one of them must come out as ImageError with a reason (or the first frame, read)."""
    x, _ = mnist_test
    tiff = multipage_tiff(x[:3])
    first = preprocess.prepare(scan(x[0])).image
    # the two files that once crashed the reader
    for data in (hostile_pictures.tiff_second_ifd_empty(tiff), hostile_pictures.tiff_tag_type(tiff, 256, 1, ifd=1)):
        p = preprocess.prepare(data)  # the first page is intact: it is read
        assert not p.no_ink and corr(p.image, first) > 0.95 and "animated image: using the first frame" in p.notes
    with pytest.raises(preprocess.ImageError, match="cannot decode image"):
        preprocess.prepare(hostile_pictures.tiff_tag_type(tiff, 256, 1, ifd=0))  # the first page itself is broken
    refused = read = 0
    for i in range(300):  # seeded damage of the fuzz suite's multi-frame kinds
        rng = np.random.default_rng([121, i])
        digits = [x[(i + k) % 100] for k in range(int(rng.integers(2, 5)))]
        if i % 3 == 0:
            data = hostile_pictures.tiff_mutate_ifd(hostile_pictures.animated_file(rng, digits, "TIFF")[0], rng)
        elif i % 3 == 1:
            data = hostile_pictures.gif_mutate(hostile_pictures.animated_file(rng, digits, "GIF")[0], rng)
        else:
            data = hostile_pictures.flip_bytes(hostile_pictures.animated_file(rng, digits)[0], rng)
        try:
            preprocess.prepare(data)
            read += 1
        except preprocess.ImageError as e:
            assert str(e)
            refused += 1
    assert refused > 30 and read > 30, (refused, read)  # the damage is real, and not all of it fatal


def test_1_cli_writes_one_json_line_per_file_whatever_happens(hostile_run):
    """The CLI goes on after a malformed file, one JSON line per entry in order; exit 1 (files refused),
    never a traceback's exit."""
    r, lines = hostile_run["result"], hostile_run["lines"]
    assert r["code"] == 1, r["stderr"][-3000:]
    assert "Traceback" not in r["stderr"], r["stderr"][-3000:]
    names = [Path(line["path"]).name for line in lines]
    expected = sorted(p.name for p in hostile_run["folder"].iterdir() if pictures.is_image_file(p))
    assert names[: len(expected)] == expected and len(lines) == len(expected) + 1  # + the FIFO given directly
    lines = by_name(lines)
    label = int(hostile_run["labels"][20])
    for name in (f"tiff_second_ifd_empty_{label}.tif", f"tiff_width_as_byte_page2_{label}.tif"):  # the first page is read
        assert lines[name].get("label") == label, lines[name]
    assert "cannot decode image" in lines["tiff_width_as_byte_page1.tif"]["error"]
    assert set(lines["gif_bad_screen.gif"]) in ({"path", "error"}, set(lines["good_00_7.png"]))
    good = [v for k, v in lines.items() if k.startswith("good_")]
    assert len(good) == 20 and np.mean([v["label"] == int(Path(v["path"]).stem[-1]) for v in good]) >= 0.85


@pytest.mark.slow
def test_1_app_upload_of_a_malformed_tiff_shows_its_refusal(scratch_models, mnist_test):
    """The app's upload catches the same ImageError: the refusal is shown and the app goes on."""
    from streamlit.testing.v1 import AppTest

    x, y = mnist_test
    broken = hostile_pictures.tiff_tag_type(multipage_tiff(x[:3]), 256, 1, ifd=0)
    at = AppTest.from_file(str(ROOT / "app" / "Home.py"), default_timeout=300).run()
    at.segmented_control(key="input_mode").set_value("Upload").run()
    at.file_uploader(key="upload").upload("broken.tif", broken, "image/tiff")
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    message = "\n".join(str(e.value) for e in at.error)
    assert "Cannot use **broken.tif**" in message and "cannot decode image" in message, message
    at.file_uploader(key="upload").upload("seven.png", encode(scan(x[0])), "image/png")
    at.run()
    assert not at.exception and not at.error
    shown = at.metric[0].value if at.metric else "\n".join(str(e.value) for e in at.warning)
    assert str(y[0]) in shown, shown


# ----------------------------------------------------------------------------- 2. unreadable files


def test_2_unreadable_file_is_an_error_line(hostile_run):
    if hostile_run["unreadable"] is None:
        pytest.skip("no way to make a file this user cannot read here (root without a write-only /proc file)")
    line = by_name(hostile_run["lines"])["unreadable.png"]
    assert "cannot be read" in line["error"] and "ermission denied" in line["error"], line
    with pytest.raises(preprocess.ImageError, match="Permission denied"):
        preprocess.prepare(hostile_run["unreadable"])


# ----------------------------------------------------------------------------- 3. leaked file handles


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts open files through /proc")
def test_3_refused_files_leave_no_file_open(tmp_path, mnist_test):
    """Refusals keep no file open, even while their exceptions are kept (the old CLI kept a batch of them)."""
    x, _ = mnist_test
    rng = np.random.default_rng(3)
    for i in range(200):
        data, suffix, _ = hostile_pictures.animated_file(rng, [x[i], x[i + 1]]) if i % 2 else hostile_pictures.valid_file(rng, x[i])
        (tmp_path / f"{i:03d}{suffix}").write_bytes(data[: len(data) // 2])
    before = _open_fds()
    kept = []
    for f in sorted(tmp_path.iterdir()):
        try:
            preprocess.prepare(f)
        except preprocess.ImageError as e:
            kept.append(e)
    assert len(kept) > 150 and _open_fds() == before


@pytest.mark.slow  # over 10 s on 2 cores: the full suite's, not the fast tier's
def test_3_cli_survives_a_folder_of_truncated_files_under_ulimit_256(tmp_path, mnist_test):
    """macOS's default limit of 256 open files: a folder of 400 truncated files, then a good one."""
    x, y = mnist_test
    rng = np.random.default_rng(33)
    for i in range(400):
        data, suffix, _ = hostile_pictures.valid_file(rng, x[i], ("PNG", "JPEG", "WEBP", "BMP")[i % 4])
        (tmp_path / f"{i:03d}{suffix}").write_bytes(data[: len(data) // 5])  # cut inside the picture
    (tmp_path / f"zz_good_{y[0]}.png").write_bytes(encode(scan(x[0])))
    r = run_cli(tmp_path, nofile=256)
    lines = json_lines(r)
    assert r["code"] == 1 and len(lines) == 401, r["stderr"][-2000:]
    assert all("error" in line and "Too many open files" not in line["error"] for line in lines[:400])
    assert lines[400]["label"] == y[0]


# ----------------------------------------------------------------------------- 4. frames walked


def test_4_an_animated_gif_is_not_walked_frame_by_frame(monkeypatch, mnist_test):
    """``n_frames`` seeks through every frame to write a note; ``is_animated`` reads the second one only."""
    x, _ = mnist_test
    frames = [Image.fromarray(255 - cv2.resize(x[i % 50], (40, 40))) for i in range(500)]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50)
    seeks = []
    real = GifImagePlugin.GifImageFile._seek

    def counted(self, *args, **kwargs):
        seeks.append(args)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(GifImagePlugin.GifImageFile, "_seek", counted)
    p = preprocess.prepare(data)
    assert "animated image: using the first frame" in p.notes and corr(p.image, preprocess.prepare(255 - x[0]).image) > 0.9
    assert len(seeks) <= 4, f"{len(seeks)} frame seeks for one picture"


# ----------------------------------------------------------------------------- 5. FIFOs and special files


def test_5_fifos_and_special_entries_get_their_own_error_line(hostile_run):
    """A FIFO given as a path no longer hangs; in folder mode special entries are reported, not skipped."""
    lines = by_name(hostile_run["lines"])
    expected = {"fifo.png": "named pipe", "socket.png": "socket", "dangling.png": "no such file", "folder.png": "directory",
                "zeros.png": "character device", f"{hostile_run['folder'].name}-direct.png": "named pipe"}
    for name, words in expected.items():
        assert words in lines[name].get("error", ""), (name, lines[name])
    assert "skipped 1 entry without a picture suffix" in hostile_run["result"]["stderr"]


def test_5_opening_a_fifo_does_not_block(tmp_path):
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    outcome = []

    def read():
        try:
            preprocess.prepare(fifo)
        except preprocess.ImageError as e:
            outcome.append(str(e))

    t = threading.Thread(target=read, daemon=True)
    t.start()
    t.join(20)
    assert not t.is_alive(), "prepare() blocked on a FIFO"
    assert outcome and "named pipe (FIFO)" in outcome[0]


# ----------------------------------------------------------------------------- 6. names in the text format


def test_6_text_output_is_one_escaped_line_per_file_under_strict_utf8(tmp_path, mnist_test):
    """Names with bytes that are not UTF-8, a newline, terminal escape codes or a bidi override: one line each,
    escaped, and no crash under a strict UTF-8 stdout."""
    x, y = mnist_test
    names = [b"bad\xff\xfe.png", b"two\nlines.png", b"\x1b[2J\x1b[31mred.png", "rtl\u202egnp.png".encode()]
    for i, raw in enumerate(names):
        Path(os.fsdecode(os.path.join(os.fsencode(tmp_path), raw))).write_bytes(encode(scan(x[i])))
    r = run_cli(tmp_path, fmt="text", env={"PYTHONIOENCODING": "utf-8:strict", "LC_ALL": "C.UTF-8"})
    out = r["stdout"]
    assert r["code"] == 0, r["stderr"][-2000:]
    assert out.count(b"\n") == 4 and b"\x1b" not in out and b"\r" not in out
    text = out.decode("utf-8")  # valid UTF-8 whatever the names were
    for shown in ("bad\\xff\\xfe.png", "two\\nlines.png", "\\x1b[2J\\x1b[31mred.png", "rtl\\u202egnp.png"):
        assert shown in text, text
    rows = [line.split("\t") for line in text.splitlines()]
    assert all(len(row) in (3, 4) for row in rows)
    labels = {row[0].split("/")[-1]: int(row[1]) for row in rows}
    assert labels["bad\\xff\\xfe.png"] == y[0] and labels["two\\nlines.png"] == y[1]


def _strict_strings(obj) -> list[str]:
    """Every string of a parsed JSON value, each checked as a strict parser would: encodable as UTF-8 (a lone
    surrogate such as "\\udcff" is not)."""
    if isinstance(obj, str):
        obj.encode("utf-8")  # UnicodeEncodeError on a lone surrogate
        return [obj]
    if isinstance(obj, dict):
        return [t for k, v in obj.items() for t in (*_strict_strings(k), *_strict_strings(v))]
    if isinstance(obj, list):
        return [t for v in obj for t in _strict_strings(v)]
    return []


@pytest.mark.parametrize("number", [False, True], ids=["digit", "number"])
def test_6_json_output_escapes_undecodable_names_as_the_text_does(tmp_path, mnist_test, number):
    """A name's bytes that are not UTF-8 once reached the JSON as lone surrogates ("\\udcff"), which
    strict parsers refuse.  They come out as the text format writes them (\\xff), in the path and in an
    error message that names the file; the rest of the line is unchanged."""
    x, y = mnist_test
    folder = os.path.join(os.fsencode(tmp_path), b"dir\xfe")
    os.mkdir(folder)
    for i, raw in enumerate([b"bad\xff\xfe.png", b"\xe9t\xe9.png"]):
        Path(os.fsdecode(os.path.join(folder, raw))).write_bytes(encode(scan(x[i])))
    Path(os.fsdecode(os.path.join(folder, b"junk\xff.png"))).write_bytes(b"not a picture at all")
    missing = os.fsdecode(os.path.join(folder, b"gone\xff.png"))  # its error message names it
    r = run_cli(os.fsdecode(folder), missing, *(["--number"] if number else []), fmt="json")
    assert r["code"] == 1, r["stderr"][-2000:]  # the junk file is refused, the others answered
    lines = r["stdout"].decode("utf-8").splitlines()  # valid UTF-8 whatever the names were
    rows = {}
    for line in lines:
        obj = json.loads(line)
        _strict_strings(obj)
        rows[obj["path"]] = obj
    shown = str(tmp_path) + "/dir\\xfe/"
    assert set(rows) == {shown + n for n in ("bad\\xff\\xfe.png", "junk\\xff.png", "\\xe9t\\xe9.png", "gone\\xff.png")}
    if number:
        assert rows[shown + "bad\\xff\\xfe.png"]["number"] == str(y[0]) and rows[shown + "\\xe9t\\xe9.png"]["number"] == str(y[1])
    else:
        assert rows[shown + "bad\\xff\\xfe.png"]["label"] == y[0] and rows[shown + "\\xe9t\\xe9.png"]["label"] == y[1]
    assert "error" in rows[shown + "junk\\xff.png"]
    assert rows[shown + "gone\\xff.png"]["error"] == shown + "gone\\xff.png: no such file"


# ----------------------------------------------------------------------------- 7. float pictures, NaN


@pytest.mark.parametrize("mode", ["F01", "F", "I"])
def test_7_float_and_integer_tiffs_read_like_8_bit(mnist_test, mode):
    """Mode F in [0, 1] was divided by 255 (blank, "no ink"); F in [0, 255] and I read as before."""
    x, _ = mnist_test
    grey = scan(x[0])
    ref = preprocess.prepare(encode(grey)).image
    p = preprocess.prepare(encode(hostile_pictures._as_mode(grey, mode, np.random.default_rng(0)), "TIFF"))
    assert not p.no_ink and corr(p.image, ref) > 0.99


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_7_non_finite_pixels_are_refused(mnist_test, bad):
    """One NaN or infinite pixel blanked the whole picture; it is refused, as a NaN array is."""
    a = scan(mnist_test[0][0]).astype(np.float32) / 255
    a[5, 5] = bad
    with pytest.raises(preprocess.ImageError, match="NaN or infinite"):
        preprocess.prepare(encode(Image.fromarray(a), "TIFF"))


# ----------------------------------------------------------------------------- 8. paper inside a transparent margin


@pytest.fixture(scope="module")
def classifier(committed_models):
    from digitlab.serving.classifiers import load_classifier

    return load_classifier(next(e for e in committed_models if e.name == "mnist_cnn").path)


@pytest.mark.parametrize("hidden", [0, 255], ids=["black", "white"])
def test_8_paper_cut_out_on_transparency_reads_like_the_paper(mnist_test, classifier, hidden):
    """A photo of paper cut out with rounded corners: the transparent margin (black or white underneath)
    merges with the paper instead of becoming ink."""
    x, y = mnist_test
    for k in (0, 17, 1):  # a 7, a 7, a 2
        paper = scan(x[k], 200)
        cut = hostile_pictures.cutout(paper, np.random.default_rng(k), hidden=hidden)
        opaque = preprocess.prepare(encode(paper))
        p = preprocess.prepare(encode(cut))
        assert "transparent background composited" in p.notes and not p.no_ink
        assert corr(p.image, opaque.image) > 0.95
        assert classifier.predict_prepared([p])[0].label == y[k]


def test_8_ink_on_transparency_still_goes_on_the_opposite_colour(mnist_test):
    """Strokes of one colour on transparency (the canvas, a logo) keep the first rule, in both colours."""
    x, _ = mnist_test
    ref = preprocess.prepare(x[0]).image
    for colour in (0, 255):
        strokes = hostile_pictures.ink_on_transparency(x[0], np.random.default_rng(0))
        strokes[..., :3] = colour
        assert corr(preprocess.prepare(encode(strokes)).image, ref) > 0.95


# ----------------------------------------------------------------------------- 9. garbage EXIF


def test_9_png_with_a_garbage_exif_chunk_is_read(mnist_test):
    x, _ = mnist_test
    png = encode(scan(x[0]))
    garbage = files.png_with_chunk(png, b"eXIf", b"this is not a TIFF header" * 3)
    p = preprocess.prepare(garbage)
    assert np.array_equal(p.image, preprocess.prepare(png).image)
    assert "EXIF data unreadable: orientation ignored" in p.notes
    upright = preprocess.prepare(png).image  # a readable orientation in a PNG is still honoured
    assert corr(preprocess.prepare(hostile_pictures.rotated_with_exif(Image.fromarray(scan(x[0])), 6, "PNG")).image, upright) > 0.95


def _scan_in_mode(mnist_test, mode: str) -> Image.Image:
    """An MNIST test digit scanned as dark ink on white paper (most of it exactly white), in the PNG ``mode``."""
    digit = scan(mnist_test[0][0], 80)
    return Image.fromarray(digit).convert(mode) if mode != "I;16" else Image.fromarray(digit.astype(np.uint16) * 257)


def _tagged(im: Image.Image, tag: str, text: str) -> tuple[bytes, pictures.Picture | None]:
    """``im`` as a PNG with a ``tag`` text chunk saying ``text``, and the picture read from it (None where Pillow refuses
    a text chunk beyond its limit: a reason, not a crash)."""
    png = files.png_with_chunk(encode(im), b"tEXt", tag.encode() + b"\0" + text.encode("utf-8"))
    try:
        return png, pictures.load(png)
    except preprocess.ImageError as e:
        assert len(text) > 100_000 and "cannot decode" in str(e), e
        return png, None


@pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "RGB", "RGBA", "I;16"])
def test_9_a_png_that_says_it_is_a_drawing_is_read_in_any_mode_whatever_it_says(mnist_test, mode):
    """The Collect page's text chunk (pictures.DRAWN_ON_TAG) in every PNG mode, saying a canvas tone, nothing, a
    megabyte's worth or anything else: read without a crash; followed only when it names a canvas tone the pixels
    agree with; a note never repeats what it says."""
    im = _scan_in_mode(mnist_test, mode)  # dark ink on white paper, most of it exactly white
    for text, followed in (("white", 1.0), ("black", None), ("", None), ("x" * 1_000_000, None), ("Wh\u00e9 \u2603", None)):
        png, loaded = _tagged(im, pictures.DRAWN_ON_TAG, text)
        if loaded is None:
            continue
        assert loaded.drawn_on == followed, (text[:20], loaded.notes)
        assert all(len(n) < 200 for n in loaded.notes), loaded.notes
        assert not preprocess.prepare(png).no_ink


@pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "RGB", "RGBA", "I;16"])
def test_9_a_png_that_says_how_its_ink_is_is_read_in_any_mode_whatever_it_says(mnist_test, mode):
    """Keep's ink chunk (pictures.INK_TAG) in every PNG mode, saying dark, light, nothing, a megabyte's worth or anything
    else: read without a crash; "dark" and "light" followed (light on a scan of dark ink finds no digit, and says so),
    anything else detected; a note never repeats what it says; the caller's own Ink comes first."""
    im = _scan_in_mode(mnist_test, mode)  # dark ink on white paper
    for text, followed in (("dark", "yes"), ("light", "no"), ("", None), ("x" * 1_000_000, None), ("D\u00e4rk \u2603", None)):
        png, loaded = _tagged(im, pictures.INK_TAG, text)
        if loaded is None:
            continue
        assert loaded.ink == followed, (text[:20], loaded.notes)
        assert all(len(n) < 200 for n in loaded.notes), loaded.notes
        read = preprocess.prepare(png)
        assert read.inverted == (followed != "no") and read.no_ink == (followed == "no"), (text[:20], read.notes)
        assert not preprocess.prepare(png, invert="yes").no_ink


# ----------------------------------------------------------------------------- 10. formats


OTHER_FORMATS = ["TGA", "PCX", "PPM", "SGI", "IM", "ICO", "XBM", "DDS", "EPS", "ICNS", "JPEG2000", "BLP", "QOI", "SPIDER", "MSP"]


@pytest.mark.parametrize("fmt", OTHER_FORMATS)
def test_10_formats_we_do_not_read_are_refused_whatever_the_name(mnist_test, fmt):
    """Pillow decodes them (so they used to be accepted under a .png name); only FORMATS are read now."""
    im = Image.fromarray(scan(mnist_test[0][0], 64))
    modes = {"XBM": "1", "MSP": "1", "ICNS": "RGB", "DDS": "RGB", "QOI": "RGB", "BLP": "P", "SPIDER": "F"}
    im = im.convert(modes.get(fmt, "L"))
    try:
        data = encode(im, fmt)
    except (KeyError, OSError, ValueError) as e:
        pytest.skip(f"Pillow cannot write {fmt} here: {e}")
    assert Image.open(io.BytesIO(data)).format == fmt  # what Pillow on its own would decode
    with pytest.raises(preprocess.ImageError, match="not an image file we can read"):
        preprocess.prepare(data)


# ----------------------------------------------------------------------------- 11. memory


def test_11_a_large_jpeg_is_decoded_at_reduced_size(mnist_test):
    x, _ = mnist_test
    big = cv2.resize(scan(x[0], 400), (6000, 4000), interpolation=cv2.INTER_LINEAR)
    p = preprocess.prepare(encode(big, "JPEG", quality=90))
    assert any(n.startswith("read at 1/8 size (750x500)") for n in p.notes), p.notes
    assert corr(p.image, preprocess.prepare(cv2.resize(big, (750, 500), interpolation=cv2.INTER_AREA)).image) > 0.97


_PEAK = r"""
import json, sys
from digitlab import preprocess
def status(key):
    return int(next(l for l in open("/proc/self/status") if l.startswith(key)).split()[1]) / 1024
preprocess.prepare(sys.argv[1])  # warm: the first call's imports and allocations
for f in sys.argv[2:]:
    before = status("VmRSS:")
    open("/proc/self/clear_refs", "w").write("5")
    again = False
    try:
        p = preprocess.prepare(f)
        verdict, again = "read", any(t.startswith("region around the ink") for t, _ in p.steps)
    except preprocess.ImageError as e:
        verdict = str(e)
    print(json.dumps({"file": f, "rise_mb": status("VmHWM:") - before, "verdict": verdict, "read_again": again}))
"""


@pytest.mark.slow  # over 10 s on 2 cores: the full suite's, not the fast tier's
@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="measures peak RSS through /proc")
def test_11_decoding_memory_is_bounded_or_the_picture_refused(tmp_path, mnist_test):
    """Pictures under the 40-megapixel cap peaked at 0.66-1.27 GB, a 10 kB GIF with a 65504x360 screen at
    545 MB: each is now read at reduced size within the decode budget, or refused when that cannot be bounded.
    Phone photos of a small digit are decoded twice (the region around the ink again, sharper): a 12-megapixel
    one whole at full size (48 MB), a 39-megapixel one at 1/2 (full size would take 156 MB, over the budget)."""
    from digitlab.data import photo_cases

    x, _ = mnist_test
    page = scan(x[0], 400)
    files = {
        "phone_3000x4000.jpg": photo_cases.phone(x[2], 2),
        "phone_5400x7200.jpg": photo_cases.phone(x[1], 1, size=(5400, 7200)),
        "grey_39mp.png": encode(cv2.resize(page, (6200, 6200)), "PNG", compress_level=1),
        "rgb_6000x4000.jpg": encode(cv2.cvtColor(cv2.resize(page, (6000, 4000)), cv2.COLOR_GRAY2RGB), "JPEG"),
        "one_bit_39mp.tif": encode(Image.fromarray(cv2.resize(page, (6200, 6200))).convert("1"), "TIFF", compression="group4"),
        "rgba_5000x5000.png": encode(cv2.cvtColor(cv2.resize(page, (5000, 5000)), cv2.COLOR_GRAY2RGBA), "PNG", compress_level=1),
        "gif_screen_65504x360.gif": hostile_pictures.gif_screen(65504, 360),
        "gif_screen_6000x6000.gif": hostile_pictures.gif_screen(6000, 6000),
        "png_header_6000x6000_rgba.png": hostile_pictures.png_header_only(6000, 6000, colour=6),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    warm = tmp_path / "warm.png"
    warm.write_bytes(encode(page))
    proc = subprocess.run([sys.executable, "-c", _PEAK, str(warm), *(str(tmp_path / n) for n in files)],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = {Path(r["file"]).name: r for r in map(json.loads, proc.stdout.splitlines())}
    for name in ("grey_39mp.png", "rgb_6000x4000.jpg", "one_bit_39mp.tif", "phone_3000x4000.jpg", "phone_5400x7200.jpg"):
        assert got[name]["verdict"] == "read", got[name]
    assert got["phone_3000x4000.jpg"]["read_again"] and got["phone_5400x7200.jpg"]["read_again"]
    for name in ("rgba_5000x5000.png", "png_header_6000x6000_rgba.png"):
        assert "decoding it would take" in got[name]["verdict"], got[name]
    assert "too long and narrow to hold a digit" in got["gif_screen_65504x360.gif"]["verdict"]  # refused from its header
    assert got["gif_screen_6000x6000.gif"]["verdict"] == "read"  # 36 megapixels of palette: read at 1/15 size
    for r in got.values():  # the budget is 80 MB (pictures.MAX_DECODE_BYTES); the bound here is generous
        assert r["rise_mb"] < 160, r


@pytest.mark.parametrize("orientation", range(1, 9))
def test_11_a_region_read_again_is_cut_from_the_upright_picture(tmp_path, orientation):
    """Picture.region: the same pixels as the upright picture's, whatever the EXIF orientation and whatever
    the source (bytes, a path, a file object read before, a PIL image)."""
    upright = np.random.default_rng(orientation).integers(0, 256, (90, 120), dtype=np.uint8)
    data = hostile_pictures.rotated_with_exif(Image.fromarray(upright), orientation, "PNG")
    path = tmp_path / "turned.png"
    path.write_bytes(data)
    want = upright[10:50, 30:100].astype(np.float32) / 255
    for source in (data, path, io.BytesIO(data), Image.open(io.BytesIO(data))):
        picture = pictures.load(source)
        assert picture.size == (120, 90) and np.array_equal(picture.grey, upright.astype(np.float32) / 255)
        region = picture.region((10, 30, 50, 100))
        assert region is not None and np.array_equal(region.grey, want), (orientation, type(source))
    picture = pictures.load(path)
    path.write_bytes(b"changed since")  # the file changed between the two reads: no region, and the reason
    assert picture.region((10, 30, 50, 100)) is None
    assert picture.notes[-1].startswith("could not read the region again: not an image file"), picture.notes


@pytest.mark.slow
def test_11_a_batch_of_1000_pictures_peaks_no_higher_than_one(tmp_path, mnist_test):
    """The CLI kept every intermediate step of a batch (~3 MB a picture, 256 a batch), and the default
    model's activations for 256 pictures took ~210 MB more; it keeps the 28x28 input only and predicts 16
    at a time, so 1,000 pictures peak like one (measured: +20 MB)."""
    x, y = mnist_test
    picture = tmp_path / "seven.png"
    picture.write_bytes(encode(scan(x[0], 780)))
    one, many = tmp_path / "one", tmp_path / "many"
    one.mkdir()
    many.mkdir()
    (one / "0000.png").symlink_to(picture)
    for i in range(1000):
        (many / f"{i:04d}.png").symlink_to(picture)
    single, batch = run_cli(one, model=None), run_cli(many, model=None)  # the default (largest) model
    lines = json_lines(batch)
    assert single["code"] == batch["code"] == 0 and len(lines) == 1000
    assert {line["label"] for line in lines} == {json_lines(single)[0]["label"]} == {int(y[0])}
    assert batch["peak_mb"] < single["peak_mb"] + 60, (single["peak_mb"], batch["peak_mb"])
