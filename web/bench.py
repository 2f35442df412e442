"""python web/bench.py [--digits 30] [--runs 200] [--json FILE] [--dry-run]

Size and speed of the in-browser page's two runtimes, ONNX (onnxruntime-web) and TF.js (TensorFlow.js,
WebAssembly backend), measured the way a visitor meets them: `web/serve.py` on a free localhost port,
headless Chromium (/usr/bin/chromium, driven by Playwright), a fresh browser context per runtime.

Per runtime:
  bytes       what the page fetched for it, from this folder: the runtime's code (.js/.mjs and .wasm)
              and the model + digit gate files (web/model/)
  ready       from opening the page to "ready" (runtime started, model and gate loaded), and the
              model load alone (performance.now() on the page's clock)
  per image   --digits real MNIST test digits uploaded one by one: preprocessing (web/preprocess.js)
              and inference (model + digit gate + the abstain rule) medians; then the last picture
              --runs times (window.digitlab.measure): the median from canvas pixels to the verdict
Plus TF.js in Node (web/tfjs_cli.mjs; a server-side or test runner): the page model's median single-image
latency on the wasm and the pure-JavaScript cpu backends.

Prints a Markdown table; --json writes every figure; the headline ones (not --dry-run) go to docs/results.json.  Needs `npm ci --prefix web`, Chromium and the
dev requirements (Playwright).  --dry-run: 3 digits, 10 runs (seconds).  Timing on a shared machine
varies run to run: quote medians with the machine's load (printed).

Longer than a thin script because it measures the page in a real browser, per runtime, in a fresh context each:
its static server, the uploads and the timings live here (Playwright, which the library must not need).
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

from digitlab import cli

WEB = Path(__file__).resolve().parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
RUNTIMES = {"onnx": "ONNX (onnxruntime-web)", "tfjs": "TF.js (TensorFlow.js, wasm)"}


def median(values) -> float:
    import numpy as np

    return float(np.median(values)) if len(values) else float("nan")


def serve() -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, str(WEB / "serve.py"), "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    match = re.search(r"http://[\d.]+:\d+/", proc.stdout.readline())
    if not match:
        proc.kill()
        cli.fail(f"web/serve.py did not start: {proc.stderr.read()[-1000:]}")
    return proc, match.group(0)


def measure_runtime(browser, url: str, runtime: str, pngs: list[Path], runs: int) -> dict:
    """One fresh context: open the page on ``runtime``, upload the pictures, time the last one ``runs`` times."""
    context = browser.new_context(viewport={"width": 1200, "height": 1000})
    host = urlparse(url).netloc
    fetched: list[str] = []
    context.route("**/*", lambda route: route.continue_() if urlparse(route.request.url).netloc == host else route.abort())
    page = context.new_page()
    page.on("request", lambda r: fetched.append(urlparse(r.url).path))
    try:
        t0 = time.perf_counter()
        page.goto(f"{url}?runtime={runtime}")
        page.wait_for_function("document.getElementById('status').dataset.state !== 'loading'", timeout=120_000)
        wall_ready = time.perf_counter() - t0
        if page.get_attribute("#status", "data-state") != "ready":
            raise RuntimeError(f"{runtime}: the page did not get ready: {page.inner_text('#status')}")
        load = page.evaluate("window.digitlab.load")
        per_image = []
        for png in pngs:
            before = page.evaluate("window.digitlab.predictions")
            page.set_input_files("#upload", str(png))
            page.wait_for_function(f"window.digitlab.predictions > {before}", timeout=60_000)
            last = page.evaluate("({p: window.digitlab.last.preprocessMs, i: window.digitlab.last.inferenceMs, r: window.digitlab.last.runtime})")
            assert last["r"] == runtime, last
            per_image.append((last["p"], last["i"]))
        same = page.evaluate(f"window.digitlab.measure({runs})")
    finally:
        context.close()
    files = sorted({p for p in fetched if (WEB / p.lstrip("/")).is_file()})
    size = lambda keep: sum((WEB / p.lstrip("/")).stat().st_size for p in files if keep(p))  # noqa: E731
    return {
        "runtime": runtime,
        "bytes_runtime_code": size(lambda p: p.startswith("/node_modules/")),
        "bytes_model_and_gate": size(lambda p: p.startswith("/model/") and not p.endswith("index.json")),
        "files": files,
        "page_ready_s": round(wall_ready, 3),
        "model_load_ms": round(load["ms"], 1),
        "page_ready_on_page_clock_ms": round(load["readyAtMs"], 1),
        "uploads": len(per_image),
        "preprocess_ms_median": round(median([p for p, _ in per_image]), 2),
        "inference_ms_median": round(median([i for _, i in per_image]), 2),
        "first_inference_ms": round(per_image[0][1], 2) if per_image else None,
        "same_picture_runs": len(same),
        "canvas_to_verdict_ms_median": round(median([r["preprocessMs"] + r["inferenceMs"] for r in same]), 2),
        "inference_ms_median_same_picture": round(median([r["inferenceMs"] for r in same]), 2),
    }


def main(argv=None) -> int:
    ap = cli.parser(__doc__)
    ap.add_argument("--digits", type=int, default=30, help="MNIST test digits uploaded per runtime (default 30)")
    ap.add_argument("--runs", type=int, default=200, help="timed runs of the last picture per runtime (default 200)")
    ap.add_argument("--json", type=Path, default=None, help="write every figure to this JSON file")
    cli.add_mnist(ap)
    cli.add_dry_run(ap, "3 digits and 10 runs per runtime: seconds")
    args = ap.parse_args(argv)
    if args.dry_run:
        args.digits, args.runs = 3, 10
    if args.digits < 1 or args.runs < 1:
        cli.fail("--digits and --runs must be at least 1")

    import numpy as np
    from PIL import Image

    from digitlab import data, preprocess
    from digitlab.serving import export

    problems = [f"{CHROMIUM} is missing (apt-get install -y chromium)"] if not CHROMIUM.is_file() else []
    if (why := export.tfjs_missing()) is not None:
        problems.append(why)
    if not (WEB / "node_modules" / "onnxruntime-web").is_dir():
        problems.append("onnxruntime-web is not installed: run `npm ci --prefix web`")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        problems.append("the playwright Python package is missing (pip install -r requirements-dev.txt; never `playwright install`)")
    if problems:
        cli.fail("; ".join(problems))
    try:
        x_test = data.load(args.mnist).x_test
    except data.DataError as e:
        cli.fail(f"MNIST is needed: {e}")
    index = json.loads((WEB / "model" / "index.json").read_text())
    info = json.loads((WEB / "model" / f"{index['default']}.json").read_text())

    rng = np.random.default_rng(0)
    picks = rng.choice(len(x_test), args.digits, replace=False)
    results = {}
    with tempfile.TemporaryDirectory(prefix="web-bench-") as d:
        pngs = []
        for i in picks:
            pngs.append(Path(d) / f"mnist_{i}.png")
            Image.fromarray(x_test[i]).save(pngs[-1])
        proc, url = serve()
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
                try:
                    for runtime in RUNTIMES:
                        print(f"measuring {runtime} in Chromium…", file=sys.stderr, flush=True)
                        results[runtime] = measure_runtime(browser, url, runtime, pngs, args.runs)
                    version = browser.version
                finally:
                    browser.close()
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    node = {}
    images = preprocess.prepare_batch(x_test[picks[: max(1, min(len(picks), 30))]])
    model_dir = WEB / "model" / Path(info["tfjs"]["model"]).parent
    for backend in ("wasm", "cpu"):
        print(f"measuring TF.js in Node, {backend} backend…", file=sys.stderr, flush=True)
        run = export.tfjs_run({"model": model_dir}, images, backend=backend, latency_runs=args.runs)
        node[backend] = {"latency_ms_median": round(run.latency_ms["model"], 3), "load_s": round(run.load_s["model"], 3), "runtime": run.runtime}

    figures = {
        "command": "python web/bench.py" + (f" --digits {args.digits}" if args.digits != 30 else "") + (f" --runs {args.runs}" if args.runs != 200 else ""),
        "model": info["name"],
        "model_sha": info["keras_sha256"][:23],  # "sha256:" + 16 hex digits, as docs/results.json names a model file
        "browser": {"chromium": version, "headless": True},
        "runtimes": results,
        "node_tfjs_model_only": node,
        "machine": {"cpus": os.cpu_count(), "load_average_1m": round(os.getloadavg()[0], 2), "python": platform.python_version()},
    }
    rows = ["| runtime | runtime code fetched | model + gate files | page ready (cold) | model load | inference p50 (model + gate) | preprocessing p50 | canvas → verdict p50 |",
            "|---|---|---|---|---|---|---|---|"]
    for r in results.values():
        rows.append(f"| {RUNTIMES[r['runtime']]} | {r['bytes_runtime_code'] / 1e6:.2f} MB | {r['bytes_model_and_gate'] / 1e3:.0f} kB | "
                    f"{r['page_ready_s']:.2f} s | {r['model_load_ms']:.0f} ms | {r['inference_ms_median']:.2f} ms | "
                    f"{r['preprocess_ms_median']:.2f} ms | {r['canvas_to_verdict_ms_median']:.2f} ms |")
    print(f"## {info['name']} in the browser (Chromium {version}, headless; {args.digits} MNIST test digits uploaded, "
          f"{args.runs} runs of one picture; load average {figures['machine']['load_average_1m']} on {os.cpu_count()} CPUs)\n")
    print("\n".join(rows))
    print("\nTF.js in Node, the model alone, one image: " + ", ".join(f"{b} {v['latency_ms_median']:.2f} ms" for b, v in node.items()))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
        print(f"\nwrote {args.json}")
    if not args.dry_run:  # the committed page model's figures: docs/results.json
        from digitlab.report import extractors
        from digitlab.report import results as recorded

        recorded.record_all(extractors.committed(extractors.from_web_bench(figures)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
