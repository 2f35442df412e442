"""The app's work that needs TensorFlow's gradients, for one digit: Explain's maps (Grad-CAM, Grad-CAM++,
saliency, activation maps) and Robustness's attacks.  Each call runs in a child process that exits when
it has answered, so the memory TensorFlow and a Keras model take (~600 MB) goes back to the system with
it; the server only ever holds ONNX Runtime and keeps answering drawings meanwhile.

    explained = gradients.explain_digit(model_path, image)         # every digit's maps, one child
    rows = gradients.attack_digit(model_path, image, eps, ("fgsm", "pgd"))  # attacks.attack_one

A child starts afresh (a new interpreter: no copy of the server's threads or memory), imports TensorFlow and loads
the model (~5-10 s on 2 busy cores), computes, hands back numpy arrays (pickled through a scratch file) and exits.  One
child at a time per process: ten sessions opening Explain at once wait their turn instead of holding ten
TensorFlows.  This module imports no TensorFlow itself; the functions the child runs do.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitlab import memory
from digitlab.evaluation.explain import ActivationMap, FeatureLayer

DIGITS = 10
SMOOTHGRAD_SAMPLES = 16  # noisy copies averaged by the saliency map (explain.saliency)
_ONE_AT_A_TIME = threading.Lock()


class ChildError(RuntimeError):
    """The child process ended without an answer (killed, out of memory); the message says so."""


@dataclass(frozen=True)
class DigitExplanation:
    """Every map Explain shows for one model and one (28, 28) input, for each of the ten digits.

    ``layers``: the model's spatial layers; ``networks``: an ensemble's networks' last feature maps ([] for one
    network); ``default``: the feature map Grad-CAM reads by default (``explain.default_cam_choice``; None without
    a convolution); ``layer``: the one these maps read.  ``grad_cam``, ``grad_cam_plus_plus``: (10, 28, 28) in
    [0, 1], or None without a convolution; ``saliency``: (10, 28, 28) in [0, 1]; ``activations``: every
    convolution's output (empty without one)."""

    layers: tuple[FeatureLayer, ...]
    networks: tuple[str, ...]
    default: str | None
    layer: str | None
    grad_cam: np.ndarray | None
    grad_cam_plus_plus: np.ndarray | None
    saliency: np.ndarray
    activations: tuple[ActivationMap, ...]

    @property
    def has_conv(self) -> bool:
        return self.default is not None


def in_child(fn, *args):
    """``fn(*args)`` (one of ``CHILD_TASKS``) in a fresh Python process that exits once it has answered; its
    exception is raised here.  Raises ChildError when the child dies without an answer.

    A plain ``python -m`` child, not ``multiprocessing``'s spawn: under Streamlit ``__main__`` is the page script,
    which spawn would run again in the child."""
    with _ONE_AT_A_TIME, tempfile.TemporaryDirectory(prefix="digitlab_child_") as folder:
        task, answer = Path(folder) / "task.pickle", Path(folder) / "answer.pickle"
        if CHILD_TASKS.get(fn.__name__) is not fn:
            raise ValueError(f"{fn.__name__} is not one of the calls a child runs: {', '.join(CHILD_TASKS)}")
        task.write_bytes(pickle.dumps((fn.__name__, args)))
        proc = subprocess.run([sys.executable, "-m", __name__, str(task), str(answer)], env=memory.environment(defaults=memory.SERVER_TF_ENV),
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, errors="replace")
        if not answer.is_file():
            last = proc.stderr.strip().splitlines()[-1:] or [f"exit status {proc.returncode}"]
            raise ChildError(f"the process computing it ended without an answer ({last[0][:300]})")
        ok, value = pickle.loads(answer.read_bytes())
    if ok:
        return value
    raise value


def _child(task: Path, answer: Path) -> None:
    """The child's side of ``in_child``: run the pickled call, pickle (True, its result) or (False, its exception)."""
    memory.limit_malloc_arenas()  # before TensorFlow starts its threads
    name, args = pickle.loads(task.read_bytes())
    try:
        out = (True, CHILD_TASKS[name](*args))
    except Exception as e:  # handed to the parent, which raises it
        out = (False, e)
    try:
        data = pickle.dumps(out)
    except Exception as e:  # an exception that does not pickle: its message
        data = pickle.dumps((False, ChildError(f"{type(out[1]).__name__}: {out[1]}" if not out[0] else f"an answer that does not pickle ({e})")))
    answer.write_bytes(data)


def explain_digit(model_path: Path | str, image: np.ndarray, layer: str | None = None) -> DigitExplanation:
    """Every digit's maps for ``image`` ((28, 28) float32 in [0, 1]) under the model file ``model_path``, Grad-CAM
    reading ``layer`` (None: the default); in a child process.  Raises ExplainError, ModelError, ChildError."""
    return in_child(_explain_digit, str(model_path), np.asarray(image, np.float32), layer)


def attack_digit(model_path: Path | str, image: np.ndarray, eps_list, attacks: tuple[str, ...]) -> dict[str, list[dict]]:
    """``attacks.attack_one`` on ``image`` under the model file ``model_path`` for each of ``attacks`` ("fgsm", "pgd"):
    {attack: its rows}, all from one child process."""
    return in_child(_attack_digit, str(model_path), np.asarray(image, np.float32), tuple(float(e) for e in eps_list), tuple(attacks))


# ----------------------------------------------------------------------------- what the child runs


def _model(path: str):
    from digitlab.models import artifacts
    from digitlab.serving import classifiers

    return classifiers.Classifier(artifacts.inspect(Path(path))).model


def _explain_digit(path: str, image: np.ndarray, layer: str | None) -> DigitExplanation:
    from digitlab.evaluation import explain

    model = _model(path)
    layers = tuple(explain.feature_layers(model))
    saliency = np.stack([explain.saliency(model, image, d, samples=SMOOTHGRAD_SAMPLES) for d in range(DIGITS)])
    if not any(f.is_conv for f in layers):
        return DigitExplanation(layers, (), None, None, None, None, saliency, ())
    networks, default = tuple(explain.network_cam_layers(model)), explain.default_cam_choice(model)
    layer = layer or default
    cams = np.stack([explain.grad_cam(model, image, d, layer) for d in range(DIGITS)])
    cams_pp = np.stack([explain.grad_cam_plus_plus(model, image, d, layer) for d in range(DIGITS)])
    return DigitExplanation(layers, networks, default, layer, cams, cams_pp, saliency, tuple(explain.activation_maps(model, image)))


def _attack_digit(path: str, image: np.ndarray, eps_list: tuple[float, ...], names: tuple[str, ...]) -> dict[str, list[dict]]:
    from digitlab.evaluation import attacks

    model = _model(path)
    return {name: attacks.attack_one(model, image, eps_list, name) for name in names}


CHILD_TASKS = {f.__name__: f for f in (_explain_digit, _attack_digit)}  # what a child may be asked to run, by name


if __name__ == "__main__":  # through the module as imported, so what the child pickles names its classes there
    from digitlab.evaluation import gradients

    gradients._child(Path(sys.argv[1]), Path(sys.argv[2]))
