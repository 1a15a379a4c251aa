"""The lifecycle part's records and the browser guard's refusal to touch a group that is not its own."""

import subprocess
import sys
import types

import locust  # noqa: F401  (gevent patching first)
import pytest

from stresskit.core import browser_guard
from stresskit.core.exitcodes import ExitCode, worst
from stresskit.errors import ConfigError
from stresskit.run.lifecycle import check_redis_url, note_lost_worker, note_write_error, run_fields


def env(**options):
    return types.SimpleNamespace(parsed_options=types.SimpleNamespace(**options))


def test_interrupted_outranks_every_verdict_but_bad_configuration():
    assert worst(ExitCode.INTERRUPTED, ExitCode.STOPPED_EARLY, ExitCode.CRITICAL_FAILURE) == ExitCode.INTERRUPTED
    assert worst(ExitCode.INTERRUPTED, ExitCode.BAD_CONFIG) == ExitCode.BAD_CONFIG


def test_a_write_error_is_said_once_per_file(caplog):
    environment = env(csv_prefix=None)
    for _ in range(3):
        note_write_error(environment, "/out/run_resources.csv", OSError(28, "No space left on device"))
    note_write_error(environment, "/out/run_faults.csv", OSError(28, "No space left on device"))
    files = run_fields(environment)["truncated_files"]
    assert [f["file"] for f in files] == ["/out/run_resources.csv", "/out/run_faults.csv"]
    assert files[0]["error"] == "No space left on device"
    assert len([r for r in caplog.records if "stopped writing" in r.getMessage()]) == 2


def test_a_lost_worker_is_one_entry_with_every_page_reclaimed_from_it():
    environment = env()
    note_lost_worker(environment, "w1", lost_at=100.0)
    note_lost_worker(environment, "w1", pages=[7, 3])
    note_lost_worker(environment, "w1", pages=[3, 9])
    assert run_fields(environment)["lost_workers"] == [{"worker": "w1", "lost_at": 100.0, "pages_reclaimed": [3, 7, 9]}]
    assert run_fields(environment)["interrupted"] is None


@pytest.mark.parametrize("url", ["ftp://u:secret@host/0", "host:6379", "http://host"])
def test_a_redis_url_with_a_bad_scheme_is_named_without_the_url(url):
    with pytest.raises(ConfigError) as info:
        check_redis_url(env(redis_url=url))
    assert "secret" not in str(info.value) and "/" not in str(info.value).split("got scheme")[1]
    assert str(info.value).startswith("--redis-url must start with redis://, rediss:// or unix://")


def test_the_guard_kills_only_a_group_that_is_still_the_registered_session():
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        started = browser_guard.start_time(sleeper.pid)
        assert started > 0
        # a reused group id: another start time and no process naming the session's profile
        assert not browser_guard.kill_group(sleeper.pid, started + 1, "/tmp/stresskit-chrome-not-this-one")
        assert sleeper.poll() is None
        assert browser_guard.kill_group(sleeper.pid, started, "")
        assert sleeper.wait(10) == -9
    finally:
        if sleeper.poll() is None:
            sleeper.kill()
            sleeper.wait(10)


def test_stop_all_spares_what_ran_before_the_run(tmp_path):
    from stresskit.core.process import ManagedProcess, running_processes, stop_all

    before = ManagedProcess("before", [sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "a.log")
    kept = {proc.pid for proc in running_processes()}  # also the session's fixtures (target, Redis)
    during = ManagedProcess("during", [sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "b.log")
    try:
        assert stop_all(timeout=5, keep=kept) == ["during"]
        assert before.alive() and not during.alive()
    finally:
        before.stop()
        during.stop()
