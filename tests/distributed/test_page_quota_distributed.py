"""The page quota across real Locust processes on loopback: one ``locust --master`` and two
``locust --worker`` processes, each worker with one page processor driving real headless
Chromium against the reference target.

The locustfile (written per test) records, on each worker, every page its users completed and,
on the master at quit, the quota's ledger and the run state, so the test checks what each
process really did rather than what it printed.
"""

import locust  # noqa: F401,I001  (gevent patching first)

import csv
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

import psutil
import pytest

from stresskit.target.launcher import ManagedProcess, free_port

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

PAGES = 12
LOCUST = str(Path(sys.executable).with_name("locust"))

LOCUSTFILE = '''
import json
import os
import time

import gevent
from locust import events
from locust.runners import MasterRunner

from stresskit.cluster import quota
from stresskit.events import stresskit_events_of
from stresskit.core.options import register_options
from stresskit.core.runstate import run_state_of
from stresskit.users.page import PageProcessorUser, add_arguments

register_options(events, quota.add_arguments, add_arguments)
quota.use_page_quota(events, stop_when_done=True)
OUT = os.environ["PAGE_TEST_OUT"]
HOLD_AFTER = int(os.environ.get("PAGE_TEST_HOLD_AFTER", "0"))
WAIT_FOR_HOLD = os.environ.get("PAGE_TEST_WAIT_FOR_HOLD") == "1"
BARRIER = os.environ.get("PAGE_TEST_BARRIER") == "1"


@events.init.add_listener
def record(environment, **_):
    if isinstance(environment.runner, MasterRunner):
        def dump(**_):
            q = quota.page_quota_of(environment)
            data = {"state": run_state_of(environment).snapshot(), "done": q.done,
                    "finished": {str(k): v for k, v in q.ledger.finished_pages.items()},
                    "duplicates": q.ledger.duplicates, "reclaimed": q.ledger.reclaimed}
            with open(os.path.join(OUT, "master.json"), "w") as f:
                json.dump(data, f)
        environment.events.quitting.add_listener(dump)
    else:
        path = os.path.join(OUT, f"worker-{os.getpid()}.jsonl")

        def log_page(page, rows, **_):
            with open(path, "a") as f:
                f.write(json.dumps({"page": page, "rows": rows}) + "\\n")
        stresskit_events_of(environment).page_completed.add_listener(log_page)


class Pages(PageProcessorUser):
    def on_start(self):
        super().on_start()
        if HOLD_AFTER:
            self.processor.after_ready_hooks.append(self.hold)
        if WAIT_FOR_HOLD:
            self.processor.after_ready_hooks.append(self.wait_for_hold)
        if BARRIER:
            self.processor.after_ready_hooks.append(self.barrier)

    def barrier(self, driver, page):
        """Each worker's first page waits until the other worker has one too: on a slow machine one
        worker could otherwise finish every page while the other's browser starts."""
        open(os.path.join(OUT, f"ready-{os.getpid()}"), "w").close()
        deadline = time.monotonic() + 120
        while len([n for n in os.listdir(OUT) if n.startswith("ready-")]) < 2 and time.monotonic() < deadline:
            gevent.sleep(0.1)

    def wait_for_hold(self, driver, page):
        """The other worker works on no page until the holding worker holds its second one: on a
        slow machine it could otherwise finish every page while the holder's first page loads."""
        deadline = time.monotonic() + 120
        while not os.path.exists(os.path.join(OUT, "holding.json")) and time.monotonic() < deadline:
            gevent.sleep(0.1)

    def hold(self, driver, page):
        """A worker that hangs while holding a page (the test then kills it)."""
        if self.pages_processed >= HOLD_AFTER:
            with open(os.path.join(OUT, "holding.json"), "w") as f:
                json.dump({"page": page, "pid": os.getpid()}, f)
            gevent.sleep(300)
'''


class Cluster:
    """A master and two workers started by this test, stopped by pid."""

    def __init__(self, tmp_path: Path, target_url: str, hold_second_worker: bool = False) -> None:
        self.dir = tmp_path
        self.out = tmp_path / "out"
        self.out.mkdir()
        self.locustfile = tmp_path / "pages_locustfile.py"
        self.locustfile.write_text(LOCUSTFILE)
        port = free_port()
        env = dict(os.environ, PAGE_TEST_OUT=str(self.out))
        env.pop("STRESSKIT_PAGES", None)
        self.master = ManagedProcess("locust master", [
            LOCUST, "-f", str(self.locustfile), "--master", "--headless", "--expect-workers", "2",
            "-u", "2", "-r", "2", "-t", "150s", "--pages", str(PAGES), "--host", target_url,
            "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
            "--csv", str(tmp_path / "run"), "--only-summary",
        ], tmp_path / "master.log", env=env)
        self.workers = []
        for i in range(2):
            worker_env = dict(env)
            if hold_second_worker:
                worker_env["PAGE_TEST_HOLD_AFTER" if i == 1 else "PAGE_TEST_WAIT_FOR_HOLD"] = "1"
            else:
                worker_env["PAGE_TEST_BARRIER"] = "1"
            self.workers.append(ManagedProcess(f"locust worker {i}", [
                LOCUST, "-f", str(self.locustfile), "--worker",
                "--master-host", "127.0.0.1", "--master-port", str(port),
            ], tmp_path / f"worker{i}.log", env=worker_env))

    def wait_master(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while self.master.alive() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not self.master.alive(), f"master still running after {timeout}s:\n{self.master.log_tail(40)}"
        return self.master.process.returncode

    def worker_pages(self) -> dict[str, list[dict]]:
        return {path.name: [json.loads(line) for line in path.read_text().splitlines()]
                for path in self.out.glob("worker-*.jsonl")}

    def master_record(self) -> dict:
        path = self.out / "master.json"
        assert path.exists(), f"master wrote no record:\n{self.master.log_tail(40)}"
        return json.loads(path.read_text())

    def stop(self) -> None:
        for proc in (*self.workers, self.master):
            proc.stop(timeout=15)


def kill_tree(pid: int) -> list[int]:
    """SIGKILL ``pid`` (a worker this test started) and every process under it (its browser)."""
    root = psutil.Process(pid)
    procs = [root, *root.children(recursive=True)]
    for proc in procs:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(procs, timeout=10)
    return [p.pid for p in procs]


@pytest.fixture
def cluster_factory(tmp_path, target):
    made = []

    def make(**kwargs):
        cluster = Cluster(tmp_path, target.url, **kwargs)
        made.append(cluster)
        return cluster

    yield make
    for cluster in made:
        cluster.stop()


def test_master_hands_out_each_page_exactly_once_across_two_workers(cluster_factory, tmp_path):
    cluster = cluster_factory()
    code = cluster.wait_master(timeout=150)
    assert code == 0, cluster.master.log_tail(40)

    per_worker = cluster.worker_pages()
    assert len(per_worker) == 2, f"expected both workers to complete pages, got {list(per_worker)}"
    counts = Counter(rec["page"] for recs in per_worker.values() for rec in recs)
    assert sorted(counts) == list(range(1, PAGES + 1))
    assert set(counts.values()) == {1}, f"pages processed more than once: {counts}"
    assert all(rec["rows"] == 20 for recs in per_worker.values() for rec in recs)

    record = cluster.master_record()
    assert record["done"] is True
    assert record["state"]["pages_total"] == PAGES
    assert record["state"]["pages_completed"] == PAGES
    assert record["state"]["pages_failed"] == 0
    assert record["duplicates"] == 0 and record["reclaimed"] == 0
    assert sorted(int(p) for p in record["finished"]) == list(range(1, PAGES + 1))

    with open(tmp_path / "run_stats.csv") as f:
        rows = {(r["Type"], r["Name"]): r for r in csv.DictReader(f)}
    page_row = rows[("PAGE", "/pages/[page]")]
    assert int(page_row["Request Count"]) == PAGES and int(page_row["Failure Count"]) == 0
    for worker in cluster.workers:  # workers quit with the master
        deadline = time.monotonic() + 20
        while worker.alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not worker.alive()


def test_pages_of_a_killed_worker_are_handed_out_again(cluster_factory):
    cluster = cluster_factory(hold_second_worker=True)
    holding_file = cluster.out / "holding.json"
    deadline = time.monotonic() + 120
    while not holding_file.exists() and time.monotonic() < deadline:
        assert cluster.master.alive(), cluster.master.log_tail(40)
        time.sleep(0.1)
    assert holding_file.exists(), "the holding worker never took its second page"
    held = json.loads(holding_file.read_text())
    victim = next(w for w in cluster.workers if w.pid == held["pid"])
    killed = kill_tree(victim.pid)
    assert len(killed) >= 3  # the worker, its chromedriver and Chromium

    code = cluster.wait_master(timeout=120)
    assert code == 0, cluster.master.log_tail(40)

    per_worker = cluster.worker_pages()
    victim_pages = {rec["page"] for rec in per_worker.get(f"worker-{victim.pid}.jsonl", [])}
    assert held["page"] not in victim_pages
    counts = Counter(rec["page"] for recs in per_worker.values() for rec in recs)
    assert sorted(counts) == list(range(1, PAGES + 1)), "a page was lost with the dead worker"
    assert set(counts.values()) == {1}

    record = cluster.master_record()
    assert record["state"]["pages_completed"] == PAGES
    assert record["reclaimed"] >= 1
    assert record["duplicates"] == 0
    assert record["finished"][str(held["page"])] is True
