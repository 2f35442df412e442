"""The Collect page's fine-tuning panel: settings, the background job's progress and Stop, the result.

A component of app/pages/6_Collect.py (layout only): the job is ``digitlab.training.jobs``, the figures
come from the fine-tuned model's card.
"""

import uuid
from pathlib import Path

import common
import streamlit as st

from digitlab.data import user_digits
from digitlab.models import artifacts
from digitlab.paths import shown
from digitlab.report import tables
from digitlab.training import finetune, jobs


def session() -> str:
    """This browser session's id: a fine-tuning job's errors are shown to the session that started it."""
    return st.session_state.setdefault("collect_session", uuid.uuid4().hex)


def session_alive():
    """A check the job's watcher calls from its own thread: is this browser session still connected to
    the server?  A closed tab disconnects its session at once; the job then stops after
    ``jobs.OWNER_GRACE_S`` instead of running on and keeping every other session from fine-tuning.
    None where there is no Streamlit server (AppTest): nobody can close the session there."""
    from streamlit import runtime
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    if ctx is None or not runtime.exists():
        return None
    server, session_id = runtime.get_instance(), ctx.session_id
    return lambda: server.is_active_session(session_id)


def start_finetuning(folder: Path, out: Path) -> None:
    """Button callback: the settings are read from session state now, not from the last run."""
    base = next((e for e in common.list_models() if e.usable and e.name == st.session_state.collect_base), None)
    if base is None:
        st.session_state.collect_message = ("error", f"Model {common.plain(st.session_state.collect_base)} is gone from the model list.")
        return
    extra = ["--epochs", str(st.session_state.collect_epochs), "--replay", str(st.session_state.collect_replay),
             "--mnist-test", str(st.session_state.collect_mnist_test)]
    try:
        jobs.start_job(folder, out, str(base.path), extra=extra, owner=session(), owner_alive=session_alive())
    except jobs.JobError as e:
        st.session_state.collect_message = ("warning", common.plain(e))


def stop_finetuning(out: Path) -> None:
    job = jobs.job_for(out)
    if job is not None:
        job.stop("stopped from the app" if job.owner == session() else "stopped from another browser session")


def panel(counts: dict[int, int]) -> None:
    """Settings and the Fine-tune button, then the running job's progress (any session's, with Stop) and the last result."""
    folder, out = user_digits.default_dir(), common.user_models_dir()
    usable = [e for e in common.list_models() if e.usable]
    short = user_digits.short(counts)
    running = jobs.busy(out)  # by this session or another: one job writes the model at a time
    names = [e.name for e in usable]
    default = names.index(finetune.FinetuneConfig.base) if finetune.FinetuneConfig.base in names else 0
    d = finetune.FinetuneConfig
    c1, c2, c3, c4 = st.columns([2, 1, 1, 1], vertical_alignment="bottom")
    base = c1.selectbox("Start from", names, index=default, key="collect_base") if names else None
    epochs = c2.number_input("Epochs (all layers)", 1, 50, d.epochs, key="collect_epochs",
                             help=f"after {d.head_epochs} epochs in which only the last layer learns")
    c3.number_input("MNIST replay per picture", 0.0, 10.0, d.replay, step=0.5, key="collect_replay",
                    help="MNIST train digits mixed in per picture of yours: more forgets MNIST less and takes longer; 0 turns it off")
    c4.number_input("MNIST test digits", 100, 10000, d.mnist_test, step=500, key="collect_mnist_test",
                    help="how many MNIST test digits measure what the model forgot")
    st.caption(f"{d.head_epochs} epochs train the last layer only, then {epochs} train all layers: {d.head_epochs + epochs} epochs "
               "in all, as the progress bar counts them.")
    if short:
        st.info(
            f"Fine-tuning needs {user_digits.needs()}. "
            + ("Still short: " + ", ".join(f"{d} ({n})" for d, n in short.items()) + "." if any(short.values()) else "Nothing saved yet.")
        )
    st.button(
        f"Fine-tune {common.plain(base) if base else 'a model'} on my digits", key="collect_finetune", type="primary",
        disabled=bool(short) or running or base is None, on_click=start_finetuning, args=(folder, out),
    )
    st.caption(
        "Runs `training/finetune_on_custom.py` in the background: a quarter of each digit's pictures is held out and only measured; "
        "MNIST train digits are mixed in so it does not forget MNIST; then the model is calibrated like the committed ones. "
        f"It takes a few minutes on 2 cores (the bar shows how far it is); you can keep drawing. The model goes to `{shown(out)}`, "
        "your own models folder (git-ignored), and appears in the sidebar."
    )
    job_progress(out)
    show_result(out)


def job_progress(out: Path) -> None:
    """The job writing the model, whoever started it: its progress and a Stop button while it runs; how it
    ended, to the session that started it."""
    job = jobs.job_for(out)

    @st.fragment(run_every=1.0 if job is not None and job.running() else None)
    def progress() -> None:
        job = jobs.job_for(out)
        if job is None:
            return
        mine = job.owner == session()
        state = job.status()
        if state["state"] in ("running", "stopping"):
            who = "" if mine else "Another session is fine-tuning: "
            text = f"{who}{state.get('message', '')} · {state['seconds']:.0f} s"
            c1, c2 = st.columns([5, 1], vertical_alignment="bottom")
            c1.progress(min(1.0, state.get("fraction", 0.0)), text=text)
            c2.button("Stop", key="collect_stop", on_click=stop_finetuning, args=(out,), width="stretch",
                      disabled=state["state"] == "stopping", help="End the fine-tuning now; no model is written")
        elif mine and state["state"] == "stopped":
            st.warning(f"Fine-tuning was {common.plain(state['message'])}; no model was written.")
        elif mine and state["state"] == "error":
            st.error(f"Fine-tuning failed, no model was written: {common.plain(state['message'])}")
        if state["state"] not in ("running", "stopping") and st.session_state.collect_job_seen != job.started:
            st.session_state.collect_job_seen = job.started
            st.rerun()  # the whole app: the sidebar lists the new model, the Fine-tune button comes back

    progress()


def use_model(name: str) -> None:
    st.session_state[common.MODEL_KEY] = name


def show_result(out: Path) -> None:
    """The fine-tuned model's before/after figures, from its card on disk."""
    path = out / f"{finetune.FinetuneConfig.name}{artifacts.MODEL_SUFFIX}"
    card = artifacts.read_card(path) if path.is_file() else None
    if not card or "finetune" not in card:
        return
    st.subheader(f"{common.plain(card['name'])}: fine-tuned from {common.plain(card['base']['name'])}")
    st.table(tables.finetune_rows(card))
    temperature = (card.get("calibration") or {}).get("temperature")
    st.caption(f"{card['data']['user_pictures']} of your pictures ({card['data']['user_train']} to learn from, "
               f"{card['data']['user_holdout']} held out) · {common.plain(card['date'].replace('T', ' '))} · {card['total_seconds']:.0f} s"
               + (f" · calibrated: temperature {temperature:.2f}" if isinstance(temperature, (int, float)) else "")
               + f" · `{shown(path)}`")
    for s in card["data"]["skipped"]:
        st.caption(f"⚠️ skipped {common.plain(s['path'])}: {common.plain(s['reason'])}")
    if st.session_state[common.MODEL_KEY] != card["name"]:
        st.button(f"Predict with {common.plain(card['name'])}", key="collect_use", on_click=use_model, args=(card["name"],))
    else:
        st.caption(f"**{common.plain(card['name'])}** is the model in use (sidebar).")
