"""What each measuring command records into docs/results.json (digitlab.report.results' extractors).

A command's figures must land on the rows and keys the results file already holds, so a new measurement
replaces the old one instead of adding a second table beside it.  The reports here have the shape the
commands write (the committed card and results file where there is one); the serving script is run for real.
"""

from __future__ import annotations

import json
import shutil

import pytest
from support import link_models

from digitlab.paths import ROOT
from digitlab.report import extractors, results, schema
from digitlab.serving import web_manifest

COMMITTED = results.load(ROOT / "docs" / "results.json")["figures"]


def placed(figures) -> dict[tuple[str, str, str], object]:
    return {(f.section, f.row, f.key): f.value for f in figures}


def test_attack_records_the_cards_adversarial_figures_as_the_results_file_holds_them():
    card = json.loads((ROOT / "models" / "mnist_robust.json").read_text())
    got = placed(extractors.adversarial_figures("mnist_robust", card["adversarial"], extractors.model_sha("mnist_robust")))
    held = {("adversarial", row, key): e["value"] for row, keys in COMMITTED["adversarial"].items() for key, e in keys.items()}
    assert got == held


def test_export_records_each_format_group_on_the_sections_keys():
    rows = [{"format": "keras", "agreement": 1.0, "max_abs_dp": 0.0, "bytes": 90_000},
            {"format": "h5", "agreement": 1.0, "max_abs_dp": 2e-7, "bytes": 90_000},
            {"format": "onnx", "agreement": 1.0, "max_abs_dp": 9e-7, "bytes": 80_000},
            {"format": "tflite-dynamic", "agreement": 0.998, "max_abs_dp": 0.02, "bytes": 30_000},
            {"format": "tflite-int8", "agreement": 0.993, "max_abs_dp": 0.05, "bytes": 31_000},
            {"format": "tfjs", "agreement": 1.0, "max_abs_dp": 1e-6, "bytes": 85_000},
            {"format": "savedmodel", "ok": False, "failures": ["ExportError: no"]}]  # failed: no figures
    report = {"model": "mnist_baseline", "source_sha256": extractors.model_sha("mnist_baseline"), "n_probe": 1500,
              "date": "2026-01-02T03:04:05+00:00", "rows": rows, "command": "python evaluation/export.py --model mnist_baseline"}
    figures = extractors.from_export(report)
    got = placed(figures)
    assert set(k for _, _, k in got) == set(COMMITTED["export"]["mnist_baseline"])
    assert got["export", "mnist_baseline", "float formats: max abs dp"] == 9e-7  # the worst float format, keras left out
    assert got["export", "mnist_baseline", "int8: agreement"] == 0.993 and got["export", "mnist_baseline", "TF.js: size"] == 85_000
    assert extractors.committed(figures) == figures, "the committed model's very file"
    assert all(f.date == "2026-01-02" for f in figures)


def test_fuzz_names_the_documented_runs_as_the_results_file_does():
    headline = {"files": 2000, "crashes": 0, "hangs": 0, "wrong_refusals": 1, "wrong_acceptances": 0, "non_json_lines": 0,
                "peak_rss_mb": 170.2}
    report = {"command": "python evaluation/fuzz.py --n 2000 --seed 2024", "n": 2000, "seed": 2024}
    got = placed(extractors.from_fuzz(report, headline))
    assert {(s, r, k) for s, r, k in got} == {("fuzz", "CI slice", k) for k in COMMITTED["fuzz"]["CI slice"]}
    assert got["fuzz", "CI slice", "wrong refusals"] == 1
    other = placed(extractors.from_fuzz(dict(report, n=500, seed=3), headline))
    assert {r for _, r, _ in other} == {"500 files, seed 3"}


def test_app_benchmark_records_on_the_sections_rows():
    result = {"command": "python evaluation/app_benchmark.py", "machine": {"load_average_at_start": [1.0, 1.2, 1.1]},
              "cold_start": {"canvas_usable_s": 1.5, "first_prediction_s": 2.5, "server_rss_after_first_prediction_mb": 210.0},
              "sessions": {"sessions": 10, "answered": 10, "p50_ms": 450, "p95_ms": 600},
              "predict_cli": {"median_s": 0.3, "peak_rss_mb": 95.0},
              "pages": [{"page": "Models", "server_peak_mb": 500.0}, {"page": "Robustness", "server_peak_mb": 900.0}],
              "all_pages": {"server_rss_mb": 800.0}}
    figures = extractors.from_app_benchmark(result)
    got = placed(figures)
    new_rows = {r for _, r, _ in got} - set(COMMITTED["app"])
    assert not new_rows, new_rows  # every row the command writes is one the results file holds: it replaces, never adds
    assert {r for _, r, _ in got} >= {"every page in one session", "heaviest page, server peak", "predict CLI, one PNG"}
    assert got["app", "heaviest page, server peak", "server RSS"] == 900.0
    assert "the Robustness page" in next(f.note for f in figures if f.row == "heaviest page, server peak")
    assert got["app", "ten sessions drawing at once", "measured"] == "10 of 10 answered, p50 450 ms, p95 600 ms"


@pytest.mark.slow
def test_serving_parity_records_each_model_and_no_total_for_a_partial_folder(run_main, tmp_path, monkeypatch):
    scratch = tmp_path / "results.json"
    models = link_models(tmp_path / "models", ["mnist_baseline"])
    run_main("evaluation/serving.py", "--models-dir", models, "--parity", "30", "--out", tmp_path / "parity.json",
               env={"DIGITLAB_RESULTS": str(scratch)})
    figures = results.load(scratch)["figures"]["serving"]
    assert set(figures) == {"mnist_baseline"}, "all committed models: only for models/ measured whole"
    row = figures["mnist_baseline"]
    assert set(row) == {"max abs dp", "labels that differ", "decisions that differ"}
    assert row["max abs dp"]["value"] <= 1e-5 and row["labels that differ"]["value"] == 0
    assert row["max abs dp"]["model_sha"] == extractors.model_sha("mnist_baseline")  # the committed file, through its link
    assert row["max abs dp"]["command"].startswith("python evaluation/serving.py --models-dir ")


def test_web_build_records_the_committed_page_files_as_the_results_file_holds_them():
    got = placed(extractors.committed(web_manifest.figures(ROOT / "web" / "model")))
    held = {("web_files", row, key): e["value"] for row, keys in COMMITTED["web_files"].items() for key, e in keys.items()}
    assert got == held, "web/model/ changed: python web/build.py records its files again"


def test_web_bench_records_each_runtime_on_the_sections_rows():
    runtime = {"bytes_runtime_code": 14_000_000, "bytes_model_and_gate": 488_000, "page_ready_s": 1.2, "model_load_ms": 500.0,
               "inference_ms_median": 1.7, "preprocess_ms_median": 1.8, "canvas_to_verdict_ms_median": 1.9}
    report = {"command": "python web/bench.py", "model": "mnist_cnn", "model_sha": extractors.model_sha("mnist_cnn"),
              "browser": {"chromium": "156"}, "machine": {"load_average_1m": 2.0},
              "runtimes": {"onnx": runtime, "tfjs": runtime}, "node_tfjs_model_only": {"wasm": {"latency_ms_median": 0.6}}}
    got = placed(extractors.committed(extractors.from_web_bench(report)))
    assert {(r, k) for _, r, k in got} <= {(r, k) for r, keys in COMMITTED["web_bench"].items() for k in keys}
    assert got["web_bench", "TF.js (wasm backend)", "model load"] == 500.0


def test_the_web_page_figures_are_the_browser_tests_report_as_the_results_file_holds_them():
    """docs/web_page.json (what `DIGITLAB_REFRESH_DOCS=1 python -m pytest -q tests/browser/test_web_page.py` wrote) read
    by from_web_page is the results file's web_page section, row for row, naming the file the page's model came from."""
    report = json.loads((ROOT / "docs" / "web_page.json").read_text())
    got = placed(extractors.from_web_page(report))
    held = {("web_page", row, key): e["value"] for row, keys in COMMITTED["web_page"].items() for key, e in keys.items()}
    assert got == held, "docs/web_page.json changed: the browser test records its figures again under DIGITLAB_REFRESH_DOCS=1"
    shas = {e.get("model_sha") for keys in COMMITTED["web_page"].values() for e in keys.values()}
    assert shas == {report["model_sha"]} and report["model_sha"].startswith("sha256:")


def test_replacing_a_section_drops_the_rows_no_longer_measured(tmp_path):
    """The web page's rows name their counts ("(47 inputs)"): a run with other counts replaces the section whole,
    and leaves every other section as it was."""
    path = tmp_path / "results.json"
    shutil.copy(ROOT / "docs" / "results.json", path)
    report = json.loads((ROOT / "docs" / "web_page.json").read_text())
    report["js_vs_python_28x28"]["inputs"] += 1
    figures = extractors.from_web_page(report)
    assert results.replace_section("web_page", figures, path) == len(figures)
    after = results.load(path)["figures"]
    assert set(after["web_page"]) == {f.row for f in figures} and len(after["web_page"]) == len(COMMITTED["web_page"])
    assert {s: v for s, v in after.items() if s != "web_page"} == {s: v for s, v in COMMITTED.items() if s != "web_page"}
    with pytest.raises(schema.ResultsError, match="another section"):
        results.replace_section("web_bench", figures, path)
