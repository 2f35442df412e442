"""The TF.js converter's own environment, and Node for running what it makes.

The official converter (PyPI ``tensorflowjs``) brings its own dependencies (tensorflow 2.19, jax, flax, ...), which
would replace this project's stack: it runs in its own virtual environment (``TFJS_VENV``, made by ``setup_tfjs``:
``python evaluation/export.py --setup-tfjs``).  Converted models are checked by running them in Node with
@tensorflow/tfjs (web/tfjs_cli.mjs, ``tfjs_missing`` says when that cannot run).  Converting and running are
``digitlab.serving.export`` (``tfjs_from_savedmodel``, ``tfjs_run``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from digitlab.paths import ROOT


class ExportError(RuntimeError):
    """An export tool is missing or failed (the TF.js converter, Node): the message says what to do."""


TFJS_VENV_VARIABLE = "DIGITLAB_TFJS_VENV"  # another place for the converter's environment
TFJS_VENV = ROOT / "runs" / "tfjs-venv"  # git-ignored: ~3 GB, rebuilt by `python evaluation/export.py --setup-tfjs`
# The converter's own stack, checked together on Python 3.11 and installed only into TFJS_VENV: a
# plain `pip install tensorflowjs` there resolves to tensorflow 2.19 (tensorflow-decision-forests pins
# it), jax, flax and ydf 0.16, whose protobuf-6 code then stops the converter at import ("Detected
# incompatible Protobuf Gencode/Runtime versions": tensorflow 2.19 keeps protobuf 5); ydf 0.11 is
# built for protobuf 5.  The other pins only keep the environment the one that was checked.
TFJS_REQUIREMENTS = (
    "tensorflowjs==4.22.0", "tensorflow==2.19.0", "tensorflow-decision-forests==1.12.0", "ydf==0.11.0",
    "tf-keras==2.19.0", "jax==0.10.2", "jaxlib==0.10.2", "flax==0.12.8",
)
SETUP_TFJS = "python evaluation/export.py --setup-tfjs"
TFJS_TIMEOUT_S = 600  # one conversion: a TensorFlow start and the graph optimisation, ~5-15 s here
WEB = ROOT / "web"
TFJS_CLI = WEB / "tfjs_cli.mjs"  # runs a converted model in Node with @tensorflow/tfjs (web/package-lock.json)
TFJS_PACKAGE = WEB / "node_modules" / "@tensorflow" / "tfjs" / "package.json"


def tfjs_venv() -> Path:
    """Where the converter's virtual environment is: $DIGITLAB_TFJS_VENV, else runs/tfjs-venv."""
    return Path(os.environ.get(TFJS_VENV_VARIABLE) or TFJS_VENV)


def _venv_bin(venv: Path, program: str) -> Path:
    return venv / ("Scripts" if os.name == "nt" else "bin") / program


def tfjs_converter(venv: Path | None = None) -> Path | None:
    """The ``tensorflowjs_converter`` of the converter's environment, or None when it is not set up."""
    exe = _venv_bin(Path(venv) if venv else tfjs_venv(), "tensorflowjs_converter")
    return exe if exe.is_file() else None


def setup_tfjs(venv: Path | None = None, log=None) -> Path:
    """Create the converter's own virtual environment (``python -m venv`` + pip from the package
    registry, TFJS_REQUIREMENTS) at ``venv`` (default ``tfjs_venv()``) and check that its converter
    runs; returns the converter.  Nothing is installed into the running environment.  Raises
    ExportError with pip's last lines when the install fails."""
    venv = Path(venv) if venv else tfjs_venv()
    log = log or sys.stderr
    steps = [[sys.executable, "-m", "venv", str(venv)],
             [str(_venv_bin(venv, "python")), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *TFJS_REQUIREMENTS]]
    for cmd in steps:
        print("$ " + " ".join(cmd), file=log, flush=True)
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-5:])
            raise ExportError(f"setting up the TF.js converter in {venv} failed ({' '.join(cmd[:4])}...):\n{tail}")
    converter = tfjs_converter(venv)
    if converter is None:
        raise ExportError(f"{venv}: pip finished but there is no tensorflowjs_converter in it")
    proc = subprocess.run([str(converter), "--version"], capture_output=True, text=True, timeout=TFJS_TIMEOUT_S)
    if proc.returncode != 0:
        raise ExportError(f"{converter} --version failed: {last_line(proc)}")
    print(proc.stdout.strip(), file=log)
    return converter


def required_converter() -> Path:
    """The converter, or ExportError saying how to set it up."""
    converter = tfjs_converter()
    if converter is None:
        raise ExportError(f"the TF.js converter is not set up (no {tfjs_venv()}): run `{SETUP_TFJS}` once "
                          f"(its own virtual environment, ~3 GB; or point ${TFJS_VENV_VARIABLE} at one)")
    return converter


def last_line(proc: subprocess.CompletedProcess) -> str:
    lines = [ln for ln in (proc.stderr or proc.stdout or "").strip().splitlines() if ln.strip()]
    return lines[-1][:500] if lines else f"exit {proc.returncode}, no output"


def tfjs_missing() -> str | None:
    """Why TF.js models cannot run in Node here, or None."""
    if shutil.which("node") is None:
        return "`node` is not on PATH (apt-get install -y nodejs)"
    if not TFJS_PACKAGE.is_file():
        return f"@tensorflow/tfjs is not installed ({TFJS_PACKAGE.relative_to(ROOT)} missing): run `npm ci --prefix web`"
    return None
