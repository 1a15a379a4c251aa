"""A tiny HTTP server of the tests' own that stalls: wrk2's coordinated-omission demonstration.

    python tests/support/stall_server.py PORT [--period 5] [--stall 1]

Every ``period`` seconds (counted from its start) the server stalls for ``stall`` seconds: a
request that arrives during a stall is answered when the stall ends. Otherwise it answers at
once. ``--stall 0`` makes a steady server. Loopback only; real threads (no gevent), so a stalled
request never holds up the others. Prints ``ready`` once it listens.
"""

from __future__ import annotations

import argparse
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("--period", type=float, default=5.0)
    parser.add_argument("--stall", type=float, default=1.0)
    args = parser.parse_args()
    start = time.monotonic()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # else delayed ACKs add 40 ms to every keep-alive response

        def do_GET(self) -> None:
            phase = (time.monotonic() - start) % args.period
            if phase < args.stall:
                time.sleep(args.stall - phase)  # the system under test's stall, not a test wait
            body = b"ok"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print("ready", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    sys.exit(0)


if __name__ == "__main__":
    main()
