"""Just enough of Docker Compose to run docker/docker-compose.yml's services as processes.

No container engine runs on the test machines, so the tests read the compose file with a YAML
parser and reproduce what Compose would hand each container: variable interpolation
(``${VAR}``, ``${VAR:-default}``, ``${VAR-default}``, ``${VAR:?error}``, ``$$``), the command,
the environment (a key without a value passes the caller's variable through, or nothing), the
image's ``ENV`` and ``WORKDIR`` from docker/Dockerfile, volumes, replicas, ``network_mode:
service:X``, ``depends_on`` conditions and ``CMD`` / ``CMD-SHELL`` health checks. Paths inside
the image (``/opt/stresskit``) map to the checkout, volumes to temporary directories.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker" / "docker-compose.yml"
DOCKERFILE = ROOT / "docker" / "Dockerfile"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

_VAR = re.compile(r"\$(?:(\$)|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])((?:[^}])*))?\}|([A-Za-z_][A-Za-z0-9_]*))")


class InterpolationError(ValueError):
    """A required variable (``${VAR:?message}``) is missing; the message is Compose's."""


def interpolate(text: str, variables: Mapping[str, str]) -> str:
    """Compose's variable substitution on one string."""

    def replace(match: re.Match) -> str:
        if match.group(1):
            return "$"
        name = match.group(2) or match.group(5)
        op, arg = match.group(3), match.group(4) or ""
        value = variables.get(name)
        if op is None:
            return value or ""
        unset_or_empty = value is None or (op.startswith(":") and value == "")
        if op.endswith("-"):
            return arg if unset_or_empty else value
        if op.endswith("?"):
            if unset_or_empty:
                raise InterpolationError(f"required variable {name} is missing a value: {arg}")
            return value
        return "" if unset_or_empty else arg  # "+"

    return _VAR.sub(replace, text)


def interpolate_tree(node: Any, variables: Mapping[str, str]) -> Any:
    """Interpolate every string value (not keys) of a parsed YAML tree."""
    if isinstance(node, str):
        return interpolate(node, variables)
    if isinstance(node, list):
        return [interpolate_tree(item, variables) for item in node]
    if isinstance(node, dict):
        return {key: interpolate_tree(value, variables) for key, value in node.items()}
    return node


def load_compose(variables: Mapping[str, str], path: Path = COMPOSE_FILE,
                 profiles: tuple[str, ...] = ()) -> dict[str, Any]:
    """The compose file parsed (merge keys resolved) and interpolated with ``variables``.

    As ``docker compose`` does, a service with ``profiles`` is left out unless one of its
    profiles is enabled (``--profile monitoring`` there, ``profiles=("monitoring",)`` here).
    """
    compose = interpolate_tree(yaml.safe_load(path.read_text()), variables)
    compose["services"] = {name: spec for name, spec in compose["services"].items()
                           if not spec.get("profiles") or set(spec["profiles"]) & set(profiles)}
    return compose


@dataclass
class Image:
    """The parts of docker/Dockerfile a process needs: ``ENV`` (paths mapped) and ``WORKDIR``."""

    env: dict[str, str]
    workdir: str


def image_from_dockerfile(path: Path = DOCKERFILE, root_in_image: str = "/opt/stresskit") -> Image:
    """Read ``ENV`` and ``WORKDIR`` (continuation lines joined) and map image paths onto the checkout."""
    text = re.sub(r"\\\n", " ", path.read_text())
    env: dict[str, str] = {"PATH": DEFAULT_PATH}
    workdir = "/"
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("ENV "):
            for pair in shlex.split(line[4:]):
                key, _, value = pair.partition("=")
                env[key] = interpolate(value, env)
        elif line.startswith("WORKDIR "):
            workdir = line.split(None, 1)[1]

    def to_checkout(value: str) -> str:
        return value.replace(root_in_image, str(ROOT))

    return Image(env={k: to_checkout(v) for k, v in env.items()}, workdir=to_checkout(workdir))


@dataclass
class Service:
    """One compose service, ready to start as a process."""

    name: str
    argv: list[str]
    env: dict[str, str]
    replicas: int = 1
    shares_network_of: str | None = None
    depends_on: dict[str, str] = field(default_factory=dict)
    healthcheck: list[str] | None = None
    volumes: list[tuple[str, str]] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)


def _environment(spec: Any, variables: Mapping[str, str]) -> dict[str, str]:
    env: dict[str, str] = {}
    items = spec.items() if isinstance(spec, dict) else (
        (entry.partition("=")[0], entry.partition("=")[2] if "=" in entry else None) for entry in spec or [])
    for key, value in items:
        if value is None:  # pass-through: the caller's value, or unset
            if key in variables:
                env[key] = variables[key]
        else:
            env[key] = str(value)
    return env


def _healthcheck(spec: dict[str, Any] | None) -> list[str] | None:
    if not spec or spec.get("disable"):
        return None
    test = spec["test"]
    if isinstance(test, str):
        return ["sh", "-c", test]
    kind, *rest = test
    if kind == "CMD":
        return list(rest)
    if kind == "CMD-SHELL":
        return ["sh", "-c", rest[0]]
    return None


def services(compose: dict[str, Any], variables: Mapping[str, str]) -> dict[str, Service]:
    """The services of an interpolated compose document."""
    out: dict[str, Service] = {}
    for name, spec in compose["services"].items():
        command = spec.get("command") or []
        argv = shlex.split(command) if isinstance(command, str) else [str(a) for a in command]
        network = spec.get("network_mode", "")
        depends = spec.get("depends_on") or {}
        if isinstance(depends, list):
            depends = {dep: "service_started" for dep in depends}
        else:
            depends = {dep: (cond or {}).get("condition", "service_started") for dep, cond in depends.items()}
        volumes = []
        for volume in spec.get("volumes") or []:
            source, _, target = str(volume).partition(":")
            volumes.append((source, target.split(":")[0]))
        out[name] = Service(
            name=name, argv=argv, env=_environment(spec.get("environment"), variables),
            replicas=int(((spec.get("deploy") or {}).get("replicas")) or 1),
            shares_network_of=network.split(":", 1)[1] if network.startswith("service:") else None,
            depends_on=depends, healthcheck=_healthcheck(spec.get("healthcheck")), volumes=volumes, raw=spec,
        )
    return out


def start_order(all_services: Mapping[str, Service]) -> list[str]:
    """Services in dependency order (``depends_on`` first)."""
    order: list[str] = []
    seen: set[str] = set()

    def visit(name: str, path: tuple[str, ...] = ()) -> None:
        if name in path:
            raise ValueError(f"depends_on cycle: {' -> '.join((*path, name))}")
        if name in seen:
            return
        for dep in all_services[name].depends_on:
            visit(dep, (*path, name))
        seen.add(name)
        order.append(name)

    for name in all_services:
        visit(name)
    return order


def map_paths(values: list[str], mounts: Mapping[str, Path]) -> list[str]:
    """Rewrite container paths under a mount point to the directory standing in for the volume."""
    out = []
    for value in values:
        for target, directory in mounts.items():
            if value == target or value.startswith(target + "/"):
                value = str(directory) + value[len(target):]
        out.append(value)
    return out
