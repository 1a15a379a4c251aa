"""docker/docker-compose.yml's services as separate hosts: each service's command, with the
environment Compose would give it, in its own network namespace (198.18.0.0/24).

The file is read with a YAML parser (tests/distributed/compose.py). Each service gets a host
named after it (workers: ``worker1``, ``worker2``); ``network_mode: service:target`` puts the
agent on the target's host, as the sidecar it is. Service names are not resolvable here, so the
``*_HOST`` variables the compose file already reads (``${TARGET_HOST:-target}``) carry the
hosts' addresses — the test also fails if any command or environment still names a service
directly, because then the file would only work on Compose's network. Health checks run inside
their hosts and gate ``depends_on: service_healthy`` as Compose does.

A short headless run (``LOCUST_HEADLESS`` / ``LOCUST_RUN_TIME`` / ``STRESSKIT_TIME_SCALE``, the
knobs the compose file documents) then has to: reach the target from both worker hosts, keep
both workers connected to the master, and leave the master's CSV stats in the ``runs`` volume
with exit code 0.
"""

from __future__ import annotations

import json
import re
import secrets
from itertools import pairwise
from pathlib import Path

import pytest

from tests.distributed.compose import image_from_dockerfile, load_compose, map_paths, services, start_order
from tests.distributed.helpers import failure_count, read_csv, wait_exit, wait_for

pytestmark = [pytest.mark.netns, pytest.mark.timeout(180)]

WORKERS = 2
RUN_TIME = "20s"


def peers(lab, host, port: int) -> set[str]:
    """Addresses with an established TCP connection to ``port`` on ``host`` (from ``ss``)."""
    out = lab.exec(host, "ss", "-Htn", "state", "established", f"( sport = :{port} )").stdout
    found = set()
    for line in out.splitlines():
        fields = line.split()
        if len(fields) >= 4:
            address = fields[-1].rsplit(":", 1)[0].strip("[]")
            found.add(address.removeprefix("::ffff:"))  # a dual-stack listener (Locust's master) sees v4-mapped peers
    return found


def test_compose_services_run_as_separate_hosts(netns_lab, tmp_path):
    lab = netns_lab
    compose_plain = load_compose({"REDIS_PASSWORD": "x", "STRESSKIT_ADMIN_TOKEN": "x", "STRESSKIT_AGENT_TOKEN": "x"})
    names = list(compose_plain["services"])
    assert {"master", "worker", "target", "redis", "agent"} <= set(names)

    # One host per service (and per worker replica); sidecars share their service's host.
    hosts = {}
    for name, spec in compose_plain["services"].items():
        if str(spec.get("network_mode", "")).startswith("service:"):
            continue
        if name == "worker":
            for i in range(1, WORKERS + 1):
                hosts[f"worker{i}"] = lab.add_host(f"worker{i}")
        else:
            hosts[name] = lab.add_host(name)

    secrets_env = {"REDIS_PASSWORD": secrets.token_urlsafe(18), "STRESSKIT_ADMIN_TOKEN": secrets.token_urlsafe(18),
                   "STRESSKIT_AGENT_TOKEN": secrets.token_urlsafe(18)}
    variables = {
        **secrets_env,
        "WORKERS": str(WORKERS),
        "LOCUST_HEADLESS": "true", "LOCUST_RUN_TIME": RUN_TIME, "LOCUST_USERS": "4", "LOCUST_SPAWN_RATE": "4",
        "STRESSKIT_SCENARIO": "light", "STRESSKIT_TIME_SCALE": "0.02", "TARGET_PAGES": "40",
    }
    spec = services(load_compose(variables), variables)  # with service names: for the host-of mapping
    for name, service in spec.items():
        host_name = service.shares_network_of or name
        if host_name in hosts:  # workers have no single host; nothing addresses them
            variables[f"{name.upper()}_HOST"] = hosts[host_name].address
    spec = services(load_compose(variables), variables)
    assert spec["worker"].replicas == WORKERS
    assert spec["agent"].shares_network_of == "target"

    image = image_from_dockerfile()
    volumes_dir = tmp_path / "volumes"
    processes = {}
    for name in start_order(spec):
        service = spec[name]
        mounts = {target: volumes_dir / (source.strip("./") or "root") for source, target in service.volumes}
        for directory in mounts.values():
            directory.mkdir(parents=True, exist_ok=True)
        argv = map_paths(service.argv, mounts)
        env = {**image.env, **dict(zip(service.env, map_paths(list(service.env.values()), mounts), strict=True))}
        # Every cross-service address must come from a *_HOST variable: no service name left in a
        # host:port, a URL, a --*-host option or a *_HOST variable.
        for token in [*argv, *env.values()]:
            assert not re.search(rf"(^|[/@])({'|'.join(spec)}):\d+", token), (name, token)
        for option, value in [*pairwise(argv), *env.items()]:
            if option.lower().endswith(("-host", "_host")):
                assert value not in spec, (name, option, value)
        for dep, condition in service.depends_on.items():
            if condition == "service_healthy":
                dep_host = hosts[spec[dep].shares_network_of or dep]
                dep_env = {**image.env, **spec[dep].env}
                wait_for(lambda d=dep, h=dep_host, e=dep_env: lab.exec(h, *spec[d].healthcheck, check=False, env=e,
                                                                       cwd=image.workdir).returncode == 0,
                         60, f"{dep} to be healthy (for {name})", alive=processes.get(dep, []))
        targets = ([hosts[f"worker{i}"] for i in range(1, service.replicas + 1)] if name == "worker"
                   else [hosts[service.shares_network_of or name]])
        processes[name] = [lab.run(host, argv, env=env, name=f"{name}-{host.name}", cwd=image.workdir)
                           for host in targets]

    master = processes["master"][0]
    everything = [p for group in processes.values() for p in group]
    workers = [hosts[f"worker{i}"] for i in range(1, WORKERS + 1)]
    worker_addresses = {w.address for w in workers}
    # Both worker hosts talk to the master and send load to the target, over the lab's switch.
    wait_for(lambda: worker_addresses <= peers(lab, hosts["master"], 5557), 60,
             "both workers connected to the master", alive=everything)
    wait_for(lambda: worker_addresses <= peers(lab, hosts["target"], 8089), 60,
             "both workers' connections at the target", alive=everything)

    # The target reaches Redis on its host with the password from the environment.
    target_url = f"http://{hosts['target'].address}:8089"
    status, body = lab.http_get(hosts["master"], target_url + "/healthz")
    assert status == 200 and json.loads(body)["redis"] == "ok"

    # The agent beside the target answers the master's host with the token, and only with it.
    agent_url = f"http://{variables['AGENT_HOST']}:9105/v1/latest"
    status, _ = lab.http_get(hosts["master"], agent_url)
    assert status == 401
    status, body = lab.http_get(hosts["master"], agent_url,
                                headers={"Authorization": f"Bearer {secrets_env['STRESSKIT_AGENT_TOKEN']}"})
    sample = json.loads(body)
    target_pid = processes["target"][0].pid
    assert status == 200 and sample["host"] == "target"
    assert target_pid in {p["pid"] for p in sample["processes"]}

    # The master stops by itself; its results are in the `runs` volume.
    code = wait_exit(master, 120)
    assert code == 0, master.log_tail(40)
    prefix = volumes_dir / "runs" / "run"
    stats = {row["Name"]: row for row in read_csv(Path(f"{prefix}_stats.csv"))}
    assert int(stats["Aggregated"]["Request Count"]) > 0
    assert any(name.startswith("/api/") for name in stats)
    assert failure_count(prefix) <= 0.05 * int(stats["Aggregated"]["Request Count"])
    assert Path(f"{prefix}_stats_history.csv").stat().st_size > 0  # --csv-full-history
    assert Path(str(prefix) + ".html").stat().st_size > 0          # --html
    # Parts the locustfile may opt into: when present, they must agree with the run.
    workers_csv = read_csv(Path(f"{prefix}_workers.csv"))
    if workers_csv:
        joined = {r["worker"].split("_")[0] for r in workers_csv if r["event"] == "joined"}
        assert joined == {w.name for w in workers}
        assert not any(r["event"] in ("rejected", "missing") for r in workers_csv)
    resources = read_csv(Path(f"{prefix}_resources.csv"))
    if resources:
        assert "target" in {r["host"] for r in resources}
    run_json = Path(f"{prefix}_run.json")
    if run_json.exists():
        assert json.loads(run_json.read_text())["exit_code"] == code
    for proc in processes["worker"]:  # the master's quit reaches every worker
        assert wait_exit(proc, 30) == 0
