"""The Collect page in a real browser: draw a digit with the mouse, label it, save it; fine-tune
from the page, stop a job, close the session that started one.

The app runs with $DIGITLAB_MY_DIGITS, $DIGITLAB_MODELS_DIR and $DIGITLAB_USER_MODELS pointing at
scratch folders, so the test never writes into the repository's my_digits/, models/ or user_models/.

    DIGITLAB_REQUIRE_BROWSER=1 python -m pytest -q tests/browser/test_browser_collect.py
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from _support import MODELS, TIMINGS, VIEWPORT, canvas_ready, link_models, screenshot, streamlit_app, stroke, wait_idle

pytestmark = [pytest.mark.browser, pytest.mark.slow]  # a real browser against a real app server

ONE = [(150, 40), (150, 240)]
SEVEN = [(70, 55), (210, 55), (120, 245)]


@pytest.fixture(scope="module")
def collect_app(browser, tmp_path_factory, committed_models):
    """`streamlit run app/Home.py` with scratch my_digits and models folders; yields (url, my_digits)."""
    work = tmp_path_factory.mktemp("collect")
    models, my_digits = link_models(work / "models", [e.name for e in committed_models]), work / "my_digits"
    env = {"DIGITLAB_MODELS_DIR": str(models), "DIGITLAB_MY_DIGITS": str(my_digits)}
    with streamlit_app(env, work / "streamlit.log", timeout=90) as (url, _):
        yield url, my_digits


def test_draw_label_and_save_a_digit(browser, collect_app, docs_out):
    from digitlab import preprocess
    from digitlab.data import user_digits
    from digitlab.serving import classifiers

    url, my_digits = collect_app
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    try:
        page.goto(f"{url}/Collect")
        page.get_by_text("Draw, label, save").wait_for(timeout=90_000)
        assert page.locator('[data-testid="stException"]').count() == 0
        for label, points in ((1, ONE), (7, SEVEN)):
            canvas_ready(page)  # a save remounts the canvas blank
            stroke(page, points, steps=8)
            page.get_by_text("(1 stroke)").wait_for(timeout=30_000)  # the stroke reached Python
            page.locator(".st-key-collect_label").get_by_role("radio", name=str(label), exact=True).click()
            page.locator(".st-key-collect_save button").click()
            page.get_by_text(f"Saved a {label} as").wait_for(timeout=30_000)
            page.get_by_text("(1 stroke)").wait_for(state="detached", timeout=30_000)  # a fresh, blank canvas
        assert page.locator('[data-testid="stException"]').count() == 0
        screenshot(page, docs_out / "collect.png")
        assert user_digits.counts(my_digits) == {d: int(d in (1, 7)) for d in range(10)}
        clf = classifiers.load_classifier("mnist_cnn", MODELS)
        for label in (1, 7):
            [path] = user_digits.samples(label, my_digits)
            prepared = preprocess.prepare(path)  # what fine-tuning will read
            assert not prepared.no_ink
            assert "a drawing on a white canvas (its file says so)" in prepared.notes, prepared.notes  # as Home reads its canvas
            assert clf.predict_prepared([prepared])[0].label == label, f"the saved {label} is not the drawn digit"
    finally:
        context.close()


# ----------------------------------------------------------------------------- fine-tuning jobs


def children(pid: int) -> dict[int, tuple[str, str]]:
    """{pid: (state letter, command line)} of the processes whose parent is ``pid`` (Linux /proc); a zombie
    shows as "Z" with an empty command line."""
    out = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
            cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        state, ppid = text[text.rindex(")") + 2 :].split()[:2]
        if int(ppid) == pid:
            out[int(stat.parent.name)] = (state, cmdline)
    return out


def job_pids(server: int) -> list[int]:
    return [p for p, (_, cmd) in children(server).items() if "finetune_on_custom.py" in cmd]


def no_zombies(server: int) -> None:
    zombies = [p for p, (state, _) in children(server).items() if state == "Z"]
    assert not zombies, f"zombie children of the server: {zombies}"


def wait_until(what, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if what():
            return True
        time.sleep(0.25)
    return what()


@pytest.fixture(scope="module")
def finetune_app(browser, tmp_path_factory, committed_models):
    """The app with two pictures of every digit already collected, two committed models and the gate, and a
    scratch user models folder; yields (url, server pid, models folder, user models folder)."""
    from digitlab.data import user_style

    work = tmp_path_factory.mktemp("finetune")
    models = link_models(work / "models", ["mnist_cnn", "mnist_baseline"])
    my_digits, mine = work / "my_digits", work / "user_models"
    user_style.save_drawings(my_digits, 2, 0)
    env = {"DIGITLAB_MODELS_DIR": str(models), "DIGITLAB_MY_DIGITS": str(my_digits), "DIGITLAB_USER_MODELS": str(mine)}
    with streamlit_app(env, work / "streamlit.log", timeout=90) as (url, proc):
        yield url, proc.pid, models, mine


def open_collect(browser, url: str):
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.goto(f"{url}/Collect")
    page.get_by_text("Fine-tune a model on them").wait_for(timeout=120_000)
    wait_idle(page, 120_000)
    return context, page


QUICK_JOB = (("collect_epochs", "1"), ("collect_replay", "0"), ("collect_mnist_test", "100"))  # the shortest real job
# A job to stop: 50 epochs with replay and the forgetting check on all 10,000 test digits takes a minute or more
# on 2 idle cores, well past the 20 s a closed session is waited for (the quick one can end before that).
LONG_JOB = (("collect_epochs", "50"), ("collect_replay", "10"), ("collect_mnist_test", "10000"))


def fine_tune_quickly(page, settings=QUICK_JOB, base: str | None = None) -> None:
    """Pick ``base`` (None: the page's default) and set the job's fields (default: one epoch, no replay, 100 MNIST
    test digits), then press Fine-tune."""
    for key, value in settings:
        box = page.locator(f".st-key-{key} input")
        box.fill(value)
        box.press("Enter")
        wait_idle(page)
    if base is not None:  # a Streamlit selectbox (a combo box): open its list, click the option
        from playwright.sync_api import TimeoutError as PlaywrightTimeout  # imported here: without it the module skips

        option = page.get_by_role("option", name=base, exact=True)
        for _ in range(5):  # a rerun still landing can close the list as it opens: open it again
            page.locator(".st-key-collect_base button[aria-label='Open']").click()
            try:
                option.wait_for(timeout=5_000)
                break
            except PlaywrightTimeout:
                wait_idle(page)
        option.click()
        wait_idle(page)
        assert page.locator(".st-key-collect_base input").input_value() == base
    page.locator(".st-key-collect_finetune button").click()


@pytest.mark.slow
def test_a_closed_session_stops_its_job_and_frees_the_model(browser, finetune_app):
    url, server, _, mine = finetune_app
    context, page = open_collect(browser, url)
    fine_tune_quickly(page, LONG_JOB)
    page.locator(".st-key-collect_stop button").first.wait_for(timeout=60_000)
    assert wait_until(lambda: job_pids(server), 30), children(server)
    [pid] = job_pids(server)
    context.close()  # the tab is closed while the job runs
    t0 = time.monotonic()
    assert wait_until(lambda: pid not in children(server), 120), "the job of a closed session keeps running"
    TIMINGS["finetune_stopped_after_session_closed_s"] = round(time.monotonic() - t0, 1)
    print(f"\nthe job of a closed session ended {TIMINGS['finetune_stopped_after_session_closed_s']} s after the tab closed")
    no_zombies(server)
    context, page = open_collect(browser, url)
    try:
        assert page.locator(".st-key-collect_finetune button").is_enabled(), "another session can fine-tune now"
        assert page.get_by_text("Another session is fine-tuning").count() == 0
        assert not (mine / "mnist_finetuned.keras").exists()
    finally:
        context.close()


@pytest.mark.slow
def test_another_session_sees_the_job_and_can_stop_it(browser, finetune_app):
    url, server, _, mine = finetune_app
    owner_context, owner = open_collect(browser, url)
    other_context = None
    try:
        fine_tune_quickly(owner, LONG_JOB)
        owner.locator(".st-key-collect_stop button").first.wait_for(timeout=60_000)
        other_context, other = open_collect(browser, url)  # someone else opens Collect meanwhile
        other.get_by_text("Another session is fine-tuning").wait_for(timeout=30_000)
        assert other.locator(".st-key-collect_finetune button").is_disabled()
        assert wait_until(lambda: job_pids(server), 30)
        [pid] = job_pids(server)
        other.locator(".st-key-collect_stop button").first.click()
        owner.get_by_text("Fine-tuning was stopped: stopped from another browser session; no model was written.").wait_for(timeout=60_000)
        assert wait_until(lambda: pid not in children(server), 30), "Stop ends the process, and it is reaped"
        no_zombies(server)
        other.get_by_text("Another session is fine-tuning").wait_for(state="detached", timeout=30_000)
        assert other.locator(".st-key-collect_finetune button").is_enabled()
        assert not (mine / "mnist_finetuned.keras").exists()
    finally:
        owner_context.close()
        if other_context is not None:
            other_context.close()


@pytest.mark.slow
def test_fine_tuning_from_the_page_writes_a_calibrated_model_to_the_user_folder(browser, finetune_app, docs_out):
    url, server, models, mine = finetune_app
    committed = sorted(p.name for p in models.iterdir())
    context, page = open_collect(browser, url)
    try:
        fine_tune_quickly(page, base="mnist_baseline")  # the smallest base: the page's job is checked, not learning
        bar = page.locator('[data-testid="stProgress"]')
        bar.wait_for(timeout=60_000)
        exiting, seen = 0.0, time.monotonic()
        while bar.count() and time.monotonic() - seen < 900:  # the bar goes when the job is over
            if "exiting" in " ".join(bar.all_inner_texts()):
                exiting += 0.5
            page.wait_for_timeout(500)
        TIMINGS["finetune_exiting_shown_s"] = exiting  # measured, not bounded: the phase that sat ~28 s
        print(f"\n'exiting' shown for about {exiting:.1f} s; the job took {time.monotonic() - seen:.0f} s")
        page.get_by_text("mnist_finetuned: fine-tuned from mnist_baseline").wait_for(timeout=60_000)
        wait_idle(page)
        assert page.locator('[data-testid="stException"]').count() == 0
        assert page.locator('[data-testid="stAlertContentError"]').count() == 0
        card = json.loads((mine / "mnist_finetuned.json").read_text())
        assert card["base"]["name"] == "mnist_baseline" and card["calibration"]["temperature"] > 0
        calibrated = page.get_by_text(f"calibrated: temperature {card['calibration']['temperature']:.2f}")
        calibrated.wait_for(timeout=30_000)  # the caption under the result table can land a moment after the heading (two workers)
        assert calibrated.count() == 1
        sidebar = page.locator('[data-testid="stSidebar"]')
        assert sidebar.get_by_text("mnist_finetuned").count() == 1 and sidebar.get_by_text("yours ·").count() == 1
        assert sorted(p.name for p in models.iterdir()) == committed, "nothing written beside the committed models"
        assert not job_pids(server)
        no_zombies(server)
        screenshot(page, docs_out / "collect_finetuned.png")
        print(f"screenshot: {docs_out / 'collect_finetuned.png'}")
    finally:
        context.close()
