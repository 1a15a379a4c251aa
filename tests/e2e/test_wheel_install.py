"""The wheel works outside its checkout (issue 15 §1).

The test builds the project's wheel, installs it (with its declared dependencies; pip may use its
cache) into a fresh virtual environment in a temporary directory, and runs everything from a
working directory outside the repository with no ``PYTHONPATH``:

* a locustfile of the user's own (subclasses of the abstract users, ``use_stresskit(events)``, no
  shape import) under ``--scenario light``, time-scaled, against ``stresskit target`` from the
  same venv on loopback;
* the five ready shapes with ``--class-picker`` in the web UI (the picked shape runs its scenario);
* ``stresskit report`` on that run, ``stresskit suite`` on a one-scenario suite, ``stresskit agent``
  (serves and answers with its token), ``stresskit proxy`` (forwards to the target).

Installing the dependencies takes one to two minutes on a loaded 2-core machine, so it is ``slow``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from stresskit.core.process import ManagedProcess
from stresskit.target.launcher import free_port
from tests.conftest import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

OWN_LOCUSTFILE = ROOT / "tests" / "e2e" / "locustfiles" / "own_users.py"
FIVE_SHAPES = '''\
from locust import events

from stresskit.compose import use_stresskit
from stresskit.shapes import EnduranceShape, HeavyShape, LightShape, MediumShape, ProductionShape  # noqa: F401
from stresskit.users import ApiUser
from stresskit.users.api import REFERENCE_ENDPOINTS

use_stresskit(events, faults=False, embedded_target=False)


class Catalogue(ApiUser):
    endpoints = REFERENCE_ENDPOINTS
'''
SHAPES = ["EnduranceShape", "HeavyShape", "LightShape", "MediumShape", "ProductionShape"]


class Installed:
    """A fresh venv with the wheel in it, and a working directory outside the repository."""

    def __init__(self, venv: Path, work: Path) -> None:
        self.venv = venv
        self.work = work
        self.python = str(venv / "bin" / "python")
        self.env = {k: v for k, v in os.environ.items()
                    if k not in ("PYTHONPATH", "VIRTUAL_ENV") and not k.startswith("STRESSKIT_")}
        self.env["PATH"] = os.pathsep.join([str(venv / "bin"), self.env.get("PATH", "")])

    def bin(self, name: str) -> str:
        return str(self.venv / "bin" / name)

    def run(self, *argv: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run(list(argv), cwd=self.work, env={**self.env, **env}, capture_output=True, text=True,
                              timeout=timeout, check=False)

    def start(self, name: str, *argv: str, **env: str) -> ManagedProcess:
        """A child process started from the venv; the caller stops it by pid."""
        return ManagedProcess(name, list(argv), self.work / f"{name}-{time.monotonic_ns()}.log",
                              env={**self.env, **env})


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Installed:
    base = tmp_path_factory.mktemp("wheel")
    assert ROOT not in base.parents
    source = base / "source"  # build from a copy: the build leaves build/ and *.egg-info behind
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "stresskit", source / "stresskit", ignore=shutil.ignore_patterns("__pycache__"))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    wheels = base / "dist"
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(source)],
                           capture_output=True, text=True, timeout=300, check=False, env=env)
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = wheels.glob("stresskit-*.whl")
    venv = base / "venv"
    python = Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    subprocess.run([str(python), "-m", "venv", str(venv)], check=True, timeout=120, env=env)
    install = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel)],
                             capture_output=True, text=True, timeout=600, check=False, env=env)
    assert install.returncode == 0, install.stderr[-3000:]
    work = base / "work"
    work.mkdir()
    here = Installed(venv, work)
    where = here.run(here.python, "-c", "import stresskit, locust; print(stresskit.__file__)")
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()).is_relative_to(venv), where.stdout  # the wheel, not the checkout
    return here


@pytest.fixture(scope="module")
def venv_target(installed):
    """``stresskit target`` from the installed wheel, on loopback."""
    port = free_port()
    process = installed.start("target", installed.bin("stresskit"), "target", "--bind", "127.0.0.1", "--port",
                              str(port), "--latency-ms", "1", "--rate-limit", "5000", "--rate-burst", "5000")
    url = f"http://127.0.0.1:{port}"
    process.wait_until(lambda: _get(url + "/healthz") is not None, 30, "serving /healthz", error=AssertionError)
    yield url
    process.stop()


def _get(url: str, token: str | None = None) -> bytes | None:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return response.read()
    except OSError:
        return None


@pytest.fixture(scope="module")
def own_run(installed, venv_target):
    """The user's own locustfile, copied outside the repository, run with --scenario light."""
    locustfile = installed.work / "my_locustfile.py"
    shutil.copy(OWN_LOCUSTFILE, locustfile)
    prefix = installed.work / "own" / "run"
    completed = installed.run(installed.bin("locust"), "-f", str(locustfile), "--headless", "--only-summary",
                              "--host", venv_target, "--scenario", "light", "--time-scale", "0.005",
                              "--pages", "0", "--csv", str(prefix), timeout=120)
    return completed, prefix


def test_own_locustfile_runs_the_scenario_from_the_wheel(own_run):
    completed, prefix = own_run
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output[-3000:]
    assert "scenario file not found" not in output
    doc = json.loads(Path(f"{prefix}_run.json").read_text())
    assert doc["scenario"] == "light" and doc["time_scale"] == 0.005
    assert doc["peak_users"]["Catalogue"] == 4 and doc["peak_users"]["Chat"] == 2  # light's api / websocket mix
    assert doc["ended"] - doc["started"] < 15 * 60 * 0.005 + 4


def test_report_of_the_run(installed, own_run):
    _, prefix = own_run
    completed = installed.run(installed.bin("stresskit"), "report", str(prefix))
    assert completed.returncode == 0, (completed.stdout + completed.stderr)[-3000:]
    assert Path(f"{prefix}_report.html").stat().st_size > 0
    assert json.loads(Path(f"{prefix}_report.json").read_text())


def test_five_ready_shapes_in_the_class_picker(installed, venv_target):
    (installed.work / "five.py").write_text(FIVE_SHAPES)
    port = free_port()
    prefix = installed.work / "picked" / "run"
    web = f"http://127.0.0.1:{port}"
    locust = installed.start("locust-web", installed.bin("locust"), "-f", str(installed.work / "five.py"), "--class-picker",
                             "--web-host", "127.0.0.1", "--web-port", str(port), "--host", venv_target,
                             "--time-scale", "0.0005", "--pages", "0", "--csv", str(prefix))
    try:
        locust.wait_until(lambda: _get(web + "/") is not None, 60, "serving the web UI", error=AssertionError)
        page = _get(web + "/").decode()
        offered = json.loads(page.split('"available_shape_classes": ', 1)[1].split("]", 1)[0] + "]")
        assert set(SHAPES) <= set(offered), offered
        form = urllib.parse.urlencode({"user_count": 1, "spawn_rate": 1, "host": venv_target,
                                       "shape_class": "HeavyShape"}).encode()
        with urllib.request.urlopen(urllib.request.Request(web + "/swarm", data=form), timeout=10) as response:
            assert json.loads(response.read())["success"] is True
        run_file = Path(f"{prefix}_run.json")  # written when the picked scenario's run stops
        locust.wait_until(run_file.exists, 60, "the picked scenario to finish", error=AssertionError)
        doc = json.loads(run_file.read_text())
    finally:
        locust.stop(timeout=30)  # (the exit code of a SIGTERM after the test is the lifecycle's business)
    assert (doc["scenario"], doc["time_scale"], doc["exit_code"]) == ("heavy", 0.0005, 0), doc


def test_suite_runs_a_scenario_from_the_wheel(installed, venv_target):
    shutil.copy(OWN_LOCUSTFILE, installed.work / "suite_locustfile.py")
    out = installed.work / "suite"
    completed = installed.run(installed.bin("stresskit"), "suite", "-f", "suite_locustfile.py", "--host",
                              venv_target, "--time-scale", "0.004", "--out", str(out), "--progress-interval", "1",
                              "light", "--", "--pages", "0", timeout=180)
    assert completed.returncode == 0, (completed.stdout + completed.stderr)[-3000:]
    assert "light" in (out / "suite_summary.md").read_text()


def test_agent_serves_with_its_token(installed):
    ready = installed.work / "agent-ready.json"
    agent = installed.start("agent", installed.bin("stresskit"), "agent", "--port", "0", "--ready-file", str(ready),
                            STRESSKIT_AGENT_TOKEN="wheel-agent-token")
    try:
        agent.wait_until(ready.exists, 30, "serving", error=AssertionError)
        url = json.loads(ready.read_text())["url"]
        assert _get(url + "/metrics") is None  # no token, no metrics
        agent.wait_until(lambda: b"stresskit_" in (_get(url + "/metrics", "wheel-agent-token") or b""), 30,
                         "serving metrics", error=AssertionError)
    finally:
        agent.stop()


def test_proxy_forwards_to_the_target(installed, venv_target):
    ready = installed.work / "proxy-ready.json"
    listen = free_port()
    upstream = urllib.parse.urlsplit(venv_target).netloc
    proxy = installed.start("proxy", installed.bin("stresskit"), "proxy", "--api", "127.0.0.1:0", "--proxy",
                            f"web=127.0.0.1:{listen}={upstream}", "--ready-file", str(ready))
    try:
        proxy.wait_until(ready.exists, 30, "listening", error=AssertionError)
        body = _get(f"http://127.0.0.1:{listen}/healthz")
        assert body is not None and json.loads(body)
    finally:
        proxy.stop()
