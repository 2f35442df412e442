"""The page's model descriptions (web/model/*.json): one builder, one schema, unknown keys refused."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from digitlab.paths import ROOT
from digitlab.serving import web_manifest

PAGE = ROOT / "web" / "model"
KINDS = {"index.json": "index", "gate.json": "gate"}


def committed() -> dict[str, tuple[str, dict]]:
    return {p.name: (KINDS.get(p.name, "model"), json.loads(p.read_text())) for p in sorted(PAGE.glob("*.json"))}


def test_every_committed_manifest_holds_the_schema_and_nothing_else():
    found = committed()
    assert {"index.json", "gate.json", "mnist_cnn.json"} <= set(found)
    for name, (kind, doc) in found.items():
        web_manifest.read(PAGE / name, kind)
        assert set(doc) == set(web_manifest.SCHEMAS[kind]), name
    index = found["index.json"][1]
    assert all((PAGE / f"{m}.json").is_file() for m in index["models"])


@pytest.mark.parametrize("kind, spoil, message", [
    ("model", lambda d: d.update(notes="typed in by hand"), "notes"),
    ("model", lambda d: d["tfjs"].update(size_kb=362), "size_kb"),
    ("model", lambda d: d["abstain"].update(temperature=0), "abstain.temperature"),
    ("model", lambda d: d.update(test_accuracy=99.3), "test_accuracy"),
    ("model", lambda d: d.update(onnx_sha256="abc"), "onnx_sha256"),
    ("model", lambda d: d.pop("preprocess_version"), "preprocess_version"),
    ("model", lambda d: d.update(classes=list("0123456789x")), "classes"),
    ("gate", lambda d: d.update(threshold="high"), "threshold"),
    ("gate", lambda d: d["onnx"].update(checked_with="by eye"), "checked_with"),
    ("index", lambda d: d.update(default="no_such_model"), "default"),
    ("index", lambda d: d.update(models=[]), "models"),
])
def test_a_key_or_value_the_page_cannot_use_is_refused(kind, spoil, message):
    doc = json.loads(json.dumps(next(d for k, d in committed().values() if k == kind)))
    spoil(doc)
    with pytest.raises(web_manifest.ManifestError, match=message):
        web_manifest.check(kind, doc)


def test_write_refuses_before_anything_is_written(tmp_path):
    with pytest.raises(web_manifest.ManifestError, match="notes"):
        web_manifest.write(tmp_path / "x.json", "index", {"default": "a", "models": ["a"], "notes": "by hand"})
    assert not list(tmp_path.iterdir())


def test_the_builder_makes_the_committed_manifests_from_the_committed_files():
    """model() and gate() on the committed .keras, card and exported files give back the committed documents
    (parity figures passed through): the page's descriptions have one writer."""
    info = json.loads((PAGE / "mnist_cnn.json").read_text())
    entry = SimpleNamespace(name="mnist_cnn", path=ROOT / "models" / "mnist_cnn.keras",
                            card=json.loads((ROOT / "models" / "mnist_cnn.json").read_text()))
    tfjs = web_manifest.tfjs_entry(PAGE / "mnist_cnn_tfjs", info["tfjs"]["parity_max_abs_dp"], info["tfjs"]["checked_with"])
    assert web_manifest.model(entry, PAGE / info["onnx"], info["parity_max_abs_dp"], info["parity_digits"], tfjs) == info

    gate_info = json.loads((PAGE / "gate.json").read_text())
    the_gate = SimpleNamespace(path=ROOT / "models" / "gate" / "not_a_digit.keras", threshold=gate_info["threshold"])
    gate_tfjs = web_manifest.tfjs_entry(PAGE / "not_a_digit_tfjs", gate_info["tfjs"]["parity_max_abs_dp"])
    built = web_manifest.gate(the_gate, PAGE / gate_info["onnx"]["model"], gate_info["onnx"]["parity_max_abs_dp"],
                              gate_info["parity_inputs"], gate_tfjs)
    assert built == gate_info


def test_index_keeps_the_default_and_lists_models_whose_files_are_there(tmp_path):
    for name in ("a", "b"):
        (tmp_path / f"{name}.onnx").write_bytes(b"x")
    (tmp_path / "index.json").write_text(json.dumps({"default": "a", "models": ["a", "gone"]}))
    assert web_manifest.index(tmp_path, "b") == {"default": "a", "models": ["a", "b"]}
    assert web_manifest.index(tmp_path, "b", make_default=True) == {"default": "b", "models": ["b", "a"]}
