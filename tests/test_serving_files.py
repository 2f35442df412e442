"""Serving files are checked before they are served (digitlab.serving.store): a damaged, foreign or hostile ONNX file
or record beside a model is refused with its reason or rebuilt from the .keras, never served; the digit gate's and
the number reader's degrade to a stated reason.  Every damage is made from a seed by digitlab.hardening.hostile_files.

    python -m pytest -q tests/test_serving_files.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

from digitlab import files
from digitlab.hardening import hostile_files
from digitlab.hardening.tally import check_line
from digitlab.models import artifacts
from digitlab.serving import gate, predict, reader, runtime, store

KINDS = hostile_files.KINDS
REFUSED = sorted(k for k, v in KINDS.items() if v.target == "classifier" and v.expect == "refuse")
# Today's code allocates gigabytes, blocks on a FIFO or maps a sparse file for these: each runs in a child process
# with an address-space limit, so a failure here is a failed test, not a stalled machine.
IN_A_CHILD = {"memory_bomb", "flipped", "oversized", "not_regular"}
SEEDS = (0, 1, 2)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A serving cache of this test's own (where the serving files of models that are not committed live)."""
    d = tmp_path / "serving_cache"
    monkeypatch.setenv("DIGITLAB_SERVING_CACHE", str(d))
    return d


@pytest.fixture
def no_rebuild(monkeypatch, cache):
    """Rebuilding a serving file starts TensorFlow in a subprocess (~15 s): here it fails at once, so what is tested
    is what happens when a file cannot be rebuilt (the slow test below rebuilds one for real)."""
    def refuse(path, kind, key, out_dir):
        raise artifacts.ModelError(f"{path.name}: rebuilding is off in this test")

    monkeypatch.setattr(store, "_convert", refuse)


def pictures(folder, mnist_test, n: int = 3) -> list:
    x = mnist_test[0]
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        p = folder / f"digit{i}.png"
        p.write_bytes(files.png_bytes(x[i]))
        out.append((p, None))
    return out


def json_lines(lines: list[tuple[str, str]], expected: list) -> list[dict]:
    for (line, _), (path, _) in zip(lines, expected):
        assert check_line(line, path) is None, line
    return [json.loads(line) for line, _ in lines]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("kind", sorted(set(REFUSED) - IN_A_CHILD))
def test_a_damaged_serving_file_is_refused_with_its_reason_and_never_served(kind, seed, tmp_path, no_rebuild):
    case = hostile_files.make_case(kind, tmp_path / "models", seed)
    [entry] = runtime.list_models(case.folder)  # never raises: a record that is not a record is a damaged file
    assert entry.pending or not entry.usable, f"{case.what}: listed as checked"
    with pytest.raises(artifacts.ModelError, match=r"serving (file|record)") as refused:
        runtime.load(hostile_files.NAME, case.folder)
    assert "rebuilding is off" in str(refused.value), "it tried to rebuild the file from the .keras first"


_CHILD = """
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
from digitlab.models import artifacts
from digitlab.serving import runtime, store
def refuse(path, kind, key, out_dir):
    raise artifacts.ModelError(f"{path.name}: rebuilding is off in this test")
store._convert = refuse
try:
    runtime.list_models(sys.argv[1])
    clf = runtime.load("model", sys.argv[1])
    clf.predict_proba(__import__("numpy").zeros((2, 28, 28), "float32"))
    out = {"outcome": "served"}
except artifacts.ModelError as e:
    out = {"outcome": "refused", "reason": str(e)}
except BaseException as e:
    out = {"outcome": "crash", "reason": f"{type(e).__name__}: {e}"[:300]}
from digitlab.memory import status_mb
out["max_rss_mb"] = status_mb("VmHWM")  # this process's own peak (ru_maxrss keeps the parent's across exec)
print(json.dumps(out))
"""


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("kind", sorted(IN_A_CHILD))
def test_a_hostile_serving_file_is_refused_before_it_costs_memory_or_blocks(kind, seed, tmp_path, cache):
    case = hostile_files.make_case(kind, tmp_path / "models", seed)
    try:
        proc = subprocess.run([sys.executable, "-c", _CHILD, str(case.folder)], capture_output=True, text=True, timeout=60,
                              env={**os.environ, "DIGITLAB_SERVING_CACHE": str(cache)})
    except subprocess.TimeoutExpired:
        pytest.fail(f"{kind} ({case.what}): no answer within 60 s")
    assert proc.returncode == 0 and proc.stdout.strip(), f"{case.what}: exit {proc.returncode}\n{proc.stderr[-2000:]}"
    out = json.loads(proc.stdout.splitlines()[-1])
    assert out["outcome"] == "refused" and "serving file" in out["reason"], (case.what, out)
    assert out["max_rss_mb"] < 600, (case.what, out)


def test_every_committed_serving_file_passes_every_check(cache):
    """The committed models', the gate's and the number reader's files, judged afresh (a scratch cache: no verdict read
    back): the checks refuse none of what the converter makes."""
    committed = sorted((hostile_files.COMMITTED / store.SERVING_SUBDIR).glob("*.onnx"))
    assert {store.record(p)["kind"] for p in committed} == set(store.SPECS)
    for onnx in committed:
        checked = store.check(onnx, store.record(onnx)["kind"], onnx.stem)
        assert checked.session is not None, onnx.name
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "gate unavailable" or "reader unavailable" would fail here
        assert gate.default("onnx") is not None and reader.default("onnx") is not None


@pytest.mark.parametrize("kind", ["good", "good_old_record"])
def test_a_sound_serving_file_is_served_with_the_models_answers(kind, tmp_path, no_rebuild, mnist_test):
    """The controls: the model's own file, recorded as the converter writes records now, and as it wrote them before
    it recorded the file's sha256 (the committed records until python evaluation/serving.py writes them again)."""
    case = hostile_files.make_case(kind, tmp_path / "models", 0)
    [entry] = runtime.list_models(case.folder)
    assert entry.usable and not entry.pending
    clf = runtime.load(hostile_files.NAME, case.folder)
    files_ = pictures(tmp_path / "pictures", mnist_test)
    lines = json_lines(list(predict.predict_lines(clf, files_, "auto", "json")), files_)
    assert [d["label"] for d in lines] == [int(v) for v in mnist_test[1][:3]]


def test_a_dropped_folder_never_supplies_the_serving_file_of_its_model(tmp_path, no_rebuild):
    """A folder dropped in with serving/ inside: its model's archive passes the quick checks only (its config declares 5
    classes), and the serving file beside it is another model's; only files this code wrote are served."""
    case = hostile_files.make_case("dropped_folder", tmp_path / "models", 0)
    with pytest.raises(artifacts.ModelError, match="rebuilding is off"):
        runtime.load(hostile_files.NAME, case.folder)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("kind", sorted(k for k, v in KINDS.items() if v.target == "gate"))
def test_a_damaged_digit_gate_leaves_a_stated_reason_and_the_digits_read(kind, seed, tmp_path, monkeypatch, no_rebuild, mnist_test):
    case = hostile_files.make_case(kind, tmp_path / "models", seed)
    monkeypatch.setattr(gate, "GATE_PATH", case.gate)
    clf = runtime.load(hostile_files.NAME, case.folder)
    files_ = pictures(tmp_path / "pictures", mnist_test)
    with pytest.warns(UserWarning, match="digit gate unavailable"):
        lines = json_lines(list(predict.predict_lines(clf, files_, "auto", "json")), files_)
    assert all(d["label"] is not None and "digit gate unavailable" in d["reason"] for d in lines), (case.what, lines)
    assert [d["label"] for d in lines] == [int(v) for v in mnist_test[1][:3]]


def number_picture(folder, mnist_test, digits=(3, 1, 2)) -> list:
    x, y = mnist_test
    picks = [int(np.flatnonzero(y == d)[0]) for d in digits]
    page = np.zeros((60, 40 + 36 * len(picks)), np.uint8)
    for k, i in enumerate(picks):
        page[16:44, 20 + 36 * k : 48 + 36 * k] = x[i]
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / "number.png"
    p.write_bytes(files.png_bytes(page))
    return [(p, None)]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("kind", sorted(k for k, v in KINDS.items() if v.target == "reader"))
def test_a_damaged_number_reader_leaves_the_numbers_read_by_the_cuts(kind, seed, tmp_path, monkeypatch, no_rebuild, mnist_test):
    case = hostile_files.make_case(kind, tmp_path / "models", seed)
    monkeypatch.setattr(reader, "READER_PATH", case.reader)
    clf = runtime.load(hostile_files.NAME, case.folder)
    files_ = number_picture(tmp_path / "pictures", mnist_test)
    with pytest.warns(UserWarning, match="number reader unavailable"):
        [(line, outcome)] = list(predict.number_lines(clf, files_, "auto", "json"))
    answer = json.loads(line)
    assert outcome == "ok" and answer["read_by"] == "cuts" and answer["number"], (case.what, line)


def test_a_new_serving_file_records_its_own_sha256_and_a_changed_one_is_caught(tmp_path, cache, no_rebuild):
    case = hostile_files.make_case("good", tmp_path / "models", 0)
    onnx = cache / f"{store.file_key(case.model)}.onnx"
    record = store.record(onnx)
    assert record["onnx_sha256"] == files.sha256(onnx)[len("sha256:"):]
    assert set(record) == store.RECORD_KEYS
    onnx.write_bytes(hostile_files.committed_onnx(hostile_files.COMMITTED / f"{hostile_files.OTHER}.keras"))
    with pytest.raises(artifacts.ModelError, match="sha256"):
        runtime.load(hostile_files.NAME, case.folder)


@pytest.mark.slow
def test_the_cli_rebuilds_a_truncated_serving_file_from_the_keras_file_and_answers(tmp_path, cache, run_script, mnist_test):
    """Without a stub: the damaged file is converted again from the .keras (TensorFlow in a subprocess), recorded with
    its sha256, and the command answers every picture."""
    case = hostile_files.make_case("truncated", tmp_path / "models", 0)
    files_ = pictures(tmp_path / "pictures", mnist_test, 2)
    proc = run_script("evaluation/predict.py", "--model", case.model, *[p for p, _ in files_], "--format", "json",
                      check=False, timeout=600, env={"DIGITLAB_SERVING_CACHE": str(cache)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    answers = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [a["label"] for a in answers] == [int(v) for v in mnist_test[1][:2]]
    onnx = cache / f"{store.file_key(case.model)}.onnx"
    assert store.record(onnx)["onnx_sha256"] == files.sha256(onnx)[len("sha256:"):]


def test_every_kind_is_made_the_same_from_the_same_seed(tmp_path, cache):
    for kind in KINDS:
        a = hostile_files.make_case(kind, tmp_path / "a" / kind, 3)
        b = hostile_files.make_case(kind, tmp_path / "b" / kind, 3)
        assert a.what == b.what, kind



def test_a_nan_answer_is_an_internal_error_on_its_own_line_not_a_crash(tmp_path, monkeypatch):
    """A model that answers NaN for one picture of a batch: that picture's line says internal error, the others are read."""
    from digitlab import preprocess
    from digitlab.data import handwriting_test as hw

    clf = runtime.load("mnist_cnn")
    styles = ["7 plain", "0 oval", "4 closed"]
    files_ = []
    for k, style in enumerate(styles):
        ink = (hw.draw_style(style, np.random.default_rng(k), "mouse") * 255).round().astype(np.uint8)
        path = tmp_path / f"{k}.png"
        path.write_bytes(files.png_bytes(255 - ink))  # dark ink on light paper, as a scan
        files_.append((path, None))
    poisoned = preprocess.prepare(files_[1][0]).image
    real = clf.predict_proba

    def nan_for_one(x, batch_size=256):
        p = np.array(real(x), np.float32)
        p[np.isclose(x, poisoned).all(axis=(1, 2))] = np.nan
        return p

    monkeypatch.setattr(clf, "predict_proba", nan_for_one)
    out = list(predict.predict_lines(clf, files_, "auto", "json"))
    assert [o for _, o in out] == ["ok", "internal", "ok"], out
    assert "internal error" in out[1][0] and "NaN" in out[1][0], out[1][0]
    assert [json.loads(line)["label"] for line, _ in (out[0], out[2])] == [7, 4], out
