"""Drills: nothing is lost when a run is stopped, nothing it started is left running.

Each drill is a real ``locust`` (or ``stresskit suite``) process: the production locustfile with no
``--host`` starts the embedded demo target, a redis-server and headless Chromium sessions; the
drill counts every process the run started (its descendants, browsers included) before the
ending and checks each one is gone after it.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from stresskit.core.exitcodes import ExitCode
from tests.conftest import ROOT
from tests.support.reap import reap

PRODUCTION = "locustfiles/production.py"
EXIT_TIMEOUT = 90


def _child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, **extra)
    for var in ("STRESSKIT_SCENARIO", "STRESSKIT_TIME_SCALE", "STRESSKIT_THRESHOLD", "STRESSKIT_SCENARIO_FILE"):
        env.pop(var, None)
    return env


def _tree(pid: int) -> dict[int, tuple[float, str]]:
    """Every live descendant of ``pid``: pid -> (create time, name)."""
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return {}
    found = {}
    for child in children:
        try:
            found[child.pid] = (child.create_time(), child.name())
        except psutil.Error:
            continue
    return found


def _still_running(snapshot: dict[int, tuple[float, str]]) -> list[str]:
    left = []
    for pid, (created, name) in snapshot.items():
        try:
            proc = psutil.Process(pid)
            if proc.create_time() == created and proc.status() != psutil.STATUS_ZOMBIE:
                left.append(f"{name}({pid})")
        except psutil.Error:
            continue
    return left


def _poll(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def _kinds(snapshot: dict[int, tuple[float, str]]) -> set[str]:
    names = {name for _, name in snapshot.values()}
    kinds = set()
    for name in names:
        if "chromedriver" in name:
            kinds.add("driver")
        elif "chrom" in name:
            kinds.add("browser")
        elif "redis" in name:
            kinds.add("redis")
        elif "python" in name or "stresskit" in name:
            kinds.add("python")
    return kinds


def _wait_and_snapshot(process: subprocess.Popen, want: set[str], timeout: float = 90) -> dict:
    """Poll the run's process tree until it holds every kind in ``want``; return the fullest snapshot."""
    seen: dict[int, tuple[float, str]] = {}

    def ready():
        assert process.poll() is None, f"the run ended early (exit {process.returncode})"
        seen.update(_tree(process.pid))
        return want <= _kinds(_tree(process.pid))

    _poll(ready, timeout, f"the run to start {sorted(want)}")
    seen.update(_tree(process.pid))
    return seen


def _finish(process: subprocess.Popen, log: Path) -> int:
    try:
        return process.wait(timeout=EXIT_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)
        raise AssertionError("the run did not exit after the signal:\n" + log.read_text()[-3000:]) from None


def _stage(prefix: Path) -> str | None:
    try:
        return json.loads(Path(f"{prefix}_live.json").read_text()).get("stage")
    except (OSError, ValueError):
        return None


# light: warm-up 3 min, steady 10 min — 18 s of warm-up at scale 0.1; steady from 5.4 s at 0.03
@pytest.mark.parametrize(("stage", "scale"), [("warm-up", "0.1"), ("steady", "0.03")], ids=["ramp", "steady"])
def test_sigterm_during_a_stage_writes_everything_and_leaves_nothing(tmp_path, stage, scale):
    prefix = tmp_path / "run"
    log = tmp_path / "locust.log"
    command = [sys.executable, "-m", "locust", "-f", PRODUCTION, "--headless", "--only-summary",
               "--scenario", "light", "--time-scale", scale, "--csv", str(prefix)]
    with open(log, "wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=_child_env(), stdout=out, stderr=subprocess.STDOUT)
    try:
        snapshot = _wait_and_snapshot(process, {"browser", "driver", "redis", "python"})
        _poll(lambda: _stage(prefix) == stage, 60, f"the {stage} stage")
        snapshot.update(_tree(process.pid))
        process.send_signal(signal.SIGTERM)
        code = _finish(process, log)
    finally:
        if process.poll() is None:
            process.kill()
    output = log.read_text()
    assert code == ExitCode.INTERRUPTED, output[-3000:]
    doc = json.loads(Path(f"{prefix}_run.json").read_text())
    assert doc["interrupted"] == "SIGTERM" and doc["stop_reason"] == "interrupted by SIGTERM", doc
    assert doc["exit_code"] == ExitCode.INTERRUPTED and doc["requests"] > 0
    assert doc["truncated_files"] == [] and doc["lost_workers"] == []
    for suffix in ("_stats.csv", "_stats_history.csv", "_latency.jsonl", "_faults.csv"):
        assert Path(f"{prefix}{suffix}").stat().st_size > 0, suffix
    assert Path(f"{prefix}_stats.csv").read_text().count("\n") >= 2
    assert _poll(lambda: not _still_running(snapshot), 15, "the run's processes to be gone")
    assert "Traceback" not in output, output[-3000:]


def test_second_signal_forces_the_exit_and_still_stops_children(tmp_path):
    """A shutdown that would take long (a grace far away) is cut short by a second SIGTERM."""
    prefix = tmp_path / "run"
    log = tmp_path / "locust.log"
    command = [sys.executable, "-m", "locust", "-f", PRODUCTION, "--headless", "--only-summary",
               "--scenario", "light", "--time-scale", "0.1", "--csv", str(prefix), "--shutdown-grace", "120"]
    with open(log, "wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=_child_env(), stdout=out, stderr=subprocess.STDOUT)
    try:
        snapshot = _wait_and_snapshot(process, {"browser", "driver", "redis"})
        process.send_signal(signal.SIGTERM)
        process.send_signal(signal.SIGTERM)
        code = _finish(process, log)
    finally:
        if process.poll() is None:
            process.kill()
    assert code == ExitCode.INTERRUPTED, log.read_text()[-3000:]
    assert _poll(lambda: not _still_running(snapshot), 15, "the run's processes to be gone")


def test_a_sigkilled_run_leaves_no_target_redis_or_browser_running(tmp_path):
    """kill -9 (the OOM killer) gives a run no chance to clean up: its children go with it by
    themselves (PR_SET_PDEATHSIG), so no demo target, Redis, chromedriver or Chromium is left."""
    log = tmp_path / "locust.log"
    command = [sys.executable, "-m", "locust", "-f", PRODUCTION, "--headless", "--only-summary",
               "--scenario", "light", "--time-scale", "0.1", "--csv", str(tmp_path / "run")]
    with open(log, "wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=_child_env(), stdout=out, stderr=subprocess.STDOUT)
    try:
        snapshot = _wait_and_snapshot(process, {"browser", "driver", "redis", "python"})
        process.kill()
        process.wait(10)
        left = []

        def gone():
            left[:] = _still_running(snapshot)
            return not left

        try:
            _poll(gone, 15, "the run's processes to be gone")
        except AssertionError:
            raise AssertionError(f"left running after kill -9: {left}") from None
    finally:
        reap(process, snapshot)  # never leave ours behind, even when the drill fails


@pytest.mark.parametrize(("args", "expect"), [
    (["--pages", "-1"], "page total must be >= 0"),
    (["--redis-url", "ftp://user:hunter2@127.0.0.1:1/0"], "--redis-url must start with redis://"),
    (["--scenario-file", "BINARY"], "not a text file"),
], ids=["negative-pages", "redis-scheme", "binary-scenario-file"])
def test_config_error_in_init_is_one_line_exit_2_and_nothing_left(tmp_path, args, expect):
    if "BINARY" in args:
        binary = tmp_path / "scenarios.toml"
        binary.write_bytes(bytes(range(256)) * 4)
        args = [str(binary) if a == "BINARY" else a for a in args]
    command = [sys.executable, "-m", "locust", "-f", PRODUCTION, "--headless", "--only-summary",
               "--csv", str(tmp_path / "run"), *args]
    process = subprocess.Popen(command, cwd=ROOT, env=_child_env(), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    seen: dict[int, tuple[float, str]] = {}
    deadline = time.monotonic() + 60
    while process.poll() is None and time.monotonic() < deadline:
        seen.update(_tree(process.pid))
        time.sleep(0.05)
    output, _ = process.communicate(timeout=30)
    assert process.returncode == ExitCode.BAD_CONFIG, output
    errors = [line for line in output.splitlines() if "bad configuration" in line]
    assert len(errors) == 1 and expect in errors[0], output
    assert "Traceback" not in output and "hunter2" not in output, output
    assert not _still_running(seen), seen


def test_unwritable_output_directory_is_exit_2_before_load(tmp_path):
    full = tmp_path / "full"
    full.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48k", "tmpfs", str(full)], check=True)
    try:
        try:  # fill it to the last byte
            with open(full / "filler", "wb") as handle:
                while True:
                    handle.write(b"x" * 4096)
                    handle.flush()
        except OSError:
            pass
        command = [sys.executable, "-m", "locust", "-f", PRODUCTION, "--headless", "--only-summary",
                   "--csv", str(full / "run")]
        done = subprocess.run(command, cwd=ROOT, env=_child_env(), capture_output=True, text=True, timeout=60,
                              check=False)
    finally:
        subprocess.run(["umount", str(full)], check=False)
    output = done.stdout + done.stderr
    assert done.returncode == ExitCode.BAD_CONFIG, output
    errors = [line for line in output.splitlines() if "bad configuration" in line]
    assert len(errors) == 1 and "not writable" in errors[0] and str(full) in errors[0], output
    assert "demo target" not in output  # nothing was started


def test_disk_full_mid_run_names_the_truncated_files_and_the_run_goes_on(tmp_path):
    """A 48 KiB tmpfs as the --csv directory: it fills within seconds (full history); the run goes on
    to its end, says once per file which file stopped, and _run.json (written into the space held
    since start) names them."""
    full = tmp_path / "small"
    full.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48k", "tmpfs", str(full)], check=True)
    try:
        prefix = full / "run"
        command = [sys.executable, "-m", "locust", "-f", PRODUCTION, "--headless", "--only-summary",
                   "--scenario", "light", "--time-scale", "0.02", "--csv", str(prefix), "--csv-full-history"]
        process = subprocess.Popen(command, cwd=ROOT, env=_child_env(), stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True)
        seen: dict[int, tuple[float, str]] = {}
        deadline = time.monotonic() + 120
        while process.poll() is None and time.monotonic() < deadline:
            seen.update(_tree(process.pid))
            time.sleep(0.2)
        output, _ = process.communicate(timeout=30)
        doc = json.loads(Path(f"{prefix}_run.json").read_text())
        files_left = {p.name for p in full.iterdir()}
    finally:
        subprocess.run(["umount", str(full)], check=False)
    assert process.returncode in (ExitCode.PASS, ExitCode.CRITERIA_FAILED), output[-3000:]
    assert doc["stop_reason"].startswith("scenario duration"), doc["stop_reason"]
    truncated = [entry["file"] for entry in doc["truncated_files"]]
    assert f"{prefix}_stats_history.csv" in truncated, doc["truncated_files"]
    assert all(entry["error"] == "No space left on device" and entry["at"] > doc["started"]
               for entry in doc["truncated_files"])
    for name in truncated:  # one line per file, no traceback
        assert sum(f"stopped writing {name}:" in line for line in output.splitlines()) == 1, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    assert not [name for name in files_left if name.endswith(".tmp") or name.startswith(".stresskit")], files_left
    assert not _still_running(seen), seen


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_to_the_suite_reaches_its_run_and_is_reported(tmp_path, signum):
    out = tmp_path / "suite"
    command = [sys.executable, "-m", "stresskit", "suite", "-f", PRODUCTION, "--out", str(out), "--time-scale", "0.1",
               "--progress-interval", "1", "light", "medium"]
    with open(tmp_path / "suite.log", "wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=_child_env(), stdout=log, stderr=subprocess.STDOUT)
    try:
        snapshot = _wait_and_snapshot(process, {"browser", "driver", "redis"})
        _poll(lambda: (out / "light_live.json").exists(), 60, "the light scenario's live figures")
        process.send_signal(signum)
        code = _finish(process, tmp_path / "suite.log")
    finally:
        if process.poll() is None:
            process.kill()
    output = (tmp_path / "suite.log").read_text()
    assert code == ExitCode.INTERRUPTED, output[-3000:]
    summary = json.loads((out / "suite_summary.json").read_text())
    light, medium = summary["scenarios"]
    assert summary["verdict"] == "NO-GO" and f"interrupted by {signum.name} during light" in summary["reason"]
    # the suite forwards SIGTERM whatever it got: the scenario's own stop reason
    assert light["exit_code"] == ExitCode.INTERRUPTED and light["stop_reason"] == "interrupted by SIGTERM", light
    assert medium["verdict"] == "not run" and medium["note"] == "not run: interrupted by " + signum.name
    run = json.loads((out / "light_run.json").read_text())
    assert run["interrupted"] == "SIGTERM" and run["requests"] > 0
    assert (out / "light_stats.csv").stat().st_size > 0 and (out / "light_latency.jsonl").stat().st_size > 0
    assert _poll(lambda: not _still_running(snapshot), 15, "the suite's processes to be gone")


def test_suite_distributed_without_host_is_bad_configuration_before_load(tmp_path):
    out = tmp_path / "suite"
    command = [sys.executable, "-m", "stresskit", "suite", "-f", PRODUCTION, "--out", str(out), "--time-scale", "0.01",
               "light", "medium", "--", "--processes", "2"]
    done = subprocess.run(command, cwd=ROOT, env=_child_env(), capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == ExitCode.BAD_CONFIG, done.stdout + done.stderr
    summary = json.loads((out / "suite_summary.json").read_text())
    assert [row["exit_code"] for row in summary["scenarios"]] == [ExitCode.BAD_CONFIG, None]
    log = (out / "light.log").read_text()
    errors = [line for line in log.splitlines() if "bad configuration" in line]
    assert len(errors) == 1 and "needs --host" in errors[0], log
    assert "started the demo target" not in log and not (out / "light_run.json").exists()


def test_a_run_ending_on_its_quota_amid_browser_restarts_leaves_no_browser(tmp_path):
    """The issue's normal-end leak: a run that ends on its page quota while browsers restart after
    every page (so one is starting when the run stops). Every process seen during the run is gone."""
    prefix = tmp_path / "run"
    command = [sys.executable, "-m", "locust", "-f", PRODUCTION, "--headless", "--only-summary",
               "--scenario", "light", "--time-scale", "0.1", "--end-on-quota", "--pages", "6",
               "--browser-restart-every", "1", "--csv", str(prefix)]
    process = subprocess.Popen(command, cwd=ROOT, env=_child_env(), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    seen: dict[int, tuple[float, str]] = {}
    deadline = time.monotonic() + 120
    while process.poll() is None and time.monotonic() < deadline:
        seen.update(_tree(process.pid))
        time.sleep(0.1)
    if process.poll() is None:
        process.kill()
    output, _ = process.communicate(timeout=30)
    doc = json.loads(Path(f"{prefix}_run.json").read_text())
    assert doc["stop_reason"] == "page quota complete" and doc["interrupted"] is None, output[-3000:]
    assert doc["session_restarts"] >= 3, doc["run_state"]
    drivers = [pid for pid, (_, name) in seen.items() if "chromedriver" in name]
    assert len(drivers) >= 3, "the drill must see several browser sessions"
    assert _poll(lambda: not _still_running(seen), 15, "every process of the run to be gone")


def test_sigterm_while_the_run_is_still_starting(tmp_path):
    """A signal during init (the demo target and Redis are being started) must not let the shape
    start afterwards and run on: the run ends at once, interrupted, and stops what init started."""
    prefix = tmp_path / "run"
    log = tmp_path / "locust.log"
    command = [sys.executable, "-m", "locust", "-f", PRODUCTION, "--headless", "--only-summary",
               "--scenario", "light", "--time-scale", "0.1", "--csv", str(prefix)]
    with open(log, "wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=_child_env(), stdout=out, stderr=subprocess.STDOUT)
    seen: dict[int, tuple[float, str]] = {}
    try:
        def in_init():  # the fault injector's line comes just before the demo target is started
            seen.update(_tree(process.pid))
            return "stresskit.faults" in log.read_text()

        _poll(in_init, 60, "the run's init")
        process.send_signal(signal.SIGTERM)
        started = time.monotonic()
        while process.poll() is None and time.monotonic() - started < EXIT_TIMEOUT:
            seen.update(_tree(process.pid))
            time.sleep(0.05)
        code = _finish(process, log)
    finally:
        if process.poll() is None:
            process.kill()
    assert code == ExitCode.INTERRUPTED, log.read_text()[-3000:]
    assert time.monotonic() - started < 20  # not the 30 s grace: it ended by itself
    doc = json.loads(Path(f"{prefix}_run.json").read_text())
    assert doc["stop_reason"] == "interrupted by SIGTERM" and doc["interrupted"] == "SIGTERM", doc
    assert _poll(lambda: not _still_running(seen), 15, "the run's processes to be gone")


def test_a_bug_in_an_init_listener_still_stops_what_init_started(tmp_path):
    """Not a configuration error (Locust's traceback and exit 1 stay), but the demo target and Redis
    started by earlier init listeners do not outlive the process."""
    command = [sys.executable, "-m", "locust", "-f", "tests/e2e/locustfiles/init_crash.py", "--headless",
               "--only-summary", "--csv", str(tmp_path / "run")]
    process = subprocess.Popen(command, cwd=ROOT, env=_child_env(), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    seen: dict[int, tuple[float, str]] = {}
    deadline = time.monotonic() + 60
    while process.poll() is None and time.monotonic() < deadline:
        seen.update(_tree(process.pid))
        time.sleep(0.05)
    output, _ = process.communicate(timeout=30)
    assert process.returncode == ExitCode.ERROR, output[-3000:]
    assert "a bug in a team's own init listener" in output and "started the demo target" in output
    assert {"redis", "python"} <= _kinds(seen), seen
    assert _poll(lambda: not _still_running(seen), 15, "the demo target and Redis to be gone")


def test_a_sigkilled_suite_leaves_no_run_behind(tmp_path):
    """The suite's scenario runs in a session of its own (a terminal's Ctrl-C goes through the
    suite); when the suite itself is SIGKILLed, its run gets SIGTERM and ends interrupted."""
    out = tmp_path / "suite"
    command = [sys.executable, "-m", "stresskit", "suite", "-f", PRODUCTION, "--out", str(out), "--time-scale", "0.1",
               "light"]
    process = subprocess.Popen(command, cwd=ROOT, env=_child_env(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        snapshot = _wait_and_snapshot(process, {"browser", "driver", "redis"})
        process.kill()
        process.wait(10)
        _poll(lambda: not _still_running(snapshot), 60, "the suite's run and its processes to be gone")
    finally:
        if process.poll() is None:
            process.kill()
    run = json.loads((out / "light_run.json").read_text())
    assert run["interrupted"] == "SIGTERM" and run["exit_code"] == ExitCode.INTERRUPTED


def test_a_shutdown_that_hangs_is_forced_after_the_grace_period(tmp_path):
    log = tmp_path / "locust.log"
    command = [sys.executable, "-m", "locust", "-f", "tests/e2e/locustfiles/slow_quit.py", "--headless",
               "--only-summary", "--scenario", "light", "--time-scale", "0.1", "--shutdown-grace", "3",
               "--csv", str(tmp_path / "run")]
    with open(log, "wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=_child_env(), stdout=out, stderr=subprocess.STDOUT)
    try:
        snapshot = _wait_and_snapshot(process, {"browser", "driver", "redis"})
        process.send_signal(signal.SIGTERM)
        started = time.monotonic()
        code = _finish(process, log)
        took = time.monotonic() - started
    finally:
        if process.poll() is None:
            process.kill()
    assert code == ExitCode.INTERRUPTED, log.read_text()[-3000:]
    assert 2.5 < took < 25, took
    assert "forcing the exit: shutdown took longer than --shutdown-grace 3s" in log.read_text()
    assert _poll(lambda: not _still_running(snapshot), 15, "the run's processes to be gone")
