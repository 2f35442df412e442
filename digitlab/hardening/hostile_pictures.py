"""Hostile pictures made from seeds: every file a user may drop, and every file that must be refused.

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

``digitlab.hardening.fuzz`` runs them (``pool``: worker processes; ``tally``: what each answer counts as).
"""

from __future__ import annotations

import functools
import io
import os
import socket
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from digitlab import pictures
from digitlab.files import png_chunks, png_from_chunks, png_with_chunk

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
    stem = names[c.i // len(SCHEDULE) % len(names)]
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
    fmt = saveable[c.i // len(SCHEDULE) % len(saveable)]
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
    which = choices[c.i // len(SCHEDULE) % len(choices)]
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
    fmt = ["PNG", "GIF", "BMP", "TIFF", "JPEG", "WEBP"][c.i // len(SCHEDULE) % 6]
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


SCHEDULE = _schedule()
KINDS = {k: e for k, (e, _, _) in _KINDS.items()}  # kind -> what must happen to it


def generate(seed: int, i: int, folder: Path, digits: np.ndarray, labels: np.ndarray) -> Case:
    """File ``i`` of a run with ``seed`` in ``folder``, made from the MNIST test ``digits``."""
    kind = SCHEDULE[i % len(SCHEDULE)]
    expect, _, make = _KINDS[kind]
    c = _Ctx(i, np.random.default_rng([seed, i]), digits, labels, Path(folder), kind)
    path, what = make(c)
    return Case(i, path, kind, expect, c.label if expect == "valid" else None, what)


