"""Package-level promises: importing stresskit is inert; the error tree is pinned; bad CLI input is one line."""

import subprocess
import sys

import stresskit.errors as errors
from stresskit.target.launcher import free_port


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


def test_importing_stresskit_imports_neither_locust_nor_gevent():
    result = run_python(
        "import sys, stresskit, stresskit.errors, stresskit.cli, stresskit.target.launcher\n"
        "print(sorted(m for m in ('locust', 'gevent') if m in sys.modules))"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_error_tree_is_pinned():
    assert sorted(errors.__all__) == sorted(
        ["StressKitError", "ConfigError", "ScenarioError", "ThresholdError", "DependencyMissing", "TargetError",
         "TargetUnreachable", "AgentError", "AgentAuthError", "FaultError", "HarnessError",
         "FaultUnavailable", "BrowserError", "ReportError"]
    )
    for name in errors.__all__:
        assert issubclass(getattr(errors, name), errors.StressKitError)
    assert issubclass(errors.ScenarioError, errors.ConfigError)
    assert issubclass(errors.HarnessError, errors.FaultError) and issubclass(errors.FaultUnavailable, errors.FaultError)


def stresskit(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stresskit", *args], capture_output=True, text=True, timeout=60)


def test_target_bad_port_is_one_line_and_exit_2():
    result = stresskit("target", "--port", "99999")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "port must be" in result.stderr


def test_target_unknown_option_is_one_line():
    result = stresskit("target", "--bogus")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "--bogus" in result.stderr


def test_target_unreachable_redis_is_one_line():
    result = stresskit("target", "--port", str(free_port()), "--redis-url", f"redis://127.0.0.1:{free_port()}/0")
    assert result.returncode != 0
    assert result.stderr.count("\n") == 1 and "cannot reach Redis" in result.stderr


def test_target_port_in_use_is_one_line(target):
    result = stresskit("target", "--port", str(target.port))
    assert result.returncode == 2
    assert "address in use" in result.stderr and result.stderr.count("\n") == 1


def test_missing_chromedriver_names_the_fix(monkeypatch):
    from stresskit.core.binaries import find_chromedriver
    from stresskit.errors import DependencyMissing

    monkeypatch.setenv("STRESSKIT_CHROMEDRIVER", "/nonexistent/chromedriver")
    try:
        find_chromedriver()
    except DependencyMissing as exc:
        assert "STRESSKIT_CHROMEDRIVER" in str(exc)
    else:
        raise AssertionError("a wrong STRESSKIT_CHROMEDRIVER must be refused")
