"""Extractors: a report a measuring command writes -> its figures for the results file.

A measuring command records what it measured with ``results.record_all(committed(from_x(report)))``: the
extractor reads the figures out of its report (``from_handwriting``, ``from_benchmark``, ...), ``committed``
keeps those measured on a committed model's very file.
"""

from __future__ import annotations

from pathlib import Path

from digitlab.paths import MODELS_DIR, shown
from digitlab.report.schema import Figure


def model_sha(model) -> str | None:
    """"sha256:<16 hex>" of a model file (a name in models/ or a path), as the handwriting report and the
    serving cache name models; None when there is no such file."""
    from digitlab.files import sha256

    path = Path(model)
    if not path.suffix:
        path = MODELS_DIR / f"{model}.keras"
    return sha256(path, 16) if path.is_file() else None


def committed(figures: list[Figure]) -> list[Figure]:
    """The figures measured on no model or on a committed model's very file: a candidate measured by the same
    command (``--model runs/x.keras``, or a model of the same name elsewhere) is not what the docs describe."""
    return [f for f in figures if f.model is None or (f.model_sha is not None and f.model_sha == model_sha(f.model))]


def _day(iso: str | None) -> str | None:
    return iso[:10] if iso else None


def from_card(card: dict, keras_file: Path | None = None) -> list[Figure]:
    """A model card's figures: accuracy and size (models), calibration (stress, abstain), attacks (adversarial)."""
    name = card["name"]
    sha = model_sha(keras_file) if keras_file is not None else model_sha(name)
    source = shown(MODELS_DIR / f"{name}.json")
    promoted = card.get("promoted") or {}
    command = promoted.get("command") or card.get("command") or "(not on the card)"
    date = _day(promoted.get("date") or card.get("date"))
    m = card.get("metrics", {})

    def fig(section, key, v, fmt, cmd=command, day=date, note=None):
        return Figure(section, key, v, cmd, row=name, model=name, model_sha=sha, fmt=fmt, date=day, source=source, note=note)

    out = [fig("models", "MNIST test acc.", m["test_accuracy"], "pct2"),
           fig("models", "weighted F1", m["test_weighted_f1"], "f4"),
           fig("models", "validation acc.", m["val_accuracy"], "pct2"),
           fig("models", "params", card["params"], "int")]
    if card.get("file_bytes"):
        out.append(fig("models", "file", card["file_bytes"], "bytes"))
    if card.get("train_seconds"):
        out.append(fig("models", "train time (wall)", card["train_seconds"], "s0"))
    if card.get("calibration"):
        out += calibration_figures(name, card["calibration"], sha, source, command, date)
    if card.get("adversarial"):
        out += adversarial_figures(name, card["adversarial"], sha, source, command, date)
    return out


def adversarial_figures(name: str, adv: dict, sha: str | None, source: str | None = None,
                        command: str | None = None, date: str | None = None) -> list[Figure]:
    """A card's "adversarial" entry (``evaluation/attack.py --write-card``): accuracy per attack, sanity verdict."""
    cmd, day = adv.get("command") or command or "(not on the card)", _day(adv.get("date")) or date
    s = adv.get("sanity") or {}
    eps, transfer = s.get("eps"), s.get("transfer") or {}
    steps, restarts = adv.get("pgd_steps", 100), adv.get("restarts", 1)
    rows = [("clean", adv.get("clean_accuracy"))]
    rows += [(f"FGSM, {k.removeprefix('fgsm_eps')}", v) for k, v in adv.items() if k.startswith("fgsm_eps")]
    rows += [(f"PGD-{steps}, {restarts} restarts, {k.removeprefix(f'pgd{steps}_eps')}", v)
             for k, v in adv.items() if k.startswith(f"pgd{steps}_eps")]
    rows += [(f"PGD on the logit margin, {eps}", s.get(f"pgd{steps}_margin_eps{eps}")),
             (f"worst case per digit, {eps}", s.get(f"worst_case_eps{eps}")),
             (f"transfer from {transfer.get('source')}, {eps}", transfer.get("accuracy"))]
    out = [Figure("adversarial", "accuracy", v, cmd, row=k, model=name, model_sha=sha, fmt="pct2", date=day, source=source)
           for k, v in rows if v is not None]
    if "passed" in s:
        out.append(Figure("adversarial", "accuracy", "passed" if s["passed"] else "FAILED", cmd, row="sanity checks",
                          model=name, model_sha=sha, date=day, source=source))
    return out


def calibration_figures(name: str, cal: dict, sha: str | None, source: str | None = None,
                        command: str | None = None, date: str | None = None) -> list[Figure]:
    """A card's calibration entry (written by ``evaluation/calibrate.py``): ECE (stress) and the rule's rejections."""
    cmd, day = cal.get("command") or command or "(not on the card)", _day(cal.get("date")) or date

    def fig(section, key, v, fmt):
        return Figure(section, key, v, cmd, row=name, model=name, model_sha=sha, fmt=fmt, date=day, source=source)

    out = [fig("stress", "ECE before temperature", cal["ece_before"], "pct2"),
           fig("stress", "ECE after temperature", cal["ece_after"], "pct2")]
    ab = cal.get("abstain", {})
    for key, card_key, fmt in (("MNIST test", "mnist_test_rejected", "pct2"),
                               ("non-digits, in-distribution", "non_digits_rejected_in_distribution", "pct1"),
                               ("non-digits, held-out", "non_digits_rejected_held_out", "pct1"),
                               ("non-digits, fresh", "non_digits_rejected_fresh", "pct1")):
        if card_key in ab:
            out.append(fig("abstain", key, ab[card_key], fmt))
    for kind, v in (ab.get("digits_rejected") or {}).items():
        out.append(fig("abstain", f"{kind} digits", v, "pct1"))
    return out


def from_handwriting(report: dict, source: str | None = None) -> list[Figure]:
    """``evaluation/handwriting.py``'s report: accuracy per set and model (no test-time augmentation), the mean
    of the sets, the conventions set's weakest class and its 0s, 1s and 7s (the classes it was built for), and the real numbers."""
    out = []
    day = _day(report.get("date"))
    for model, sets in report["results"].items():
        sha = (report.get("models", {}).get(model) or {}).get("sha256")
        note = "pictures per set: " + ", ".join(f"{name} {r['n']:,}" for name, r in sets.items())
        common = dict(model=model, model_sha=sha, fmt="pct1", date=day, source=source, note=note)
        for name, r in sets.items():
            out.append(Figure("handwriting", model, r["accuracy"], report["command"], row=name, **common))
        out.append(Figure("handwriting", model, sum(r["accuracy"] for r in sets.values()) / len(sets), report["command"],
                          row="mean of the sets", **common))
        for name, r in sets.items():  # every writer weighing the same: a set of few prolific writers reads mostly their habits
            if "writers" in r:
                out.append(Figure("handwriting", model, r["writers"]["mean"], report["command"], row=f"{name}, each writer weighing the same",
                                  **dict(common, note=f"the mean of {r['writers']['n']} writers' own accuracies; the largest wrote "
                                                      f"{r['writers']['largest_share']:.0%} of the set's {r['n']:,} digits")))
        conv = sets.get("conventions")
        if conv:
            out.append(Figure("handwriting", model, min(conv["per_class"].values()), report["command"],
                              row="conventions, its weakest class", **common))
            for digit in ("0", "1", "7"):
                out.append(Figure("handwriting", model, conv["per_class"][digit], report["command"],
                                  row=f"conventions, its {digit}s", **common))
        for key in ("real_numbers", "real_numbers_scanned"):
            numbers = (report.get(key) or {}).get(model)
            if not numbers:
                continue
            reader = report.get("number_reader")
            read_with = f", read with the number reader {_reader(reader)}" if reader else ", read by the cuts alone"
            common_n = dict(common, note=f"{numbers['n']} numbers of 2-6 digits{read_with}")
            # two decimals: of 634 numbers one is 0.16 point, and 94.95% must not read as the 95% it misses
            out.append(Figure(key, model, numbers["whole_number"], report["command"], row="all lengths",
                              **dict(common_n, fmt="pct2")))
            for group, r in numbers["groups"].items():
                out.append(Figure(key, model, r["whole_number"], report["command"], row=group,
                                  **dict(common_n, note=f"{r['n']} numbers{read_with}")))
    return out


def from_conventions(report: dict, source: str | None = None) -> list[Figure]:
    """``evaluation/conventions.py``'s report: per model the accuracy of every style (its interval and verdict in the
    note), every style together, and how many styles are below the target or unresolved."""
    out = []
    day, cmd, target = _day(report.get("date")), report["command"], report["target"]
    writing = report.get("writing", "default")  # serving.writing.DEFAULT, by its value: report does not import serving
    section = "conventions" if writing == "default" else f"conventions_{writing}"
    for model, r in report["results"].items():
        sha = (report.get("models", {}).get(model) or {}).get("sha256")
        common = dict(model=model, model_sha=sha, date=day, source=source,
                      note=f"{report['per_style']} drawings of each of {len(r['styles'])} styles, seed {report['seed']}; every style's "
                           f"95% interval and verdict: conventions.md beside it")
        for style, st in r["styles"].items():
            out.append(Figure(section, model, st["accuracy"], cmd, row=style, fmt="pct1", **common))
        out.append(Figure(section, model, r["accuracy"], cmd, row="every style", fmt="pct1", **common))
        for verdict in ("below", "unresolved"):
            out.append(Figure(section, model, r["verdicts"][verdict], cmd, row=f"styles {verdict} {target:.0%}", fmt="int", **common))
    return out


def _reader(reader: dict) -> str:
    """The number reader a report read with: its file's hash, and the margin its card held (reports written
    before the margin replaced the confidence threshold hold none)."""
    return reader["sha256"] + (f" at margin {reader['margin']:g}" if reader.get("margin") is not None else "")


def from_numbers(report: dict, model_file: Path | None = None, source: str | None = None) -> list[Figure]:
    """``evaluation/numbers.py``'s report: whole numbers and digits right, by gap and for 4 visible-gap digits."""
    s, cmd, model = report["summary"], report["command"], report["model"]
    day = _day(report.get("date"))
    common = dict(model=model, model_sha=model_sha(model_file or model), date=day, source=source)
    rows = [("4 digits, visible gaps", s["four_digits_visible_gaps"])]
    rows += [(f"{gap} gaps", s["gap"][gap]) for gap in s["gap"]]
    rows += [("all", s["all"])]
    reader = report.get("number_reader")
    common["note"] = "numbers per row: " + ", ".join(f"{row} {r['n']:,}" for row, r in rows) + (
        f"; read with the number reader {_reader(reader)}" if reader else "; read by the cuts alone")
    out = []
    for row, r in rows:
        out += [Figure("numbers", "whole numbers right", r["whole_number"], cmd, row=row, fmt="pct1", **common),
                Figure("numbers", "digits right", r["digits"], cmd, row=row, fmt="pct1", **common)]
    return out


def from_benchmark(report: dict, command: str, model_file: Path | None = None, source: str | None = None) -> list[Figure]:
    """``evaluation/benchmark.py``'s report: latency per path and, when it ran, the training race."""
    day = _day(report.get("date"))
    model = report.get("latency_model")
    sha = model_sha(model_file) if model_file is not None else None
    out = []
    for path_name, r in report.get("latency", {}).items():
        for q in ("p50", "p95"):
            out.append(Figure("latency", f"{q} ms", r[f"{q}_ms"], command, row=path_name, model=model, model_sha=sha,
                              fmt="ms", date=day, source=source))
    target = None
    for racer in report.get("race", []):
        if not racer.get("reached"):
            continue
        target = racer.get("target", 0.99)
        for key, v, fmt in ((f"epochs to {target:.1%}", racer.get("epochs"), "f2"),
                            ("in-epoch s", racer.get("in_epoch_seconds"), "s"), ("wall s", racer.get("wall_seconds"), "s")):
            if v is not None:
                out.append(Figure("training_race", key, v, command, row=racer["name"], fmt=fmt, date=day, source=source))
    sp = report.get("speedup")
    if isinstance(sp, dict) and target is not None:  # older reports kept one ratio, not per clock
        for key, k in ((f"epochs to {target:.1%}", "epochs"), ("in-epoch s", "in_epoch"), ("wall s", "wall")):
            if k in sp:
                out.append(Figure("training_race", key, sp[k], command, row="speed-up", fmt="x", date=day, source=source))
    return out


DRAWN_SETS_MEAN_EXCLUDES = "MNIST as is"  # the control set is not part of "the six drawn and photo sets"


def from_drawn_digits(report: dict, command: str, files: dict[str, Path] | None = None,
                      source: str | None = None) -> list[Figure]:
    """``evaluation/drawn_digits.py``'s report: per model the mean of the drawn and photo sets each way, and
    per set on the default path; ``files`` maps a model's name to the file measured."""
    out = []
    for model, table in report["results"].items():
        sha = model_sha((files or {}).get(model) or model)
        sets = [r for name, r in table.items() if name != DRAWN_SETS_MEAN_EXCLUDES]
        for way in ("naive", "recipe", "recipe + stroke"):
            out.append(Figure("drawn_digits", way, sum(r[way] for r in sets) / len(sets), command, row=model,
                              model=model, model_sha=sha, fmt="pct1", source=source))
        for name, r in table.items():
            out.append(Figure("drawn_digits_sets", model, r["recipe + stroke"], command, row=name, model=model,
                              model_sha=sha, fmt="pct1", source=source))
    return out


def from_writers(report: dict, model_file: Path | None = None) -> list[Figure]:
    """``evaluation/writers.py``: the share right over every drawing of the part read."""
    s = report["summary"]
    part = {"held-out": "held-out site", "val": "validation writers", "train": "training writers"}[report["part"]]
    return [Figure("writers", f"{part}, {report['renders']} draw{'s' if report['renders'] != 1 else ''}", s["accuracy"], report["command"], row=report["model"],
                   model=report["model"], model_sha=model_sha(model_file or report["model"]), fmt="pct2",
                   note=f"{s['digits']:,} drawings of {s['writers']} writers, seed {report['seed']}")]


def from_photo_cases(report: dict, model_file: Path | None = None, source: str | None = None) -> list[Figure]:
    model = report["model"]
    sha = model_sha(model_file or model)
    n = {r["n"] for r in report["cases"].values()}
    note = f"{', '.join(map(str, sorted(n)))} MNIST test digits per case, preprocessing {report['preprocess_version']}"
    return [Figure("photo_cases", "accuracy", r["accuracy"], report["command"], row=case, model=model, model_sha=sha,
                   fmt="pct1", source=source, note=note)
            for case, r in report["cases"].items()]


def from_paper(report: dict, source: str | None = None) -> list[Figure]:
    """``evaluation/paper.py``'s report: per model the share read right of every picture, of each register, and of its
    weakest class (a register of a few pictures is a row like any other: the note gives each one's size)."""
    out = []
    day, cmd = _day(report.get("date")), report["command"]
    for model, r in report["results"].items():
        sha = (report.get("models", {}).get(model) or {}).get("sha256")
        note = (f"{r['n']:,} pictures, preprocessing {report['preprocess_version']}; per register: "
                + ", ".join(f"{reg} {s['n']:,}" for reg, s in r["per_register"].items()))
        common = dict(model=model, model_sha=sha, fmt="pct1", date=day, source=source, note=note)
        out.append(Figure("paper", model, r["accuracy"], cmd, row="every picture", **common))
        for reg, s in r["per_register"].items():
            out.append(Figure("paper", model, s["accuracy"], cmd, row=f"register {reg}", **common))
        weakest = min(r["per_class"], key=lambda c: r["per_class"][c]["accuracy"])
        out.append(Figure("paper", model, r["per_class"][weakest]["accuracy"], cmd, row="its weakest class", **common))
    return out


def from_robustness(model: str, result: dict, command: str, model_file: Path | None = None) -> list[Figure]:
    """``evaluation/evaluate_robustness.py``, one model: clean accuracy and the MNIST-C-style mean."""
    sha = model_sha(model_file or model)
    return [Figure("stress", "mean corruption acc.", result["mnist_c_mean"], command, row=model, model=model,
                   model_sha=sha, fmt="pct1")]


def from_leaderboard(rows: list[dict], command: str, files: dict[str, Path]) -> list[Figure]:
    """``evaluation/leaderboard.py`` at its full settings (PGD-40): FGSM eps 0.1 and PGD-40 eps 0.3 per model;
    ``files`` names each row's model file (its sha marks which file was measured)."""
    out = []
    for r in rows:
        sha, n = model_sha(files[r["name"]]), (r.get("n") or {}).get("attacks")
        out += [Figure("stress", header, r[key], command, row=r["name"], model=r["name"], model_sha=sha, fmt="pct1",
                       note=f"{n:,} MNIST test digits" if n else None)
                for key, header in (("fgsm_eps0.1", "FGSM eps 0.1"), ("pgd40_eps0.3", "PGD-40 eps 0.3")) if r.get(key) is not None]
    return out


def from_finetune_study(report: dict, base_file: Path) -> list[Figure]:
    """``evaluation/finetune_study.py``: per user-digit count and replay, the held-out pictures, the new drawings and
    MNIST test before and after the fine-tune of ``report["base"]`` (the file ``base_file``)."""
    sha, out = model_sha(base_file), []
    for r in report["rows"]:
        row = f"{r['pictures']} user digits, replay {r['replay']:g}" + (f", seed {r['seed']}" if len({q["seed"] for q in report["rows"]}) > 1 else "")
        for key, stem, fmt in (("held-out", "holdout", "pct1"), ("new drawings", "fresh", "pct1"), ("MNIST test", "mnist", "pct2")):
            out += [Figure("finetune", f"{key} {when}", r[f"{stem}_{when}"], report["command"], row=row, model=report["base"],
                           model_sha=sha, fmt=fmt) for when in ("before", "after")]
    return out


def from_evaluate(model: str, report: dict, command: str, model_file: Path | None = None) -> list[Figure]:
    """``evaluation/evaluate.py`` on the full test split: the models table's accuracy and weighted F1."""
    sha = model_sha(model_file or model)
    return [Figure("models", "MNIST test acc.", report["accuracy"], command, row=model, model=model, model_sha=sha, fmt="pct2"),
            Figure("models", "weighted F1", report["weighted_f1"], command, row=model, model=model, model_sha=sha, fmt="f4")]


EXPORT_GROUPS = {  # the export section's column groups -> the formats each summarises
    "float formats": ("h5", "savedmodel", "tflite", "onnx"),
    "dynamic-range": ("tflite-dynamic",),
    "int8": ("tflite-int8",),
    "TF.js": ("tfjs",),
}


def from_export(report: dict) -> list[Figure]:
    """``evaluation/export.py``'s parity report of one model: per group of formats the largest |dp| and the lowest
    argmax agreement on the probe set, and the quantised and TF.js files' size.  A format that failed to export or
    load has no figures."""
    rows = {r["format"]: r for r in report["rows"] if "agreement" in r}
    common = dict(row=report["model"], model=report["model"], model_sha=report.get("source_sha256"),
                  date=_day(report.get("date")), note=f"probe: {report['n_probe']:,} images")
    out = []
    for group, formats in EXPORT_GROUPS.items():
        found = [rows[f] for f in formats if f in rows]
        if not found:
            continue
        if group != "float formats":
            out.append(Figure("export", f"{group}: size", found[0]["bytes"], report["command"], fmt="bytes", **common))
        out += [Figure("export", f"{group}: agreement", min(r["agreement"] for r in found), report["command"], fmt="pct2", **common),
                Figure("export", f"{group}: max abs dp", max(r["max_abs_dp"] for r in found), report["command"],
                       fmt="sci" if group in ("float formats", "TF.js") else "f3", **common)]
    return out


def from_serving_parity(report: dict, command: str, models_dir: Path) -> list[Figure]:
    """``evaluation/serving.py --parity N``: ONNX Runtime against Keras per model, and over all the committed
    models when ``models_dir`` is models/ and every one of them was measured."""
    out = []
    for name, r in report.items():
        common = dict(row=name, model=name, model_sha=model_sha(Path(models_dir) / f"{name}.keras"),
                      note=f"{r['n']:,} MNIST test digits as PNG files")
        out += [Figure("serving", "max abs dp", r["max_abs_dp"], command, fmt="sci", **common),
                Figure("serving", "labels that differ", r["labels_differ"], command, fmt="int", **common),
                Figure("serving", "decisions that differ", r["abstain_differ"], command, fmt="int", **common)]
    committed_names = {p.stem for p in MODELS_DIR.glob("*.keras")}
    if report and Path(models_dir).resolve() == MODELS_DIR.resolve() and set(report) == committed_names:
        n = min(r["n"] for r in report.values())
        common = dict(row="all committed models", note=f"{n:,} MNIST test digits as PNG files, {len(report)} models")
        out += [Figure("serving", "max abs dp", max(r["max_abs_dp"] for r in report.values()), command, fmt="sci", **common),
                Figure("serving", "labels that differ", sum(r["labels_differ"] for r in report.values()), command, fmt="int", **common),
                Figure("serving", "decisions that differ", sum(r["abstain_differ"] for r in report.values()), command, fmt="int", **common)]
    return out


WEB_PAGE_COMMAND = "DIGITLAB_REFRESH_DOCS=1 python -m pytest -q tests/browser/test_web_page.py"


def from_web_page(report: dict, source: str | None = "docs/web_page.json") -> list[Figure]:
    """The browser test's figures (``tests/browser/test_web_page.py``'s web_page.json): the JavaScript port against
    Python, the page's probabilities against onnxruntime and Keras, the uploaded MNIST digits, the time per image."""
    load = report.get("machine", {}).get("load_average_1m")
    common = dict(model=report["model"], model_sha=report.get("model_sha"), date=report.get("date"), source=source)
    port, probs, mnist, per = report["js_vs_python_28x28"], report["probabilities_max_abs_diff"], report["mnist_uploaded"], report["per_image_ms"]
    rows = [(f"28x28 input, JS vs Python, max abs diff ({port['inputs']} inputs)", port["max_abs_diff"], "sci"),
            ("probabilities, onnxruntime-web vs onnxruntime, max abs diff", probs["onnxruntime"], "sci"),
            ("probabilities, onnxruntime-web vs Keras, max abs diff", probs["keras"], "sci"),
            (f"MNIST digits uploaded, right in the page (of {mnist['digits']})", mnist["right_in_page"], "int"),
            (f"MNIST digits, right in Python from the 28x28 (of {mnist['digits']})", mnist["right_in_python_from_28x28"], "int"),
            (f"per image, canvas to probabilities, median ms ({per['n']} images)", per["median"], "f1"),
            ("of which preprocessing, median ms", report["preprocess_ms_median"], "f1"),
            ("of which inference, median ms", report["inference_ms_median"], "f1")]
    note = f"Chromium {report['browser']}, load average {load}" if load is not None else None
    return [Figure("web_page", "measured", v, WEB_PAGE_COMMAND, row=row, fmt=fmt, note=note if row.startswith(("per image", "of which")) else None,
                   **common) for row, v, fmt in rows]


WEB_RUNTIMES = {"onnx": "ONNX (onnxruntime-web)", "tfjs": "TF.js (wasm backend)"}


def from_web_bench(report: dict) -> list[Figure]:
    """``web/bench.py``'s figures: per runtime the bytes fetched, page ready, model load and the per-image medians;
    the TF.js model alone in Node per backend."""
    load = report.get("machine", {}).get("load_average_1m")
    common = dict(model=report["model"], model_sha=report.get("model_sha"),
                  note=f"Chromium {report['browser']['chromium']}, load average {load}")
    out = []
    for runtime, r in report["runtimes"].items():
        row = WEB_RUNTIMES.get(runtime, runtime)
        for key, v, fmt in (("runtime code fetched", r["bytes_runtime_code"], "bytes"), ("model + gate files", r["bytes_model_and_gate"], "bytes"),
                            ("page ready (cold)", r["page_ready_s"], "s2"), ("model load", r["model_load_ms"], "ms0"),
                            ("inference p50 (model + gate + rule)", r["inference_ms_median"], "ms"),
                            ("preprocessing p50", r["preprocess_ms_median"], "ms"),
                            ("canvas -> verdict p50", r["canvas_to_verdict_ms_median"], "ms")):
            out.append(Figure("web_bench", key, v, report["command"], row=row, fmt=fmt, **common))
    for backend, r in report.get("node_tfjs_model_only", {}).items():
        out.append(Figure("web_bench", "inference p50 (model + gate + rule)", r["latency_ms_median"], report["command"],
                          row=f"TF.js in Node, {backend} backend, the model alone", fmt="ms", **common))
    return out


FUZZ_RUNS = {(20000, 0): "full run", (2000, 2024): "CI slice"}  # (--n, --seed) -> the row docs/evaluation.md names


def from_fuzz(report: dict, headline: dict) -> list[Figure]:
    """``evaluation/fuzz.py``'s report and its ``hardening.tally.headline``: what the run found, and its peak RSS."""
    row = FUZZ_RUNS.get((report["n"], report["seed"]), f"{report['n']:,} files, seed {report['seed']}")
    common = dict(row=row)
    out = [Figure("fuzz", key, headline[k], report["command"], fmt="int", **common)
           for key, k in (("files", "files"), ("crashes", "crashes"), ("hangs", "hangs"), ("wrong refusals", "wrong_refusals"),
                          ("wrong acceptances", "wrong_acceptances"), ("non-JSON lines", "non_json_lines"))]
    if headline.get("peak_rss_mb") is not None:
        out.append(Figure("fuzz", "peak RSS per file", headline["peak_rss_mb"], report["command"], fmt="MiB", **common))
    return out


def from_app_benchmark(result: dict) -> list[Figure]:
    """``evaluation/app_benchmark.py``'s figures: cold start, memory, ten sessions at once, the predict CLI, the
    heaviest page and the all-pages session."""
    cmd = result["command"]
    load = result.get("machine", {}).get("load_average_at_start")
    common = dict(note=f"load average at start {load}" if load else None)
    cold, s, cli_run = result["cold_start"], result["sessions"], result["predict_cli"]
    out = [Figure("app", "measured", cold["canvas_usable_s"], cmd, row="canvas usable after the browser asks (cold server)", fmt="s2", **common),
           Figure("app", "measured", cold["first_prediction_s"], cmd, row="first prediction of a stroke (cold server)", fmt="s2", **common),
           Figure("app", "server RSS", cold["server_rss_after_first_prediction_mb"], cmd, row="Home, after the first prediction",
                  fmt="MiB", **common),
           Figure("app", "measured", f"{s['answered']} of {s['sessions']} answered, p50 {s['p50_ms']} ms, p95 {s['p95_ms']} ms", cmd,
                  row="ten sessions drawing at once", **common),
           Figure("app", "measured", f"median wall {cli_run['median_s']} s, peak RSS {cli_run['peak_rss_mb']} MiB", cmd,
                  row="predict CLI, one PNG", **common)]
    if result.get("pages"):
        heaviest = max(result["pages"], key=lambda r: r["server_peak_mb"])
        out += [Figure("app", "server RSS", heaviest["server_peak_mb"], cmd, row="heaviest page, server peak", fmt="MiB",
                       **dict(common, note="; ".join(filter(None, [f"the {heaviest['page']} page", common["note"]])))),
                Figure("app", "server RSS", result["all_pages"]["server_rss_mb"], cmd, row="every page in one session", fmt="MiB", **common)]
    return out
