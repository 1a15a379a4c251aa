"""A real network partition between a worker host and the target host, in network namespaces.

Three hosts on the lab's switch (198.18.0.0/24): the Locust master, one worker, the reference
target. ``locustfiles/recovery_partition.py`` runs distributed; the master's recovery driver sets
the target host's switch port down for 3 s (``--partition-link``: ``ip -n <switch> link set <port>
down``), then up again. The worker's users see real timeouts, every one of them recovers, and the
master's fault log and stats hold the partition, each user's recovery and its percentiles."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.conftest import ADMIN_TOKEN
from tests.distributed.helpers import clean_env, read_csv, wait_exit

pytestmark = [pytest.mark.netns, pytest.mark.timeout(180)]

ROOT = Path(__file__).resolve().parents[2]
LOCUSTFILE = ROOT / "locustfiles" / "recovery_partition.py"
USERS = 4


def test_worker_target_partition_is_real_and_every_user_recovers(netns_lab, tmp_path):
    lab = netns_lab
    master = lab.add_host("master")
    worker = lab.add_host("worker")
    target = lab.add_host("target")
    env = clean_env()
    server = lab.run(target, [sys.executable, "-m", "stresskit", "target", "--bind", target.address,
                              "--port", "8089", "--latency-ms", "0"], env=env, name="target")
    lab.wait_for_port(worker, target.address, 8089, timeout=30, process=server)

    prefix = tmp_path / "run"
    locust = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE)]
    head = lab.run(master, [*locust, "--master", "--master-bind-host", master.address, "--headless",
                            "--expect-workers", "1", "-u", str(USERS), "-r", str(USERS), "-t", "14s",
                            "--host", f"http://{target.address}:8089", "--csv", str(prefix),
                            "--exit-code-on-error", "0",
                            "--partition-link", f"{lab.switch}:{target.switch_port}",
                            "--recovery-at", "4", "--recovery-down", "3"], env=env, name="master")
    lab.wait_for_port(worker, master.address, 5557, timeout=30, process=head)
    lab.run(worker, [*locust, "--worker", "--master-host", master.address], env=env, name="worker")

    assert wait_exit(head, timeout=90) == 0, head.log_tail(40)
    assert not lab.is_cut(target), "the link must be up again after the run"

    rows = read_csv(Path(f"{prefix}_faults.csv"))
    cut = [r for r in rows if r["event"] == "injected"]
    assert len(cut) == 1 and cut[0]["kind"] == "network_partition"
    assert cut[0]["detail"] == f"link {target.switch_port} in netns {lab.switch} down"
    per_user = [r for r in rows if r["event"] == "recovered" and r["user"]]
    assert len({r["user"] for r in per_user}) == USERS, rows
    assert all(r["worker"] not in ("", "local") for r in per_user)  # sent by the worker, logged on the master
    # nobody can be back before the link is: each recovery takes at least the 3 s cut
    assert min(float(r["recovery_time"]) for r in per_user) >= 3.0
    assert not [r for r in rows if r["event"] == "critical"]

    stats = {(r["Type"], r["Name"]): r for r in read_csv(Path(f"{prefix}_stats.csv"))}
    recovery = stats[("RECOVERY", "network_partition")]
    assert int(recovery["Request Count"]) == USERS and int(recovery["Failure Count"]) == 0
    assert float(recovery["50%"]) >= 3000
    items = stats[("GET", "/api/items")]
    assert int(items["Failure Count"]) >= 1   # real timeouts while the link was down
    assert int(items["Request Count"]) > int(items["Failure Count"])


def test_per_user_faults_in_a_distributed_run_are_logged_on_the_master(target, tmp_path):
    """Master and two workers on loopback: the master resolves the fault config and sends it to the
    workers; their injections and recoveries arrive in the master's _faults.csv and stats."""
    import subprocess

    from stresskit.target.launcher import free_port

    prefix = tmp_path / "run"
    port = free_port()
    locustfile = ROOT / "locustfiles" / "recovery_websocket.py"
    master = subprocess.Popen(
        [sys.executable, "-m", "locust", "-f", str(locustfile), "--master", "--master-bind-host", "127.0.0.1",
         "--master-bind-port", str(port), "--headless", "--expect-workers", "2", "-u", "6", "-r", "6", "-t", "8s",
         "--csv", str(prefix), "--exit-code-on-error", "0", "--recovery-at", "1000",
         "--host", target.url, "--target-admin-token", ADMIN_TOKEN,
         "--failure-rate", "0.05", "--faults", "websocket_drop", "--fault-seed", "3"],
        stdout=subprocess.DEVNULL, stderr=open(tmp_path / "master.log", "w"), cwd=tmp_path)
    workers = [subprocess.Popen(
        [sys.executable, "-m", "locust", "-f", str(locustfile), "--worker", "--master-host", "127.0.0.1",
         "--master-port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path)
        for _ in range(2)]
    try:
        assert master.wait(90) == 0, (tmp_path / "master.log").read_text()[-3000:]
    finally:
        for process in (master, *workers):
            if process.poll() is None:
                process.terminate()
                process.wait(10)
    rows = read_csv(Path(f"{prefix}_faults.csv"))
    injected = [r for r in rows if r["event"] == "injected"]
    assert injected and {r["kind"] for r in injected} == {"websocket_drop"}
    assert len({r["worker"] for r in injected}) == 2, "both workers inject"
    assert all(r["worker"] != "local" and "(action " in r["detail"] for r in injected)
    assert {r["user"].split("/")[0] for r in injected} == {"w0", "w1"}
    stats = {(r["Type"], r["Name"]): r for r in read_csv(Path(f"{prefix}_stats.csv"))}
    recovered = [r for r in rows if r["event"] == "recovered"]
    assert int(stats[("RECOVERY", "websocket_drop")]["Request Count"]) == len(recovered) >= len(injected) - 2
