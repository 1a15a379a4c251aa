"""Bad fault input stops a real Locust run at start: one clear line, exit code 2, no traceback, no load."""

import subprocess
import sys
import textwrap

import pytest

from stresskit.target.launcher import free_port

pytestmark = pytest.mark.timeout(120)

LOCUSTFILE = textwrap.dedent("""
    from locust import constant, events
    from stresskit.observe.collector import add_arguments as collector_arguments
    from stresskit.faults import use_faults
    from stresskit.core.options import register_options
    from stresskit.users.api import ApiUser, Endpoint

    register_options(events, collector_arguments)
    use_faults(events)

    class Items(ApiUser):
        wait_time = constant(0.1)
        endpoints = (Endpoint("GET", "/api/items", name="/api/items"),)
""")


@pytest.fixture
def locustfile(tmp_path):
    path = tmp_path / "faulty.py"
    path.write_text(LOCUSTFILE)
    return path


def run(locustfile, target_url: str, *args: str) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "locust", "-f", str(locustfile), "--headless", "-u", "2", "-r", "2", "-t", "5s",
            "--host", target_url, "--csv", str(locustfile.parent / "run"), *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=locustfile.parent)


def assert_stopped_at_start(result: subprocess.CompletedProcess, message: str, locustfile) -> None:
    output = result.stdout + result.stderr
    assert result.returncode == 2, output[-2000:]
    assert "Traceback" not in output, output[-2000:]
    errors = [line for line in output.splitlines() if "ERROR" in line]
    assert len(errors) == 1 and message in errors[0], errors
    stats = locustfile.parent / "run_stats.csv"
    if stats.exists():  # Locust may write its (empty) files while quitting: no request was sent
        import csv

        with open(stats, newline="") as handle:
            assert all(int(row["Request Count"]) == 0 for row in csv.DictReader(handle))


@pytest.mark.parametrize("args, message", [
    (("--faults", "browser_crash,gremlins", "--failure-rate", "0.1"), "unknown fault kind 'gremlins'"),
    (("--failure-rate", "1.5"), "--failure-rate must be within [0, 1], got 1.5"),
    (("--failure-rate", "-0.01"), "--failure-rate must be within [0, 1]"),
    (("--failure-rate", "0.1", "--faults", "memory_pressure"),
     "fault kind 'memory_pressure' needs a resource agent on the target host"),
    (("--failure-rate", "0.1", "--faults", "network_timeout"),
     "fault kind 'network_timeout' needs the fault proxy or the target's admin token"),
])
def test_bad_fault_options_stop_the_run_before_any_load(locustfile, target, args, message):
    assert_stopped_at_start(run(locustfile, target.url, *args), message, locustfile)


def test_an_unreachable_fault_proxy_is_an_error_at_start(locustfile, target):
    result = run(locustfile, target.url, "--failure-rate", "0.1", "--fault-proxy", f"http://127.0.0.1:{free_port()}")
    assert_stopped_at_start(result, "--fault-proxy: fault proxy http://127.0.0.1:", locustfile)


def test_an_agent_started_without_allow_faults_is_an_error_at_start(locustfile, target, tmp_path):
    from stresskit.agent.launcher import start_agent

    agent = start_agent([], token="tok", workdir=tmp_path / "agent")
    try:
        result = run(locustfile, target.url, "--failure-rate", "0.1", "--faults", "memory_pressure",
                     "--agent", agent.url, "--agent-token", "tok")
    finally:
        agent.stop()
    assert_stopped_at_start(result, "does not allow faults: restart it with `stresskit agent --allow-faults`",
                            locustfile)
