"""PageProcessorUser per-page time against a plain Selenium loop over the same pages.

    .venv/bin/python benchmarks/bench_page_processor.py [--rounds 3] [--pages 40]

Both sides run in this one process against one reference target on loopback, **paired page by
page**: the user processes page k, then (inside its ``on_page``) the plain loop processes the
same page k in its own browser, then the user goes on. Each pair runs back to back under the
same machine load, so the paired ratio stays meaningful on a busy shared host where whole-run
timings drift by tens of percent. Every round starts fresh browsers for both sides; start-up
is outside the measurement.

* **plain**: the loop a Selenium engineer would write with the same technique: ``get``, one
  async script that resolves when ``body[data-ready="1"]`` matches, ``find_elements`` for the
  rows, one ``execute_script`` reading them.
* **user**: a ``PageProcessorUser`` (class defaults) in a Locust ``LocalRunner`` taking pages
  from the page quota: the same browser steps plus the console-log read (JavaScript errors),
  the liveness check, the quota, the stats events, ``page_completed``, the memory sample and
  Locust's task scheduling.

User cycle of page k = from the end of ``on_page(k-1)`` to the start of ``on_page(k)``: all the
user does for one page, between pages included. Plain time of page k = its four calls.
Reported: medians, ratio of the sums, and the median of the per-page ratios.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from itertools import pairwise

import gevent
import locust  # noqa: F401  (gevent patching before selenium, imported by stresskit below)
import psutil
from locust.env import Environment
from locust.event import Events

from stresskit.clients.browser import start_chrome
from stresskit.clients.page import EXTRACT_JS, WAIT_READY_JS, PageProcessor
from stresskit.cluster.quota import page_quota_of
from stresskit.target.launcher import start_target
from stresskit.users.page import PageProcessorUser

READY = 'body[data-ready="1"]'


def plain_page(driver, base_url: str, page: int) -> None:
    """One page the plain way: navigate, wait for the rendered rows, locate and read them."""
    from selenium.webdriver.common.by import By

    driver.get(f"{base_url}/pages/{page}")
    driver.execute_async_script(WAIT_READY_JS, READY, None)
    rows = driver.find_elements(By.CSS_SELECTOR, "#rows tr.row")
    data = driver.execute_script(EXTRACT_JS, rows, "#next")
    if len(data["rows"]) != 20:
        raise SystemExit(f"plain loop read {len(data['rows'])} rows on page {page}")


def paired_round(base_url: str, pages: int) -> list[tuple[float, float, float]]:
    """(user cycle, plain page, user's browser steps) seconds for pages 2..pages of one round."""
    plain = start_chrome()
    plain.driver.set_script_timeout(15)
    marks: list[tuple[int, float, float]] = []  # (page, on_page start, on_page end)
    browser_work: list[float] = []  # seconds in the user's own browser steps (the plain loop's four calls)

    class TimedProcessor(PageProcessor):
        def _attempt(self, page, url, refresh):
            t0 = time.perf_counter()
            try:
                return super()._attempt(page, url, refresh)
            finally:
                browser_work.append(time.perf_counter() - t0)

    class PairedPages(PageProcessorUser):
        processor_class = TimedProcessor

        def on_page(self, page, result):
            t0 = time.perf_counter()
            if not result.ok:
                raise SystemExit(f"user failed page {page}: {result.error}")
            plain_page(plain.driver, base_url, page)
            t1 = time.perf_counter()
            marks.append((page, t0, t1))

    env = Environment(user_classes=[PairedPages], host=base_url, events=Events())
    runner = env.create_local_runner()
    quota = page_quota_of(env)
    quota.set_total(pages)
    try:
        runner.start(1, spawn_rate=1)
        deadline = time.monotonic() + 600
        while len(marks) < pages and time.monotonic() < deadline:
            gevent.sleep(0.05)
        runner.quit()
    finally:
        plain.quit()
    if len(marks) != pages:
        raise SystemExit(f"round processed {len(marks)} of {pages} pages")
    cycles = [(start - prev_end, end - start) for (_, _, prev_end), (_, start, end) in pairwise(marks)]
    return [(user, plain, work) for (user, plain), work in zip(cycles, browser_work[1:], strict=True)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pages", type=int, default=40, help="pages per round")
    args = parser.parse_args(argv)

    target = start_target(extra_args=["--pages", str(max(args.pages, 40)), "--latency-ms", "1",
                                      "--rate-limit", "100000", "--rate-burst", "100000"])
    pairs: list[tuple[float, float, float]] = []
    try:
        for i in range(args.rounds):
            got = paired_round(target.url, args.pages)
            pairs.extend(got)
            u, p = sum(x for x, _, _ in got), sum(y for _, y, _ in got)
            print(f"round {i + 1}: user {u / len(got) * 1000:6.1f} ms/page, plain {p / len(got) * 1000:6.1f} "
                  f"ms/page, ratio {u / p:.3f}", flush=True)
    finally:
        target.stop()

    user = [u for u, _, _ in pairs]
    plain = [p for _, p, _ in pairs]
    extra = [u - w for u, _, w in pairs]  # what the user does besides the plain loop's four calls
    ratios = [u / p for u, p, _ in pairs]
    q = statistics.quantiles(ratios, n=4)
    ratio_of_sums = sum(user) / sum(plain)
    print()
    print(f"machine: {psutil.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB, "
          f"{platform.platform()}, load average at end {psutil.getloadavg()[0]:.1f}")
    print(f"rounds: {args.rounds} x {args.pages} pages, {len(pairs)} paired pages")
    print()
    print("| measure | plain Selenium loop | PageProcessorUser | user / plain |")
    print("|---|---:|---:|---:|")
    print(f"| per page, median (ms) | {statistics.median(plain) * 1000:.1f} | "
          f"{statistics.median(user) * 1000:.1f} | {statistics.median(user) / statistics.median(plain):.3f} |")
    print(f"| per page, mean (ms) | {statistics.mean(plain) * 1000:.1f} | {statistics.mean(user) * 1000:.1f} | "
          f"{ratio_of_sums:.3f} |")
    print(f"| paired per-page ratio, median (IQR) | | | {statistics.median(ratios):.3f} "
          f"({q[0]:.3f}–{q[2]:.3f}) |")
    print(f"| user's work besides the four browser calls, median (ms) | | "
          f"{statistics.median(extra) * 1000:.1f} | {statistics.median(extra) / statistics.median(plain):+.3f} |")
    print()
    print(f"overhead per page (paired median): {(statistics.median(ratios) - 1) * 100:+.1f}%, "
          f"(ratio of sums): {(ratio_of_sums - 1) * 100:+.1f}% (goal: at most +5%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
