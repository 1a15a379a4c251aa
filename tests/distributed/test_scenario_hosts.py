"""A scenario across machines: master, two workers, the target with its agent, and Redis, each
on its own host (network namespaces, 198.18.0.0/24), running every client kind.

What must hold in master/worker mode (issue 8, part 1), read from the master's files:

* the scenario shape drives the master: with ``--end-on-quota`` the run ends by itself when the page quota is done,
  and the users per kind are exactly the scenario's, spread over both workers;
* the page quota is handed out by the master exactly once: as many page fetches as pages;
* cache hits and misses counted on the workers arrive aggregated on the master;
* the collector runs on the master only: the agent has exactly one subscriber although every
  worker receives ``--agent`` with its spawn orders; the master's resources file holds the
  target host's samples and both workers' own figures.
"""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path

import pytest

from tests.distributed.helpers import (
    LOCUSTFILES,
    MASTER_PORT,
    ROOT,
    TARGET_PORT,
    VENV_BIN,
    clean_env,
    read_csv,
    request_count,
    start_locust,
    start_target,
    wait_exit,
    wait_for,
    worker_args,
    worker_rows,
)

pytestmark = [pytest.mark.netns, pytest.mark.timeout(180)]

LOCUSTFILE = LOCUSTFILES / "scenario_hosts.py"
AGENT_PORT = 9105
PAGES = 12
SCENARIO = f"""
[scenarios.hosts]
description = "every kind across namespace hosts"
pages = {PAGES}
duration = "40s"
failure_rate = 0.0
conditions = ["basic_validation"]
users = {{ api = 2, websocket = 2, cache = 2, browser = 2 }}
spawn_rate = 8
stages = [ {{ name = "steady", duration = "40s", load = 1.0 }} ]
"""


def agent_subscribers(lab, host, agent_url: str, token: str) -> int:
    status, body = lab.http_get(host, agent_url + "/metrics", headers={"Authorization": f"Bearer {token}"})
    assert status == 200
    for line in body.decode().splitlines():
        if line.startswith("stresskit_agent_subscribers"):
            return int(float(line.split()[-1]))
    raise AssertionError(f"no subscribers gauge in /metrics:\n{body.decode()[:500]}")


def test_a_scenario_across_hosts_is_driven_and_aggregated_by_the_master(netns_lab, tmp_path):
    lab = netns_lab
    redis, target, master = lab.add_host("redis"), lab.add_host("target"), lab.add_host("master")
    workers = [lab.add_host("worker1"), lab.add_host("worker2")]
    password, agent_token = secrets.token_urlsafe(12), secrets.token_urlsafe(18)
    redis_url = f"redis://:{password}@{redis.address}:6379/0"

    redis_proc = lab.run(redis, ["redis-server", "--bind", redis.address, "--port", "6379", "--save", "",
                                 "--appendonly", "no", "--requirepass", password, "--dir", str(tmp_path)],
                         env=clean_env(), name="redis", cwd=tmp_path)
    lab.wait_for_port(target, redis.address, 6379, timeout=30, process=redis_proc)
    target_proc = start_target(lab, target, ["--redis-url", redis_url, "--rate-limit", "20000",
                                             "--rate-burst", "40000"], probe_from=master)
    agent = lab.run(target, [str(VENV_BIN / "stresskit"), "agent", "--bind", target.address, "--port",
                             str(AGENT_PORT), "--cmdline", "stresskit target", "--interval", "0.5"],
                    env=clean_env({"STRESSKIT_AGENT_TOKEN": agent_token}), name="agent", cwd=ROOT)
    lab.wait_for_port(master, target.address, AGENT_PORT, timeout=30, process=agent)
    agent_url = f"http://{target.address}:{AGENT_PORT}"

    scenario_file = tmp_path / "scenarios.toml"
    scenario_file.write_text(SCENARIO)
    prefix = tmp_path / "run"
    common = {"STRESSKIT_REDIS_URL": redis_url, "STRESSKIT_TEST_PAGE_WAIT": "1.0"}
    m = start_locust(lab, master, [
        "-f", str(LOCUSTFILE), "--master", "--master-bind-port", str(MASTER_PORT), "--headless",
        "--expect-workers", "2", "--host", f"http://{target.address}:{TARGET_PORT}",
        "--scenario", "hosts", "--scenario-file", str(scenario_file), "--end-on-quota", "--agent", agent_url,
        "--csv", str(prefix), "--only-summary"], env={**common, "STRESSKIT_AGENT_TOKEN": agent_token}, name="master")
    procs = [start_locust(lab, w, worker_args(LOCUSTFILE, master), env=common, name=w.name) for w in workers]

    # While it runs: the master is the agent's only subscriber (the workers got --agent too).
    wait_for(lambda: request_count(prefix, "/api/pages/[n]/rows") > 0, 90, "page fetches", alive=[m, *procs])
    seen = set()
    deadline = time.monotonic() + 6
    while time.monotonic() < deadline and m.alive():
        seen.add(agent_subscribers(lab, master, agent_url, agent_token))
        time.sleep(0.5)  # sampling a gauge over a few seconds, not waiting for an event
    assert max(seen) == 1, seen  # 0 between two subscriptions of the collector's resumable stream

    code = wait_exit(m, 120)
    doc = json.loads(Path(f"{prefix}_run.json").read_text())
    assert code == 0 and doc["exit_code"] == 0, m.log_tail(40)
    # The shape drove the master: the run ended when the quota was done, not at the 40 s duration.
    assert (doc["scenario"], doc["stop_reason"]) == ("hosts", "page quota complete"), doc["stop_reason"]
    assert doc["ended"] - doc["started"] < 40
    assert doc["peak_users"] == {"Api": 2, "Chat": 2, "HttpPages": 2, "Sessions": 2}
    assert len(doc["workers"]) == 2 and {w.split("_")[0] for w in doc["workers"]} == {"worker1", "worker2"}
    # Every page exactly once: as many successful fetches as pages, none twice.
    assert doc["pages_total"] == doc["pages_completed"] == PAGES
    assert request_count(prefix, "/api/pages/[n]/rows") == PAGES
    # Cache figures from both workers, aggregated on the master.
    state = doc["run_state"]
    assert state["cache_hits"] > 0 and state["cache_misses"] > 0 and 0 < state["cache_hit_rate"] < 1
    # The collector on the master wrote the target host's samples and each worker's own figures.
    rows = read_csv(Path(f"{prefix}_resources.csv"))
    assert any(r["kind"] == "system" and r["host"] == "target" for r in rows)
    assert any(r["kind"] == "process" and r["pid"] == str(target_proc.pid) for r in rows)
    generators = {r["host"].split("_")[0] for r in rows if r["kind"] == "generator"}
    assert {"worker1", "worker2"} <= generators
    assert {r["worker"].split("_")[0] for r in worker_rows(prefix) if r["event"] == "joined"} == {"worker1",
                                                                                                 "worker2"}
    for proc in procs:
        assert wait_exit(proc, 30) == 0
