"""Values read from disk are checked where they are read: a card value that passes a loose check and still breaks the
answers (a temperature of 5e-324 or 1e308), a card that cannot be read, a member card of the wrong shape refuse their
model with the reason; a side file of the wrong shape refuses its panel with the reason; the default model is the best
one the project measured, never the one whose card claims the most.  Every case is made from a seed by
digitlab.hardening.hostile_files.

    python -m pytest -q tests/test_card_values.py
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from support import link_models

from digitlab.hardening import hostile_files
from digitlab.models import artifacts, cards
from digitlab.report import model_report
from digitlab.serving import abstain, runtime, store

KINDS = hostile_files.KINDS
COMMITTED = ["mnist_advanced", "mnist_cnn", "mnist_robust", "mnist_baseline"]
SEEDS = (0, 1, 2, 3)


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    d = tmp_path / "serving_cache"
    monkeypatch.setenv("DIGITLAB_SERVING_CACHE", str(d))
    return d


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("kind", sorted(k for k, v in KINDS.items() if v.target == "card" and v.expect == "refuse"))
def test_a_card_no_code_can_use_refuses_its_model_with_the_reason(kind, seed, tmp_path):
    case = hostile_files.make_case(kind, tmp_path / "models", seed)
    [entry] = runtime.list_models(case.folder)
    assert not entry.usable and "card" in entry.reason, (case.what, entry.reason)
    with pytest.raises(artifacts.ModelError, match="card"):
        runtime.load(hostile_files.NAME, case.folder)


def test_the_committed_card_is_used_as_it_is(tmp_path):
    case = hostile_files.make_case("card_good", tmp_path / "models", 0)
    [entry] = runtime.list_models(case.folder)
    assert entry.usable and entry.card["calibration"]["temperature"] > 0


@pytest.mark.parametrize("t", [5e-324, 1e-300, 1e-5, 0.049, 20.5, 1e6, 1e308])
def test_a_temperature_outside_what_calibration_fits_is_refused(t):
    with pytest.raises(cards.CardError, match="temperature"):
        cards.validate({"name": "x", "calibration": {"temperature": t}})
    for fine in (cards.TEMPERATURE_RANGE[0], 1.0, cards.TEMPERATURE_RANGE[1]):
        cards.validate({"name": "x", "calibration": {"temperature": fine}})


def test_the_temperatures_refused_are_the_ones_that_break_answers():
    """5e-324 and 1e308 pass "positive and finite": applied, the first makes a confidence NaN (not JSON), the second
    every answer 10%; within the range calibration fits, answers stay finite and keep their label."""
    probs = np.full((2, 10), 0.01, np.float32)
    probs[:, 3] = 0.91
    probs[1, 3], probs[1, 5] = 0.455, 0.455  # a tie: 0 * inf
    with np.errstate(all="ignore"):  # the overflow is the point
        assert not np.isfinite(abstain.apply_temperature(probs, 5e-324)).all()
    assert np.allclose(abstain.apply_temperature(probs, 1e308), 0.1)
    for t in np.geomspace(*cards.TEMPERATURE_RANGE, 9):
        p = abstain.apply_temperature(probs, t)
        assert np.isfinite(p).all() and p[0].argmax() == 3, t


def test_the_default_is_the_best_model_the_project_measured_not_the_best_card_claim(tmp_path):
    folder = link_models(tmp_path / "models", COMMITTED)
    case = hostile_files.make_case("card_claims_best", folder, 0)
    listed = runtime.list_models(folder)
    usable = [e.name for e in listed if e.usable]
    assert hostile_files.NAME in usable, "the model itself is fine: only its claim does not count"
    assert usable[0] == "mnist_advanced", usable
    assert runtime.load(None, folder).name == "mnist_advanced"
    assert case.model.with_suffix(".json").is_file()


@pytest.mark.parametrize("record", [[], "x", 3, {}, None])
def test_a_serving_record_that_is_not_an_object_never_ends_a_listing_or_the_default(record, tmp_path):
    folder = link_models(tmp_path / "models", COMMITTED)
    case = hostile_files.make_case("good", folder, 0)
    (tmp_path / "serving_cache" / f"{store.file_key(case.model)}.json").write_text(json.dumps(record))
    listed = {e.name: e for e in runtime.list_models(folder)}
    assert listed[hostile_files.NAME].pending or not listed[hostile_files.NAME].usable
    assert runtime.load(None, folder).name == "mnist_advanced"


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("kind", sorted(k for k, v in KINDS.items() if v.target == "side" and v.expect == "refuse"))
def test_a_side_file_of_the_wrong_shape_refuses_its_panel_with_a_reason(kind, seed, tmp_path):
    case = hostile_files.make_case(kind, tmp_path / "models", seed)
    [entry] = runtime.list_models(case.folder)
    assert entry.usable, "a side file never makes its model unusable"
    matrix, why = model_report.confusion_checked(entry.path)
    assert matrix is None and why and "metrics" in why, (case.what, why)
    assert model_report.confusion(entry.path) is None
    assert model_report.summary(entry)["test accuracy"]


def test_the_committed_metrics_give_their_confusion_matrix(tmp_path):
    case = hostile_files.make_case("metrics_good", tmp_path / "models", 0)
    matrix, why = model_report.confusion_checked(case.model)
    assert why is None and matrix.shape == (10, 10) and matrix.dtype == np.int64 and matrix.sum() == 10_000
