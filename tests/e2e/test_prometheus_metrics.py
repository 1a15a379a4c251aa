"""Live metrics end to end: a real Prometheus scrapes a real Locust master and a real agent during a run.

The test starts its own ``prometheus`` (Debian package) on a free loopback port with a config it
writes (1 s scrapes, bearer tokens for both endpoints, TSDB in tmp), an agent sampling every
0.5 s, and a master with one worker process running a 24 s steady scenario against the reference
target. Afterwards it asks Prometheus's HTTP API and compares with the run's own files:

- request rate: ``sum(rate(stresskit_requests_total[16s]))`` in the steady part against the same
  16 s of ``_stats_history.csv`` (Total Request Count). Tolerance 30%: both read the master's
  stats, which move in steps of one worker report (every 3 s), so each end of the window can be
  one report apart — 2 × 3 s of 16 s at worst;
- memory: ``stresskit_system_memory_used_bytes`` against the system row of ``_resources.csv``
  of the same agent sample (``stresskit_agent_latest_sample_sequence`` of the same scrape names
  it): equal within 1e-6 (the machine's memory moves by several % in seconds, so "nearest in
  time" would test the machine, not the exporter);
- users per kind, the live criteria and the names served (every one in the exporters' tables).
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from stresskit.agent import prometheus as agent_prometheus
from stresskit.agent.launcher import start_agent
from stresskit.core.process import ManagedProcess
from stresskit.observe import metrics
from stresskit.target.launcher import free_port
from tests.conftest import ROOT

pytestmark = pytest.mark.skipif(shutil.which("prometheus") is None,
                                reason="needs prometheus (scripts/install-system-deps.sh installs it)")

LOCUSTFILE = str(ROOT / "tests" / "e2e" / "locustfiles" / "own_users.py")
AGENT_TOKEN = "prom-agent-token"
METRICS_TOKEN = "prom-metrics-token"
STEADY = 24
SCENARIOS = f"""
[scenarios.steady]
description = "constant load for the metrics test"
pages = 0
duration = "{STEADY}s"
failure_rate = 0.0
conditions = ["basic_validation"]
users = {{ api = 3, websocket = 1 }}
spawn_rate = 20
stages = [ {{ name = "steady", duration = "{STEADY}s", load = 1.0 }} ]
"""


class Prometheus(ManagedProcess):
    def __init__(self, workdir: Path, port: int, targets: dict[str, tuple[str, str]]) -> None:
        jobs = "".join(f"""
  - job_name: {job}
    authorization: {{credentials: {token}}}
    static_configs: [{{targets: ['{address}']}}]
""" for job, (address, token) in targets.items())
        config = workdir / "prometheus.yml"
        config.write_text(f"global: {{scrape_interval: 1s, scrape_timeout: 900ms}}\nscrape_configs:{jobs}")
        self.url = f"http://127.0.0.1:{port}"
        super().__init__("prometheus", ["prometheus", f"--config.file={config}",
                                        f"--storage.tsdb.path={workdir / 'tsdb'}",
                                        f"--web.listen-address=127.0.0.1:{port}"], workdir / "prometheus.log")

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/-/ready", timeout=1) as response:
                return response.status == 200
        except OSError:
            return False

    def query(self, expression: str, at: float) -> list[dict]:
        query = urllib.parse.urlencode({"query": expression, "time": f"{at:.3f}"})
        with urllib.request.urlopen(f"{self.url}/api/v1/query?{query}", timeout=10) as response:
            body = json.loads(response.read())
        assert body["status"] == "success", body
        return body["data"]["result"]

    def value(self, expression: str, at: float) -> float:
        result = self.query(expression, at)
        assert len(result) == 1, (expression, result)
        return float(result[0]["value"][1])


@pytest.fixture
def agent(tmp_path):
    with start_agent(["--interval", "0.5"], token=AGENT_TOKEN, workdir=tmp_path / "agent") as proc:
        yield proc


def test_prometheus_scrapes_master_and_agent_and_matches_the_run_files(tmp_path, target, agent):
    metrics_port, master_port, prom_port = free_port(), free_port(), free_port()
    agent_address = urllib.parse.urlsplit(agent.url).netloc
    prom = Prometheus(tmp_path, prom_port, {"stresskit": (f"127.0.0.1:{metrics_port}", METRICS_TOKEN),
                                            "agent": (agent_address, AGENT_TOKEN)})
    worker = None
    try:
        prom.wait_until(prom.ready, 60, "ready", error=AssertionError)
        scenario_file = tmp_path / "scenarios.toml"
        scenario_file.write_text(SCENARIOS)
        env = {k: v for k, v in os.environ.items() if not k.startswith("STRESSKIT_")}
        common = ["-f", LOCUSTFILE, "--host", target.url]
        worker = ManagedProcess("worker", [sys.executable, "-m", "locust", *common, "--worker", "--master-host",
                                           "127.0.0.1", "--master-port", str(master_port)],
                                tmp_path / "worker.log", env=env)
        prefix = tmp_path / "run"
        master = subprocess.run(
            [sys.executable, "-m", "locust", *common, "--master", "--master-bind-host", "127.0.0.1",
             "--master-bind-port", str(master_port), "--expect-workers", "1", "--headless", "--only-summary",
             "--scenario-file", str(scenario_file), "--scenario", "steady", "--pages", "0",
             "--agent", agent.url, "--agent-token", AGENT_TOKEN, "--metrics-port", str(metrics_port),
             "--metrics-token", METRICS_TOKEN, "--csv", str(prefix)],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
        assert master.returncode == 0, master.stderr[-3000:]
        assert "Prometheus metrics at http://127.0.0.1:" in master.stderr
        run = json.loads(Path(f"{prefix}_run.json").read_text())
        started, ended = run["started"], run["ended"]
        assert ended - started >= STEADY - 1

        # both endpoints were scraped, with their tokens
        assert prom.value('max_over_time(up{job="stresskit"}[2m])', ended) == 1
        assert prom.value('max_over_time(up{job="agent"}[2m])', ended) == 1

        # request rate in the steady part against the same window of _stats_history.csv
        window = 16
        at = started + 3 + window  # 3 s for the users to spawn and report
        prom_rate = prom.value(f"sum(rate(stresskit_requests_total[{window}s]))", at)
        with open(f"{prefix}_stats_history.csv") as handle:
            history = {int(row["Timestamp"]): int(row["Total Request Count"])
                       for row in csv.DictReader(handle) if row["Name"] == "Aggregated"}
        csv_rate = (history[int(at)] - history[int(at) - window]) / window
        assert csv_rate > 5, history
        assert prom_rate == pytest.approx(csv_rate, rel=0.30), (prom_rate, csv_rate)

        # users per kind at mid-run: the scenario's mix
        assert prom.value('stresskit_users{kind="api"}', at) == 3
        assert prom.value('stresskit_users{kind="websocket"}', at) == 1
        # the verdict so far, per criterion
        assert prom.value('stresskit_criterion_passed{criterion="error_ratio"}', at) == 1
        assert prom.value("stresskit_verdict_passing", at) == 1
        quantile = prom.value('max(stresskit_request_duration_seconds{name="/api/items",quantile="0.95"})', at)
        assert 0 < quantile < 5

        # the agent's memory against _resources.csv: the same sample (same seq, from the same scrape)
        memory = prom.query("stresskit_system_memory_used_bytes", at)
        seq = prom.query("stresskit_agent_latest_sample_sequence", at)
        assert len(memory) == 1 and len(seq) == 1, (memory, seq)
        assert memory[0]["value"][0] == seq[0]["value"][0]  # one scrape
        with open(f"{prefix}_resources.csv") as handle:
            rows = {int(row["seq"]): row for row in csv.DictReader(handle) if row["kind"] == "system"}
        row = rows[int(float(seq[0]["value"][1]))]
        assert abs(float(row["timestamp"]) - at) < 3
        assert float(memory[0]["value"][1]) == pytest.approx(float(row["rss_bytes"]), rel=1e-6)

        # every name served is one of the exporters' tables (the dashboard is checked against them)
        with urllib.request.urlopen(f"{prom.url}/api/v1/label/__name__/values", timeout=10) as response:
            served = {name for name in json.loads(response.read())["data"] if name.startswith("stresskit_")}
        known = set(metrics.metric_names()) | set(agent_prometheus.metric_names())
        assert served and served <= known, served - known
        assert {"stresskit_requests_total", "stresskit_system_memory_used_bytes"} <= served
        assert not any(re.search(r"percent|_bps$", name) for name in served), served

        # every query of the Grafana dashboard parses and runs on this Prometheus
        dashboard = json.loads((ROOT / "docker" / "grafana" / "dashboards" / "stresskit.json").read_text())
        for panel in dashboard["panels"]:
            for target_query in panel["targets"]:
                prom.query(target_query["expr"].replace("$__rate_interval", "15s"), at)
        assert prom.query("sum by (type, name) (rate(stresskit_requests_total[15s]))", at)
    finally:
        if worker is not None:
            worker.stop(timeout=15)
        prom.stop(timeout=15)


def test_metrics_endpoint_refuses_scrapes_without_the_token_and_bad_options_are_exit_2(tmp_path, target):
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRESSKIT_")}
    bad = subprocess.run([sys.executable, "-m", "locust", "-f", LOCUSTFILE, "--headless", "--host", target.url,
                          "--metrics-port", "0", "--metrics-bind", "0.0.0.0", "--csv", str(tmp_path / "bad")],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert bad.returncode == 2
    errors = [line for line in bad.stderr.splitlines() if "bad configuration" in line]
    assert len(errors) == 1 and "--metrics-token" in errors[0], bad.stderr[-2000:]

    port = free_port()
    run = ManagedProcess("locust", [sys.executable, "-m", "locust", "-f", LOCUSTFILE, "--headless", "--host",
                                    target.url, "--scenario", "light", "--time-scale", "0.02", "--pages", "0",
                                    "--metrics-port", str(port), "--metrics-token", METRICS_TOKEN],
                         tmp_path / "locust.log", env=env)
    url = f"http://127.0.0.1:{port}/metrics"

    def status(token: str | None) -> int:
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code
        except OSError:
            return 0

    try:
        run.wait_until(lambda: status(METRICS_TOKEN) == 200, 60, "serving metrics", error=AssertionError)
        assert status(None) == 401
        assert status("wrong") == 401
    finally:
        run.stop(timeout=30)
    assert METRICS_TOKEN not in (tmp_path / "locust.log").read_text()  # the token never reaches a log line
