"""docker/: the monitoring profile (Prometheus + Grafana) agrees with the exporters and the compose file.

The Grafana dashboard must be valid JSON whose every query names only metrics the exporters
really serve: the names come from the tables both exporters render from (stresskit.observe.metrics and
stresskit.agent.prometheus); tests/e2e/test_prometheus_metrics.py checks that what a real
Prometheus scraped from a real run is within those tables. No container engine is needed.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
import yaml

from stresskit.agent import prometheus as agent_prometheus
from stresskit.observe import metrics
from tests.distributed.compose import ROOT, load_compose, services

DOCKER = ROOT / "docker"
DASHBOARD = DOCKER / "grafana" / "dashboards" / "stresskit.json"
SECRETS = {"REDIS_PASSWORD": "x", "STRESSKIT_ADMIN_TOKEN": "x", "STRESSKIT_AGENT_TOKEN": "x"}


def _expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["panels"]
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def test_dashboard_names_only_metrics_the_exporters_serve():
    known = set(metrics.metric_names()) | set(agent_prometheus.metric_names())
    used = set()
    for expression in _expressions():
        names = set(re.findall(r"\bstresskit_[a-z0-9_]+", expression))
        assert names, expression
        used |= names
    assert used <= known, sorted(used - known)
    # the dashboard covers the run, the verdict and the target host
    for name in ("stresskit_requests_total", "stresskit_request_duration_seconds", "stresskit_users",
                 "stresskit_pages_completed", "stresskit_faults_injected_total", "stresskit_criterion_passed",
                 "stresskit_verdict_passing", "stresskit_system_memory_used_bytes"):
        assert name in used, name


def test_dashboard_uses_the_provisioned_datasource():
    datasource = yaml.safe_load((DOCKER / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text())
    uid = datasource["datasources"][0]["uid"]
    dashboard = json.loads(DASHBOARD.read_text())
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == uid, panel["title"]
    provider = yaml.safe_load((DOCKER / "grafana" / "provisioning" / "dashboards" / "stresskit.yml").read_text())
    grafana = load_compose(SECRETS, profiles=("monitoring",))["services"]["grafana"]
    mounts = dict(volume.split(":")[:2][::-1] for volume in grafana["volumes"])
    assert (DOCKER / mounts[provider["providers"][0]["options"]["path"]].removeprefix("./")).is_dir()


def test_monitoring_services_scrape_the_master_and_the_agent_with_the_token():
    compose = load_compose(SECRETS, profiles=("monitoring",))
    assert {"prometheus", "grafana"} <= set(compose["services"])
    assert "prometheus" not in load_compose(SECRETS)["services"]  # only with --profile monitoring
    for name in ("prometheus", "grafana"):
        assert all(port.startswith("127.0.0.1:") for port in compose["services"][name]["ports"]), name
    config = yaml.safe_load((DOCKER / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    spec = services(load_compose(SECRETS), SECRETS)
    master_env = spec["master"].env
    assert jobs["stresskit"]["static_configs"][0]["targets"] == [f"master:{master_env['STRESSKIT_METRICS_PORT']}"]
    agent_argv = spec["agent"].argv
    agent_port = agent_argv[agent_argv.index("--port") + 1]
    assert jobs["stresskit-agent"]["static_configs"][0]["targets"] == [f"{spec['agent'].shares_network_of}:{agent_port}"]
    # both scrapes send the agent's token, mounted as a compose secret; the master's endpoint wants it
    secret = compose["secrets"]["stresskit_scrape_token"]
    assert secret == {"environment": "STRESSKIT_AGENT_TOKEN"}
    assert master_env["STRESSKIT_METRICS_TOKEN"] == SECRETS["STRESSKIT_AGENT_TOKEN"]
    for job in jobs.values():
        assert job["authorization"]["credentials_file"] == "/run/secrets/stresskit_scrape_token"
    assert "stresskit_scrape_token" in compose["services"]["prometheus"]["secrets"]
    mounted = {v.split(":")[1]: v.split(":")[0] for v in compose["services"]["prometheus"]["volumes"]}
    assert (DOCKER / mounted["/etc/prometheus/prometheus.yml"].removeprefix("./")).is_file()


@pytest.mark.skipif(shutil.which("promtool") is None, reason="needs promtool (Debian package prometheus)")
def test_prometheus_config_is_valid_for_promtool(tmp_path):
    token = tmp_path / "token"
    token.write_text("x")
    text = (DOCKER / "prometheus" / "prometheus.yml").read_text().replace("/run/secrets/stresskit_scrape_token",
                                                                          str(token))
    (tmp_path / "prometheus.yml").write_text(text)
    checked = subprocess.run(["promtool", "check", "config", str(tmp_path / "prometheus.yml")],
                             capture_output=True, text=True, timeout=60, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
