"""digitlab: shared logic of the digit recognition lab.

    digitlab/preprocess.py   the one preprocessing path (every pixel a model sees goes through it)
    digitlab/data/           where pictures and MNIST come from
    digitlab/models/         builders, the adapter, artifacts (save / load / list), cards, ensembles
    digitlab/training/       the recipe, the run, adversarial training, multi-worker, search, the digit gate, fine-tuning
    digitlab/serving/        classifiers -> Prediction (label, confidence, abstain, reason), the predict contract, export
    digitlab/evaluation/     metrics, corruptions, attacks, calibration, leaderboard, latency, explain
    digitlab/hardening/      hostile pictures and model files from seeds, and the fuzzing harness
    digitlab/report/         every figure and every table

Never imports streamlit: the app composes these functions, it does not re-implement them.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ start-up chatter off stderr

__version__ = "0.1.0"
