"""The fault log on the master: CSV with exactly FAULT_COLUMNS, run state, stresskit events, and
rows arriving from workers as custom messages. Plus: importing the package registers nothing."""

import locust  # noqa: F401,I001  (gevent patching first)

import csv
import subprocess
import sys
from types import SimpleNamespace

from locust.env import Environment
from locust.rpc import Message

from stresskit.events import stresskit_events_of
from stresskit.faults.log import EVENT_MESSAGE, attach_log, report
from stresskit.core.runstate import run_state_of
from stresskit.core.schema import FAULT_COLUMNS


def make_env(tmp_path):
    env = Environment(user_classes=[])
    env.parsed_options = SimpleNamespace(csv_prefix=str(tmp_path / "run"))
    env.create_local_runner()
    return env


def test_rows_csv_run_state_and_events(tmp_path):
    env = make_env(tmp_path)
    log = attach_log(env)
    seen = {"injected": [], "recovered": [], "critical": []}
    hooks = stresskit_events_of(env)
    hooks.fault_injected.add_listener(lambda **kw: seen["injected"].append(kw))
    hooks.fault_recovered.add_listener(lambda **kw: seen["recovered"].append(kw))
    hooks.critical_failure.add_listener(lambda **kw: seen["critical"].append(kw))

    report(env, "injected", "browser_crash", user="w0/Pages/0", detail="SIGKILL 3 browser processes")
    report(env, "recovered", "browser_crash", user="w0/Pages/0", detail="ok", recovery_time=1.25)
    report(env, "injected", "rate_limiting", user="w0/Api/1", detail="burst")
    report(env, "critical", "rate_limiting", user="w0/Api/1", detail="not recovered within 30s")
    log.close()

    with open(tmp_path / "run_faults.csv", newline="") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames) == FAULT_COLUMNS
        rows = list(reader)
    assert [(r["event"], r["kind"], r["user"], r["worker"]) for r in rows] == [
        ("injected", "browser_crash", "w0/Pages/0", "local"), ("recovered", "browser_crash", "w0/Pages/0", "local"),
        ("injected", "rate_limiting", "w0/Api/1", "local"), ("critical", "rate_limiting", "w0/Api/1", "local")]
    assert rows[1]["recovery_time"] == "1.25" and rows[0]["recovery_time"] == ""
    state = run_state_of(env)
    assert (state.faults_injected, state.faults_recovered, state.critical_failures) == (2, 1, 1)
    assert "rate_limiting: not recovered within 30s (user w0/Api/1 on local)" in state.critical_details
    assert seen["injected"][0]["kind"] == "browser_crash" and seen["injected"][0]["worker"] == "local"
    assert seen["recovered"][0]["recovery_time"] == 1.25
    assert seen["critical"][0]["kind"] == "rate_limiting"
    summary = {s["kind"]: s for s in log.summary()}
    assert summary["browser_crash"]["median_recovery"] == 1.25 and summary["rate_limiting"]["critical"] == 1


def test_rows_from_workers_arrive_as_custom_messages_and_keep_the_worker_id(tmp_path):
    env = make_env(tmp_path)
    log = attach_log(env)
    handler, _ = env.runner.custom_messages[EVENT_MESSAGE]
    handler(environment=env, msg=Message(EVENT_MESSAGE, {"timestamp": 1.0, "event": "injected", "kind": "websocket_drop",
                                                         "user": "w3/Chat/0", "worker": "", "detail": "cut",
                                                         "recovery_time": None}, "host_abc"))
    assert log.rows[0]["worker"] == "host_abc" and log.rows[0]["user"] == "w3/Chat/0"
    assert run_state_of(env).faults_injected == 1


def test_no_csv_prefix_means_no_file_but_rows_are_kept(tmp_path):
    env = Environment(user_classes=[])
    env.create_local_runner()
    log = attach_log(env)
    report(env, "injected", "websocket_drop", user="u")
    assert log.path is None and len(log.rows) == 1
    assert not list(tmp_path.iterdir())


def test_importing_the_faults_package_registers_nothing():
    code = ("import locust.env, stresskit.faults, stresskit.faults.injector, stresskit.faults.wiring, "
            "stresskit.faults.recovery, stresskit.faults.proxy\n"
            "from locust import events\n"
            "assert not events.init._handlers and not events.request._handlers, 'listeners registered on import'\n"
            "assert not events.init_command_line_parser._handlers\n"
            "import stresskit.faults.proxy as p, sys\n"
            "print('ok')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    # the proxy process side imports neither Locust nor gevent
    code = "import stresskit.faults.proxy, sys; print('locust' in sys.modules, 'gevent' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.split() == ["False", "False"], result.stderr
