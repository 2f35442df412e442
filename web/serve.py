"""python web/serve.py [--port 8000] [--host 127.0.0.1]

Serves the in-browser page (this folder) and prints its address: open it, draw a digit.
Everything the page loads -- HTML, JavaScript, the models (ONNX and TF.js) and the digit gate,
onnxruntime-web's and TensorFlow.js's code and .wasm -- comes from this folder, so the page works
offline.  Needs onnxruntime-web and @tensorflow/tfjs once (`npm ci --prefix web`) and a model in
web/model/ (committed; rebuild with `python web/build.py`).
A plain static server: no Python runs per request, every computation happens in the browser.
"""

from __future__ import annotations

import argparse
import functools
import sys
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

WEB = Path(__file__).resolve().parent
ORT = WEB / "node_modules" / "onnxruntime-web" / "dist" / "ort.wasm.min.mjs"
INDEX = WEB / "model" / "index.json"


class Handler(SimpleHTTPRequestHandler):
    extensions_map = {
        **SimpleHTTPRequestHandler.extensions_map,
        ".mjs": "text/javascript",  # module scripts are refused with a non-JavaScript type
        ".js": "text/javascript",
        ".wasm": "application/wasm",  # needed for WebAssembly.instantiateStreaming
        ".onnx": "application/octet-stream",
        ".bin": "application/octet-stream",  # TF.js weight shards
        ".json": "application/json",
    }

    def end_headers(self):
        self.send_header("Cache-Control", "no-cache")  # a rebuilt model or page is picked up on reload
        super().end_headers()

    def log_message(self, format, *args):
        if self.server.verbose:
            super().log_message(format, *args)


def missing() -> str | None:
    """Why the page cannot work yet, or None."""
    if not ORT.is_file():
        return f"onnxruntime-web is not installed ({ORT.relative_to(WEB.parent)} missing): run `npm ci --prefix web`"
    if not INDEX.is_file():
        return f"no page model ({INDEX.relative_to(WEB.parent)} missing): run `python web/build.py`"
    return None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--port", type=int, default=8000, help="port (0: any free port)")
    ap.add_argument("--host", default="127.0.0.1", help="address to listen on")
    ap.add_argument("--verbose", action="store_true", help="log every request")
    args = ap.parse_args(argv)
    problem = missing()
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2  # a configuration error (npm ci --prefix web not run): exit codes as in digitlab.cli
    try:
        server = ThreadingHTTPServer((args.host, args.port), functools.partial(Handler, directory=str(WEB)))
    except OSError as e:
        print(f"error: cannot listen on {args.host}:{args.port}: {e.strerror}", file=sys.stderr)
        return 2
    server.verbose = args.verbose
    host, port = server.server_address[:2]
    print(f"serving the digitlab page on http://{host}:{port}/  (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
