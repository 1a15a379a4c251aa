"""A tiny HTTP backend of the tests' own, with no rate limiter, that counts every request it gets.

Run as its own process (so the count is the server's, not the test's): ``python -m
tests.support.counting_server --ready-file F``; it writes its port to ``F`` and answers every
request with 200 and a small JSON body. ``GET /__count`` (not counted) returns the number of
requests received so far. :class:`CountingServer` starts it on loopback and stops it by pid.

``--throttle FIRST:LAST`` makes it a limiter that trips once: requests number FIRST to LAST (1-based)
get 429 with ``Retry-After: 1``, every other one 200 — a backend a burst can trip, then no more.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

COUNT_PATH = "/__count"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    counter = 0
    throttle = (0, -1)  # request numbers answered 429 (none by default)
    paths: dict[str, int] = {}  # noqa: RUF012 - the one server's tally
    lock = threading.Lock()

    def _answer(self) -> None:
        number = 0
        if self.path == COUNT_PATH:
            body = json.dumps({"requests": _Handler.counter, "paths": _Handler.paths}).encode()
        else:
            with _Handler.lock:
                _Handler.counter += 1
                number = _Handler.counter
                _Handler.paths[self.path] = _Handler.paths.get(self.path, 0) + 1
            body = b'{"ok": true, "items": []}'
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        first, last = _Handler.throttle
        throttled = first <= number <= last
        self.send_response(429 if throttled else 200)
        if throttled:
            self.send_header("Retry-After", "1")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = _answer

    def log_message(self, *args: object) -> None:  # quiet
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ready-file", required=True)
    parser.add_argument("--throttle", default="", metavar="FIRST:LAST")
    args = parser.parse_args(argv)
    if args.throttle:
        first, last = (int(n) for n in args.throttle.split(":"))
        _Handler.throttle = (first, last)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    ready = Path(args.ready_file)
    ready.with_suffix(".tmp").write_text(json.dumps({"port": server.server_address[1]}))
    ready.with_suffix(".tmp").replace(ready)  # atomic: the starter never reads half a file
    server.serve_forever()
    return 0


class CountingServer:
    """The counting backend as a child process on loopback."""

    def __init__(self, workdir: Path | None = None, throttle: str = "") -> None:
        import os

        from stresskit.core.process import ManagedProcess

        work = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="counting-"))
        ready = work / "counting-server.json"
        ready.unlink(missing_ok=True)
        root = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p))
        self.process = ManagedProcess("counting server", [sys.executable, "-m", "tests.support.counting_server",
                                                          "--ready-file", str(ready),
                                                          *(["--throttle", throttle] if throttle else [])],
                                      work / "counting-server.log", env=env)
        self.process.wait_until(ready.exists, 15, "listening")
        self.port = json.loads(ready.read_text())["port"]
        self.url = f"http://127.0.0.1:{self.port}"

    def count(self, path: str | None = None) -> int:
        """Requests received so far (the count request itself excluded), all or those for ``path``."""
        with urllib.request.urlopen(self.url + COUNT_PATH, timeout=5) as response:
            tally = json.loads(response.read())
        return int(tally["requests"] if path is None else tally["paths"].get(path, 0))

    def stop(self) -> None:
        self.process.stop()


if __name__ == "__main__":
    sys.exit(main())
