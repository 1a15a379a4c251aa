"""Master and workers as separate hosts (network namespaces, 198.18.0.0/24): workers dying and
joining mid-run, the master's exit code, and the bad-input cases — a worker whose locustfile
differs from the master's, and a master a worker cannot reach.

Every process is a real ``locust`` (or the reference target) on its own host; results are read
from the master's CSV files. Requests are named after the worker that sent them
(``tests/distributed/locustfiles/checked.py``), so the master's aggregated stats show which
workers carried load.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from stresskit.cluster.distributed import EXIT_ALL_WORKERS_LOST, EXIT_LOCUSTFILE_MISMATCH, EXIT_MASTER_UNREACHABLE
from tests.distributed.helpers import (
    CHECKED,
    UNCHECKED,
    VENV_BIN,
    clean_env,
    events_of,
    failure_count,
    log_lines,
    master_args,
    read_csv,
    request_count,
    start_locust,
    start_target,
    wait_exit,
    wait_for,
    worker_args,
    worker_rows,
)

pytestmark = [pytest.mark.netns, pytest.mark.timeout(150)]


def label(host) -> str:
    return f"/api/items [{host.name}]"


def last_growth(prefix, name: str) -> float | None:
    """Wall-clock second at which ``name``'s total request count last grew (``--csv-full-history``)."""
    last, count = None, 0
    for row in read_csv(Path(f"{prefix}_stats_history.csv")):
        if row["Name"] == name and int(row["Total Request Count"]) > count:
            last, count = float(row["Timestamp"]), int(row["Total Request Count"])
    return last


def test_a_worker_killed_mid_run_and_one_joining(netns_lab, tmp_path):
    lab = netns_lab
    target, master = lab.add_host("target"), lab.add_host("master")
    w1, w2, w3 = (lab.add_host(f"worker{i}") for i in (1, 2, 3))
    start_target(lab, target, probe_from=master)
    prefix = tmp_path / "run"
    # --run-time is counted from the start of the test (when both workers are in); the waits
    # below are event-driven, and the master stops by itself.
    m = start_locust(lab, master, master_args(CHECKED, target, prefix, users=6, run_time="30s", workers=2),
                     name="master")
    p1 = start_locust(lab, w1, worker_args(CHECKED, master), {"STRESSKIT_TEST_LABEL": w1.name}, name="worker1")
    p2 = start_locust(lab, w2, worker_args(CHECKED, master), {"STRESSKIT_TEST_LABEL": w2.name}, name="worker2")

    wait_for(lambda: request_count(prefix, label(w1)) > 0 and request_count(prefix, label(w2)) > 0, 60,
             "both workers' requests in the master's stats", alive=[m, p1, p2])
    p2.kill()  # SIGKILL: no goodbye to the master, as when a machine dies
    wait_for(lambda: "missing" in events_of(worker_rows(prefix), w2.name), 20,
             "the master to record worker2 as missing", alive=[m, p1])
    w1_at_loss = request_count(prefix, label(w1))

    p3 = start_locust(lab, w3, worker_args(CHECKED, master), {"STRESSKIT_TEST_LABEL": w3.name}, name="worker3")
    wait_for(lambda: request_count(prefix, label(w3)) > 0, 40, "the joining worker's requests", alive=[m, p1, p3])

    code = wait_exit(m, 60)
    rows = worker_rows(prefix)
    assert code == 0, m.log_tail(30)
    assert events_of(rows, w1.name)[0] == "joined" and "missing" not in events_of(rows, w1.name)
    assert events_of(rows, w2.name)[:2] == ["joined", "missing"]
    assert events_of(rows, w3.name)[0] == "joined"
    missing = next(r for r in rows if r["worker"].startswith("worker2_") and r["event"] == "missing")
    assert int(missing["workers_active"]) == 1
    # The run went on: worker1 kept sending after the loss, worker3 carried load after joining,
    # and no request failed.
    assert request_count(prefix, label(w1)) > w1_at_loss
    assert request_count(prefix, label(w3)) > 0
    assert failure_count(prefix) == 0
    assert log_lines(m, "worker2_") and any("went missing" in line for line in log_lines(m, "worker2_"))
    for proc in (p1, p3):  # the master's quit reaches the workers; they stop by themselves
        assert wait_exit(proc, 30) == 0


def test_losing_the_last_worker_ends_a_headless_run_with_an_error(netns_lab, tmp_path):
    lab = netns_lab
    target, master, w1 = lab.add_host("target"), lab.add_host("master"), lab.add_host("worker1")
    start_target(lab, target, probe_from=master)
    prefix = tmp_path / "run"
    m = start_locust(lab, master, master_args(CHECKED, target, prefix, users=2, run_time="120s", workers=1),
                     name="master")
    p1 = start_locust(lab, w1, worker_args(CHECKED, master), {"STRESSKIT_TEST_LABEL": w1.name}, name="worker1")
    wait_for(lambda: request_count(prefix, label(w1)) > 0, 60, "worker1's requests", alive=[m, p1])
    killed_at = time.monotonic()
    p1.kill()
    # Locust alone would stop the users and idle until --run-time (120 s); the master ends now.
    code = wait_exit(m, 30)
    assert code == EXIT_ALL_WORKERS_LOST
    assert time.monotonic() - killed_at < 30
    assert events_of(worker_rows(prefix), w1.name) == ["joined", "missing"] or \
        events_of(worker_rows(prefix), w1.name)[:2] == ["joined", "missing"]
    assert len(log_lines(m, "all workers are lost")) == 1


def test_workers_with_a_different_locustfile_are_rejected(netns_lab, tmp_path):
    lab = netns_lab
    target, master = lab.add_host("target"), lab.add_host("master")
    good, changed, plain = lab.add_host("good"), lab.add_host("changed"), lab.add_host("plain")
    fetcher = lab.add_host("fetcher")
    start_target(lab, target, probe_from=master)
    prefix = tmp_path / "run"
    # Same file name, one changed line: what a stale checkout on one machine looks like.
    changed_file = tmp_path / "changed" / CHECKED.name
    changed_file.parent.mkdir()
    changed_file.write_text(CHECKED.read_text().replace("constant(0.2)", "constant(0.1)"))

    m = start_locust(lab, master, master_args(CHECKED, target, prefix, users=4, run_time="30s", workers=1,
                                              extra=["--csv-full-history"]),
                     env={"STRESSKIT_TEST_HELLO_TIMEOUT": "6"}, name="master")
    pg = start_locust(lab, good, worker_args(CHECKED, master), {"STRESSKIT_TEST_LABEL": good.name}, name="good")
    # What the rejection message advises: '-f -' fetches the master's locustfile, so it matches.
    fetch_dir = tmp_path / "fetcher"
    fetch_dir.mkdir()
    pf = lab.run(fetcher, [str(VENV_BIN / "locust"), "-f", "-", *worker_args(CHECKED, master)[2:]],
                 env=clean_env({"STRESSKIT_TEST_LABEL": fetcher.name}), name="fetcher", cwd=fetch_dir)
    wait_for(lambda: request_count(prefix, label(good)) > 0 and request_count(prefix, label(fetcher)) > 0, 60,
             "the good and the fetching workers' requests", alive=[m, pg, pf])

    # Both join mid-run; the master has users to hand them at once.
    pc = start_locust(lab, changed, worker_args(changed_file, master), {"STRESSKIT_TEST_LABEL": changed.name},
                      name="changed")
    pp = start_locust(lab, plain, worker_args(UNCHECKED, master), name="plain")

    # The changed worker refuses before any user runs: exit code 2, one clear line, no traceback.
    assert wait_exit(pc, 40) == EXIT_LOCUSTFILE_MISMATCH
    lines = log_lines(pc, "locustfile differs from the master's")
    assert len(lines) == 1 and "checked.py" in lines[0] and "-f -" in lines[0]
    assert "Traceback" not in pc.log_path.read_text()
    # The worker without the checks (so without a digest) is dropped once the hello timeout passes.
    rejected_at = float(wait_for(
        lambda: next((r["timestamp"] for r in worker_rows(prefix)
                      if r["worker"].startswith("plain_") and r["event"] == "rejected"), None),
        20, "the master to reject the worker without checks", alive=[m, pp]))

    code = wait_exit(m, 60)
    assert code == EXIT_LOCUSTFILE_MISMATCH, m.log_tail(30)
    rows = worker_rows(prefix)
    assert "rejected" in events_of(rows, changed.name)
    rejected = log_lines(m, "rejected worker")
    assert any(line.count("changed_") and "checked.py" in line for line in rejected)
    assert any("plain_" in line and "sent no locustfile digest" in line for line in rejected)
    # Not one request from the changed worker reached the results; the good worker carried on;
    # the plain worker's users stopped once it was dropped (its last report is up to 3 s late).
    assert request_count(prefix, label(changed)) == 0
    assert request_count(prefix, label(good)) > 0
    assert "missing" not in events_of(rows, good.name)
    assert "rejected" not in events_of(rows, fetcher.name) and wait_exit(pf, 30) == 0
    plain_growth = last_growth(prefix, "/api/items [unchecked]")
    assert plain_growth is None or plain_growth <= rejected_at + 6
    assert last_growth(prefix, label(good)) > rejected_at + 6


def test_a_worker_that_cannot_reach_its_master_says_why_and_exits(netns_lab):
    lab = netns_lab
    master, down = lab.add_host("master"), lab.add_host("down")
    refused_w, down_w = lab.add_host("worker1"), lab.add_host("worker2")
    lab.cut(down)  # a machine that is off the network
    env = {"STRESSKIT_MASTER_WAIT": "3"}
    started = time.monotonic()
    # Nothing listens on the master host (forgot to start it / wrong port).
    refused = start_locust(lab, refused_w, worker_args(CHECKED, master), env, name="refused")
    gone = start_locust(lab, down_w, worker_args(CHECKED, down), env, name="gone")

    assert wait_exit(refused, 60) == EXIT_MASTER_UNREACHABLE
    assert wait_exit(gone, 60) == EXIT_MASTER_UNREACHABLE
    # Locust alone retries for 5 minutes and then says "Failed to connect to the Locust master: ".
    assert time.monotonic() - started < 45
    [line] = log_lines(refused, "cannot reach the Locust master")
    assert f"{master.address}:5557" in line and "connection refused" in line
    [line] = log_lines(gone, "cannot reach the Locust master")
    assert f"{down.address}:5557" in line and ("no answer" in line or "no route" in line)
    for proc in (refused, gone):
        assert "Traceback" not in proc.log_path.read_text()
