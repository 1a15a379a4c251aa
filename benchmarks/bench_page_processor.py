"""PageProcessorUser per-page time against a plain Selenium loop over the same pages.

    .venv/bin/python benchmarks/bench_page_processor.py [--rounds 6] [--pages 25]

Both sides run in this one process, against one reference target on loopback, in alternating
rounds (plain first in even rounds, user first in odd ones) so drift on a shared machine hits
both alike. Every round starts a fresh Chromium for its side; browser start-up is outside the
measurement.

* **plain**: the loop a Selenium engineer would write with the same technique: ``get``, one
  async script that resolves when ``body[data-ready="1"]`` matches, ``find_elements`` for the
  rows, one ``execute_script`` reading them.
* **user**: a ``PageProcessorUser`` (class defaults) in a Locust ``LocalRunner`` taking pages
  from the page quota: the same browser steps plus the console-log read (JavaScript errors),
  the liveness check, the quota, the stats events, ``page_completed`` and the memory sample.

Per-page time of a round = (end of the last page − start of the first) / pages, so the work
between pages counts. Reported: the median over rounds for each side and the ratio.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time

import gevent
import locust  # noqa: F401  (gevent patching before selenium, imported by stresskit below)
import psutil
from locust.env import Environment
from locust.event import Events

from stresskit.clients.browser import start_chrome
from stresskit.clients.page import EXTRACT_JS, WAIT_READY_JS
from stresskit.quota import page_quota
from stresskit.target.launcher import start_target
from stresskit.users.page import PageProcessorUser

READY = 'body[data-ready="1"]'


def plain_round(base_url: str, pages: int) -> tuple[float, list[float]]:
    """Seconds per page of a plain Selenium loop over pages 1..pages, and each page's time."""
    from selenium.webdriver.common.by import By

    session = start_chrome()
    driver = session.driver
    driver.set_script_timeout(15)
    try:
        times = []
        t_start = time.perf_counter()
        for page in range(1, pages + 1):
            t0 = time.perf_counter()
            driver.get(f"{base_url}/pages/{page}")
            driver.execute_async_script(WAIT_READY_JS, READY, None)
            rows = driver.find_elements(By.CSS_SELECTOR, "#rows tr.row")
            data = driver.execute_script(EXTRACT_JS, rows, "#next")
            assert len(data["rows"]) == 20
            times.append(time.perf_counter() - t0)
        total = time.perf_counter() - t_start
    finally:
        session.quit()
    return total / pages, times


class BenchPages(PageProcessorUser):
    """The user with its class defaults."""


def user_round(base_url: str, pages: int) -> tuple[float, list[float]]:
    """Seconds per page of one PageProcessorUser over pages 1..pages, and each page's time."""
    env = Environment(user_classes=[BenchPages], host=base_url, events=Events())
    runner = env.create_local_runner()
    quota = page_quota(env)
    quota.set_total(pages)
    marks: list[tuple[float, float]] = []  # (end, response seconds) of each page entry

    def on_request(request_type, name, response_time, exception, **_):
        if request_type == "PAGE" and name == "/pages/[page]" and exception is None:
            marks.append((time.perf_counter(), response_time / 1000.0))

    env.events.request.add_listener(on_request)
    runner.start(1, spawn_rate=1)
    deadline = time.monotonic() + 300
    while not quota.done and time.monotonic() < deadline:
        gevent.sleep(0.01)
    runner.quit()
    if len(marks) != pages:
        raise SystemExit(f"user round processed {len(marks)} of {pages} pages")
    first_start = marks[0][0] - marks[0][1]
    return (marks[-1][0] - first_start) / pages, [seconds for _, seconds in marks]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--pages", type=int, default=25, help="pages per round")
    args = parser.parse_args(argv)

    target = start_target(extra_args=["--pages", str(max(args.pages, 40)), "--latency-ms", "1",
                                      "--rate-limit", "100000", "--rate-burst", "100000"])
    plain, user, plain_pages, user_pages = [], [], [], []
    try:
        for i in range(args.rounds):
            order = (("plain", plain_round), ("user", user_round))
            if i % 2:
                order = order[::-1]
            for label, fn in order:
                per_page, times = fn(target.url, args.pages)
                (plain if label == "plain" else user).append(per_page)
                (plain_pages if label == "plain" else user_pages).extend(times)
                print(f"round {i + 1} {label:5s}: {per_page * 1000:7.1f} ms/page", flush=True)
    finally:
        target.stop()

    p_med, u_med = statistics.median(plain), statistics.median(user)
    ratios = [u / p for u, p in zip(user, plain, strict=True)]
    print()
    print(f"machine: {psutil.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB, "
          f"{platform.platform()}, load average at end {psutil.getloadavg()[0]:.1f}")
    print(f"rounds: {args.rounds} x {args.pages} pages each side, alternating order")
    print()
    print("| measure | plain Selenium loop | PageProcessorUser | user / plain |")
    print("|---|---:|---:|---:|")
    print(f"| per page, median of rounds (ms) | {p_med * 1000:.1f} | {u_med * 1000:.1f} | {u_med / p_med:.3f} |")
    print(f"| page entry alone, median of pages (ms) | {statistics.median(plain_pages) * 1000:.1f} | "
          f"{statistics.median(user_pages) * 1000:.1f} | "
          f"{statistics.median(user_pages) / statistics.median(plain_pages):.3f} |")
    print(f"| per-round ratio, median (min–max) | | | {statistics.median(ratios):.3f} "
          f"({min(ratios):.3f}–{max(ratios):.3f}) |")
    overhead = (u_med / p_med - 1) * 100
    print()
    print(f"overhead per page: {overhead:+.1f}% (goal: at most +5%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
