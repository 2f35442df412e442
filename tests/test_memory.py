"""digitlab.memory: what the app's server and the processes it starts do to stay small (Linux, glibc)."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

from digitlab import memory

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


def _fresh(code: str, env: dict[str, str] | None = None) -> dict:
    """Run ``code`` in a new interpreter (nothing imported yet) and return the JSON it prints."""
    clean = {k: v for k, v in os.environ.items() if k not in memory.SERVER_TF_ENV}
    out = subprocess.run([sys.executable, "-c", code], env={**clean, **(env or {})}, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


CHECK = """import json, os, sys
from digitlab import memory
done = memory.prepare_tensorflow_for_the_server()
print(json.dumps({"done": done, "env": {k: os.environ.get(k) for k in memory.SERVER_TF_ENV}, "tf": "tensorflow" in sys.modules}))"""


def test_the_server_settings_are_made_before_tensorflow_is_imported():
    got = _fresh(CHECK)
    assert got == {"done": True, "env": memory.SERVER_TF_ENV, "tf": False}


def test_an_explicit_setting_wins():
    key = next(iter(memory.SERVER_TF_ENV))
    got = _fresh(CHECK, {key: "1"})
    assert got["env"][key] == "1"


def test_nothing_changes_once_tensorflow_is_imported(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow", sys.modules.get("tensorflow") or object())
    for key in memory.SERVER_TF_ENV:
        monkeypatch.delenv(key, raising=False)
    assert memory.prepare_tensorflow_for_the_server() is False
    assert not any(k in os.environ for k in memory.SERVER_TF_ENV)


@pytest.mark.skipif(not GLIBC, reason="glibc only")
def test_free_memory_goes_back_to_the_system():
    """Blocks freed in the heap's middle stay resident until malloc_trim gives their pages back."""
    got = _fresh("""import ctypes, json
from pathlib import Path
from digitlab import memory
def rss(): return int(next(l for l in Path('/proc/self/status').read_text().splitlines() if l.startswith('RssAnon:')).split()[1])
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
memory.limit_malloc_arenas()
blocks = [libc.malloc(64 * 1024) for _ in range(3000)]  # ~190 MB of heap blocks, under the mmap threshold
for b in blocks:
    ctypes.memset(b, 1, 64 * 1024)
for b in blocks[:-1]:
    libc.free(b)  # the last block stays: the heap cannot shrink from its top
before = rss()
ok = memory.release_free_memory()
print(json.dumps({"ok": ok, "before_kb": before, "after_kb": rss()}))""", {"MALLOC_ARENA_MAX": "2"})
    assert got["ok"] is True
    assert got["before_kb"] - got["after_kb"] > 100_000, got


@pytest.mark.slow  # over 5 s on 2 cores: the full suite's, not the fast tier's
@pytest.mark.skipif(not GLIBC, reason="glibc only")
def test_served_models_keep_no_activations_between_batches(committed_models):
    """The app's ONNX Runtime sessions answer batches without holding on to their activations afterwards: 4 batches
    of 256 MNIST test digits through mnist_advanced leave the server's memory where it was, where a session with
    ONNX Runtime's default CPU arena keeps ~100 MB (with it, the Robustness and Data pages grew the server by
    100-130 MB)."""
    if "mnist_advanced" not in {e.name for e in committed_models}:
        pytest.fail("mnist_advanced is missing from models/")
    got = _fresh("""import json
from pathlib import Path
import numpy as np
import onnxruntime as ort
from digitlab import data, memory, paths
from digitlab.serving import runtime
def rss(): return int(next(l for l in Path('/proc/self/status').read_text().splitlines() if l.startswith('RssAnon:')).split()[1])
entry = next(e for e in runtime.list_models(paths.MODELS_DIR) if e.name == "mnist_advanced")
onnx = runtime.served_file(entry.path, "classifier", paths.MODELS_DIR)
served = runtime.ServedModel(entry, onnx)
arena = ort.InferenceSession(str(onnx), providers=["CPUExecutionProvider"])  # ONNX Runtime's defaults
x, _ = data.load().inputs("test", 1024)
out = {}
for name, run in (("served", served.predict_proba), ("arena", lambda b: arena.run(None, {"image": b}))):
    run(x[:1])
    memory.release_free_memory()
    before = rss()
    for i in range(0, 1024, 256):
        run(x[i : i + 256])
    memory.release_free_memory()
    out[name] = (rss() - before) / 1024
print(json.dumps(out))""", {"MALLOC_ARENA_MAX": "2"})
    assert got["arena"] > 50, f"the default arena should keep the activations (the comparison is void otherwise): {got}"
    assert got["served"] < 15, f"MB kept after the batches: {got}"


APP_TOUR = """import json, sys
from digitlab.paths import ROOT
sys.path.insert(0, str(ROOT / "app"))
import numpy as np
from streamlit.testing.v1 import AppTest
from digitlab import memory
from digitlab.data import handwriting_test as hw
from digitlab.evaluation import inspect_input

ink = hw.draw_style("4 closed", np.random.default_rng(3), "mouse")
grey = (255 - ink * 255).round().astype(np.uint8)  # black ink on the light canvas, as the canvas hands it over
at = AppTest.from_file(str(ROOT / "app" / "Home.py"), default_timeout=1200).run()
def walk(block):
    for child in getattr(block, "children", {}).values():
        yield child
        yield from walk(child)
key = next(e.key for e in walk(at.main) if str(getattr(e, "key", "")).startswith("canvas-"))
at.session_state[key] = inspect_input.canvas_state(np.dstack([grey] * 3 + [np.full_like(grey, 255)]))
at.run()
at.switch_page("pages/2_Explain.py").run()
explain = [c for img in at.image for c in img.captions]
at.switch_page("pages/4_Robustness.py").run()
at.toggle(key="rob_attack").set_value(True).run()
attacked = [c for img in at.image for c in img.captions if c.startswith("ε ")]
print(json.dumps({"exceptions": [e.message for e in at.exception], "warnings": [w.value for w in at.warning],
                  "explain": explain, "attacked": attacked, "tensorflow": "tensorflow" in sys.modules,
                  "peak_mb": memory.status_mb("VmHWM")}))"""


@pytest.mark.slow
def test_explain_and_attacks_leave_tensorflow_to_a_child_process(scratch_models):
    """Grad-CAM, saliency, activation maps and the attacks on a drawn digit, as the app's server computes them: in a
    child process that exits, so the server never imports TensorFlow (which kept ~600 MB in it after Explain, for good)
    and stays at the size the served models need."""
    got = _fresh(APP_TOUR, {"DIGITLAB_MODELS_DIR": str(scratch_models)})
    assert got["exceptions"] == [] and got["warnings"] == [], got
    assert "Grad-CAM for 4" in got["explain"] and any(c.startswith("gradient saliency") for c in got["explain"]), got["explain"]
    assert len(got["attacked"]) == 2 * 5, got["attacked"]  # five strengths past the clean picture, FGSM and PGD
    assert got["tensorflow"] is False, "the server imported TensorFlow"
    assert got["peak_mb"] < 500, got["peak_mb"]


LEADERBOARD_PAGE = """import json, sys
from digitlab.paths import ROOT
sys.path.insert(0, str(ROOT / "app"))
from streamlit.testing.v1 import AppTest
at = AppTest.from_file(str(ROOT / "app" / "Home.py"), default_timeout=300).run()
at.switch_page("pages/5_Leaderboard.py").run()
at.switch_page("pages/4_Robustness.py").run()
print(json.dumps({"exceptions": [e.message for e in at.exception], "tensorflow": "tensorflow" in sys.modules}))"""


@pytest.mark.slow
def test_the_leaderboard_and_robustness_pages_import_no_tensorflow(scratch_models, tmp_path):
    """The Leaderboard page reads its table's column names from digitlab.evaluation.attacks, which imported TensorFlow at
    the top: opening the page grew the server by ~550 MB (317 -> 875 MB) without measuring anything."""
    got = _fresh(LEADERBOARD_PAGE, {"DIGITLAB_MODELS_DIR": str(scratch_models), "DIGITLAB_REPORTS_DIR": str(tmp_path / "reports")})
    assert got == {"exceptions": [], "tensorflow": False}
