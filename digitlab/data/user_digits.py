"""The user's own digits: a folder ``my_digits/0 … my_digits/9`` of pictures, one subfolder per label.

The app's Collect page saves canvas drawings here; ``training/finetune_on_custom.py`` reads
it.  Pictures are stored as they were drawn or scanned (any size, mode or format) and only
go through ``digitlab.preprocess`` when they are read, so a later preprocessing version
sees the originals; a drawing from the Collect page says in a PNG text chunk that it is one (``save``'s
``drawn_on``), so it is read again as the canvas is read, and a picture kept with its ink set by hand, which the
ink's detection would read the other way round, says how its ink is (``save``'s ``invert``).  Writes are atomic and never replace an existing file; reading never
stops at one bad picture: unreadable or blank pictures are skipped and listed with the
reason, the rest go on.

    my_digits/
      0/0_20261122-101500_3fa9c1.png
      1/...
      ...
      9/...

The folder is ``$DIGITLAB_MY_DIGITS`` when set (tests point it at a scratch folder), else
``<repo>/my_digits`` (git-ignored).
"""

from __future__ import annotations

import io
import os
import secrets
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from digitlab import pictures, preprocess
from digitlab.files import fsync_path, pause_point, remove_stale_temps, temp_file
from digitlab.paths import ROOT

ENV_VAR = "DIGITLAB_MY_DIGITS"
DEFAULT_DIR = ROOT / "my_digits"
LABELS = tuple(str(d) for d in range(10))
MIN_PER_CLASS = 2  # one to learn from and one to check on: the held-out split needs both


def short(per_class: dict[int, int], min_per_class: int = MIN_PER_CLASS) -> dict[int, int]:
    """The digits that keep a folder from fine-tuning, {digit: pictures}: those with some pictures but fewer than
    ``min_per_class``, or, when no digit has that many, every digit.  A digit with none is left out of the
    fine-tune (MNIST replay keeps it), so a folder of a few kept misreads is enough."""
    few = {d: n for d, n in per_class.items() if 0 < n < min_per_class}
    if few or not min_per_class or any(n >= min_per_class for n in per_class.values()):
        return few
    return dict(per_class)


def needs(min_per_class: int = MIN_PER_CLASS) -> str:
    """What a folder needs to fine-tune, as the pages and errors say it."""
    return (f"at least {min_per_class} pictures of each digit it holds (one to learn from, one to check on); "
            "digits with none are left to MNIST")


class CollectError(ValueError):
    """The digits folder, a label or a picture cannot be used; the message says why and what to do."""


def default_dir() -> Path:
    """``$DIGITLAB_MY_DIGITS``, read on every call (tests change it), else ``<repo>/my_digits``."""
    env = os.environ.get(ENV_VAR)
    return Path(env) if env else DEFAULT_DIR


def _label(label) -> str:
    text = str(label).strip()
    if text not in LABELS:
        raise CollectError(f"label {label!r} is not a digit 0-9")
    return text


# ----------------------------------------------------------------------------- writing


def _png(picture, drawn_on: float | None = None) -> bytes:
    """A canvas array (H, W, 4 / 3 / grey, uint8) or a picture file's bytes -> bytes to store.  ``drawn_on``: the
    picture is a drawing on a plain canvas of that tone, and the PNG says so (``pictures.DRAWN_ON_TAG``)."""
    from digitlab.files import png_bytes

    pictures.check_drawn_on(drawn_on)
    text = None if drawn_on is None else {pictures.DRAWN_ON_TAG: next(k for k, v in pictures.DRAWN_ON_TONES.items() if v == drawn_on)}
    if isinstance(picture, (bytes, bytearray, memoryview)):
        if text is None:
            return bytes(picture)
        try:
            with Image.open(io.BytesIO(picture), formats=["PNG"]) as im:
                return png_bytes(im, text)
        except Exception as e:  # a drawing comes from the canvas as a PNG; anything else is not one
            raise CollectError(f"not saved: a drawing must come as a PNG file ({type(e).__name__}: {str(e)[:200]})") from None
    a = np.asarray(picture)
    if a.dtype != np.uint8:
        raise CollectError(f"expected a uint8 picture, got {a.dtype}")
    return png_bytes(a, text)


def _with_ink(data: bytes, invert: str) -> bytes:
    """A picture file that says how its ink is (``pictures.INK_TAG``; ``invert`` "yes": dark on light, "no": light on
    dark): a PNG gets one text chunk more, after its header, and is otherwise the same bytes; any other file (or a PNG
    that already says it) becomes a PNG of its pixels, upright, at full size."""
    from PIL import ImageOps

    from digitlab.files import png_bytes, png_chunk

    said = next(k for k, v in pictures.INK_SAID.items() if v == invert)
    with Image.open(io.BytesIO(data)) as im:
        if im.format == "PNG" and pictures.INK_TAG not in im.info and data[12:16] == b"IHDR":
            chunk = png_chunk(b"tEXt", pictures.INK_TAG.encode("latin-1") + b"\0" + said.encode("latin-1"))
            return data[:33] + chunk + data[33:]  # the signature (8 bytes) and IHDR (25) first
        upright = ImageOps.exif_transpose(im)
        if upright.mode not in ("1", "L", "LA", "I", "I;16", "P", "RGB", "RGBA"):
            upright = upright.convert("RGBA" if "A" in upright.mode else "RGB")
        upright.info.pop(pictures.INK_TAG, None)
        return png_bytes(upright, {pictures.INK_TAG: said})


def save(picture, label, folder: Path | None = None, invert: preprocess.Invert = "auto", drawn_on: float | None = None) -> Path:
    """Store one picture of ``label`` as ``<folder>/<label>/<label>_<time>_<random>.png``; returns its path.

    ``drawn_on``: the picture is a drawing on a plain canvas of that tone (the Collect page's: 1.0), and the file says
    so in a PNG text chunk, so that it is read again (``read_folder``, an upload on Home) as the canvas is read, every
    pixel off the canvas ink (``pictures.load``).  ``invert``: how the ink is, as the person set it ("auto": detected);
    when the detection would read the stored picture the other way round, the file says how its ink is
    (``pictures.INK_TAG``, ``_with_ink``), so the fine-tune reads it as it was read when it was kept.

    The picture is first sent through ``preprocess.prepare``, read back from the bytes to be stored: an unreadable
    picture or one with no ink raises CollectError and nothing is written.  The write is atomic (a temp file
    in the same folder, then a hard link under a name that does not exist yet), so a crash
    never leaves half a file and two saves in the same second never overwrite each other.  The temp
    file carries the process id: ``sweep`` removes those of killed saves.
    """
    folder = Path(folder) if folder is not None else default_dir()
    text = _label(label)
    data = _png(picture, drawn_on)
    try:
        prepared = preprocess.prepare(data, invert=invert)
        if invert != "auto" and not prepared.no_ink and preprocess.prepare(data).inverted != prepared.inverted:
            data = _with_ink(data, invert)
    except preprocess.ImageError as e:
        raise CollectError(f"not saved: {e}") from e
    if prepared.no_ink:
        raise CollectError("not saved: the picture has no ink; draw the digit first")
    try:
        return _store(folder, text, data)
    except OSError as e:  # a read-only disk, a file where the folder should be, no hard links: said, nothing half-written
        raise CollectError(f"not saved: cannot write into {folder}: {e.strerror or e}") from None


def _store(folder: Path, text: str, data: bytes) -> Path:
    """``data`` written atomically as a new file of ``<folder>/<text>/`` (``save``); OSError as the system raises it."""
    target_dir = folder / text
    target_dir.mkdir(parents=True, exist_ok=True)
    sweep(folder, labels=(text,))
    tmp = temp_file(target_dir / "saving")  # .saving.<pid>-<random>.tmp
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        pause_point("digit_save")  # tests only: a kill here leaves the temp file
        for _ in range(100):
            target = target_dir / f"{text}_{time.strftime('%Y%m%d-%H%M%S')}_{secrets.token_hex(3)}.png"
            try:
                os.link(tmp, target)  # fails if the name exists: never replaces a sample
            except FileExistsError:
                continue
            fsync_path(target_dir)  # the new name is on disk, not only in the page cache
            return target
        raise CollectError(f"could not find a free file name in {target_dir}")
    finally:
        tmp.unlink(missing_ok=True)


def delete(path: Path, folder: Path | None = None) -> None:
    """Delete one stored sample; refuses anything that is not a picture inside ``<folder>/<digit>/``."""
    folder = (Path(folder) if folder is not None else default_dir()).resolve()
    path = Path(path)
    resolved = path.resolve()
    if resolved.parent.parent != folder or resolved.parent.name not in LABELS or not preprocess.is_image_file(resolved):
        raise CollectError(f"{path} is not a sample in {folder}; nothing was deleted")
    if not resolved.is_file():
        raise CollectError(f"{path.name} is already gone")
    resolved.unlink()


def sweep(folder: Path | None = None, labels=LABELS) -> list[Path]:
    """Remove the temp files (``.saving.<pid>-<random>.tmp``) that killed saves left in the digit folders of
    ``labels``; returns them.  A save still running (its process alive) keeps its file.  Reading a folder
    sweeps it first (``samples``, ``read_folder``), so a killed save's file is gone the next time anything
    looks, not only once that digit is saved again."""
    folder = Path(folder) if folder is not None else default_dir()
    return [p for text in labels for p in remove_stale_temps(folder / text, "saving")]


# ----------------------------------------------------------------------------- reading


def _visible(path: Path) -> bool:
    return not path.name.startswith(".")  # .DS_Store, .ipynb_checkpoints, our own temp files


def samples(label, folder: Path | None = None) -> list[Path]:
    """The picture files of one label, newest first (the label's folder swept of killed saves' temp files)."""
    d = (Path(folder) if folder is not None else default_dir()) / _label(label)
    if not d.is_dir():
        return []
    sweep(d.parent, labels=(d.name,))
    dated = []
    for p in d.iterdir():
        if _visible(p) and preprocess.is_image_file(p):
            try:
                st = p.stat()  # one stat per file: a picture deleted meanwhile (another session) is simply gone
            except FileNotFoundError:
                continue
            if stat.S_ISREG(st.st_mode):
                dated.append((st.st_mtime_ns, p.name, p))
    return [p for _, _, p in sorted(dated, reverse=True)]


def counts(folder: Path | None = None) -> dict[int, int]:
    """Picture files per digit (not yet checked for ink): {0: n0, …, 9: n9}."""
    return {int(d): len(samples(d, folder)) for d in LABELS}


@dataclass
class UserDigits:
    """The usable pictures of a digits folder, through the one preprocessing path.

    images: (N, 28, 28) float32 model inputs; labels: (N,) int64; paths: N source files.
    skipped: (path, reason) for every picture that could not be used.
    """

    images: np.ndarray
    labels: np.ndarray
    paths: list[Path]
    skipped: list[tuple[Path, str]] = field(default_factory=list)

    def per_class(self) -> dict[int, int]:
        return {d: int((self.labels == d).sum()) for d in range(10)}

    def absent(self) -> list[int]:
        """The digits the folder holds no usable picture of: the fine-tune leaves them to MNIST replay."""
        return [d for d, n in self.per_class().items() if n == 0]


def read_folder(folder: Path | None = None, min_per_class: int = MIN_PER_CLASS) -> UserDigits:
    """Read every picture under ``<folder>/0 … <folder>/9``.

    Raises CollectError for a missing folder, subfolders not named 0-9, or fewer than
    ``min_per_class`` usable pictures of any digit (naming the digits and their counts).
    Unreadable pictures, pictures with no ink, and files outside the digit folders are
    skipped and listed in ``UserDigits.skipped``.
    """
    folder = Path(folder) if folder is not None else default_dir()
    if not folder.exists():
        raise CollectError(
            f"{folder}: no such folder. Collect digits on the app's Collect page, or make folders "
            f"{folder}/0 … {folder}/9 holding pictures of each digit"
        )
    if not folder.is_dir():
        raise CollectError(f"{folder} is a file, not a folder of digit folders 0-9")
    entries = sorted(p for p in folder.iterdir() if _visible(p))
    bad = [p.name for p in entries if p.is_dir() and p.name not in LABELS]
    if bad:
        raise CollectError(
            f"{folder}: folder names must be the digit they hold (0-9); these are not: {', '.join(repr(b) for b in bad)}. "
            "Rename or move them"
        )
    sweep(folder)
    skipped: list[tuple[Path, str]] = []
    for p in entries:
        if p.is_file():
            skipped.append((p, "not inside a digit folder 0-9, so its label is unknown"))
    images, labels, paths = [], [], []
    for text in LABELS:
        d = folder / text
        if not d.is_dir():
            continue
        for p in sorted(q for q in d.iterdir() if _visible(q)):
            if p.is_dir():
                skipped.append((p, "a folder inside a digit folder (pictures must sit directly in it)"))
                continue
            if not preprocess.is_image_file(p):
                skipped.append((p, f"not a picture file ({p.suffix or 'no extension'}; expected {', '.join(sorted(preprocess.IMAGE_SUFFIXES))})"))
                continue
            try:
                prepared = preprocess.prepare(p, invert="auto")
            except preprocess.ImageError as e:
                skipped.append((p, f"unreadable: {e}"))
                continue
            if prepared.no_ink:
                skipped.append((p, "no ink found (blank or nearly blank picture)"))
                continue
            images.append(prepared.image)
            labels.append(int(text))
            paths.append(p)
    y = np.asarray(labels, np.int64)
    per_class = {dgt: int((y == dgt).sum()) for dgt in range(10)}
    missing = short(per_class, min_per_class)
    if missing:
        listing = ", ".join(f"{dgt}: {n}" for dgt, n in missing.items() if n) or "no digit has any"
        note = f" ({len(skipped)} picture(s) skipped: {_summary(skipped)})" if skipped else ""
        raise CollectError(f"too few usable pictures in {folder}: fine-tuning needs {needs(min_per_class)}; "
                           f"short of that -> {listing}{note}")
    x = np.stack(images).astype(np.float32) if images else np.zeros((0, 28, 28), np.float32)
    return UserDigits(x, y, paths, skipped)


def _summary(skipped: list[tuple[Path, str]], limit: int = 5) -> str:
    shown = "; ".join(f"{p.parent.name}/{p.name}: {reason}" for p, reason in skipped[:limit])
    return shown + (f"; … {len(skipped) - limit} more" if len(skipped) > limit else "")
