"""docker/: the compose file, the Kubernetes manifests and the Dockerfile agree with each other
and with the README's install path, so none of them can drift on its own.

Read with a YAML parser; nothing here needs root or a container engine. (The compose services
are *run* in test_compose_hosts.py.)
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from tests.distributed.compose import (
    COMPOSE_FILE,
    DOCKERFILE,
    ROOT,
    InterpolationError,
    image_from_dockerfile,
    interpolate,
    load_compose,
    services,
)

K8S = ROOT / "docker" / "k8s"
SECRETS = {"REDIS_PASSWORD": "$(REDIS_PASSWORD)", "STRESSKIT_ADMIN_TOKEN": "$(STRESSKIT_ADMIN_TOKEN)",
           "STRESSKIT_AGENT_TOKEN": "$(STRESSKIT_AGENT_TOKEN)"}


@pytest.mark.parametrize(("text", "variables", "expected"), [
    ("${A:-d}", {}, "d"),
    ("${A:-d}", {"A": ""}, "d"),
    ("${A-d}", {"A": ""}, ""),
    ("${A:-d}", {"A": "v"}, "v"),
    ("http://${A:-target}:8089", {"A": "198.18.0.3"}, "http://198.18.0.3:8089"),
    ("$$A and $A", {"A": "v"}, "$A and v"),
    ("${A:+set}", {"A": "v"}, "set"),
    ("${A:?need A}", {"A": "v"}, "v"),
])
def test_interpolation_follows_compose(text, variables, expected):
    assert interpolate(text, variables) == expected


def test_compose_refuses_to_start_without_the_secrets():
    with pytest.raises(InterpolationError, match=r"REDIS_PASSWORD.*docker/\.env|STRESSKIT_\w+_TOKEN.*docker/\.env"):
        load_compose({})
    for missing in SECRETS:
        with pytest.raises(InterpolationError, match=missing):
            load_compose({k: "x" for k in SECRETS if k != missing})


def test_one_image_for_every_service_and_the_web_ui_on_loopback_by_default():
    compose = load_compose(SECRETS)
    for name, spec in compose["services"].items():
        assert spec["image"] == "stresskit:latest", name
        assert spec["build"] == {"context": "..", "dockerfile": "docker/Dockerfile"}, name
    assert compose["services"]["master"]["ports"] == ["127.0.0.1:8089:8089"]
    assert load_compose({**SECRETS, "WEB_UI_BIND": "0.0.0.0"})["services"]["master"]["ports"] == ["0.0.0.0:8089:8089"]
    # Workers scale (no fixed container name) and default to the master's --expect-workers.
    spec = services(compose, SECRETS)
    assert "container_name" not in compose["services"]["worker"]
    master_argv = spec["master"].argv
    assert spec["worker"].replicas == int(master_argv[master_argv.index("--expect-workers") + 1]) == 2
    assert services(load_compose({**SECRETS, "WORKERS": "5"}), SECRETS)["worker"].replicas == 5


def _run_lines() -> list[str]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    return [line.strip()[4:] for line in text.splitlines() if line.strip().startswith("RUN ")]


def test_the_image_installs_through_the_readme_scripts():
    runs = " ".join(_run_lines())
    assert "scripts/install-system-deps.sh" in runs and "scripts/bootstrap.sh" in runs
    # The package list lives in the script only: the Dockerfile installs no program of its own.
    for program in ("chromium", "redis", "python3", "wrk"):
        assert not re.search(rf"apt-get install[^&]*\b{program}", runs), program
    readme = (ROOT / "README.md").read_text()
    assert "scripts/bootstrap.sh" in readme and "scripts/install-system-deps.sh" in readme
    # What the image copies exists, and the ignore file lets it through.
    ignore = (ROOT / "docker" / "Dockerfile.dockerignore").read_text().split()
    for line in DOCKERFILE.read_text().splitlines():
        if line.startswith("COPY "):
            *sources, _ = shlex.split(line[5:])
            for source in sources:
                assert (ROOT / source).exists(), source
                parts = Path(source.rstrip("/")).parts
                included = {f"!{'/'.join(parts[:i])}{suffix}" for i in range(1, len(parts) + 1) for suffix in ("", "/")}
                assert included & set(ignore), source
    image = image_from_dockerfile()
    assert image.workdir == str(ROOT)
    assert image.env["PATH"].startswith(f"{ROOT}/.venv/bin:")


def _k8s_docs() -> dict[tuple[str, str], dict]:
    docs = {}
    for path in K8S.glob("*.yaml"):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                docs[(doc["kind"], doc["metadata"]["name"] if "metadata" in doc else path.name)] = doc
    return docs


def _containers(docs, kind: str, name: str) -> dict[str, dict]:
    return {c["name"]: c for c in docs[(kind, name)]["spec"]["template"]["spec"]["containers"]}


def test_kubernetes_runs_the_same_commands_as_compose():
    docs = _k8s_docs()
    compose = services(load_compose(SECRETS), SECRETS)  # defaults: the service names are the k8s Service names
    pairs = {
        "redis": _containers(docs, "Deployment", "stresskit-redis")["redis"],
        "target": _containers(docs, "Deployment", "stresskit-target")["target"],
        "agent": _containers(docs, "Deployment", "stresskit-target")["agent"],
        "master": _containers(docs, "Deployment", "stresskit-master")["master"],
        "worker": _containers(docs, "Deployment", "stresskit-worker")["worker"],
    }
    for name, container in pairs.items():
        assert container["command"] == compose[name].argv, name
        k8s_env = {e["name"]: e for e in container.get("env", [])}
        for key, value in compose[name].env.items():
            if key == "LOCUST_HEADLESS":
                continue  # compose defaults to the web UI through this variable; k8s leaves it out
            assert key in k8s_env, (name, key)
            if "value" in k8s_env[key]:
                assert k8s_env[key]["value"] == value, (name, key)
            else:
                assert "secretKeyRef" in k8s_env[key]["valueFrom"], (name, key)
    # The agent shares the target's pod as it shares the target's network and pids in compose.
    target_pod = docs[("Deployment", "stresskit-target")]["spec"]["template"]["spec"]
    assert target_pod["shareProcessNamespace"] is True


def test_kubernetes_services_and_secrets_line_up():
    docs = _k8s_docs()

    def service_ports(name: str) -> set[int]:
        return {p["port"] for p in docs[("Service", name)]["spec"]["ports"]}

    assert service_ports("master") == {5557, 8089}
    assert service_ports("target") == {8089, 9105}
    assert service_ports("redis") == {6379}
    worker_cmd = _containers(docs, "Deployment", "stresskit-worker")["worker"]["command"]
    assert worker_cmd[worker_cmd.index("--master-host") + 1] == "master"
    keys = {line.split("=", 1)[0] for line in (K8S / "tokens.env.example").read_text().splitlines()
            if line and not line.startswith("#")}
    referenced = set()
    for doc in docs.values():
        for container in (doc.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])):
            for env in container.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["name"] == "stresskit-tokens"
                    referenced.add(ref["key"])
    assert referenced <= keys
    kustomization = docs[("Kustomization", "kustomization.yaml")]
    for resource in kustomization["resources"]:
        assert (K8S / resource).exists(), resource
    assert kustomization["secretGenerator"][0]["envs"] == ["tokens.env"]
    assert "tokens.env" in (ROOT / "docker" / ".gitignore").read_text()


def test_compose_file_is_where_the_tests_read_it():
    assert COMPOSE_FILE == ROOT / "docker" / "docker-compose.yml" and Path(COMPOSE_FILE).exists()
