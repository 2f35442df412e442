"""The committed models meet their accuracies through the user's route: MNIST test digits saved
as PNG files, read by evaluation/predict.py, scored against their file names."""

import json
import os
import subprocess
import sys

import pytest

from digitlab import preprocess
from digitlab.models import artifacts
from digitlab.paths import ROOT

# Floors the committed models must keep: the targets (mnist_advanced >= 99.6%, mnist_cnn >= 99.3%).
TARGETS = {"mnist_baseline": 0.92, "mnist_cnn": 0.993, "mnist_advanced": 0.996}


@pytest.fixture(scope="module")
def mnist_png(tmp_path_factory, mnist_path):
    folder = tmp_path_factory.mktemp("mnist_png")
    subprocess.run([sys.executable, str(ROOT / "evaluation/mnist_pngs.py"), "export", str(folder)], check=True,
                   capture_output=True, env={**os.environ, "DIGITLAB_MNIST": str(mnist_path)})
    return folder


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_committed_model_accuracy_through_predict_cli(name, mnist_png, run_script, tmp_path):
    entry = {e.name: e for e in artifacts.list_models()}.get(name)
    assert entry is not None, f"models/{name}.keras is not committed"
    assert entry.usable, entry.reason
    card = entry.card
    assert card and not card.get("dry_run") and card["metrics"]["test_accuracy"] >= TARGETS[name]
    proc = run_script("evaluation/predict.py", mnist_png, "--model", name, "--format", "json", timeout=600)
    out = tmp_path / "pred.jsonl"
    out.write_text(proc.stdout)
    score = json.loads(run_script("evaluation/mnist_pngs.py", "score", out).stdout)
    assert score["files"] == 10000 and score["errors"] == 0
    assert score["accuracy"] >= TARGETS[name], score
    # PNG is lossless and every route uses the same preprocessing: the CLI matches the card exactly,
    # unless the model was trained under an earlier preprocessing version (recorded on its card)
    same = card["preprocess_version"] == preprocess.PREPROCESS_VERSION
    assert score["accuracy"] == pytest.approx(card["metrics"]["test_accuracy"], abs=1e-4 if same else 2e-3)


def test_models_folder_stays_small():
    from digitlab.paths import MODELS_DIR

    total = sum(p.stat().st_size for p in MODELS_DIR.iterdir() if p.is_file())
    assert total < 10 * 1024 * 1024, f"models/ holds {total / 1e6:.1f} MB"
