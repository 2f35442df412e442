"""Every usable model side by side: clean accuracy, corruption and attack robustness, calibration,
speed and size, from digitlab.evaluation.leaderboard.table() (the function evaluation/leaderboard.py prints)."""

import dataclasses
import sys

import common
import streamlit as st

from digitlab import paths
from digitlab.evaluation import leaderboard
from digitlab.paths import shown
from digitlab.report import progress

# The quick look's time, measured (`time python evaluation/leaderboard.py --dry-run`, the 4 committed models, load ~20
# on 2 cores): 5 s (mnist_baseline) to 34 s (mnist_advanced) a model, 125 s in all with the process's start
SETTINGS = {"standard": "Standard (as evaluation/leaderboard.py)", "quick": "Quick look (rough: about 5-35 s a model on 2 busy cores)"}
# Eleven columns under their full names are ~1,200 px wide, more than the page's column: the table scrolled
# sideways with the latency cut off.  Short headers (the full name is each header's tooltip) fit.
SHORT = {"clean accuracy": "accuracy", "weighted F1": "F1", "mean corruption acc. (MNIST-C-style)": "corrupted",
         "ECE (card's T)": "ECE (T)", "latency p50 (ms)": "p50 ms", "size (kB)": "kB"}


def short_headers(headers) -> dict:
    """st.dataframe's column_config: a short label per long header, the full one as its help; the model column pinned."""
    return {h: st.column_config.TextColumn(SHORT.get(h, h), help=h, pinned=h == "model") for h in headers}

common.routed()
st.title("Leaderboard")

choice = st.segmented_control("Measured with", list(SETTINGS), format_func=SETTINGS.get, default="standard", required=True, key="lb_settings")
settings = dataclasses.replace(leaderboard.Settings() if choice == "standard" else leaderboard.QUICK)
cache = common.reports_dir() / "leaderboard"
st.caption(
    f"Measured with {leaderboard.describe(settings)}. Rows are cached per model file, calibration and settings in "
    f"`{shown(cache)}`, so a retrained model is measured again."
)
board = st.container()

rows, missing = leaderboard.cached_table(common.models_dir(), settings, cache)
if not rows and not missing:
    st.info(f"No usable model in {common.code(common.models_dir())}: nothing to compare. Train one with `python training/train_cnn.py`.")
    st.stop()
measure = refresh = False
c1, c2 = st.columns(2)
if missing:
    c1.info(f"Not measured yet with these settings: {common.plain(', '.join(e.name for e in missing))}.")
    measure = c1.button(f"Measure {len(missing)} model{'s' if len(missing) != 1 else ''}", type="primary", key="lb_measure")
if rows:
    refresh = c2.button("Measure every model again", key="lb_refresh", help="Ignore the cache, e.g. after changing the evaluation code")
if measure or refresh:
    st.caption("**Stop** (top right, while it runs) cancels; every model measured by then is kept.")
    bar = st.progress(0.0, text="Starting…")
    # In its own process (evaluation/leaderboard.py, the same function): its memory goes back when it ends
    command = [sys.executable, str(paths.ROOT / "evaluation" / "leaderboard.py"), "--out", str(common.reports_dir()), "--progress-json"]
    command += ["--dry-run"] * (choice == "quick") + ["--refresh"] * refresh
    try:
        code, errors = progress.run_with_progress(command, lambda f, msg: bar.progress(min(1.0, f), text=msg))
    finally:
        bar.empty()
    if code != 0:
        st.error(f"The measurement stopped: {common.plain(errors.strip().splitlines()[-1]) if errors.strip() else f'exit code {code}'}")
    else:
        st.rerun()  # show the full table and drop the buttons that no longer apply

with board:
    if not rows:
        st.info("No model measured yet: measure them below (Quick takes about 5-35 s a model), or run `python evaluation/leaderboard.py`.")
    else:
        table = leaderboard.formatted(rows, settings)
        st.dataframe(table, hide_index=True, width="stretch", column_config=short_headers(table[0]))
        trained = [r["name"] for r in rows if r.get("adversarially_trained")]
        st.caption(
            "ECE: expected calibration error (15 bins) of the raw probabilities, then after the temperature in the model card. "
            "FGSM / PGD: accuracy when each pixel may move by ε against the model (gradients of its logits)."
            + (f" Adversarially trained: {common.plain(', '.join(trained))}." if trained else "")
        )
        with st.expander("Accuracy on each MNIST-C-style corruption"):
            st.dataframe(leaderboard.corruption_table(rows), hide_index=True, width="stretch")
