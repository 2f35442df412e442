"""Every Markdown table of the project: reports, the README's figures and the scripts' summaries.

``markdown(header, rows)`` draws a table; the functions below turn one measurement (already made by
digitlab.evaluation or digitlab.serving) into its rows, so a table looks the same wherever it is printed.
"""

from __future__ import annotations

import numpy as np


def markdown(header: list[str], rows: list[list]) -> str:
    """A Markdown table: the header, its rule, one line per row (cells as given, None as empty)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join("" if c is None else str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def pct(v, digits: int = 1, missing: str = "") -> str:
    return missing if v is None else f"{v:.{digits}%}"


def corruption_sweep(result: dict, model: str) -> str:
    """One model's sweep (``robustness.sweep``): a severity table for the suite, then the MNIST-C-style column."""
    lines = [f"### {model}", "", f"clean accuracy {result['clean']:.2%} on {result['n']} MNIST test digits", ""]
    width = max((len(e["levels"]) for e in result["suite"].values()), default=0)
    rows = [[name, e["unit"], *([f"{lv:g}: {a:.1%}" for lv, a in zip(e["levels"], e["accuracy"])] + [""] * (width - len(e["levels"]))),
             f"{np.mean(e['accuracy']):.1%}"] for name, e in result["suite"].items()]
    lines.append(markdown(["corruption", "unit", *(f"level {i + 1}" for i in range(width)), "mean"], rows))
    lines += ["", f"suite mean (every corruption and level): {result['suite_mean']:.2%}", ""]
    if result["mnist_c"]:
        lines.append(markdown(["MNIST-C-style corruption", "accuracy"], [[name, f"{a:.2%}"] for name, a in result["mnist_c"].items()]))
        lines += ["", f"**mean corruption accuracy (MNIST-C-style, 15 corruptions): {result['mnist_c_mean']:.2%}**", ""]
    return "\n".join(lines)


def records(rows: list[dict[str, str]]) -> str:
    """Rows of {column header: cell text} (e.g. ``evaluation.leaderboard.formatted``, which the page shows too) as a table."""
    header = list(rows[0]) if rows else []
    return markdown(header, [list(r.values()) for r in rows])


def tune_trials(rows: list[dict]) -> str:
    """The hyperparameter search's trial table (``training.tune.trial_table``)."""
    keys = [k for k in rows[0] if k != "error"] if rows else []

    def cell(k, v):
        return "" if v is None else f"{v:.4g}" if isinstance(v, float) and k != "val_accuracy" else str(v)

    return markdown(keys, [[cell(k, r.get(k)) for k in keys] for r in rows]) + "\n"


def export_parity(report: dict) -> str:
    """The parity table of one model's exports (``serving.parity.check``)."""
    rows = []
    for r in report["rows"]:
        keras = r["format"] == "keras"
        verdict = "reference" if keras else ("ok" if r["ok"] else "**FAIL**: " + "; ".join(r["failures"]))
        rows.append([
            r["format"], r.get("file") or "", "" if r.get("bytes") is None else f"{r['bytes'] / 1000:,.0f} kB",
            "" if keras or "max_abs_dp" not in r else f"{r['max_abs_dp']:.1e}", "" if keras else pct(r.get("agreement"), 2),
            pct(r.get("accuracy_mnist"), 2), pct(r.get("accuracy_drawn"), 2),
            "" if r.get("latency_ms") is None else format(r["latency_ms"], ".3f"), "" if r.get("load_s") is None else format(r["load_s"], ".2f"),
            verdict,
        ])
    header = ["format", "file", "size", "max abs dp", "argmax agreement", "acc. MNIST", "acc. drawn", "p50 ms / image", "load s", "parity"]
    return markdown(header, rows)


def attack_curves(results: dict[str, dict]) -> str:
    """Accuracy against epsilon per model and attack (``evaluation/attack.py``'s results)."""
    eps = next(iter(results.values()))["curves"][0]["eps"]
    rows = [[model, "FGSM" if c["attack"] == "fgsm" else f"PGD-{c['steps']}", *(f"{a:.1%}" for a in c["accuracy"])]
            for model, r in results.items() for c in r["curves"]]
    return markdown(["model", "attack", *(f"ε={e:g}" for e in eps)], rows)


def calibration(reports: dict[str, dict], gate_alone: dict | None) -> str:
    """Two tables: what is rejected among digits, and among non-digits per set and kind; "gate + confidence"
    is the rule, "confidence only" the threshold alone at the same validation budget."""
    from digitlab.data.nondigits import KINDS

    pct = lambda v: "-" if v is None else f"{v:.1%}"  # noqa: E731
    digits = ["| model | T | ECE before -> after | rule | MNIST test rejected | drawn digits rejected | printed digits (held-out fonts) rejected |",
              "|---|---|---|---|---|---|---|"]
    sets = ["| model | non-digit set | rule | rejected | " + " | ".join(KINDS) + " | unseen letters |", "|---" * (5 + len(KINDS)) + "|"]
    for model, r in reports.items():
        ab, only = r["abstain"], r["abstain"]["confidence_only"]
        rules = [("gate + confidence", ab), ("confidence only", only)] if ab["gate"] else [("confidence", ab)]
        for i, (rule, row) in enumerate(rules):
            digits.append(f"| {model if i == 0 else ''} | {r['temperature']:.3f} | {r['ece_before']:.2%} -> {r['ece_after']:.2%} | {rule} | "
                          f"{row['mnist_test_rejected']:.2%} | {pct(row['digits_rejected'].get('drawn'))} | {pct(row['digits_rejected'].get('printed'))} |")
        for j, (name, s) in enumerate(ab["non_digits"].items()):
            sets.append(f"| {model if j == 0 else ''} | {name} | {rules[0][0]} | {pct(s['rejected'])} | "
                        + " | ".join(pct(s["rejected_by_kind"].get(k)) for k in KINDS) + f" | {pct(s.get('unseen_letters_rejected'))} |")
            if ab["gate"]:
                kinds = only["non_digits_rejected_by_kind"].get(name, {})
                sets.append(f"| | | confidence only | {pct(only.get(f'non_digits_rejected_{name}'))} | "
                            + " | ".join(pct(kinds.get(k)) for k in KINDS) + " | |")
    lines = digits + [""] + sets
    if gate_alone:
        nd = gate_alone["non_digits"]
        lines += ["", "The gate alone (any model, also one without a calibration entry): "
                  f"MNIST val {gate_alone['mnist_val_rejected']:.2%} / test {gate_alone['mnist_test_rejected']:.2%} rejected, "
                  f"drawn digits {pct(gate_alone['digits_rejected'].get('drawn'))}, printed {pct(gate_alone['digits_rejected'].get('printed'))}; "
                  + "; ".join(f"non-digits {name} {pct(s['rejected'])} (" + ", ".join(f"{k} {pct(v)}" for k, v in s["rejected_by_kind"].items()) + ")"
                              for name, s in nd.items())]
    return "\n".join(lines)


def finetune_rows(card: dict) -> list[dict[str, str]]:
    """Before/after accuracy from a fine-tuned model's card, as display rows (the script prints
    them as a table, the app shows the same rows)."""
    f, d = card["finetune"], card["data"]
    rows = [
        (f"held-out user digits ({d['user_holdout']}, never trained on)", "user_holdout"),
        (f"MNIST test ({d['mnist_test']:,} digits)", "mnist_test"),
        (f"user training digits ({d['user_train']})", "user_train"),
    ]
    return [{"measured on": label, "before": f"{f['before'][k]:.2%}", "after": f"{f['after'][k]:.2%}"} for label, k in rows]


def finetune_summary(card: dict) -> str:
    """``finetune_rows`` as plain text for a terminal."""
    rows = finetune_rows(card)
    width = max(len(r["measured on"]) for r in rows)
    lines = [f"{'':{width}}  {'before':>8}  {'after':>8}"]
    lines += [f"{r['measured on']:{width}}  {r['before']:>8}  {r['after']:>8}" for r in rows]
    return "\n".join(lines)


def benchmark(r: dict) -> str:
    """``evaluation/benchmark.py``'s result: latency, the race and the step costs."""
    lines = [f"Single-image latency, {r['latency_model']}, 280x280 canvas drawing -> probabilities", "",
             "| path | p50 ms | p95 ms |", "| --- | --- | --- |"]
    for name, v in r["latency"].items():
        lines.append(f"| {name} | {v['p50_ms']:.2f} | {v['p95_ms']:.2f} |")
    if "race" in r:
        lines += ["", "| racer | reached | epochs | in-epoch s | wall s | boundaries (s) | first step s | median step ms |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for race in r["race"]:
            lines.append(f"| {race['name']} | {race['reached']} ({race['target']:.2%}) | {race['epochs']:.2f} | "
                         f"{race['in_epoch_seconds']:.1f} | {race['wall_seconds']:.1f} | {race['boundaries']} "
                         f"({race['boundary_seconds']:.1f}) | {race['first_step_seconds']:.2f} | {race['median_step_ms']:.1f} |")
        if r.get("speedup"):
            s = r["speedup"]
            lines.append(f"\nspeed-up to {r['race'][0]['target']:.2%}: {s['in_epoch']:.1f}x in-epoch, {s['wall']:.1f}x wall "
                         f"({s['epochs']:.1f}x fewer epochs)")
    if "step_cost" in r:
        lines += ["", "| training step | batch | median ms | p90 ms | s per epoch | params |", "| --- | --- | --- | --- | --- | --- |"]
        for name, c in r["step_cost"].items():
            lines.append(f"| {name} | {c['batch_size']} | {c['median_ms']:.1f} | {c['p90_ms']:.1f} | {c['s_per_epoch']:.1f} | {c['params']:,} |")
    if "load_average" in r:
        load = r["load_average"]
        lines.append(f"\nload average (1 min) {load['start'][0]:.1f} at the start, {load['end'][0]:.1f} at the end, "
                     f"on {r['machine']['cpus']} CPUs")
    return "\n".join(lines)
