"""Reading pictures: a path, bytes, a file object, a PIL image or a numpy array -> grey float32 [0, 1].

This is the file-reading half of the one preprocessing path (``digitlab.preprocess`` re-exports
``load_picture``, ``ImageError``, ``is_image_file`` and the size limits, and does the recipe).
A picture file is treated as hostile until decoded:

    open        a path is opened without blocking (a FIFO never hangs), and only a regular file is read
    identify    Pillow tries only the formats in FORMATS, whatever the file is called
    size        refused over MAX_PIXELS, under MIN_SIDE or longer than MAX_ASPECT:1, before any pixel is decoded
    decode      at reduced size when the picture is far larger than the recipe needs (JPEG draft,
                then Image.reduce), within MAX_DECODE_BYTES; refused when that cannot be bounded
    orient      EXIF orientation applied; unreadable EXIF is ignored with a note
    first frame of an animated or multi-page file, with a note
    again       a region of the picture read again at a higher resolution (``Picture.region``: the recipe
                found a small digit in a picture it shrank), through the same guard and the same budget

Every Pillow call on the file's bytes runs inside one guard: whatever a malformed file makes Pillow
raise (OSError, ValueError, SyntaxError, TypeError, KeyError, IndexError, struct.error, EOFError,
zlib.error, MemoryError, RecursionError, ...) becomes ``ImageError`` with a reason.  Two pieces
of optional metadata (EXIF orientation, "are there more frames?") are read inside their own guard,
because losing them loses nothing from the first frame.  The numpy maths after decoding is ours and
runs outside the guard: a bug there is a crash, never a refusal.  Files are opened with context
managers and closed on every path, and a refusal keeps no reference to an open file.
"""

from __future__ import annotations

import io
import math
import os
import stat
import warnings
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, PngImagePlugin, UnidentifiedImageError

FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "TIFF", "GIF")  # the only formats Pillow may decode (not EPS, AVIF, DDS, ...)
FORMAT_NAMES = "PNG, JPEG, WebP, BMP, TIFF, GIF"
_JPEG = ("JPEG", "MPO")  # Pillow opens a camera's multi-picture JPEG as MPO: its first picture is a plain JPEG
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif"}
MAX_PIXELS = 40_000_000  # refuse larger pictures (decompression bombs, 10000x10000 scans)
MIN_SIDE = 8  # a picture smaller than this cannot hold a legible digit
NOTED_SHRINK = 4  # a picture read at 1/4 size or less (a camera's photo) says so; an 800x600 one read at half size is ordinary
DECODE_SIDE = 400  # = preprocess.WORK_SIDE: a picture at least twice this size is decoded shrunk by an
# integer factor to no less than this (the recipe shrinks it to WORK_SIDE anyway); smaller ones exactly as stored
MAX_ASPECT = DECODE_SIDE // MIN_SIDE  # 50: a longer and narrower picture, shrunk to the recipe's 400 px, is
# under MIN_SIDE across (no legible digit); refusing it also bounds what is left after shrinking to 640,000 pixels
MAX_DECODE_BYTES = 80 * 2**20  # Pillow's buffers for decoding and shrinking one picture: keeps a process that also
# holds TensorFlow (~850 MB) under 1 GB on any file; the predict CLI peaks far lower (docs/evaluation.md#fuzzing)
MIN_CONTRAST = 0.12  # = preprocess.MIN_CONTRAST: a difference in tone that counts as ink
PAPER_COVER = 0.25  # opaque pixels covering at least this much of a picture with transparency may be paper...
PAPER_INK = 0.01  # ...when at least this fraction of them is ink on it (a digit's ink is ~3-20 % of its paper)
DRAWN_ON_TAG = "digitlab:drawn-on"  # a PNG text chunk: the file is a drawing on a plain canvas of this tone
DRAWN_ON_TONES = {"white": 1.0, "black": 0.0}  # its values (the Collect page writes "white")
INK_TAG = "digitlab:ink"  # a PNG text chunk: how the ink is, as the person who kept the picture set it by hand (Home's Ink)
INK_SAID = {"dark": "yes", "light": "no"}  # its values -> preprocess.prepare's invert: dark ink on light paper, light on dark
TEXT_CHUNK_LIMIT = PngImagePlugin.MAX_TEXT_CHUNK  # Pillow refuses a PNG with a compressed text unpacking to more bytes...
TEXT_MEMORY_LIMIT = PngImagePlugin.MAX_TEXT_MEMORY  # ...or with more text in all (the web page's pngText does the same)

_STORED_BYTES = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16L": 2, "I;16B": 2, "I;16N": 2}  # Pillow keeps other modes in 4
_REDUCIBLE = ("L", "RGB", "RGBA", "LA", "La", "RGBa", "I", "F", "CMYK", "YCbCr", "LAB", "HSV")  # modes Image.reduce takes
_ALPHA = ("LA", "La", "P", "PA", "RGBA", "RGBa")
_DEEP = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")  # numeric pixels, scaled like a numpy picture
_TRANSPOSE = {  # EXIF orientation -> the transposition that shows the picture upright (as ImageOps.exif_transpose)
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_FILE_KINDS = {stat.S_IFIFO: "a named pipe (FIFO)", stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device",
               stat.S_IFSOCK: "a socket"}


class ImageError(ValueError):
    """The input is not a picture we can read (or one we refuse); the message says why."""


def is_image_file(path: Path) -> bool:
    """True when the name ends in a picture suffix (what the CLI's and the Collect page's folder listings take)."""
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def _check_size(w: int, h: int) -> None:
    if w * h > MAX_PIXELS:
        raise ImageError(f"image is {w}x{h} pixels; the limit is {MAX_PIXELS / 1e6:.0f} megapixels")
    if min(w, h) < MIN_SIDE:
        raise ImageError(f"image is {w}x{h} pixels; too small to hold a digit (at least {MIN_SIDE}x{MIN_SIDE})")


# ----------------------------------------------------------------------------- opening


@contextmanager
def _opened(source):
    """A binary file object for a path / bytes / file object; a path is closed on every way out."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        yield io.BytesIO(bytes(source))
        return
    if not isinstance(source, (str, os.PathLike)):
        yield source  # a file object: its owner closes it
        return
    p = Path(source)
    try:
        # stat first: a FIFO, device or socket is refused by what it is, before any open (which could block
        # on a FIFO without a writer); O_NONBLOCK covers a file swapped for a FIFO in between.
        kind = stat.S_IFMT(os.stat(p).st_mode)
        if kind == stat.S_IFDIR:
            raise ImageError(f"{p}: is a directory, not an image")
        if kind != stat.S_IFREG:
            raise ImageError(f"{p}: is {_FILE_KINDS.get(kind, 'not a regular file')}, not a picture file")
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise ImageError(f"{p}: no such file") from None
    except OSError as e:  # EACCES, ELOOP, ENAMETOOLONG, ENOTDIR, ENXIO, EMFILE ...
        raise ImageError(f"{p}: cannot be read ({e.strerror or type(e).__name__})") from None
    with os.fdopen(fd, "rb") as fp:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ImageError(f"{p}: is not a regular file, not a picture file")
        yield fp


# ----------------------------------------------------------------------------- decoding (the guarded part)


def _shrink_factor(w: int, h: int) -> int:
    """Integer factor that leaves the longer side >= DECODE_SIDE and the shorter >= MIN_SIDE (1: decode as stored)."""
    return max(1, min(max(w, h) // DECODE_SIDE, min(w, h) // MIN_SIDE))


def _reducible_mode(im: Image.Image) -> str:
    """The mode ``_reducible`` converts ``im`` to: one ``Image.reduce`` takes, keeping transparency."""
    if im.mode in ("1", "L"):
        return "L"  # transparency of a grey picture is ignored, as when it is decoded as stored
    if im.mode == "PA" or "transparency" in im.info:
        return "RGBA"
    if im.mode == "P":
        return "L"  # the palette's luma, 1 byte a pixel: only grey is needed, and RGB would take 4
    if im.mode.startswith("I;16"):
        return "I"
    return im.mode if im.mode in _REDUCIBLE else "RGB"


def _reducible(im: Image.Image) -> Image.Image:
    mode = _reducible_mode(im)
    return im if mode == im.mode else im.convert(mode)


def _decode_bytes(im: Image.Image) -> int:
    """Bytes Pillow holds at once to decode ``im`` at its (drafted) size and shrink it (measured, Pillow 13):
    the stored pixels, their conversion to a mode ``Image.reduce`` takes, reduce's premultiplied copy of a
    mode with alpha, and for WebP libwebp's canvas and the decoded frame Pillow copies from."""
    mode = _reducible_mode(im)
    per_pixel = _STORED_BYTES.get(im.mode, 4)
    if mode != im.mode:
        per_pixel += _STORED_BYTES.get(mode, 4)
    if mode in ("LA", "RGBA"):
        per_pixel += 4
    if im.format == "WEBP":
        per_pixel += 12
    return im.width * im.height * per_pixel


def _orientation(im: Image.Image, notes: list[str]) -> int:
    """EXIF orientation (1-8); 1 when absent, invalid or unreadable (a garbage EXIF block loses only this)."""
    try:
        value = im.getexif().get(0x0112, 1)
    except Exception:  # SyntaxError "not a TIFF file", struct.error, ... from a broken EXIF block
        notes.append("EXIF data unreadable: orientation ignored")
        return 1
    return value if isinstance(value, int) and value in _TRANSPOSE else 1


def _is_animated(im: Image.Image) -> bool:
    """More than one frame?  Reads at most the second frame's header (``n_frames`` would walk them all)."""
    try:
        return bool(getattr(im, "is_animated", False))
    except Exception:  # a broken second frame: the first one is already read
        return False


def _decoded(im: Image.Image, notes: list[str], region: Region | None = None, seen: dict | None = None) -> tuple[str, np.ndarray]:
    """An opened PIL image -> (kind, pixels): "grey" (H, W) uint8, "rgb" (H, W, 3) uint8, "rgba" (H, W, 4)
    uint8, or "deep" (H, W) uint16 / int32 / float32 as stored.  Every Pillow call that reads the file is here.
    ``region``: only that part of the picture, read at a higher resolution (``_region_pixels``).
    ``seen`` gets "size", the picture's (width, height) upright before any reduction, "drawn_on" and "ink", the file's
    DRAWN_ON_TAG and INK_TAG texts (or None)."""
    if im.format is not None and im.format not in FORMATS + _JPEG:
        raise ImageError(f"{im.format} pictures are not read here ({FORMAT_NAMES})")
    w, h = im.size
    _check_size(w, h)  # before decoding: PIL opens lazily
    if max(w, h) > MAX_ASPECT * min(w, h):
        raise ImageError(f"image is {w}x{h} pixels; too long and narrow to hold a digit (at most {MAX_ASPECT}:1)")
    if region is not None:
        return _region_pixels(im, region, notes)
    deep16 = im.mode.startswith("I;16")
    factor = _shrink_factor(w, h)
    if factor > 1 and im.format in _JPEG:  # libjpeg decodes straight to 1/2, 1/4 or 1/8 size
        im.draft(im.mode, (math.ceil(w / factor), math.ceil(h / factor)))
        factor = _shrink_factor(*im.size)
    if factor > 1 and _decode_bytes(im) > MAX_DECODE_BYTES:
        raise ImageError(f"image is {w}x{h} pixels ({im.format} {im.mode}): decoding it would take "
                         f"{_decode_bytes(im) / 2**20:.0f} MB; the limit is {MAX_DECODE_BYTES / 2**20:.0f} MB")
    im.load()
    out = im
    if factor > 1:
        out = _reducible(im).reduce(factor)
    if out.size != (w, h) and w // out.width >= NOTED_SHRINK:
        notes.append(f"read at 1/{w // out.width} size ({out.width}x{out.height}) from {w}x{h}: plenty for one digit")
    orientation = _orientation(im, notes)
    if seen is not None:
        seen["size"] = (h, w) if orientation in (5, 6, 7, 8) else (w, h)
        seen["drawn_on"] = im.info.get(DRAWN_ON_TAG) if im.format == "PNG" else None
        seen["ink"] = im.info.get(INK_TAG) if im.format == "PNG" else None
    method = _TRANSPOSE.get(orientation)
    if method is not None:
        out = out.transpose(method)
    kind, pixels = _to_pixels(out, deep16)
    if _is_animated(im):
        notes.append("animated image: using the first frame")
    return kind, pixels


def _to_pixels(out: Image.Image, deep16: bool) -> tuple[str, np.ndarray]:
    if out.mode in _DEEP:
        pixels = np.asarray(out)
        return "deep", pixels.astype(np.uint16) if deep16 else pixels  # I;16B is big-endian; reduce made I
    if out.mode in ("1", "L"):
        return "grey", np.asarray(out.convert("L"))
    if out.mode in _ALPHA or "transparency" in out.info:
        return "rgba", np.asarray(out.convert("RGBA"))
    return "rgb", np.asarray(out.convert("RGB"))  # RGB, CMYK, YCbCr, LAB, HSV


@dataclass(frozen=True)
class Region:
    """Part of a picture: (top, left, bottom, right) in pixels of the picture upright at ``size`` (width,
    height), the size it had when it was first read (before any reduction)."""

    box: tuple[int, int, int, int]
    size: tuple[int, int]


def _stored_box(box: tuple[int, int, int, int], orientation: int, w: int, h: int) -> tuple[int, int, int, int]:
    """An upright (top, left, bottom, right) box -> the same pixels in the picture as stored, ``w`` x ``h``
    (EXIF ``orientation``: what ``_TRANSPOSE`` undoes), as (left, top, right, bottom) for ``Image.crop``."""
    t, lt, b, r = box
    if orientation in (5, 6, 7, 8):  # stored sideways: upright is h wide and w tall
        x0, x1 = {5: (t, b), 6: (t, b), 7: (w - b, w - t), 8: (w - b, w - t)}[orientation]
        y0, y1 = {5: (lt, r), 6: (h - r, h - lt), 7: (h - r, h - lt), 8: (lt, r)}[orientation]
        return x0, y0, x1, y1
    x0, x1 = (w - r, w - lt) if orientation in (2, 3) else (lt, r)
    y0, y1 = (h - b, h - t) if orientation in (3, 4) else (t, b)
    return x0, y0, x1, y1


def _region_pixels(im: Image.Image, region: Region, notes: list[str]) -> tuple[str, np.ndarray]:
    """``region`` of an opened picture, read at the highest resolution the decode budget allows up to an
    integer reduction leaving its longer side >= DECODE_SIDE (the first read's own rule, applied to the
    region): a JPEG is decoded whole at 1/1, 1/2, 1/4 or 1/8 (libjpeg decodes every scanline anyway),
    another format whole as stored, as its first read did; the region is cut out before any conversion."""
    w, h = im.size
    orientation = _orientation(im, notes)
    upright = (h, w) if orientation in (5, 6, 7, 8) else (w, h)
    zoom = upright[0] / region.size[0]  # 1, or less for a PIL image our first read drafted (a JPEG at 1/s)
    t, lt, b, r = region.box
    t, lt = math.floor(t * zoom), math.floor(lt * zoom)
    b, r = min(upright[1], math.ceil(b * zoom)), min(upright[0], math.ceil(r * zoom))
    side = max(b - t, r - lt)
    factor = max(1, side // DECODE_SIDE)
    deep16 = im.mode.startswith("I;16")
    if im.format in _JPEG and len(getattr(im, "tile", ())) == 1:
        per_pixel = _decode_bytes(im) / (w * h)
        scale = 1
        while scale < 8 and (2 * scale <= factor or w * h * per_pixel / scale**2 > MAX_DECODE_BYTES):
            scale *= 2
        if scale > 1:
            im.draft(im.mode, (w // scale, h // scale))  # floor: Pillow takes the largest scale that fits
    if _decode_bytes(im) > MAX_DECODE_BYTES:
        raise ImageError(f"region of a {w}x{h} picture: decoding it would take {_decode_bytes(im) / 2**20:.0f} MB")
    im.load()
    scale = round(w / im.width)  # the draft's 1/scale (Pillow's drafted size is the stored size / scale, rounded up)
    left, top, right, bottom = _stored_box((t, lt, b, r), orientation, w, h)
    box = (left // scale, top // scale, min(im.width, -(-right // scale)), min(im.height, -(-bottom // scale)))
    out = im.crop(box)
    factor = max(1, max(out.size) // DECODE_SIDE)
    if factor > 1:
        out = _reducible(out).reduce(factor)
    method = _TRANSPOSE.get(orientation)
    if method is not None:
        out = out.transpose(method)
    if min(out.size) < MIN_SIDE:
        raise ImageError(f"region {out.width}x{out.height} is too small to read")
    return _to_pixels(out, deep16)


def _read(source, notes: list[str], region: Region | None = None, seen: dict | None = None) -> tuple[str, np.ndarray]:
    """The guard: any path, bytes, file object or PIL image -> ``_decoded``'s (kind, pixels), or ImageError."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow's warnings about broken metadata: the outcome says it better
        try:
            if isinstance(source, Image.Image):
                return _decoded(source, notes, region, seen)
            with _opened(source) as fp, Image.open(fp, formats=FORMATS) as im:
                return _decoded(im, notes, region, seen)
        except ImageError:
            raise
        except Image.DecompressionBombError as e:
            raise ImageError(f"image refused as a possible decompression bomb ({e})") from None
        except UnidentifiedImageError:
            raise ImageError(f"not an image file we can read ({FORMAT_NAMES})") from None
        except Exception as e:  # whatever a malformed file makes Pillow raise (see the module docstring)
            raise ImageError(f"cannot decode image: {_reason(e)}") from None


def _reason(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return f"{text[0][:200]} ({type(e).__name__})" if text else type(e).__name__


# ----------------------------------------------------------------------------- pixels -> grey


def _luma(rgb: np.ndarray) -> np.ndarray:
    return (rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)) / 255


def _pixels_to_arrays(kind: str, a: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """``_decoded``'s pixels -> (grey HxW float32 [0,1], alpha HxW float32 or None, RGB uint8 preview)."""
    if kind == "deep":
        return _array_to_arrays(a)  # one owner of how numbers become [0, 1]: float TIFFs in [0, 1], NaN refused
    if kind == "grey":
        return a.astype(np.float32) / 255, None, np.repeat(a[..., None], 3, -1)
    if kind == "rgba":
        return _luma(a[..., :3]), a[..., 3].astype(np.float32) / 255, a[..., :3]
    return _luma(a), None, a


def _array_to_arrays(a: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """numpy picture (canvas RGBA, RGB, grey; uint8, uint16, int or float) -> same triple as above."""
    a = np.asarray(a)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[-1] not in (3, 4)):
        raise ImageError(f"array of shape {a.shape} is not a picture (H, W), (H, W, 3) or (H, W, 4)")
    _check_size(a.shape[1], a.shape[0])
    if not np.isfinite(a).all():
        raise ImageError("picture contains NaN or infinite values")
    if a.dtype == np.uint8 and a.ndim == 3:  # the canvas' RGBA: let OpenCV do the colour maths
        code = cv2.COLOR_RGBA2GRAY if a.shape[-1] == 4 else cv2.COLOR_RGB2GRAY
        grey = cv2.cvtColor(np.ascontiguousarray(a), code).astype(np.float32) / 255
        alpha = a[..., 3].astype(np.float32) / 255 if a.shape[-1] == 4 else None
        return grey, alpha, a[..., :3]
    if a.dtype == np.uint8:
        f = a.astype(np.float32) / 255
    elif a.dtype == np.uint16:
        f = a.astype(np.float32) / 65535
    elif a.dtype == bool:
        f = a.astype(np.float32)
    else:
        f = a.astype(np.float32)
        if f.min() < 0:
            raise ImageError("picture has negative values; expected [0, 1] or [0, 255]")
        if f.max() > 1:
            f = f / (255.0 if f.max() <= 255 else f.max())
    if f.ndim == 2:
        return f, None, (f * 255).astype(np.uint8)[..., None].repeat(3, -1)
    rgb = (f[..., :3] * 255).astype(np.uint8)
    grey = f[..., :3] @ np.array([0.299, 0.587, 0.114], np.float32)
    alpha = f[..., 3] if f.shape[-1] == 4 else None
    return grey, alpha, rgb


def _background(grey: np.ndarray, alpha: np.ndarray) -> tuple[float, float | None]:
    """(The tone transparency is composited onto, chosen so that transparency is never ink; that tone again when the
    opaque pixels are ink drawn on the transparency rather than paper, else None: ``Picture.drawn_on``).

    Ink drawn on transparency (canvas strokes, a logo) goes on the colour opposite to the opaque pixels,
    so it stands out.  Opaque paper inside a transparent margin (a photo cut out with rounded corners)
    goes on the paper's own tone, so the margin merges with the paper instead of framing it like ink.
    Paper is told from ink by two things strokes do not have together: the opaque pixels cover a good
    part of the picture (PAPER_COVER) and hold a second tone, the ink, at least MIN_CONTRAST away from
    their usual tone on PAPER_INK of them (flat strokes, as the canvas makes, keep the first rule).
    The opaque pixels are known to be ink drawn on the transparency when they are one tone (no paper with ink on it,
    however little), at least PAPER_COVER of the picture is fully transparent (a sheet with a transparent rim is paper)
    and no more pixels are half transparent than opaque (a stroke's soft edge, not a texture of faint coverage).
    """
    opaque = grey[alpha > 0.5]
    if opaque.size >= PAPER_COVER * grey.size:
        tone = float(np.median(opaque))
        if np.mean(np.abs(opaque - tone) > MIN_CONTRAST) >= PAPER_INK:
            return tone, None
    back = 0.0 if (opaque.size == 0 or np.mean(opaque >= 0.5) >= 0.5) else 1.0  # median >= 0.5, without a sort
    clear = int(np.count_nonzero(alpha == 0))
    drawn = (clear >= PAPER_COVER * grey.size and grey.size - clear - opaque.size <= opaque.size
             and (opaque.size == 0 or float(np.ptp(opaque)) <= MIN_CONTRAST))
    return back, back if drawn else None


def _composite(grey: np.ndarray, alpha: np.ndarray, back: float) -> np.ndarray:
    return alpha * grey + (1 - alpha) * back


def _composite_rgb(rgb: np.ndarray, alpha: np.ndarray, back: float) -> np.ndarray:
    """The colours as the grey is composited: a transparent pixel's RGB is whatever the file holds, not what is seen.
    A picture without colour (every pixel's three channels equal: a canvas drawing, a grey scan) is composited once
    and copied to the three channels: the same arithmetic per pixel, so the same bytes, in a third of the work."""
    grey = (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all()
    out = np.clip(_composite((rgb[..., :1] if grey else rgb).astype(np.float32), alpha[..., None], back * 255), 0, 255).round().astype(np.uint8)
    return np.repeat(out, 3, axis=-1) if grey else out


@dataclass
class Picture:
    """A picture as read: ``grey`` (H, W) float32 [0, 1] with transparency composited, its RGB ``preview``
    (H, W, 3) uint8, the ``notes``, and ``size``, its (width, height) upright before any reduction (a
    large file is decoded shrunk, so ``grey`` can be smaller).  ``region`` reads part of it again."""

    grey: np.ndarray
    preview: np.ndarray
    notes: list[str] = field(default_factory=list)
    size: tuple[int, int] = (0, 0)
    _again: Callable[[Region, list[str]], tuple[np.ndarray, np.ndarray | None, np.ndarray]] | None = field(default=None, repr=False)
    _back: float | None = None  # the tone transparency was composited onto, kept for a region of the same picture
    drawn_on: float | None = None  # ink drawn on transparency (the canvas, a drawing saved with a transparent
    # background): the tone it was composited onto, 0 under light ink, 1 under dark.  Then the opaque pixels are the ink,
    # so the ink's polarity and the background's tone are known, and the picture is no photo (None: not known)
    ink: str | None = None  # how the ink is as its file says (INK_TAG): preprocess.prepare's invert "yes" or "no", which
    # "auto" follows instead of detecting it (None: the file says nothing)

    def region(self, box: tuple[int, int, int, int]) -> Picture | None:
        """The part (top, left, bottom, right) of the picture, in pixels at ``size``, read again as
        sharp as the decode budget allows (a file is decoded again, guarded and bounded like the first
        time; an array is cut), its longer side no less than DECODE_SIDE unless the region is smaller
        as stored.  None, with the reason in the region's notes, when it cannot be read again (a file
        object that cannot seek back, a file changed since)."""
        notes: list[str] = []
        if self._again is None:
            return None
        try:
            grey, alpha, preview = self._again(Region(box, self.size), notes)
        except ImageError as e:
            self.notes.append(f"could not read the region again: {e}")
            return None
        if alpha is not None and self._back is not None:
            grey = _composite(grey, alpha, self._back)
            preview = _composite_rgb(preview, alpha, self._back)
        return Picture(grey.astype(np.float32), preview, notes, (grey.shape[1], grey.shape[0]), drawn_on=self.drawn_on, ink=self.ink)


def check_drawn_on(drawn_on: float | None) -> None:
    """ValueError unless ``drawn_on`` is None or a canvas tone: 1.0 (white) or 0.0 (black)."""
    if drawn_on is not None and drawn_on not in DRAWN_ON_TONES.values():
        raise ValueError(f"drawn_on is the tone of the canvas drawn on: 1.0 (white) or 0.0 (black), not {drawn_on!r}")


def load(source, drawn_on: float | None = None) -> Picture:
    """Any supported input -> ``Picture`` (grey with alpha composited, RGB preview, notes, size).

    ``source``: a path, bytes, a binary file object, a PIL image or a numpy array
    (e.g. the canvas' RGBA ``image_data``).  ``drawn_on``: the caller knows the picture is a drawing on a plain canvas
    of that tone (1.0 white, 0.0 black), and ``Picture.drawn_on`` says so, as it says it of ink drawn on transparency.
    A PNG file can say it too, in a DRAWN_ON_TAG text chunk (the Collect page's drawings): ``_file_says``.  It can also
    say how its ink is (INK_TAG, Home's Keep when the Ink was set by hand): ``Picture.ink``.
    Raises ImageError with a reason (ValueError for a ``drawn_on`` that is no canvas tone).
    """
    check_drawn_on(drawn_on)
    given, ink = drawn_on, None
    notes: list[str] = []
    if isinstance(source, np.ndarray):
        grey, alpha, preview = _array_to_arrays(source)
        size = (grey.shape[1], grey.shape[0])
    else:
        seen: dict = {}
        grey, alpha, preview = _pixels_to_arrays(*_read(source, notes, seen=seen))
        size = seen["size"]
        if given is None and seen["drawn_on"] is not None:
            given = _file_says(seen["drawn_on"], alpha, preview, notes)
        if seen["ink"] is not None:
            ink = _ink_said(seen["ink"], notes)
    back = drawn_on = None
    if alpha is not None and alpha.min() < 0.98:
        back, drawn_on = _background(grey, alpha)
        grey = _composite(grey, alpha, back)
        preview = _composite_rgb(preview, alpha, back)
        notes.append("transparent background composited")
    grey = grey.astype(np.float32)
    if isinstance(source, np.ndarray):
        def again(region: Region, _notes: list[str]):  # already in memory, composited: cut it
            t, lt, b, r = region.box
            return grey[t:b, lt:r], None, preview[t:b, lt:r]
    else:
        def again(region: Region, region_notes: list[str]):
            return _pixels_to_arrays(*_read(source, region_notes, region))
    return Picture(grey, preview, notes, size, again, back, drawn_on if given is None else float(given), ink)


def _ink_said(text: str, notes: list[str]) -> str | None:
    """preprocess.prepare's invert for a file's INK_TAG ``text`` ("dark": "yes", "light": "no"), or None with a note for
    any other text, which is not repeated (it may be anything, of any length)."""
    said = INK_SAID.get(text)
    if said is None:
        notes.append(f"its file says how its ink is, but neither {' nor '.join(INK_SAID)}: the ink is detected")
    return said


def _file_says(text: str, alpha: np.ndarray | None, preview: np.ndarray, notes: list[str]) -> float | None:
    """The canvas tone a file's DRAWN_ON_TAG ``text`` gives, when the pixels agree: the picture is opaque and at least
    PAPER_COVER of it is exactly that tone.  Otherwise None (the picture is read as any picture), and a note says why:
    a drawing edited afterwards (a photo pasted in, a background tinted) is not a plain canvas any more."""
    tone = DRAWN_ON_TONES.get(text)
    if tone is None:  # its text is not repeated: it may be anything, of any length
        notes.append(f"its file says it is a drawing, but on no canvas tone ({' or '.join(DRAWN_ON_TONES)}): read as any picture")
        return None
    said = f"its file says it is a drawing on a {text} canvas"
    if alpha is not None and alpha.min() < 0.98:
        notes.append(f"{said}, but it has transparency: read as any picture")
        return None
    plain = np.count_nonzero((preview == round(tone * 255)).all(axis=-1)) / preview.shape[0] / preview.shape[1]
    if plain < PAPER_COVER:
        notes.append(f"{said}, but only {plain:.0%} of it is plain {text}: read as any picture")
        return None
    notes.append(f"a drawing on a {text} canvas (its file says so)")
    return tone


def load_picture(source) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Any supported input -> (grey HxW float32 [0, 1] with alpha composited, RGB preview, notes): ``load``."""
    picture = load(source)
    return picture.grey, picture.preview, picture.notes
