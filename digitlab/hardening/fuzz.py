"""Fuzzing the picture path (and model files): hostile inputs made from seeds, run through the code the
predict CLI and the app use, counted.

    python evaluation/fuzz.py --n 20000 --seed 0 --out report.json [--models 40]

``generate(seed, i, folder)`` makes file ``i`` of a run: its kind is fixed by ``i`` (any ``len(SCHEDULE)``
consecutive files hold every kind, in proportion to its weight), its variant comes from the
generator ``(seed, i)``, so a slice ``--n 2000`` is the start of the full run with the same seed and
``--only I`` remakes one file.  Every file is made from a real MNIST test digit.  Kinds are:

    valid    pictures a user may have: every format, mode and depth we read (I;16, F in [0, 1] and [0, 255],
             CMYK, LA, P with transparency, 1-bit), animated and multi-page files, EXIF orientations, broken
             EXIF, cut-outs on transparency, large photos, odd names.  Refusing one is a *wrong refusal*.
    refuse   formats we do not read (TGA, PCX, XBM, EPS, ...), special files (FIFO, socket, directory,
             dangling or looping link, unreadable), headers claiming more than MAX_PIXELS, NaN pixels,
             garbage.  Reading one is a *wrong acceptance*.
    any      byte flips and truncations of valid files (half of them multi-frame), structured damage to
             TIFF IFDs, PNG chunks, GIF and JPEG headers, splices, headers within the pixel limit that
             cost a lot to decode: read or refused, both fine, but never a crash or a hang.

Each file goes, in a worker process holding a real committed model (loaded once, by the CLI's own
``load_model``: ONNX Runtime, as the CLI and the app serve it), through

    the CLI's path   ``digitlab.serving.predict.predict_lines`` on the file's path, as the CLI runs it:
                     decode -> prepare -> predict -> one JSON line, parsed strictly (NaN is not JSON)
    the app's path   the file's bytes -> ``preprocess.prepare`` -> ``predict_prepared`` (app/Home.py's upload)

A *crash* is anything but a clean refusal (``ImageError``): an internal-error line, another exception
on the app's path, or the worker dying.  A *hang* is no answer within ``--timeout`` seconds: the worker
is killed and restarted, and the run goes on.  Peak RSS is the worker's (the CLI's code with the
model loaded), reset before each file (``/proc/self/clear_refs``), so it is the peak of that one file
as a CLI run on it would see it.  Then the real CLI runs once over the whole folder (JSON, and text for the odd names):
one line per entry, every line JSON, exit code 0 or 1, its own peak RSS.

``--models N`` does the same for N hostile ``.keras`` files from ``digitlab.hardening.hostile_models``
(``artifacts.inspect`` per file with the same watchdog, then ``artifacts.list_models`` on the folder).

``--model-files N`` (``fuzz_files``) runs N cases of ``digitlab.hardening.hostile_files``, the files beside a model:
damaged, foreign or hostile serving files and records (the model's, the digit gate's, the number reader's), cards
whose values break the answers, side files of the wrong shape.  Each case is its own models folder, run by worker
processes (``files_worker``, same watchdog) through the listing, the model's load, the predict command's lines and
the Models page's confusion panel and summary.  A *crash* is anything raised that is not a refusal, or an
internal-error line; a *wrong acceptance* is damage served (or a bad card or side file used, the digit gate or the
number reader used though damaged, a card's claim made the default); a *wrong refusal* is a control refused.
"""

from __future__ import annotations

import functools
import io
import json
import os
import re
import select
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import time
import traceback
import unicodedata
import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from digitlab import memory, pictures
from digitlab.files import png_chunks, png_from_chunks, png_with_chunk
from digitlab.paths import ROOT
from digitlab.serving import predict

PREDICT_SCRIPT = ROOT / "evaluation" / "predict.py"  # the real command, run over a whole folder as a user runs it


def _file_kinds() -> list[str]:
    from digitlab.hardening import hostile_files

    return list(hostile_files.KINDS)


FILE_KINDS = _file_kinds()  # ``fuzz_files``' kinds, in turn: any len(FILE_KINDS) consecutive cases hold each once


# ----------------------------------------------------------------------------- pictures of a digit


def paper(digit: np.ndarray, rng: np.random.Generator, side: int | None = None, dark_ink: bool | None = None,
          width: int | None = None) -> np.ndarray:
    """(28, 28) uint8 MNIST digit -> (H, W) uint8 picture of it: dark ink on light paper (or light on dark),
    the digit 45-90 % of the shorter side, off-centre, a little sensor noise.  H is ``side`` (default
    random), W is ``width`` (default 0.7-1.4 H)."""
    h = side or int(rng.integers(40, 320))
    w = width or max(pictures.MIN_SIDE, int(h * rng.uniform(0.7, 1.4)))
    s = max(12, int(min(h, w) * rng.uniform(0.45, 0.9)))
    ink = cv2.resize(digit, (s, s), interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255
    page = np.zeros((h, w), np.float32)
    top, left = int(rng.integers(0, h - s + 1)), int(rng.integers(0, w - s + 1))
    page[top : top + s, left : left + s] = ink
    dark = rng.random() < 0.7 if dark_ink is None else dark_ink
    grey = (0.92 - 0.8 * page) if dark else (0.05 + 0.85 * page)
    grey = grey + rng.normal(0, 0.01, grey.shape)
    return np.clip(grey * 255, 0, 255).astype(np.uint8)


def encode(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _as_mode(grey: np.ndarray, mode: str, rng: np.random.Generator) -> Image.Image:
    """A grey picture in any mode, with the same look: tinted colour, alpha, palette, 16-bit, float."""
    base = Image.fromarray(grey)
    if mode == "RGB":
        tint = rng.uniform(0.85, 1.0, 3)
        return Image.fromarray(np.clip(grey[..., None] * tint, 0, 255).astype(np.uint8))
    if mode == "RGBA":
        rgb = np.repeat(grey[..., None], 3, -1)
        return Image.fromarray(np.dstack([rgb, np.full_like(grey, 255)]))
    if mode == "I;16":
        return Image.fromarray(grey.astype(np.uint16) * 257)
    if mode == "F01":
        return Image.fromarray(grey.astype(np.float32) / 255)
    if mode == "F":
        return Image.fromarray(grey.astype(np.float32))
    if mode == "I":
        return Image.fromarray(grey.astype(np.int32))
    if mode == "1":
        return base.point(lambda v: 255 if v > 128 else 0).convert("1")
    if mode == "PT":  # palette with a transparent entry nobody uses: the transparency path, opaque pixels
        p = base.convert("P")
        p.info["transparency"] = 255
        return p
    return base.convert(mode)  # L, LA, P, CMYK


_FORMAT_MODES = {  # what each format we read can store, as Pillow writes it
    "PNG": ("L", "RGB", "RGBA", "P", "LA", "1", "I;16", "PT"),
    "JPEG": ("L", "RGB", "CMYK"),
    "WEBP": ("RGB", "RGBA"),
    "BMP": ("L", "RGB", "P", "1"),
    "TIFF": ("L", "RGB", "RGBA", "CMYK", "I;16", "F01", "F", "I", "1", "LA", "P"),
    "GIF": ("L", "P", "PT"),
}
_SUFFIX = {"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp", "BMP": ".bmp", "TIFF": ".tif", "GIF": ".gif"}
_TIFF_COMPRESSION = {"1": ("raw", "group4", "packbits"), "L": ("raw", "tiff_lzw", "tiff_adobe_deflate", "packbits", "jpeg"),
                     "RGB": ("raw", "tiff_lzw", "tiff_adobe_deflate", "jpeg"), "default": ("raw", "tiff_lzw", "tiff_adobe_deflate")}


def valid_file(rng: np.random.Generator, digit: np.ndarray, fmt: str | None = None, mode: str | None = None,
               grey: np.ndarray | None = None) -> tuple[bytes, str, str]:
    """A picture of ``digit`` in a format and mode we read -> (bytes, suffix, description)."""
    fmt = fmt or str(rng.choice(list(_FORMAT_MODES)))
    mode = mode or str(rng.choice(_FORMAT_MODES[fmt]))
    grey = paper(digit, rng) if grey is None else grey
    im = _as_mode(grey, mode, rng)
    kw: dict = {}
    if fmt == "PNG":
        kw = {"optimize": bool(rng.random() < 0.2)}
        if rng.random() < 0.3 and mode not in ("1", "I;16"):
            kw["interlace"] = 1  # Adam7 (Pillow writes it only through the encoder option)
    elif fmt == "JPEG":
        kw = {"quality": int(rng.integers(50, 98)), "progressive": bool(rng.random() < 0.3)}
    elif fmt == "WEBP":
        kw = {"lossless": bool(rng.random() < 0.5), "quality": int(rng.integers(50, 95))}
    elif fmt == "TIFF":
        options = _TIFF_COMPRESSION.get(mode, _TIFF_COMPRESSION["default"])
        kw = {"compression": str(rng.choice(options))}
    data = encode(im, fmt, **kw)
    return data, _SUFFIX[fmt], f"{fmt} {mode} {kw}"


def animated_file(rng: np.random.Generator, digits: list[np.ndarray], fmt: str | None = None) -> tuple[bytes, str, str]:
    """A multi-frame file whose first frame is ``digits[0]`` (GIF, APNG, animated WebP, multi-page TIFF)."""
    fmt = fmt or str(rng.choice(["GIF", "PNG", "WEBP", "TIFF"]))
    side, width = int(rng.integers(40, 200)), int(rng.integers(40, 200))
    dark = bool(rng.random() < 0.7)
    frames = [Image.fromarray(paper(d, rng, side, dark, width)) for d in digits]
    if fmt == "TIFF":
        mode = str(rng.choice(["L", "RGB", "I;16", "F01"]))
        frames = [_as_mode(np.asarray(f), mode, rng) for f in frames]
        data = encode(frames[0], "TIFF", save_all=True, append_images=frames[1:],
                      compression=str(rng.choice(["raw", "tiff_lzw", "packbits"])))
    elif fmt == "WEBP":
        data = encode(frames[0].convert("RGB"), "WEBP", save_all=True, append_images=[f.convert("RGB") for f in frames[1:]],
                      duration=100, lossless=bool(rng.random() < 0.5))
    else:
        data = encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)
    return data, _SUFFIX[fmt], f"animated {fmt}, {len(frames)} frames"


# ----------------------------------------------------------------------------- byte-level builders


def png_header_only(width: int, height: int, colour: int = 0, depth: int = 8) -> bytes:
    """A PNG whose header claims width x height with almost no pixel data: a bomb's shape."""
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return png_from_chunks([(b"IHDR", ihdr), (b"IDAT", zlib.compress(b"\x00" * 64)), (b"IEND", b"")])


def gif_screen(width: int, height: int, frame: tuple[int, int] = (16, 16), colours: bool = True) -> bytes:
    """A GIF whose logical screen is width x height, with one small frame (what a flipped byte in a
    10 kB GIF's screen descriptor gives); grey palette when ``colours`` is False."""
    palette = bytes(np.random.default_rng(0).integers(0, 256, 768, dtype=np.uint8)) if colours else bytes(
        v for i in range(256) for v in (i, i, i))
    fw, fh = frame
    lzw = _gif_lzw(bytes(fw * fh))
    return (b"GIF89a" + struct.pack("<HHBBB", width, height, 0xF7, 0, 0) + palette
            + b"\x2c" + struct.pack("<HHHHB", 0, 0, fw, fh, 0) + b"\x08" + lzw + b"\x3b")


def _gif_lzw(indices: bytes) -> bytes:
    """GIF LZW data (code size 8) for ``indices`` without compression: a clear code every 254 symbols."""
    bits, nbits, out = 0, 0, bytearray()
    codes = []
    for i, v in enumerate(indices):
        if i % 254 == 0:
            codes.append(256)
        codes.append(v)
    codes.append(257)
    for c in codes:
        bits |= c << nbits
        nbits += 9
        while nbits >= 8:
            out.append(bits & 0xFF)
            bits >>= 8
            nbits -= 8
    if nbits:
        out.append(bits & 0xFF)
    blocks = b"".join(bytes([len(out[i : i + 255])]) + bytes(out[i : i + 255]) for i in range(0, len(out), 255))
    return blocks + b"\x00"


def bmp_header_only(width: int, height: int, bpp: int = 24) -> bytes:
    header = struct.pack("<IiiHHIIiiII", 40, width, height, 1, bpp, 0, 0, 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 14 + len(header) + 64, 0, 0, 14 + len(header)) + header + bytes(64)


def tiff_header_only(width: int, height: int) -> bytes:
    """A little-endian TIFF claiming width x height 8-bit grey in one strip, with 64 bytes of data."""
    entries = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 1),
               (273, 4, 1, 8 + 2 + 12 * 9 + 4), (277, 3, 1, 1), (278, 4, 1, height), (279, 4, 1, 64)]
    ifd = struct.pack("<H", len(entries)) + b"".join(struct.pack("<HHII", *e) for e in entries) + struct.pack("<I", 0)
    return b"II*\x00" + struct.pack("<I", 8) + ifd + bytes(64)


def jpeg_with_size(jpeg: bytes, width: int, height: int) -> bytes:
    """``jpeg`` with its frame header (SOFn) claiming width x height."""
    data = bytearray(jpeg)
    for marker in (0xC0, 0xC1, 0xC2):
        i = data.find(bytes([0xFF, marker]))
        if i >= 0:
            data[i + 5 : i + 9] = struct.pack(">HH", height, width)
            break
    return bytes(data)


def webp_canvas(width: int, height: int, inner: bytes) -> bytes:
    """``inner`` (a simple WebP) wrapped in a VP8X header claiming a width x height canvas."""
    body = inner[12:]
    vp8x = b"VP8X" + struct.pack("<I", 10) + bytes([0, 0, 0, 0]) + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    payload = b"WEBP" + vp8x + body
    return b"RIFF" + struct.pack("<I", len(payload)) + payload


# ----------------------------------------------------------------------------- TIFF IFDs


def tiff_ifds(data: bytes) -> tuple[str, list[int]]:
    """Byte order ("<" or ">") and the offsets of a TIFF's IFDs, in order (at most 64; stops at a loop)."""
    order = "<" if data[:2] == b"II" else ">"
    offsets, seen = [], set()
    pos = struct.unpack(order + "I", data[4:8])[0]
    while 0 < pos < len(data) - 2 and pos not in seen and len(offsets) < 64:
        seen.add(pos)
        offsets.append(pos)
        n = struct.unpack(order + "H", data[pos : pos + 2])[0]
        end = pos + 2 + 12 * n
        if end + 4 > len(data):
            break
        pos = struct.unpack(order + "I", data[end : end + 4])[0]
    return order, offsets


def tiff_second_ifd_empty(multipage: bytes) -> bytes:
    """A multi-page TIFF whose second IFD has no entries (a file that once crashed the TIFF reader)."""
    order, ifds = tiff_ifds(multipage)
    data = bytearray(multipage)
    data[ifds[1] : ifds[1] + 2] = struct.pack(order + "H", 0)
    return bytes(data) + b"\x00" * 4


def tiff_tag_type(tiff: bytes, tag: int, field_type: int, ifd: int = 1) -> bytes:
    """``tiff`` with ``tag`` of IFD number ``ifd`` re-typed (ImageWidth as BYTE: another file that once crashed
    the TIFF reader)."""
    order, ifds = tiff_ifds(tiff)
    data = bytearray(tiff)
    pos = ifds[min(ifd, len(ifds) - 1)]
    n = struct.unpack(order + "H", data[pos : pos + 2])[0]
    for k in range(n):
        e = pos + 2 + 12 * k
        if struct.unpack(order + "H", data[e : e + 2])[0] == tag:
            data[e + 2 : e + 4] = struct.pack(order + "H", field_type)
    return bytes(data)


def tiff_mutate_ifd(tiff: bytes, rng: np.random.Generator) -> bytes:
    """Damage one to four IFD entries of a TIFF the way a fuzzer would: field type, count, value or
    offset, the next-IFD link (to EOF, itself, an empty IFD), or the entry count."""
    order, ifds = tiff_ifds(tiff)
    data = bytearray(tiff)
    if not ifds:
        return bytes(data)
    for _ in range(int(rng.integers(1, 5))):
        pos = int(rng.choice(ifds))
        n = struct.unpack(order + "H", data[pos : pos + 2])[0]
        what = rng.random()
        if what < 0.1:  # the entry count
            data[pos : pos + 2] = struct.pack(order + "H", int(rng.choice([0, 1, min(n + 1, 0xFFFF), 0xFFFF])))
            continue
        if what < 0.2:  # the next-IFD link
            end = pos + 2 + 12 * n
            if end + 4 <= len(data):
                data[end : end + 4] = struct.pack(order + "I", int(rng.choice([pos, len(data) + 100, 8, 0xFFFFFFF0])))
            continue
        if n == 0:
            continue
        e = pos + 2 + 12 * int(rng.integers(0, n))
        if e + 12 > len(data):
            continue
        part = rng.integers(0, 3)
        if part == 0:  # field type: the 12 TIFF types, 0 and a few that do not exist
            data[e + 2 : e + 4] = struct.pack(order + "H", int(rng.choice([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 16, 99])))
        elif part == 1:  # count
            data[e + 4 : e + 8] = struct.pack(order + "I", int(rng.choice([0, 1, 2, 3, 255, 65536, 0x7FFFFFFF, 0xFFFFFFFF])))
        else:  # value or offset
            data[e + 8 : e + 12] = struct.pack(order + "I", int(rng.choice([0, 1, 7, 65535, 1 << 20, len(data) - 1, 0xFFFFFFFF])))
    return bytes(data)


# ----------------------------------------------------------------------------- other damage


def flip_bytes(data: bytes, rng: np.random.Generator) -> bytes:
    """1-16 random bytes changed, three times in four within the first 512 bytes (headers, IFDs, palettes)."""
    b = bytearray(data)
    for _ in range(int(rng.integers(1, 17))):
        hi = min(len(b), 512) if rng.random() < 0.75 else len(b)
        i = int(rng.integers(0, hi))
        b[i] = int(rng.integers(0, 256)) if rng.random() < 0.5 else b[i] ^ (1 << int(rng.integers(0, 8)))
    return bytes(b)


def truncate(data: bytes, rng: np.random.Generator) -> bytes:
    return data[: int(rng.integers(0, len(data)))]


def gif_mutate(gif: bytes, rng: np.random.Generator) -> bytes:
    """Damage a GIF's structure: screen size, flags, background, the first frame's position, size or LZW code size."""
    b = bytearray(gif)
    what = int(rng.integers(0, 5))
    if what == 0:
        b[6:10] = struct.pack("<HH", int(rng.choice([0, 1, 65504, 65535, 4096])), int(rng.choice([0, 1, 360, 65535, 4096])))
    elif what == 1:
        b[10] = int(rng.integers(0, 256))
    i = b.find(b"\x2c", 13)
    if i > 0 and i + 10 < len(b):
        if what == 2:
            b[i + 1 : i + 5] = struct.pack("<HH", int(rng.integers(0, 65536)), int(rng.integers(0, 65536)))
        elif what == 3:
            b[i + 5 : i + 9] = struct.pack("<HH", int(rng.choice([0, 1, 4096, 65535])), int(rng.choice([0, 1, 4096, 65535])))
        elif what == 4:
            flags_at = i + 9
            lzw_at = flags_at + 1 + (3 * (2 << (b[flags_at] & 7)) if b[flags_at] & 0x80 else 0)
            if lzw_at < len(b):
                b[lzw_at] = int(rng.choice([0, 1, 12, 13, 255]))
    return bytes(b)


def png_mutate(png: bytes, rng: np.random.Generator) -> bytes:
    """Damage a PNG's chunks with valid CRCs: a header field, a duplicated or dropped chunk, huge text or
    ICC chunks, a bogus animation control, garbage EXIF."""
    chunks = png_chunks(png)
    if not chunks:
        return png
    what = int(rng.integers(0, 7))
    if what == 0 and chunks[0][0] == b"IHDR":  # depth, colour type, compression, filter, interlace
        ihdr = bytearray(chunks[0][1])
        ihdr[8 + int(rng.integers(0, 5))] = int(rng.integers(0, 256))
        chunks[0] = (b"IHDR", bytes(ihdr))
    elif what == 1:
        k = int(rng.integers(0, len(chunks)))
        chunks.insert(k, chunks[k])
    elif what == 2 and len(chunks) > 2:
        del chunks[int(rng.integers(1, len(chunks) - 1))]
    elif what == 3:  # compressed text that inflates to 64 MB
        chunks.insert(1, (b"zTXt", b"Comment\x00\x00" + _text_bomb()))
    elif what == 4:
        chunks.insert(1, (b"iCCP", b"icc\x00\x00" + zlib.compress(bytes(rng.integers(0, 256, 2000, dtype=np.uint8)))))
    elif what == 5:
        chunks.insert(1, (b"acTL", struct.pack(">II", int(rng.choice([0, 1, 2, 0x7FFFFFFF])), int(rng.integers(0, 3)))))
    else:
        chunks.insert(1, (b"eXIf", bytes(rng.integers(0, 256, int(rng.integers(0, 200)), dtype=np.uint8))))
    return png_from_chunks(chunks)


@functools.cache
def _text_bomb() -> bytes:
    return zlib.compress(b"\x00" * (64 << 20), 9)


def jpeg_mutate(jpeg: bytes, rng: np.random.Generator) -> bytes:
    """Damage a JPEG's markers: frame size, component count, a quantisation or Huffman table."""
    b = bytearray(jpeg)
    what = int(rng.integers(0, 3))
    marker = {0: (0xC0, 0xC2), 1: (0xDB,), 2: (0xC4,)}[what]
    for m in marker:
        i = b.find(bytes([0xFF, m]))
        if i >= 0 and i + 12 < len(b):
            j = i + 4 + int(rng.integers(0, 8))
            b[j] = int(rng.integers(0, 256))
            break
    return bytes(b)


def exif_block(orientation) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


_STORED_AS = {  # orientation -> how to store an upright picture so that applying the orientation shows it upright
    1: None, 2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_90, 7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_270,
}


def rotated_with_exif(upright: Image.Image, orientation: int, fmt: str) -> bytes:
    """``upright`` stored turned, with the EXIF orientation that turns it back."""
    method = _STORED_AS[orientation]
    stored = upright if method is None else upright.transpose(method)
    return encode(stored, fmt, exif=exif_block(orientation))


def cutout(grey: np.ndarray, rng: np.random.Generator, hidden: int | None = None) -> np.ndarray:
    """Dark-ink-on-paper picture -> RGBA with the paper inside a transparent rounded margin (a cut-out photo);
    transparent pixels are ``hidden`` (default black or white at random), as different apps leave them."""
    h, w = grey.shape
    alpha = np.zeros((h, w), np.uint8)
    m = int(min(h, w) * rng.uniform(0.03, 0.12))
    r = max(2, int(min(h, w) * rng.uniform(0.05, 0.2)))
    cv2.rectangle(alpha, (m + r, m), (w - 1 - m - r, h - 1 - m), 255, -1)
    cv2.rectangle(alpha, (m, m + r), (w - 1 - m, h - 1 - m - r), 255, -1)
    for cx, cy in ((m + r, m + r), (w - 1 - m - r, m + r), (m + r, h - 1 - m - r), (w - 1 - m - r, h - 1 - m - r)):
        cv2.circle(alpha, (cx, cy), r, 255, -1)
    hidden = (0 if rng.random() < 0.5 else 255) if hidden is None else hidden
    rgb = np.where(alpha[..., None] > 0, np.repeat(grey[..., None], 3, -1), hidden).astype(np.uint8)
    return np.dstack([rgb, alpha])


def ink_on_transparency(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """An MNIST digit as strokes of one colour on a transparent background (RGBA), like the canvas or a logo."""
    side = int(rng.integers(56, 300))
    alpha = cv2.resize(digit, (side, side), interpolation=cv2.INTER_LINEAR)
    colour = int(rng.choice([0, 255, 30, 200]))
    return np.dstack([np.full_like(alpha, colour)] * 3 + [alpha])


# ----------------------------------------------------------------------------- kinds


@dataclass
class Case:
    """One generated input: where it is, what it is, and what must happen to it."""

    i: int
    path: Path
    kind: str
    expect: str  # "valid": must be read; "refuse": must be refused; "any": either, cleanly
    label: int | None = None  # the digit drawn, for valid pictures
    what: str = ""


@dataclass
class _Ctx:
    i: int
    rng: np.random.Generator
    digits: np.ndarray  # (K, 28, 28) uint8 MNIST test digits
    labels: np.ndarray
    folder: Path
    kind: str

    @property
    def digit(self) -> np.ndarray:
        return self.digits[self.i % len(self.digits)]

    @property
    def label(self) -> int:
        return int(self.labels[self.i % len(self.labels)])

    def others(self, k: int) -> list[np.ndarray]:
        return [self.digits[(self.i + 7 * (j + 1)) % len(self.digits)] for j in range(k)]

    def path(self, suffix: str, stem: str | None = None) -> Path:
        return self.folder / f"{self.i:06d}-{self.kind}{stem or ''}{suffix}"

    def write(self, data: bytes, suffix: str) -> Path:
        p = self.path(suffix)
        p.write_bytes(data)
        return p


_KINDS: dict[str, tuple[str, float, Callable[[_Ctx], tuple[Path, str]]]] = {}


def _kind(name: str, expect: str, weight: float):
    def register(make):
        _KINDS[name] = (expect, weight, make)
        return make

    return register


def _any_valid(c: _Ctx) -> tuple[bytes, str, str]:
    """A valid file of any kind the damage kinds start from: half of them multi-frame (damaged multi-frame files
    once crashed the reader)."""
    if c.rng.random() < 0.5:
        return animated_file(c.rng, [c.digit, *c.others(int(c.rng.integers(1, 4)))])
    return valid_file(c.rng, c.digit)


def _valid_format(fmt: str, suffixes: tuple[str, ...] = ()):
    """The kind "a valid ``fmt`` file", saved under its own suffix or one of ``suffixes`` (spellings people use)."""

    def make(c):
        data, suffix, what = valid_file(c.rng, c.digit, fmt)
        return c.write(data, str(c.rng.choice(suffixes)) if suffixes else suffix), what

    return make


for _fmt, _weight, _suffixes in (("PNG", 4, ()), ("JPEG", 3, (".jpg", ".jpeg", ".JPG")), ("WEBP", 2, ()), ("BMP", 1, ()),
                                 ("TIFF", 3, (".tif", ".tiff")), ("GIF", 1, ())):
    _kind(f"valid_{_fmt.lower()}", "valid", _weight)(_valid_format(_fmt, _suffixes))


@_kind("valid_animated", "valid", 3)
def _valid_animated(c):
    data, suffix, what = animated_file(c.rng, [c.digit, *c.others(int(c.rng.integers(1, 6)))])
    return c.write(data, suffix), what


@_kind("valid_exif_orientation", "valid", 2)
def _valid_exif(c):
    fmt = str(c.rng.choice(["JPEG", "PNG", "WEBP", "TIFF"]))
    o = int(c.rng.integers(1, 9))
    return c.write(rotated_with_exif(Image.fromarray(paper(c.digit, c.rng)), o, fmt), _SUFFIX[fmt]), f"{fmt} orientation {o}"


@_kind("valid_broken_exif", "valid", 1)
def _valid_broken_exif(c):
    """Garbage or odd EXIF blocks: random bytes, orientation 0, 9, a string, a huge count."""
    grey = Image.fromarray(paper(c.digit, c.rng))
    blob = bytes(c.rng.integers(0, 256, int(c.rng.integers(0, 300)), dtype=np.uint8))
    choice = int(c.rng.integers(0, 4))
    if choice == 0:
        return c.write(png_with_chunk(encode(grey, "PNG"), b"eXIf", blob), ".png"), "PNG with a garbage eXIf chunk"
    if choice == 1:
        return c.write(encode(grey, "JPEG", exif=b"Exif\x00\x00" + blob), ".jpg"), "JPEG with a garbage EXIF block"
    if choice == 2:
        return c.write(encode(grey.convert("RGB"), "WEBP", exif=blob), ".webp"), "WebP with a garbage EXIF block"
    exif = Image.Exif()
    exif[0x0112] = [0, 9, 65535, "six", (6, 6)][int(c.rng.integers(0, 5))]
    try:
        block = exif.tobytes()
    except Exception:  # Pillow cannot write that value: use random bytes instead
        block = b"Exif\x00\x00" + blob
    return c.write(encode(grey, "JPEG", exif=block), ".jpg"), "JPEG with an invalid orientation value"


@_kind("valid_cutout", "valid", 1.5)
def _valid_cutout(c):
    """Paper with a transparent rounded margin."""
    rgba = cutout(paper(c.digit, c.rng, dark_ink=True, side=int(c.rng.integers(80, 320))), c.rng)
    fmt = str(c.rng.choice(["PNG", "WEBP", "TIFF"]))
    return c.write(encode(Image.fromarray(rgba), fmt, **({"lossless": True} if fmt == "WEBP" else {})), _SUFFIX[fmt]), f"{fmt} cut-out"


@_kind("valid_ink_on_transparency", "valid", 1)
def _valid_ink(c):
    rgba = ink_on_transparency(c.digit, c.rng)
    fmt = str(c.rng.choice(["PNG", "WEBP"]))
    return c.write(encode(Image.fromarray(rgba), fmt, **({"lossless": True} if fmt == "WEBP" else {})), _SUFFIX[fmt]), f"{fmt} strokes"


@_kind("valid_large", "valid", 0.5)
def _valid_large(c):
    """Large pictures: decoded at reduced size (JPEG draft, Image.reduce)."""
    side = int(c.rng.integers(1600, 4200))
    small = paper(c.digit, c.rng, 400)
    grey = cv2.resize(small, (side * small.shape[1] // 400, side), interpolation=cv2.INTER_LINEAR)  # a phone photo's size
    fmt = str(c.rng.choice(["JPEG", "JPEG", "PNG", "TIFF", "GIF"]))
    kw = {"quality": 85} if fmt == "JPEG" else {"compress_level": 1} if fmt == "PNG" else {}
    if fmt == "TIFF":
        kw = {"compression": "tiff_lzw"}
    return c.write(encode(Image.fromarray(grey), fmt, **kw), _SUFFIX[fmt]), f"{fmt} {grey.shape[1]}x{grey.shape[0]}"


@_kind("valid_float", "valid", 1)
def _valid_float(c):
    """Float and 32-bit integer TIFFs in [0, 1] or [0, 255]."""
    mode = str(c.rng.choice(["F01", "F", "I", "I;16"]))
    data, suffix, what = valid_file(c.rng, c.digit, "TIFF", mode)
    return c.write(data, suffix), what


@_kind("valid_odd_name", "valid", 1)
def _valid_odd_name(c):
    """A good PNG with a hostile name: newline, escape codes, bytes that are not UTF-8, ..."""
    names = ["two\nlines", "\x1b[31mred\x1b[0m", os.fsdecode(b"bad\xff\xfe"), "-n", " spaces ", "rtl\u202egnp", "ünï©ødé",
             "x" * 200, "tab\there", "back\\slash", "zero\u200bwidth", "cr\rreturn", "sep\u2028line", "\x07bell", ".hidden"]
    stem = names[c.i // len(_SCHEDULE) % len(names)]
    data, _, what = valid_file(c.rng, c.digit, "PNG")
    p = c.folder / f"{c.i:06d}-{stem}{c.rng.choice(['.png', '.PNG'])}"
    p.write_bytes(data)
    return p, f"name {stem!r}"


@_kind("valid_other_suffix", "valid", 0.5)
def _valid_other_suffix(c):
    """Content and name disagree (a PNG called .jpg): the content decides."""
    data, suffix, what = valid_file(c.rng, c.digit)
    others = [s for s in pictures.IMAGE_SUFFIXES if s != suffix]
    return c.write(data, str(c.rng.choice(sorted(others)))), what + " under another suffix"


@_kind("valid_small_or_thin", "valid", 0.5)
def _valid_small(c):
    """Tiny and long-and-narrow pictures that are still within the limits."""
    if c.rng.random() < 0.5:
        side = int(c.rng.integers(pictures.MIN_SIDE, 24))
        grey = cv2.resize(paper(c.digit, c.rng, 56), (side, side), interpolation=cv2.INTER_AREA)
    else:  # long and narrow, up to MAX_ASPECT:1
        h = int(c.rng.integers(pictures.MIN_SIDE, 40))
        grey = np.full((h, int(h * c.rng.uniform(5, pictures.MAX_ASPECT))), 230, np.uint8)
        grey[:, grey.shape[1] // 2 : grey.shape[1] // 2 + 4] = 20
    return c.write(encode(Image.fromarray(grey), "PNG"), ".png"), f"{grey.shape[1]}x{grey.shape[0]}"


_OTHER_FORMATS = ("TGA", "PCX", "PPM", "SGI", "IM", "ICO", "XBM", "DDS", "EPS", "ICNS", "JPEG2000", "BLP", "QOI", "SPIDER", "MSP",
                  "PDF", "PALM", "XV")


@_kind("refuse_other_format", "refuse", 2)
def _refuse_format(c):
    """A format Pillow can decode but we do not read, named as one we do."""
    Image.init()  # every plugin registered, so the list is the same in every process
    saveable = [f for f in _OTHER_FORMATS if f in Image.SAVE] or ["TGA"]
    fmt = saveable[c.i // len(_SCHEDULE) % len(saveable)]
    grey = paper(c.digit, c.rng, 64)
    modes = {"XBM": "1", "MSP": "1", "PALM": "1", "ICNS": "RGB", "DDS": "RGB", "QOI": "RGB", "BLP": "P", "SPIDER": "F"}
    im = Image.fromarray(grey).convert(modes.get(fmt, "L"))
    try:
        data = encode(im, fmt)
    except Exception:  # a plugin that cannot write this image here: a TGA stands in
        fmt, data = "TGA", encode(Image.fromarray(grey), "TGA")
    suffix = str(c.rng.choice(sorted(pictures.IMAGE_SUFFIXES)))
    return c.write(data, suffix), f"{fmt} named {suffix}"


def _unreadable(p: Path) -> Path:
    """A file this process cannot read: mode 000, or (as root, who reads anything) a link to a write-only
    /proc file; None when neither works here."""
    p.write_bytes(b"\x89PNG\r\n\x1a\n")
    p.chmod(0)
    if not os.access(p, os.R_OK):
        return p
    p.unlink()
    target = Path("/proc/sys/vm/drop_caches")
    try:
        os.close(os.open(target, os.O_RDONLY))
    except OSError:
        p.symlink_to(target)
        return p
    return None


@_kind("refuse_special_file", "refuse", 2)
def _refuse_special(c):
    """Not a regular file: FIFO, socket, directory, links that lead nowhere, devices,
    an unreadable file, an empty file."""
    choices = ["fifo", "socket", "directory", "dangling", "loop", "device", "unreadable", "empty"]
    which = choices[c.i // len(_SCHEDULE) % len(choices)]
    p = c.path(".png", f"-{which}")
    if which == "fifo":
        os.mkfifo(p)
    elif which == "socket":
        s = socket.socket(socket.AF_UNIX)
        try:
            s.bind(str(p))
        except OSError:  # the path is too long for a socket address: a FIFO instead
            os.mkfifo(p)
        finally:
            s.close()
    elif which == "directory":
        p.mkdir()
    elif which == "dangling":
        p.symlink_to(c.folder / f"{c.i:06d}-nowhere.png")
    elif which == "loop":
        other = c.path(".png", "-loop-b")
        p.symlink_to(other)
        other.symlink_to(p)
    elif which == "device":
        p.symlink_to("/dev/zero")
    elif which == "unreadable":
        p = _unreadable(p) or c.write(b"", ".png")
    else:
        p.write_bytes(b"")
    return p, which


@_kind("refuse_too_large", "refuse", 1.5)
def _refuse_bomb(c):
    """Headers that claim more than MAX_PIXELS (decompression bombs), in every format we read."""
    w = int(c.rng.integers(7000, 65535))
    h = int(max(pictures.MAX_PIXELS // w + 1, c.rng.integers(6000, 65535)))
    fmt = ["PNG", "GIF", "BMP", "TIFF", "JPEG", "WEBP"][c.i // len(_SCHEDULE) % 6]
    small = Image.fromarray(paper(c.digit, c.rng, 32))
    if fmt == "PNG":
        data = png_header_only(w, h, colour=int(c.rng.choice([0, 2, 6])))
    elif fmt == "GIF":
        data = gif_screen(min(w, 65535), min(h, 65535))
    elif fmt == "BMP":
        data = bmp_header_only(w, h)
    elif fmt == "TIFF":
        data = tiff_header_only(w, h)
    elif fmt == "JPEG":
        data = jpeg_with_size(encode(small, "JPEG"), min(w, 65500), min(h, 65500))
    else:
        w, h = min(w, 16384), min(h, 16384)
        h = max(h, pictures.MAX_PIXELS // w + 1)
        data = webp_canvas(w, h, encode(small.convert("RGB"), "WEBP", lossless=True))
    return c.write(data, _SUFFIX[fmt]), f"{fmt} header {w}x{h}"


@_kind("refuse_nan", "refuse", 0.5)
def _refuse_nan(c):
    """A float TIFF with NaN or infinite pixels: refused, as a NaN array is."""
    a = paper(c.digit, c.rng).astype(np.float32) / 255
    k = int(c.rng.integers(1, 20))
    a.flat[c.rng.integers(0, a.size, k)] = float(c.rng.choice([np.nan, np.inf, -np.inf]))
    return c.write(encode(Image.fromarray(a), "TIFF"), ".tif"), f"float TIFF with {k} non-finite pixels"


@_kind("refuse_garbage", "refuse", 1)
def _refuse_garbage(c):
    """Not a picture at all: random bytes, text, a magic number and nothing else."""
    choice = int(c.rng.integers(0, 4))
    if choice == 0:
        data = bytes(c.rng.integers(0, 256, int(c.rng.integers(1, 5000)), dtype=np.uint8))
    elif choice == 1:
        data = b"%PDF-1.4 this is not a picture\n" * int(c.rng.integers(1, 50))
    elif choice == 2:
        data = [b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF89a", b"II*\x00", b"MM\x00*", b"BM", b"RIFF\x00\x00\x00\x00WEBP"][int(c.rng.integers(0, 7))]
    else:
        data = b"\x00" * int(c.rng.integers(1, 10000))
    return c.write(data, str(c.rng.choice(sorted(pictures.IMAGE_SUFFIXES)))), f"garbage {choice}"


@_kind("any_byte_flips", "any", 12)
def _any_flips(c):
    data, suffix, what = _any_valid(c)
    return c.write(flip_bytes(data, c.rng), suffix), "flipped " + what


@_kind("any_truncated", "any", 4)
def _any_truncated(c):
    data, suffix, what = _any_valid(c)
    return c.write(truncate(data, c.rng), suffix), "truncated " + what


@_kind("any_tiff_ifd", "any", 5)
def _any_tiff(c):
    """Multi-page TIFFs with damaged IFDs, including the two files that once crashed the TIFF reader."""
    data, _, what = animated_file(c.rng, [c.digit, *c.others(int(c.rng.integers(1, 4)))], "TIFF")
    choice = c.rng.random()
    if choice < 0.1:
        return c.write(tiff_second_ifd_empty(data), ".tif"), "second IFD empty"
    if choice < 0.2:
        t = int(c.rng.choice([256, 257, 258, 273, 279, 277, 262]))
        return c.write(tiff_tag_type(data, t, int(c.rng.choice([1, 2, 7, 11, 12])), int(c.rng.integers(0, 2))), ".tif"), f"tag {t} re-typed"
    return c.write(tiff_mutate_ifd(data, c.rng), ".tif"), "damaged IFD of " + what


@_kind("any_png_chunks", "any", 3)
def _any_png(c):
    if c.rng.random() < 0.3:
        data, _, what = animated_file(c.rng, [c.digit, *c.others(2)], "PNG")
    else:
        data, _, what = valid_file(c.rng, c.digit, "PNG")
    return c.write(png_mutate(data, c.rng), ".png"), "damaged chunks of " + what


@_kind("any_gif_structure", "any", 3)
def _any_gif(c):
    if c.rng.random() < 0.6:
        data, _, what = animated_file(c.rng, [c.digit, *c.others(int(c.rng.integers(1, 4)))], "GIF")
    else:
        data, _, what = valid_file(c.rng, c.digit, "GIF")
    return c.write(gif_mutate(data, c.rng), ".gif"), "damaged " + what


@_kind("any_jpeg_markers", "any", 2)
def _any_jpeg(c):
    data, _, what = valid_file(c.rng, c.digit, "JPEG")
    return c.write(jpeg_mutate(data, c.rng), ".jpg"), "damaged markers of " + what


@_kind("any_splice", "any", 1)
def _any_splice(c):
    """The start of one format glued to the rest of another."""
    a, suffix, wa = valid_file(c.rng, c.digit)
    b, _, wb = valid_file(c.rng, c.digit)
    cut = int(c.rng.integers(1, min(len(a), 200)))
    return c.write(a[:cut] + b[cut:], suffix), f"{wa} | {wb}"


@_kind("any_costly_header", "any", 1.5)
def _any_costly(c):
    """Headers within MAX_PIXELS that are costly to decode: a GIF screen of 65504x360 or of a
    few thousand pixels a side, a PNG claiming 6000x6000 RGBA, a long thin strip: read at reduced size or
    refused, within the memory bound."""
    choice = int(c.rng.integers(0, 6))
    if choice == 0:
        w, h = int(c.rng.choice([65504, 65535, 40000])), int(c.rng.choice([360, 600, 100]))
        return c.write(gif_screen(w, h, colours=bool(c.rng.random() < 0.5)), ".gif"), f"GIF screen {w}x{h}"
    if choice == 5:
        w = int(c.rng.integers(2000, 9000))
        h = int(min(pictures.MAX_PIXELS // w, c.rng.integers(2000, 9000)))
        return c.write(gif_screen(w, h, colours=bool(c.rng.random() < 0.5)), ".gif"), f"GIF screen {w}x{h}"
    if choice == 1:
        side = int(c.rng.integers(2000, 6300))
        return c.write(png_header_only(side, side, colour=int(c.rng.choice([0, 2, 4, 6]))), ".png"), f"PNG header {side}x{side}"
    if choice == 2:
        w, h = int(c.rng.integers(8, 16)), int(c.rng.integers(50_000, 2_000_000))
        return c.write(png_header_only(w, h), ".png"), f"PNG header {w}x{h}"
    if choice == 3:
        side = int(c.rng.integers(2000, 6300))
        return c.write(tiff_header_only(side, side), ".tif"), f"TIFF header {side}x{side}"
    side = int(c.rng.integers(2000, 6000))
    return c.write(jpeg_with_size(encode(Image.fromarray(paper(c.digit, c.rng, 64)), "JPEG"), side, side), ".jpg"), f"JPEG header {side}x{side}"


def _schedule() -> list[str]:
    """Kinds in a fixed cycle, each as often as its weight (in halves), interleaved."""
    slots = {k: round(2 * w) for k, (_, w, _) in _KINDS.items()}
    out: list[str] = []
    while any(slots.values()):
        for k in _KINDS:
            if slots[k]:
                out.append(k)
                slots[k] -= 1
    return out


_SCHEDULE = _schedule()
KINDS = {k: e for k, (e, _, _) in _KINDS.items()}  # kind -> what must happen to it


def generate(seed: int, i: int, folder: Path, digits: np.ndarray, labels: np.ndarray) -> Case:
    """File ``i`` of a run with ``seed`` in ``folder``, made from the MNIST test ``digits``."""
    kind = _SCHEDULE[i % len(_SCHEDULE)]
    expect, _, make = _KINDS[kind]
    c = _Ctx(i, np.random.default_rng([seed, i]), digits, labels, Path(folder), kind)
    path, what = make(c)
    return Case(i, path, kind, expect, c.label if expect == "valid" else None, what)


# ----------------------------------------------------------------------------- the worker (the CLI's code)


def _peak_mb() -> float | None:
    peak = memory.status_mb("VmHWM")
    if peak is not None:
        return peak
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux kB; no reset possible


def _rss_mb() -> float:
    return memory.status_mb("VmRSS") or 0.0


def _strict_json(line: str):
    """``line`` parsed as a strict parser would: NaN and Infinity are refused, and so is a string holding a
    lone surrogate ("\\udcff" is valid JSON syntax, but not Unicode, and strict parsers reject it)."""
    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")

    def strings(o):
        if isinstance(o, str):
            yield o
        elif isinstance(o, dict):
            for k, v in o.items():
                yield k
                yield from strings(v)
        elif isinstance(o, list):
            for v in o:
                yield from strings(v)

    obj = json.loads(line, parse_constant=refuse)
    for text in strings(obj):
        if any(0xD800 <= ord(ch) <= 0xDFFF for ch in text):
            raise ValueError(f"lone surrogate in {text[:80]!r}")
    return obj


def check_line(line: str, path: Path) -> str | None:
    """Why one output line of the predict CLI (JSON) breaks its contract, or None."""
    if "\n" in line or "\r" in line:
        return "more than one line"
    try:
        obj = _strict_json(line)
    except ValueError as e:
        return f"not JSON: {e}"
    if not isinstance(obj, dict) or obj.get("path") != predict.shown_path(path):
        return "no 'path' or another path"
    if "error" in obj:
        return None if isinstance(obj["error"], str) and "label" not in obj else f"error line with keys {sorted(obj)}"
    if "number" in obj:  # --number's line: the digits read in order
        missing = {"number", "read_by", "digits"} - set(obj)
        if missing:
            return f"no {sorted(missing)}"
        return None if isinstance(obj["digits"], list) and isinstance(obj["number"], str) else "digits not a list"
    missing = {"label", "confidence", "probabilities", "abstain", "reason"} - set(obj)
    if missing:
        return f"no {sorted(missing)}"
    if not (isinstance(obj["probabilities"], list) and len(obj["probabilities"]) == 10):
        return "not 10 probabilities"
    return None


def _run_item(item: dict, state: dict) -> dict:
    """Make file ``item["i"]`` of the run, then send it through the CLI's path and the app's path (see the
    module docstring); the peak RSS of each is measured on its own (reset before each), as a CLI run on
    that one file would see it, and also as the rise over the RSS the worker had before the file."""
    from digitlab import preprocess

    classifier = state["classifier"]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's complaints while writing odd metadata
            case = generate(item["seed"], item["i"], Path(item["folder"]), state["digits"], state["labels"])
    except Exception as e:  # the fuzz suite's own bug: reported as such, never as the code under test's
        return {"i": item["i"], "harness": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc(limit=8)}
    path = case.path
    out: dict = {"i": item["i"], "case": {"path": str(path), "kind": case.kind, "expect": case.expect, "label": case.label,
                                          "what": case.what}}
    rss_before = _rss_mb()
    out["peak_reset"] = memory.reset_peak()
    t0 = time.perf_counter()
    [(line, outcome)] = list(predict.predict_lines(classifier, [(path, None)], "auto", "json"))
    out["cli_seconds"] = round(time.perf_counter() - t0, 4)
    out["peak_mb"] = _peak_mb()
    problem = check_line(line, path)
    obj = _strict_json(line) if problem is None else {}
    out["cli"] = {"outcome": outcome, "problem": problem, "error": obj.get("error"), "label": obj.get("label")}
    shown = predict.printable(str(path))  # the text format's name: one line, no control characters
    out["text_problem"] = None if not any(unicodedata.category(ch)[0] == "C" for ch in shown) else f"text name {shown!r}"
    # The app's upload: the file's bytes (regular files only: the uploader hands over bytes).
    try:
        data = path.read_bytes() if stat.S_ISREG(os.stat(path).st_mode) and os.access(path, os.R_OK) else None
    except OSError:
        data = None
    memory.reset_peak()
    t1 = time.perf_counter()
    if data is None:
        out["app"] = {"outcome": "skipped"}
    else:
        try:
            prepared = preprocess.prepare(data, invert="auto")
            pred = classifier.predict_prepared([prepared])[0]
            out["app"] = {"outcome": "ok", "label": pred.label}
        except preprocess.ImageError as e:
            out["app"] = {"outcome": "error", "error": str(e)}
        except Exception as e:
            out["app"] = {"outcome": "internal", "error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc(limit=8)}
    out["app_seconds"] = round(time.perf_counter() - t1, 4)
    out["peak_mb"] = round(max(out["peak_mb"], _peak_mb()), 1)
    out["rise_mb"] = round(out["peak_mb"] - rss_before, 1)
    out["seconds"] = round(time.perf_counter() - t0, 4)
    return out


def _run_model(item: dict, state: dict) -> dict:
    """One model file through ``artifacts.inspect`` (what listing ``models/`` and the upload page call)."""
    from digitlab.models import artifacts

    rss_before = _rss_mb()
    reset = memory.reset_peak()
    t0 = time.perf_counter()
    out: dict = {"i": item["i"]}
    if item.get("list"):
        try:
            entries = artifacts.list_models(Path(item["path"]))
            out["outcome"], out["n"] = "ok", len(entries)
        except Exception as e:
            out["outcome"], out["error"] = "internal", f"{type(e).__name__}: {e}"
    else:
        try:
            entry = artifacts.inspect(Path(item["path"]))
            out["outcome"], out["usable"], out["reason"] = "ok", entry.usable, entry.reason
        except Exception as e:  # inspect never raises: anything here is a crash
            out["outcome"], out["error"] = "internal", f"{type(e).__name__}: {e}"
            out["traceback"] = traceback.format_exc(limit=8)
    out["seconds"] = round(time.perf_counter() - t0, 4)
    out["peak_mb"] = round(_peak_mb(), 1)
    out["rise_mb"] = round(out["peak_mb"] - rss_before, 1)
    out["peak_reset"] = reset
    return out


def _run_file(item: dict, state: dict) -> dict:
    """Make case ``item["i"]`` of ``hostile_files`` (its kind fixed by the index, its variant by (seed, index)) in its
    own folder and run it through what the CLI and the app call: the listing, the model resolved and loaded, the
    predict command's lines on MNIST pictures (for the number reader: a number), the Models page's confusion panel
    and card summary.  Rebuilding a serving file (TensorFlow, ~15 s) is off here: what is run is what happens when a
    damaged file cannot be rebuilt."""
    import contextlib

    from digitlab.hardening import hostile_files
    from digitlab.models import artifacts
    from digitlab.report import model_report
    from digitlab.serving import gate, reader, runtime

    kind = FILE_KINDS[(item["seed"] + item["i"]) % len(FILE_KINDS)]
    k = hostile_files.KINDS[kind]
    try:
        case = hostile_files.make_case(kind, Path(item["folder"]) / f"{item['i']:06d}-{kind}", item["seed"] * 1_000_003 + item["i"])
    except Exception as e:  # the fuzz suite's own bug: reported as such, never as the code under test's
        return {"i": item["i"], "harness": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc(limit=8)}
    out: dict = {"i": item["i"], "kind": kind, "target": k.target, "expect": k.expect, "what": case.what}
    t0 = time.perf_counter()
    saved = (gate.GATE_PATH, reader.READER_PATH)
    gate.GATE_PATH, reader.READER_PATH = case.gate or saved[0], case.reader or saved[1]
    try:
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always")
            entries = {e.name: e for e in runtime.list_models(case.folder)}
            entry = entries[hostile_files.NAME]
            out["listed"] = "unusable" if not entry.usable else "pending" if entry.pending else "usable"
            if k.expect == "not_default":
                out["default"] = runtime.load(None, case.folder).name
            try:
                clf = runtime.load(hostile_files.NAME, case.folder)
            except artifacts.ModelError as e:
                out["load"], out["reason"] = "refused", str(e)
            else:
                out["load"] = "served"
                pictures = state["pictures"] if k.target != "reader" else state["number"]
                run = predict.number_lines if k.target == "reader" else predict.predict_lines
                lines = list(run(clf, pictures, "auto", "json"))
                out["problems"] = [p for (line, _), (path, _) in zip(lines, pictures) if (p := check_line(line, path))]
                out["outcomes"] = sorted({o for _, o in lines})
                answers = [] if out["problems"] else [_strict_json(line) for line, _ in lines]
                out["labels"] = [a.get("label") for a in answers]
                out["reasons"] = [a.get("reason") or a.get("read_by") for a in answers]
                with contextlib.suppress(StopIteration):
                    out["read_by"] = next(a["read_by"] for a in answers if "read_by" in a)
            if entry.usable:
                matrix, why = model_report.confusion_checked(entry.path)
                out["panel"] = "refused" if why else "shown" if matrix is not None else "none"
                out["panel_reason"] = why
                model_report.summary(entry)
        out["warnings"] = [str(w.message)[:300] for w in said][:5]
    except Exception as e:  # the listing, a load or a line raised something that is not a refusal
        out["crash"] = f"{type(e).__name__}: {e}"
        out["traceback"] = traceback.format_exc(limit=8)
    finally:
        gate.GATE_PATH, reader.READER_PATH = saved
    out["seconds"] = round(time.perf_counter() - t0, 4)
    out["peak_mb"] = _peak_mb()
    return out


def files_worker(model: str | None, mnist: str | None) -> None:
    """``worker`` for ``fuzz_files``: no model is loaded up front (each case brings its own), two MNIST test digits
    as PNG files and a number written with three; serving files are never rebuilt (``_run_file``)."""
    from digitlab import files
    from digitlab.models import artifacts
    from digitlab.serving import store

    def no_rebuild(path, kind, key, out_dir):
        raise artifacts.ModelError(f"{Path(path).name}: rebuilding serving files is off in this run")

    store._convert = no_rebuild
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    digits, labels = mnist_digits(mnist, 100)
    state: dict = {"labels": [int(v) for v in labels[:2]]}

    def pictures(run_folder: Path) -> None:  # in the run's folder (removed with it), made on the first request
        folder = run_folder / f"pictures-{os.getpid()}"
        folder.mkdir(parents=True, exist_ok=True)
        state["pictures"] = []
        for i in range(2):
            (folder / f"digit{i}.png").write_bytes(files.png_bytes(digits[i]))
            state["pictures"].append((folder / f"digit{i}.png", None))
        page = np.zeros((60, 148), np.uint8)
        for k in range(3):
            page[16:44, 20 + 36 * k : 48 + 36 * k] = digits[k]
        (folder / "number.png").write_bytes(files.png_bytes(page))
        state["number"] = [(folder / "number.png", None)]

    proto.write(json.dumps({"ready": "files", "baseline_mb": _peak_mb()}) + "\n")
    for request in sys.stdin:
        item = json.loads(request)
        if "pictures" not in state:
            pictures(Path(item["folder"]))
        try:
            answer = _run_file(item, state)
        except Exception as e:
            answer = {"i": item["i"], "crash": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc(limit=8)}
        answer["expected_labels"] = state["labels"]
        proto.write(json.dumps(answer) + "\n")


def worker(model: str | None, mnist: str | None) -> None:
    """Serve requests (one JSON object a line on stdin) with the CLI's code and a model loaded once;
    answers go to the original stdout, anything a library prints goes to stderr."""
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    digits, labels = mnist_digits(mnist)
    state = {"classifier": predict.load_model(model), "digits": digits, "labels": labels}
    proto.write(json.dumps({"ready": state["classifier"].name, "baseline_mb": _peak_mb()}) + "\n")
    for request in sys.stdin:
        item = json.loads(request)
        run = _run_model if item.get("model") else _run_item
        try:
            answer = run(item, state)
        except Exception as e:  # the code under test raised out of its own guards (predict_lines, inspect)
            answer = {"i": item["i"], "crash": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc(limit=8)}
        proto.write(json.dumps(answer) + "\n")


class Worker:
    """One worker process (``worker``): started, sent one request at a time, killed when it hangs."""

    def __init__(self, model: str | None, mnist: str | None, entry: str = "worker"):
        self.model, self.mnist, self.entry = model, mnist, entry
        self.proc: subprocess.Popen | None = None
        self.buffer = b""
        self.request: dict | None = None  # the request in flight
        self.deadline = 0.0
        self.name = self.baseline_mb = None
        self.starts = 0

    def spawn(self) -> None:
        code = f"from digitlab.hardening import fuzz; fuzz.{self.entry}({self.model!r}, {self.mnist!r})"
        self.proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, cwd=ROOT, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
        self.buffer, self.request = b"", None
        self.starts += 1

    def ready(self, timeout: float) -> None:
        """Wait for the worker's ready line (the model loaded)."""
        answer = self.read(time.monotonic() + timeout)
        if answer is None or "ready" not in answer:
            self.kill()
            raise RuntimeError(f"the fuzz worker did not start (model {self.model!r}): {answer or 'no answer'}")
        self.name, self.baseline_mb = answer["ready"], answer["baseline_mb"]

    def send(self, request: dict, timeout: float) -> None:
        self.request, self.deadline = request, time.monotonic() + timeout
        self.proc.stdin.write((json.dumps(request) + "\n").encode())
        self.proc.stdin.flush()

    def read(self, deadline: float) -> dict | None:
        """The next answer, None at ``deadline``, or {"died": exit status} when the process is gone."""
        fd = self.proc.stdout.fileno()
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return None
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return {"died": self.proc.wait()}
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return json.loads(line)

    def kill(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                os.kill(self.proc.pid, signal.SIGKILL)  # the worker this object started, by its pid
            self.proc.wait()
            for f in (self.proc.stdin, self.proc.stdout):
                f.close()
            self.proc, self.request = None, None


def run_pool(requests: list[dict], answered: Callable[[dict, dict | None], None], workers: int, model: str | None,
             mnist: str | None, timeout: float, startup_timeout: float = 600, entry: str = "worker") -> dict:
    """Send every request to one of ``workers`` worker processes (``entry``: ``worker``, or ``files_worker``) and call
    ``answered(request, answer)`` for each, in the order answers come; ``answer`` is None when the worker gave none
    within ``timeout`` seconds (a hang: the worker is killed and a fresh one takes the next request)."""
    pool = [Worker(model, mnist, entry) for _ in range(max(1, min(workers, len(requests))))]
    todo = list(reversed(requests))
    try:
        for w in pool:
            w.spawn()
        for w in pool:
            w.ready(startup_timeout)
        while True:
            for w in pool:
                if w.request is None and todo:
                    if w.proc is None:
                        w.spawn()
                        w.ready(startup_timeout)
                    w.send(todo.pop(), timeout)
            busy = [w for w in pool if w.request is not None]
            if not busy:
                break
            wait = max(0.0, min(w.deadline for w in busy) - time.monotonic())
            readable = select.select([w.proc.stdout.fileno() for w in busy], [], [], wait)[0]
            for w in busy:
                if w.proc.stdout.fileno() in readable or b"\n" in w.buffer:
                    answer = w.read(time.monotonic() + 5)
                    if answer is None:
                        continue  # part of a line: the rest comes with the next select
                    request = w.request
                    if "died" in answer:
                        w.kill()
                    else:
                        w.request = None
                    answered(request, answer)
                elif time.monotonic() >= w.deadline:
                    request = w.request
                    w.kill()
                    answered(request, None)
    finally:
        for w in pool:
            w.kill()
    return {"model": pool[0].name, "worker_baseline_mb": pool[0].baseline_mb, "worker_starts": sum(w.starts for w in pool),
            "workers": len(pool)}


# ----------------------------------------------------------------------------- the run


@dataclass
class Tally:
    """Counts of one run over pictures or model files, and the first problems in detail."""

    items: int = 0
    crashes: int = 0
    hangs: int = 0
    wrong_refusals: int = 0
    wrong_acceptances: int = 0
    non_json_lines: int = 0
    read: int = 0
    refused: int = 0
    peak_mb: float = 0.0
    peak_item: str = ""
    seconds: list[float] = field(default_factory=list)
    by_kind: dict[str, dict[str, int]] = field(default_factory=dict)
    problems: list[dict] = field(default_factory=list)
    top_peaks: list[tuple[float, str]] = field(default_factory=list)
    valid_read: int = 0
    valid_no_ink: int = 0
    valid_right: int = 0
    rise_mb: float = 0.0  # the largest rise of RSS over what the worker held before the file
    harness_errors: int = 0  # the fuzz suite's own failures (a file it could not make): the run is not clean

    def count(self, kind: str, what: str) -> None:
        self.by_kind.setdefault(kind, {}).setdefault(what, 0)
        self.by_kind[kind][what] += 1

    def problem(self, kind: str, what: str, detail: dict) -> None:
        self.count(kind, what)
        if len(self.problems) < 100:
            self.problems.append({"kind": kind, "what": what, **detail})

    def peak(self, mb: float | None, name: str) -> None:
        if mb is None:
            return
        self.top_peaks = sorted([*self.top_peaks, (mb, name)], reverse=True)[:5]
        if mb > self.peak_mb:
            self.peak_mb, self.peak_item = mb, name

    def summary(self) -> dict:
        s = np.array(self.seconds or [0.0])
        return {
            "items": self.items, "crashes": self.crashes, "hangs": self.hangs, "wrong_refusals": self.wrong_refusals,
            "wrong_acceptances": self.wrong_acceptances, "non_json_lines": self.non_json_lines, "harness_errors": self.harness_errors,
            "read": self.read,
            "refused": self.refused, "peak_rss_mb": round(self.peak_mb, 1), "peak_rss_item": self.peak_item,
            "largest_rise_mb": round(self.rise_mb, 1),
            "top_peaks": [{"mb": m, "item": n} for m, n in self.top_peaks],
            "seconds": {"p50": round(float(np.median(s)), 4), "p99": round(float(np.percentile(s, 99)), 4), "max": round(float(s.max()), 4)},
            "by_kind": self.by_kind, "problems": self.problems,
        }


def _reproduce(seed: int, i: int) -> str:
    return f"python evaluation/fuzz.py --seed {seed} --only {i} --keep /tmp/fuzz-{seed}-{i}"


def judge_picture(case: Case, answer: dict | None, tally: Tally, seed: int) -> None:
    """Count one picture's answer: crash, hang, wrong refusal or acceptance, non-JSON line."""
    tally.items += 1
    detail = {"i": case.i, "file": case.path.name, "what_file": case.what, "reproduce": _reproduce(seed, case.i)}
    if answer is None:
        tally.hangs += 1
        tally.problem(case.kind, "hang", detail)
        return
    if "harness" in answer:  # the fuzz suite's own code failed (making the file): nothing was tested
        tally.harness_errors += 1
        tally.problem(case.kind, "harness error", {**detail, "error": answer["harness"], "traceback": answer.get("traceback")})
        return
    if "died" in answer or "crash" in answer:
        tally.crashes += 1
        tally.problem(case.kind, "crash", {**detail, "error": answer.get("crash") or f"worker died ({answer['died']})",
                                            "traceback": answer.get("traceback")})
        return
    tally.seconds.append(answer["seconds"])
    tally.peak(answer["peak_mb"], f"{case.i} {case.kind} ({case.what}), {answer.get('rise_mb')} MB over the RSS before it")
    tally.rise_mb = max(tally.rise_mb, answer.get("rise_mb") or 0.0)
    cli, app = answer["cli"], answer["app"]
    if cli["problem"]:
        tally.non_json_lines += 1
        tally.problem(case.kind, "non-JSON line", {**detail, "error": cli["problem"]})
    if answer.get("text_problem"):
        tally.non_json_lines += 1
        tally.problem(case.kind, "text line", {**detail, "error": answer["text_problem"]})
    crashed = [f"{where}: {r.get('error')}" for where, r in (("cli", cli), ("app", app)) if r["outcome"] == "internal"]
    if crashed:
        tally.crashes += 1
        tally.problem(case.kind, "crash", {**detail, "error": "; ".join(crashed), "traceback": app.get("traceback")})
        return
    outcomes = {cli["outcome"]} | ({app["outcome"]} if app["outcome"] != "skipped" else set())
    if len(outcomes) > 1:  # the CLI and the app disagree on the same bytes
        tally.problem(case.kind, "cli and app disagree", {**detail, "error": f"cli {cli}, app {app}"})
    refused = "error" in outcomes
    tally.count(case.kind, "refused" if refused else "read")
    if refused:
        tally.refused += 1
    else:
        tally.read += 1
    if case.expect == "valid":
        if refused:
            tally.wrong_refusals += 1
            tally.problem(case.kind, "wrong refusal", {**detail, "error": cli.get("error") or app.get("error")})
        else:
            tally.valid_read += 1
            if cli["label"] is None:
                tally.valid_no_ink += 1
                tally.count(case.kind, "valid but no ink")
            tally.valid_right += cli["label"] == case.label
    elif case.expect == "refuse" and not refused:
        tally.wrong_acceptances += 1
        tally.problem(case.kind, "wrong acceptance", detail)


def run_cli(paths: list[str], fmt: str, model: str | None, timeout: float) -> dict:
    """The real predict CLI once on ``paths`` (a folder, or files): exit code, stdout, its own peak RSS."""
    cmd = [sys.executable, str(PREDICT_SCRIPT), *paths, "--format", fmt] + (["--model", model] if model else [])
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=ROOT, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
        hung = False
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - t0 > timeout:
                hung = True
                os.kill(proc.pid, signal.SIGKILL)  # the CLI this function started, by its pid
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.2)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return {"exit_code": proc.returncode, "hung": hung, "seconds": round(time.monotonic() - t0, 1),
                "peak_rss_mb": round(usage.ru_maxrss / 1024, 1), "stdout": out.read(), "stderr": err.read()[-4000:].decode(errors="replace")}


def check_cli_json(result: dict, expected: list[Path]) -> dict:
    """The real CLI's JSON run over a folder: one line per picture entry, in order, every line valid JSON."""
    lines = result["stdout"].decode("utf-8", errors="surrogateescape").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    bad = [line[:200] for line, path in zip(lines, expected) if check_line(line, path)]
    paths = []
    for line in lines:
        try:
            paths.append(_strict_json(line).get("path"))
        except (ValueError, AttributeError):
            paths.append(None)
    return {"entries": len(expected), "lines": len(lines), "non_json_lines": len(bad) + max(0, len(lines) - len(expected)),
            "missing_lines": max(0, len(expected) - len(lines)), "in_order": paths == [predict.shown_path(p) for p in expected],
            "exit_code": result["exit_code"], "hung": result["hung"], "seconds": result["seconds"],
            "peak_rss_mb": result["peak_rss_mb"], "first_bad_lines": bad[:5],
            "stderr_tail": result["stderr"][-1500:] if result["exit_code"] not in (0, 1) or result["hung"] else ""}


def check_cli_text(result: dict, expected: list[Path]) -> dict:
    """The real CLI's text run: exactly one line per file, no control characters or escape codes."""
    raw = result["stdout"]
    lines = raw.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    controls = sum(1 for line in lines if re.search(rb"[\x00-\x08\x0b-\x1f\x7f]", line))
    return {"files": len(expected), "lines": len(lines), "lines_with_control_bytes": controls, "exit_code": result["exit_code"],
            "hung": result["hung"], "valid_utf8": _utf8(raw)}


def _utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def mnist_digits(path: str | None = None, n: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n`` real MNIST test digits and labels (the project's one MNIST lookup)."""
    from digitlab import data

    m = data.load(path)
    return np.asarray(m.x_test[:n]), np.asarray(m.y_test[:n])


def case_of(seed: int, i: int, answer: dict | None, folder: Path) -> Case:
    """The Case of file ``i``: as the worker made it, or (no answer) its kind from the schedule."""
    if answer and "case" in answer:
        c = answer["case"]
        return Case(i, Path(c["path"]), c["kind"], c["expect"], c["label"], c["what"])
    kind = _SCHEDULE[i % len(_SCHEDULE)]
    return Case(i, folder / f"{i:06d}-{kind}", kind, KINDS[kind], None, "(no answer: made by the worker)")


def fuzz_pictures(seed: int, n: int, folder: Path, model: str | None, timeout: float, mnist: str | None = None,
                  workers: int = 2, cli_run: bool = True, only: int | None = None, log: Callable[[str], None] = print) -> dict:
    """Make and run ``n`` pictures (or just number ``only``) in ``folder`` (see the module docstring)."""
    folder.mkdir(parents=True, exist_ok=True)
    indices = [only] if only is not None else list(range(n))
    tally, cases = Tally(), []

    def answered(request: dict, answer: dict | None) -> None:
        case = case_of(seed, request["i"], answer, folder)
        cases.append(case)
        judge_picture(case, answer, tally, seed)
        if tally.items % 1000 == 0:
            log(f"{tally.items}/{len(indices)}: {tally.crashes} crashes, {tally.hangs} hangs, {tally.wrong_refusals} wrong refusals, "
                f"{tally.non_json_lines} bad lines, peak {tally.peak_mb:.0f} MB")

    t0 = time.monotonic()
    pool = run_pool([{"i": i, "seed": seed, "folder": str(folder)} for i in indices], answered, workers, model, mnist, timeout)
    report = {"files": len(indices), "worker_seconds": round(time.monotonic() - t0, 1), **pool, **tally.summary(),
              "valid": {"read": tally.valid_read, "no_ink": tally.valid_no_ink,
                        "right_label": round(tally.valid_right / max(1, tally.valid_read), 4)},
              "kinds": {k: KINDS[k] for k in sorted({c.kind for c in cases})}}
    if cli_run:
        entries = sorted(p for p in folder.iterdir() if pictures.is_image_file(p))
        log(f"the real CLI on the folder ({len(entries)} picture entries)")
        result = run_cli([str(folder)], "json", model, timeout=120 + timeout * len(entries) / 10)
        report["cli_json_run"] = check_cli_json(result, entries)
        odd = sorted(c.path for c in cases if c.kind == "valid_odd_name") or [cases[0].path]
        result = run_cli([str(p.resolve()) for p in odd], "text", model, timeout=120 + timeout * len(odd))
        report["cli_text_run"] = check_cli_text(result, odd)
    return report


def fuzz_models(seed: int, n: int, folder: Path, model: str | None, timeout: float, mnist: str | None = None,
                log: Callable[[str], None] = print) -> dict:
    """N hostile model files (``digitlab.hardening.hostile_models``) through ``artifacts.inspect`` one by one,
    then ``artifacts.list_models`` on the folder, with the same watchdog and peak RSS per file."""
    from digitlab.hardening import hostile_models

    paths = hostile_models.generate(seed, n, folder)
    tally = Tally()
    listing: dict = {}

    def answered(request: dict, answer: dict | None) -> None:
        if request.get("list"):
            listing["answer"] = answer if answer is not None else {"outcome": "hang"}
            return
        path = Path(request["path"])
        try:
            kind = hostile_models.kind_of(path)
            name, expect = kind.name, kind.expect
        except (AttributeError, KeyError):
            name, expect = "model", "either"
        tally.items += 1
        detail = {"i": request["i"], "file": path.name}
        if answer is None:
            tally.hangs += 1
            tally.problem(name, "hang", detail)
            return
        if "died" in answer or "crash" in answer or answer.get("outcome") == "internal":
            tally.crashes += 1
            tally.problem(name, "crash", {**detail, "error": answer.get("error") or answer.get("crash") or f"worker died ({answer.get('died')})"})
            return
        tally.seconds.append(answer["seconds"])
        tally.peak(answer["peak_mb"], f"{request['i']} {name}, {answer['rise_mb']} MB over the RSS before it")
        tally.rise_mb = max(tally.rise_mb, answer["rise_mb"])
        tally.count(name, "usable" if answer["usable"] else "refused")
        tally.read += answer["usable"]
        tally.refused += not answer["usable"]
        if expect == "usable" and not answer["usable"]:
            tally.wrong_refusals += 1
            tally.problem(name, "wrong refusal", {**detail, "error": answer["reason"]})
        elif expect == "refuse" and answer["usable"]:
            tally.wrong_acceptances += 1
            tally.problem(name, "wrong acceptance", detail)

    requests = [{"i": i, "path": str(p), "model": True} for i, p in enumerate(paths)]
    requests.append({"i": -1, "path": str(folder), "model": True, "list": True})  # last: one worker answers in order
    pool = run_pool(requests, answered, 1, model, mnist, timeout)
    report = {"files": len(paths), **tally.summary(), **pool}
    answer = listing["answer"]
    if answer.get("outcome") == "hang":
        report["list_models"] = "hang"
        report["hangs"] += 1
    elif answer.get("outcome") != "ok":
        report["list_models"] = f"crash: {answer.get('error') or answer.get('crash') or answer}"
        report["crashes"] += 1
    else:
        report["list_models"] = {"entries": answer["n"], "seconds": answer["seconds"], "peak_rss_mb": answer["peak_mb"]}
    log(f"models: {report['crashes']} crashes, {report['hangs']} hangs, peak {report['peak_rss_mb']} MB")
    return report


def judge_file(answer: dict | None, request: dict, tally: Tally, seed: int) -> None:
    """Count one case of ``fuzz_files``: a crash (anything raised that is not a refusal, a line that is not JSON or
    is an internal error), a hang, a wrong acceptance (a damaged file served, a bad card or side file used, a dropped
    model's claim made the default) or a wrong refusal (a control refused)."""
    tally.items += 1
    i = request["i"]
    kind = (answer or {}).get("kind") or FILE_KINDS[(seed + i) % len(FILE_KINDS)]
    detail = {"i": i, "what_file": (answer or {}).get("what"), "reproduce": f"python evaluation/fuzz.py --n 1 --model-files {i + 1} --seed {seed} --keep /tmp/fuzz-{seed}"}
    if answer is None:
        tally.hangs += 1
        tally.problem(kind, "hang", detail)
        return
    if "harness" in answer:
        tally.harness_errors += 1
        tally.problem(kind, "harness error", {**detail, "error": answer["harness"], "traceback": answer.get("traceback")})
        return
    if "died" in answer or "crash" in answer:
        tally.crashes += 1
        tally.problem(kind, "crash", {**detail, "error": answer.get("crash") or f"worker died ({answer['died']})",
                                      "traceback": answer.get("traceback")})
        return
    tally.seconds.append(answer["seconds"])
    tally.peak(answer.get("peak_mb"), f"{i} {kind} ({answer.get('what')})")
    if answer.get("problems"):
        tally.non_json_lines += 1
        tally.problem(kind, "non-JSON line", {**detail, "error": answer["problems"][0]})
        return
    if "internal" in answer.get("outcomes", []):
        tally.crashes += 1
        tally.problem(kind, "crash", {**detail, "error": "an internal-error line"})
        return
    served, expect, target = answer.get("load") == "served", answer["expect"], answer["target"]
    unavailable = "digit gate unavailable" if target == "gate" else "number reader unavailable"
    if target == "side":
        wrong = (answer.get("panel") == "refused") if expect == "usable" else (answer.get("panel") != "refused" or not answer.get("panel_reason"))
    elif expect == "usable":
        wrong = not served or answer.get("labels") != answer.get("expected_labels")
    elif expect == "refuse":
        wrong = served or not answer.get("reason")
    elif expect == "not_default":
        wrong = answer.get("default") == "model" or not served
    else:  # "degrade": read without the gate or the reader, and told so
        told = all(unavailable in (r or "") for r in answer.get("reasons", [])) if target == "gate" else answer.get("read_by") == "cuts"
        warned = any(unavailable in w for w in answer.get("warnings", []))
        wrong = not served or not told or not warned
    refused = not served if target != "side" else answer.get("panel") == "refused"
    tally.count(kind, "refused" if refused else "used")
    if refused:
        tally.refused += 1
    else:
        tally.read += 1
    if wrong and (expect == "usable"):
        tally.wrong_refusals += 1
        tally.problem(kind, "wrong refusal", {**detail, "error": answer.get("reason") or answer.get("panel_reason")})
    elif wrong:
        tally.wrong_acceptances += 1
        tally.problem(kind, "wrong acceptance", {**detail, "error": json.dumps({k: answer.get(k) for k in
                                                 ("listed", "load", "reason", "reasons", "read_by", "default", "panel", "warnings")})[:600]})


def fuzz_files(seed: int, n: int, folder: Path, timeout: float, mnist: str | None = None, workers: int = 2,
               log: Callable[[str], None] = print) -> dict:
    """N cases of ``digitlab.hardening.hostile_files`` (damaged serving files and records, cards, side files; case
    ``i`` of kind ``FILE_KINDS[(seed + i) % len]``), each in its own models folder under ``folder``, run by
    ``files_worker`` processes with the same watchdog; serving files of the cases go to ``folder/serving_cache``."""
    folder.mkdir(parents=True, exist_ok=True)
    tally = Tally()
    kinds = set()

    def answered(request: dict, answer: dict | None) -> None:
        judge_file(answer, request, tally, seed)
        kinds.add((answer or {}).get("kind") or FILE_KINDS[(seed + request["i"]) % len(FILE_KINDS)])

    previous = os.environ.get("DIGITLAB_SERVING_CACHE")
    os.environ["DIGITLAB_SERVING_CACHE"] = str(folder / "serving_cache")  # the workers' (they inherit it), never runs/cache
    try:
        t0 = time.monotonic()
        pool = run_pool([{"i": i, "seed": seed, "folder": str(folder)} for i in range(n)], answered, workers, None, mnist,
                        timeout, entry="files_worker")
    finally:
        if previous is None:
            os.environ.pop("DIGITLAB_SERVING_CACHE", None)
        else:
            os.environ["DIGITLAB_SERVING_CACHE"] = previous
    from digitlab.hardening import hostile_files

    report = {"files": n, "worker_seconds": round(time.monotonic() - t0, 1), **pool, **tally.summary(),
              "kinds": {k: hostile_files.KINDS[k].expect for k in sorted(kinds)}}
    log(f"files: {report['crashes']} crashes, {report['hangs']} hangs, {report['wrong_acceptances']} wrong acceptances, "
        f"{report['wrong_refusals']} wrong refusals")
    return report


def verdict(report: dict) -> bool:
    """True when the run is clean: no crash, hang, wrong refusal or bad line anywhere."""
    p = report["pictures"]
    ok = not (p["crashes"] or p["hangs"] or p["wrong_refusals"] or p["non_json_lines"] or p["harness_errors"])
    j, t = p.get("cli_json_run"), p.get("cli_text_run")
    if j:
        ok = ok and not (j["non_json_lines"] or j["missing_lines"] or j["hung"]) and j["in_order"] and j["exit_code"] in (0, 1)
    if t:
        ok = ok and not (t["lines_with_control_bytes"] or t["hung"]) and t["lines"] == t["files"] and t["exit_code"] in (0, 1)
    m = report.get("models")
    if m:
        ok = ok and not (m["crashes"] or m["hangs"] or m["wrong_refusals"])
    f = report.get("model_files")
    if f:
        ok = ok and not (f["crashes"] or f["hangs"] or f["wrong_refusals"] or f["wrong_acceptances"] or f["non_json_lines"]
                         or f["harness_errors"])
    return ok


def headline(report: dict) -> dict:
    """The figures a run is judged by, in one line."""
    p = report["pictures"]
    out = {"ok": report["ok"], "files": p["files"], "crashes": p["crashes"], "hangs": p["hangs"], "wrong_refusals": p["wrong_refusals"],
           "wrong_acceptances": p["wrong_acceptances"], "harness_errors": p["harness_errors"], "non_json_lines": p["non_json_lines"] + p.get("cli_json_run", {}).get("non_json_lines", 0),
           "read": p["read"], "refused": p["refused"], "peak_rss_mb": p["peak_rss_mb"],
           "cli_peak_rss_mb": p.get("cli_json_run", {}).get("peak_rss_mb"), "seconds": report["seconds"]}
    if report.get("models"):
        m = report["models"]
        out["models"] = {k: m[k] for k in ("files", "crashes", "hangs", "wrong_refusals", "wrong_acceptances", "peak_rss_mb")}
    if report.get("model_files"):
        f = report["model_files"]
        out["model_files"] = {k: f[k] for k in ("files", "crashes", "hangs", "wrong_refusals", "wrong_acceptances", "non_json_lines",
                                          "harness_errors", "peak_rss_mb")}
    return out
