"""python evaluation/app_benchmark.py [--sessions 10] [--leaderboard quick|standard|skip] [--no-neighbours] [--out evaluation/reports/app_benchmark.json]

The app as a person meets it, measured in a real browser (Debian's Chromium driven by Playwright,
as the browser tests; Linux: memory is read from /proc).  On a freshly started `streamlit run app/Home.py`
over a folder of links to the committed models:

  cold start      from the browser asking for Home to the canvas being usable, then to the first
                  prediction of a stroke drawn with the mouse
  memory          the server's resident memory (RSS) after that first prediction, after each page, and
                  the peak of the server and everything it started (a Leaderboard measurement runs in
                  its own process) while the page ran; sampled every 0.1 s; and the all-pages session:
                  the server once one session has visited every page, one after the other
  ten sessions    ten browser tabs, each on its own session, opened at once: seconds until each shows a
                  usable canvas, then all draw at once; stroke-to-prediction per tab on the page's own
                  clock (pointer released -> caption updated): p50, p95, max
  slow work       Explain's neighbours and map built by the server for the default model (a scratch
                  features cache: the first build, digits prepared too), timed against the page's own
                  estimate; the Leaderboard's measurement (quick or standard) for the 4 committed models
  predict CLI     `python evaluation/predict.py one.png`: wall time, median of 5, and its peak RSS

Targets: canvas usable <= 3 s, first prediction <= 4 s, RSS after the first prediction <= 350 MB, ten
sessions p95 <= 1 s, predict.py <= 1.5 s; every page and the all-pages session keep the server under 1 GiB.  Prints a table, the targets met and missed, and writes every
figure to --out (the headline ones also to docs/results.json).  The machine's load average is recorded with them: figures on a busy machine are slower.

Longer than a thin script because it is a test harness, not library logic: it starts the real server, drives
Chromium through every page (Playwright, which the library must not need) and samples memory from /proc while it does.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from digitlab import cli
from digitlab.paths import REPORTS_DIR, ROOT

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1400, "height": 1000}
COMMITTED = ("mnist_advanced", "mnist_cnn", "mnist_robust", "mnist_baseline")
PAGES = ("Preprocessing", "Numbers", "Data", "Explain", "Models", "Robustness", "Leaderboard", "Collect")  # the pages
# without TensorFlow first, so their figures show the server before anything loads it
SEVEN = [(65, 50), (215, 50), (125, 245)]
SETTLED = """() => { const c = []; for (const h of document.querySelectorAll("*")) if (h.shadowRoot)
  c.push(...h.shadowRoot.querySelectorAll("canvas.upper-canvas"));
  return c.length === 1 && c[0].getBoundingClientRect().width > 0; }"""
IDLE = "() => document.querySelector('[data-testid=stApp]')?.getAttribute('data-test-script-state') === 'notRunning'"
PROBE = """window.__up = null; window.__seen = null;
window.addEventListener('pointerup', () => { window.__up = performance.now(); }, true);
new MutationObserver(() => { if (window.__up === null || window.__seen !== null) return;
  for (const el of document.querySelectorAll('[data-testid="stCaptionContainer"]'))
    if (el.textContent.includes('(1 stroke)')) { window.__seen = performance.now(); return; } })
  .observe(document, {subtree: true, childList: true, characterData: true});"""


# ----------------------------------------------------------------------------- memory from /proc


def _status(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _tree(pid: int) -> list[int]:
    """``pid`` and all its descendants."""
    parents: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(d.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(parents.get(p, []))
    return out


class Sampler:
    """Peak RSS of the server alone and of its process tree, sampled in a thread."""

    def __init__(self, pid: int):
        self.pid, self.server_peak, self.tree_peak = pid, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.wait(0.1):
            self.server_peak = max(self.server_peak, _status(self.pid, "VmRSS"))
            self.tree_peak = max(self.tree_peak, sum(_status(p, "VmRSS") for p in _tree(self.pid)))

    def reset(self):
        self.server_peak = self.tree_peak = 0

    def stop(self):
        self._stop.set()
        self._thread.join()


def mb(n: int) -> float:
    return round(n / 2**20, 1)


# ----------------------------------------------------------------------------- the app


def start_server(models: Path, log: Path) -> tuple[subprocess.Popen, str]:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "streamlit", "run", "app/Home.py", "--server.headless", "true", "--server.port", str(port),
           "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
    env = {**os.environ, "DIGITLAB_MODELS_DIR": str(models), "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=1) as r:
                if r.status == 200:
                    return proc, url
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"streamlit did not answer within 120 s: {log.read_text()[-2000:]}")
        time.sleep(0.05)


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def draw(page, points) -> None:
    box = page.locator("canvas.upper-canvas").first.bounding_box()
    page.mouse.move(box["x"] + points[0][0], box["y"] + points[0][1])
    page.mouse.down()
    for x, y in points[1:]:
        page.mouse.move(box["x"] + x, box["y"] + y, steps=5)
    page.mouse.up()


def cold_start(browser, url: str) -> dict:
    page = browser.new_page(viewport=VIEWPORT)
    t0 = time.monotonic()
    page.goto(url)
    page.wait_for_function(SETTLED, timeout=120_000)
    canvas = time.monotonic() - t0
    draw(page, SEVEN)
    page.get_by_text("(1 stroke)").wait_for(timeout=120_000)
    page.locator('[data-testid="stMetricValue"]').wait_for(timeout=60_000)
    first = time.monotonic() - t0
    shown = page.locator('[data-testid="stMetricValue"]').inner_text().strip()
    return {"canvas_usable_s": round(canvas, 2), "first_prediction_s": round(first, 2), "prediction": shown, "page": page}


def ten_sessions(browser, url: str, n: int) -> dict:
    contexts = [browser.new_context(viewport=VIEWPORT) for _ in range(n)]
    pages = [c.new_page() for c in contexts]
    t0 = time.monotonic()
    for p in pages:
        p.goto(url, wait_until="commit")  # all asked for at once, as tabs opened together
    canvas = []
    for p in pages:
        p.wait_for_function(SETTLED, timeout=180_000)
        canvas.append(time.monotonic() - t0)
    for p in pages:
        p.wait_for_timeout(300)
        p.evaluate(PROBE)
    for p in pages:  # all strokes within about a second: the server answers them at the same time
        draw(p, SEVEN)
    latencies, answers = [], []
    for p in pages:
        p.wait_for_function("window.__seen !== null", timeout=120_000)
        latencies.append(p.evaluate("window.__seen - window.__up"))
        answers.append(p.locator('[data-testid="stMetricValue"]').inner_text().strip())
    for c in contexts:
        c.close()
    latencies.sort()
    return {"sessions": n, "answered": len(latencies), "answers": answers, "p50_ms": round(statistics.median(latencies)),
            "p95_ms": round(latencies[min(n - 1, round(0.95 * (n - 1)))]), "max_ms": round(latencies[-1]),
            "all_ms": [round(v) for v in latencies], "canvas_usable_s": {"first": round(min(canvas), 1), "last": round(max(canvas), 1)}}


def neighbours_build(page) -> dict:
    """On Explain: the page's estimate, then the build it offers, timed until the neighbours are shown."""
    import re

    offer = page.get_by_role("button", name="Find the nearest training digits and draw the map")
    if offer.count() == 0:
        return {"built": False, "note": "already cached"}
    hint = page.get_by_text("Not computed yet for").inner_text()
    estimate = re.search(r"roughly (\d+) s", hint)
    t0 = time.monotonic()
    offer.click()
    page.get_by_text("closest training digits are").wait_for(timeout=1_800_000)
    page.wait_for_function(IDLE, timeout=600_000)
    return {"built": True, "seconds": round(time.monotonic() - t0, 1), "estimate_s": int(estimate.group(1)) if estimate else None}


def tour(page, pid: int, sampler: Sampler, leaderboard: str, finetune: bool, neighbours: bool = True) -> list[dict]:
    rows = []
    for name in PAGES:
        sampler.reset()
        t0 = time.monotonic()
        page.locator('[data-testid="stSidebarNav"] a', has_text=name).click()
        page.wait_for_url(f"**/{name}")
        page.wait_for_timeout(500)
        page.wait_for_function(IDLE, timeout=600_000)
        extra = {}
        if name == "Explain" and neighbours:
            extra["neighbours"] = neighbours_build(page)
        if name == "Leaderboard" and leaderboard != "skip":
            page.locator(".st-key-lb_settings").get_by_text("Quick look" if leaderboard == "quick" else "Standard").click()
            page.wait_for_function(IDLE, timeout=60_000)
            button = page.locator(".st-key-lb_measure button").or_(page.locator(".st-key-lb_refresh button")).first
            button.click()
            page.wait_for_timeout(1000)
            page.wait_for_function(IDLE, timeout=3_600_000)
        if name == "Collect" and finetune:  # a real fine-tuning job on the scratch digits, in its own process
            page.locator(".st-key-collect_finetune button").click()
            page.get_by_text("fine-tuned from").first.wait_for(timeout=1_800_000)
            page.wait_for_function(IDLE, timeout=60_000)
        time.sleep(0.3)
        rows.append({"page": name, "seconds": round(time.monotonic() - t0, 1), "server_rss_mb": mb(_status(pid, "VmRSS")),
                     "server_peak_mb": mb(sampler.server_peak), "tree_peak_mb": mb(sampler.tree_peak), **extra})
        print(f"  {name:13s} RSS {rows[-1]['server_rss_mb']:7.1f} MB  peak {rows[-1]['server_peak_mb']:7.1f} MB  "
              f"with children {rows[-1]['tree_peak_mb']:7.1f} MB  ({rows[-1]['seconds']} s)"
              + (f"  neighbours: {extra['neighbours']}" if extra else ""), flush=True)
    return rows


GIB_MB = 1024.0  # MiB, the hosted app's memory


def targets_met(result: dict) -> dict[str, bool]:
    """Each target of the module docstring: met or not."""
    out = {
        "canvas usable <= 3 s": result["cold_start"]["canvas_usable_s"] <= 3,
        "first prediction <= 4 s": result["cold_start"]["first_prediction_s"] <= 4,
        "RSS after the first prediction <= 350 MB": result["cold_start"]["server_rss_after_first_prediction_mb"] <= 350,
        f"{result['sessions']['sessions']} sessions p95 <= 1 s": result["sessions"]["p95_ms"] <= 1000,
        "predict.py <= 1.5 s": result["predict_cli"]["median_s"] <= 1.5,
    }
    if "pages" in result:
        out["every page's server peak < 1 GiB"] = result["server_peak_mb"] < GIB_MB
        out["the all-pages session < 1 GiB"] = result["all_pages"]["server_rss_mb"] < GIB_MB
    return out


def predict_cli(picture: Path, runs: int = 5) -> dict:
    from digitlab import memory

    times, peaks = [], []
    for _ in range(runs):
        proc, seconds, peak = memory.run_measured([sys.executable, ROOT / "evaluation" / "predict.py", picture], cwd=ROOT)
        times.append(seconds)
        if proc.returncode != 0:
            raise RuntimeError(f"predict.py failed: {proc.stderr[-1000:]}")
        peaks.append(peak)
    return {"median_s": round(statistics.median(times), 2), "all_s": [round(t, 2) for t in times], "peak_rss_mb": mb(max(peaks))}


def main(argv: list[str] | None = None) -> int:
    p = cli.parser(__doc__)
    p.add_argument("--sessions", type=int, default=10, help="browser tabs drawing at once (default 10)")
    p.add_argument("--leaderboard", choices=("quick", "standard", "skip"), default="standard",
                   help="measurement run on the Leaderboard page during the tour (default standard: ~3-5 min)")
    p.add_argument("--no-neighbours", dest="neighbours", action="store_false",
                   help="skip building Explain's neighbours and map (default: built once, timed, into a scratch cache)")
    p.add_argument("--no-finetune", dest="finetune", action="store_false",
                   help="skip the fine-tuning job on the Collect page (default: one run on generated digits, ~3 min)")
    p.add_argument("--out", type=cli.report_file("app_benchmark.json"), default=REPORTS_DIR / "app_benchmark.json", help="where to write the figures")
    a = p.parse_args(argv)
    if not Path(CHROMIUM).is_file():
        return cli.error(f"{CHROMIUM} is missing (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    from digitlab import data, files
    from digitlab.data import user_digits, user_style

    scratch = Path(tempfile.mkdtemp(prefix="app_benchmark_"))
    models = scratch / "models"
    models.mkdir()
    for f in (ROOT / "models").iterdir():
        if f.name == "gate" or f.name.split(".")[0] in COMMITTED:
            (models / f.name).symlink_to(f)
    digits = scratch / "my_digits"  # one generated writer's digits, 3 of each (evaluation/make_user_digits.py)
    user_style.save_drawings(digits, 3, 0)
    os.environ[user_digits.ENV_VAR] = str(digits)  # the server's Collect page reads it (never the user's my_digits/)
    from digitlab.evaluation import neighbours

    os.environ[neighbours.ENV_VAR] = str(scratch / "features")  # a first build, as on a fresh clone (never runs/cache)
    os.environ["DIGITLAB_REPORTS_DIR"] = str(scratch / "reports")  # the Leaderboard measures, never reuses a cached row
    from digitlab.paths import USER_MODELS_ENV

    os.environ[USER_MODELS_ENV] = str(scratch / "user_models")  # the Collect page's fine-tune writes here, never into the
    # user's user_models/ (a model left there from an earlier run would show at once, and the job would not be measured)
    mnist = data.load()
    picture = scratch / "seven.png"
    picture.write_bytes(files.png_bytes(mnist.x_test[0]))
    result: dict = {"machine": {"cpus": os.cpu_count(), "load_average_at_start": [round(v, 1) for v in os.getloadavg()]},
                    "predict_cli": predict_cli(picture)}
    print(f"predict.py one picture: median {result['predict_cli']['median_s']} s, peak {result['predict_cli']['peak_rss_mb']} MB", flush=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        proc, url = start_server(models, scratch / "streamlit.log")  # a cold server: nothing loaded yet
        sampler = Sampler(proc.pid)
        try:
            cold = cold_start(browser, url)
            page = cold.pop("page")
            time.sleep(1.0)
            cold["server_rss_after_first_prediction_mb"] = mb(_status(proc.pid, "VmRSS"))
            result["cold_start"] = cold
            print(f"cold start: canvas {cold['canvas_usable_s']} s, first prediction {cold['first_prediction_s']} s ({cold['prediction']}), "
                  f"server RSS {cold['server_rss_after_first_prediction_mb']} MB", flush=True)
            result["sessions"] = ten_sessions(browser, url, a.sessions)
            result["sessions"]["server_rss_mb"] = mb(_status(proc.pid, "VmRSS"))
            s = result["sessions"]
            print(f"{s['sessions']} sessions at once: {s['answered']} answered, p50 {s['p50_ms']} ms, p95 {s['p95_ms']} ms, max {s['max_ms']} ms", flush=True)
            result["pages"] = tour(page, proc.pid, sampler, a.leaderboard, a.finetune, a.neighbours)
            result["server_peak_mb"] = max(r["server_peak_mb"] for r in result["pages"])
            time.sleep(2.0)  # the last page's work done: what the server keeps holding
            result["all_pages"] = {"pages": list(PAGES), "server_rss_mb": mb(_status(proc.pid, "VmRSS")),
                                   "server_peak_mb": result["server_peak_mb"]}
            print(f"all pages in one session: server RSS {result['all_pages']['server_rss_mb']} MB, peak {result['server_peak_mb']} MB", flush=True)
        finally:
            sampler.stop()
            stop_server(proc)
            browser.close()
    result["command"] = " ".join(["python evaluation/app_benchmark.py", *(sys.argv[1:] if argv is None else argv)])
    result["machine"]["load_average_at_end"] = [round(v, 1) for v in os.getloadavg()]
    result["targets"] = targets_met(result)
    for target, met in result["targets"].items():
        print(f"  {'met   ' if met else 'MISSED'}  {target}")
    files.atomic_write_json(a.out, result)
    from digitlab.report import extractors
    from digitlab.report import results as recorded

    recorded.record_all(extractors.from_app_benchmark(result))
    print(f"wrote {a.out} and the figures into {recorded.results_path()}")
    return cli.OK


if __name__ == "__main__":
    sys.exit(main())
