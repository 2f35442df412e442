"""Model cards: every key of every committed card is one the code writes; commands are full; promote records provenance."""

from __future__ import annotations

import json
import subprocess

import pytest

from digitlab.models import artifacts, cards
from digitlab.paths import ROOT


def committed_cards() -> list:
    """The cards tracked by git (not whatever a user added to models/)."""
    tracked = subprocess.run(["git", "ls-files", "models"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    return [ROOT / f for f in tracked if f.endswith(".json") and not f.endswith((".history.json", ".metrics.json"))
            and not f.startswith("models/serving/")]  # conversion records (tests/test_serving.py checks them)


def test_every_committed_card_holds_only_keys_the_code_writes():
    found = committed_cards()
    assert {p.stem for p in found} >= {"mnist_baseline", "mnist_cnn", "mnist_advanced", "mnist_robust", "not_a_digit"}
    for path in found:
        card = json.loads(path.read_text())
        cards.check(card)
        assert card["command"].startswith("python "), path


def test_a_hand_written_key_is_refused_before_anything_is_written(tmp_path, committed_models):
    with pytest.raises(cards.CardError, match="notes"):
        cards.check({"name": "x", "notes": "typed in by hand"})
    with pytest.raises(cards.CardError, match="stronger_attacks"):
        cards.check({"name": "x", "adversarial": {"n": 10, "pgd40_eps0.3": 0.8, "stronger_attacks": {}}})
    cards.check({"name": "x", "adversarial": {"n": 10, "fgsm_eps0.1": 0.9, "pgd100_margin_eps0.3": 0.7, "command": "python ..."}})
    model = committed_models[0].model
    with pytest.raises(cards.CardError):
        artifacts.save_model(model, {"name": "probe", "notes": "by hand"}, "probe", tmp_path)
    assert not list(tmp_path.iterdir())


def test_build_completes_checks_and_validates_every_new_card():
    card = cards.build({"name": "x", "metrics": {"test_accuracy": 0.9}, "command": "python training/train_cnn.py", "dry_run": True})
    assert set(card) == {"name", "metrics", "command", "dry_run", "versions", "preprocess_version", "input", "date"}
    assert card["versions"]["numpy"] and card["input"] == cards.INPUT
    kept = cards.build({"name": "x", "date": "2020-01-01T00:00:00+00:00"})
    assert kept["date"] == "2020-01-01T00:00:00+00:00", "a key the writer gives is kept"
    with pytest.raises(cards.CardError, match="notes"):
        cards.build({"name": "x", "notes": "typed in by hand"})
    with pytest.raises(cards.CardError, match="test_accuracy"):
        cards.build({"name": "x", "metrics": {"test_accuracy": 99.1}})  # a percentage where a fraction belongs


def test_a_bad_value_is_refused_on_write_and_the_card_is_left_as_it_was(tmp_path, committed_models):
    import shutil

    source = next(e for e in committed_models if e.name == "mnist_baseline").path
    model = shutil.copy(source, tmp_path / "copy.keras")
    card = tmp_path / "copy.json"
    shutil.copy(source.with_suffix(".json"), card)
    before = card.read_bytes()
    with pytest.raises(cards.CardError, match="temperature"):
        artifacts.update_card(model, {"calibration": {"temperature": -1.0}})
    assert card.read_bytes() == before


def test_the_export_report_writes_a_card_the_check_accepts(tmp_path, committed_models):
    from digitlab.serving import parity

    entry = committed_models[-1]
    report = {"model": entry.name, "probe": "p", "source_sha256": "sha256:0", "interface": "image -> probabilities",
              "date": "2026-01-01", "rows": [{"format": "onnx", "ok": True}]}
    onnx = tmp_path / f"{entry.name}.onnx"
    onnx.write_bytes(b"x")
    parity.write_report(report, {"onnx": onnx}, tmp_path, entry.card, "python evaluation/export.py")
    card = json.loads((tmp_path / f"{entry.name}.json").read_text())
    assert cards.check(card)["export"]["files"] == {"onnx": onnx.name}
    assert {k: card[k] for k in entry.card} == entry.card, "the source card is kept as it is"


def test_an_export_with_a_refused_card_is_refused_not_served_with_its_rule(tmp_path, committed_models):
    """The card beside an export (its abstain rule) is read through the same check as every other card."""
    from digitlab.models.artifacts import ModelError
    from digitlab.serving import classifiers

    entry = committed_models[-1]
    onnx = tmp_path / f"{entry.name}.onnx"
    onnx.write_bytes(b"x")
    card = dict(entry.card, export={"files": {"onnx": onnx.name}})
    (tmp_path / f"{entry.name}.json").write_text(json.dumps(card))
    assert classifiers.export_card(onnx) == card
    (tmp_path / f"{entry.name}.json").write_text(json.dumps(dict(card, notes="by hand")))
    with pytest.raises(ModelError, match=f"its card {entry.name}.json is refused: .*notes"):
        classifiers.export_card(onnx)


def test_command_line_is_the_full_command_from_the_repository_root():
    line = cards.command_line(["--model", "mnist_cnn", "--out", "my reports"], str(ROOT / "evaluation" / "calibrate.py"))
    assert line == "python evaluation/calibrate.py --model mnist_cnn --out 'my reports'"


@pytest.mark.slow
def test_promote_copies_model_card_and_side_files_and_records_where_from(run_script, run_main, tmp_path, committed_models):
    cnn = next(e for e in committed_models if e.name == "mnist_cnn")
    elsewhere = tmp_path / "runs" / "candidates"
    elsewhere.mkdir(parents=True)
    sides = [s for s in (".metrics.json", ".history.json", ".curves.png") if (ROOT / "models" / f"mnist_cnn{s}").is_file()]
    assert ".metrics.json" in sides  # a mixed (interpolated) model has no training history, but every model has metrics
    for suffix in (".keras", ".json", *sides):
        (elsewhere / f"mnist_cnn{suffix}").write_bytes((ROOT / "models" / f"mnist_cnn{suffix}").read_bytes())
    out = tmp_path / "models"
    run_script("training/promote.py", elsewhere / "mnist_cnn.keras", "--name", "cnn_copy", "--out", out, "--no-serving")
    card = json.loads((out / "cnn_copy.json").read_text())
    assert card["name"] == "cnn_copy" and card["command"] == cnn.card["command"]
    assert card["promoted"]["from"] == str((elsewhere / "mnist_cnn.keras").resolve())
    assert card["promoted"]["command"].startswith("python training/promote.py ")
    assert (out / "cnn_copy.keras").read_bytes() == (elsewhere / "mnist_cnn.keras").read_bytes()  # copied, not re-saved
    for suffix in sides:
        assert (out / f"cnn_copy{suffix}").read_bytes() == (elsewhere / f"mnist_cnn{suffix}").read_bytes()
    [entry] = artifacts.list_models(out)
    assert entry.usable and entry.name == "cnn_copy"
    again = run_main("training/promote.py", elsewhere / "mnist_cnn.keras", "--name", "cnn_copy", "--out", out, check=False)
    assert again.returncode == 2 and "already exists" in again.stderr
    # a number reader whose margin was fitted against another file of the classifier promoted over: said, with the refit
    (out / "reader").mkdir()
    reader_file = out / "reader" / "number_reader.keras"
    reader_file.symlink_to(ROOT / "models" / "reader" / reader_file.name)
    reader_card = json.loads((ROOT / "models" / "reader" / "number_reader.json").read_text())
    reader_file.with_suffix(".json").write_text(json.dumps(dict(reader_card, config=dict(reader_card["config"], classifier="cnn_copy"),
                                                                measured=dict(reader_card["measured"], classifier_sha256="sha256:0123456789abcdef"))))
    over = run_script("training/promote.py", elsewhere / "mnist_cnn.keras", "--name", "cnn_copy", "--out", out, "--overwrite", "--no-serving")
    assert "the number reader's margin may not fit cnn_copy's cuts" in over.stderr and "--classifier cnn_copy" in over.stderr


@pytest.mark.slow
def test_promote_the_digit_gate_checks_it_as_a_gate(run_script, run_main, tmp_path):
    elsewhere = tmp_path / "gate_run"
    elsewhere.mkdir()
    for suffix in (".keras", ".json"):
        (elsewhere / f"not_a_digit{suffix}").write_bytes((ROOT / "models" / "gate" / f"not_a_digit{suffix}").read_bytes())
    out = tmp_path / "gate"
    run_script("training/promote.py", elsewhere / "not_a_digit.keras", "--gate", "--out", out)
    card = json.loads((out / "not_a_digit.json").read_text())
    assert card["threshold"] == json.loads((elsewhere / "not_a_digit.json").read_text())["threshold"]
    assert card["promoted"]["from"] == str((elsewhere / "not_a_digit.keras").resolve())
    # and its serving copy is written beside it, under the file's hash: the folder serves without TensorFlow at once
    from digitlab.serving import store

    served = tmp_path / "serving" / f"{store.file_key(out / 'not_a_digit.keras')}.onnx"
    assert served.is_file() and store.record(served)["kind"] == "gate"
    # a classifier is not a gate, and the gate is not a classifier: both refused, nothing written
    wrong = run_main("training/promote.py", ROOT / "models" / "mnist_cnn.keras", "--gate", "--out", tmp_path / "g2", check=False)
    assert wrong.returncode == 2 and "has no threshold" in wrong.stderr and not (tmp_path / "g2").exists()
    wrong = run_main("training/promote.py", elsewhere / "not_a_digit.keras", "--out", tmp_path / "m2", check=False)
    assert wrong.returncode == 2 and "unusable" in wrong.stderr and not (tmp_path / "m2").exists()


# ----------------------------------------------------------------------------- cards read back

# name -> how a copy of mnist_baseline's card is spoiled (each also claims a perfect test accuracy where it can,
# which would make that model the default if the card were believed)
BAD_CARDS = {
    "metrics_list": (lambda c: c.update(metrics=[0.99]), "metrics"),
    "temperature_text": (lambda c: (c["calibration"].update(temperature="abc"), c["metrics"].update(test_accuracy=1.0)), "temperature"),
    "temperature_zero": (lambda c: (c["calibration"].update(temperature=0), c["metrics"].update(test_accuracy=1.0)), "temperature"),
    "temperature_nan": (lambda c: (c["calibration"].update(temperature=float("nan")), c["metrics"].update(test_accuracy=1.0)), "temperature"),
    "abstain_threshold_text": (lambda c: (c["calibration"]["abstain"].update(threshold="high"), c["metrics"].update(test_accuracy=1.0)),
                               "abstain.threshold"),
    "threshold_text": (lambda c: (c.update(threshold="high"), c["metrics"].update(test_accuracy=1.0)), "threshold"),
    "accuracy_over_one": (lambda c: c["metrics"].update(test_accuracy=7), "test_accuracy"),
    "accuracy_text": (lambda c: c["metrics"].update(test_accuracy="0.999"), "test_accuracy"),
    "params_text": (lambda c: (c.update(params="many"), c["metrics"].update(test_accuracy=1.0)), "params"),
    # a key no code writes: the card was edited by hand, so none of its figures is believed
    "hand_written_key": (lambda c: (c.update(notes="best model ever"), c["metrics"].update(test_accuracy=1.0)), "notes"),
    "hand_written_attack": (lambda c: (c.update(adversarial={"pgd40_eps0.3": 0.99, "stronger_attacks": {}}),
                                       c["metrics"].update(test_accuracy=1.0)), "stronger_attacks"),
}


@pytest.fixture(scope="module")
def bad_card_models(tmp_path_factory):
    """A scratch models folder: mnist_cnn as committed, and mnist_baseline's file under each BAD_CARDS name
    with a spoiled copy of its card (links to the committed files; the cards are copies, nothing tracked changes)."""
    from support import MODELS, link_models

    folder = link_models(tmp_path_factory.mktemp("bad_cards"), ["mnist_cnn"])
    for name, (spoil, _) in BAD_CARDS.items():
        (folder / f"{name}.keras").symlink_to(MODELS / "mnist_baseline.keras")
        card = json.loads((MODELS / "mnist_baseline.json").read_text())
        spoil(card)
        (folder / f"{name}.json").write_text(json.dumps(dict(card, name=name)))
    return folder


def test_validate_names_the_bad_value_and_passes_every_committed_card():
    for path in committed_cards():
        cards.validate(json.loads(path.read_text()))
    base = json.loads((ROOT / "models" / "mnist_baseline.json").read_text())
    for spoil, key in BAD_CARDS.values():
        card = json.loads(json.dumps(base))
        spoil(card)
        with pytest.raises(cards.CardError, match=key):
            cards.validate(card)


@pytest.mark.parametrize("lister", ["artifacts", "runtime"])
def test_a_bad_card_refuses_its_model_and_never_the_listing(bad_card_models, lister):
    from digitlab.serving import runtime

    entries = {e.name: e for e in (artifacts if lister == "artifacts" else runtime).list_models(bad_card_models)}
    assert entries["mnist_cnn"].usable and list(entries)[0] == "mnist_cnn", "the default is a model whose card can be trusted"
    for name, (_, key) in BAD_CARDS.items():
        e = entries[name]
        assert not e.usable and e.card is None, name
        assert f"its card {name}.json is refused" in e.reason and key in e.reason, e.reason
        assert e.headline().startswith(f"{name} (unusable: ")
    with pytest.raises(artifacts.ModelError, match="temperature"):
        (artifacts.resolve if lister == "artifacts" else runtime.load)("temperature_text", bad_card_models)


def test_the_predict_cli_answers_with_a_good_model_beside_bad_cards(bad_card_models, run_script, mnist_test, tmp_path):
    from digitlab import files

    x, y = mnist_test
    picture = tmp_path / "digit.png"
    picture.write_bytes(files.png_bytes(x[0]))
    proc = run_script("evaluation/predict.py", picture, "--format", "json", env={"DIGITLAB_MODELS_DIR": str(bad_card_models)}, timeout=120)
    assert "model: mnist_cnn" in proc.stderr
    line = json.loads(proc.stdout)
    assert line["label"] == int(y[0]) and not line["abstain"]
    refused = run_script("evaluation/predict.py", picture, "--model", "abstain_threshold_text", check=False,
                         env={"DIGITLAB_MODELS_DIR": str(bad_card_models)}, timeout=120)
    assert refused.returncode == 2 and "abstain.threshold" in refused.stderr and not refused.stdout
