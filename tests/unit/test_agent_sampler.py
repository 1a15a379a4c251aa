"""The sampler against real processes: selection by pid, name and command line with children,
first CPU readings thrown away, vanished processes dropped, and the /proc fast path agreeing
with psutil."""

import os
import re
import shutil
import subprocess
import sys
import time
import uuid

import psutil
import pytest

from stresskit.agent import procfs
from stresskit.agent.sampler import Sampler, Selection, _Rate

PARENT = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
print(child.pid, flush=True)
time.sleep(60)
"""


@pytest.fixture
def procs():
    started = []

    def spawn(argv, **kwargs):
        proc = subprocess.Popen(argv, **kwargs)
        started.append(proc)
        return proc

    yield spawn
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def pids_of(sample):
    return {p["pid"]: p for p in sample["processes"]}


def wait_for_children(pid, count, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(psutil.Process(pid).children()) >= count:
            return
        time.sleep(0.02)
    raise AssertionError(f"process {pid} did not start {count} children")


def test_cmdline_selection_includes_children_unless_disabled(procs):
    marker = f"sk-marker-{uuid.uuid4().hex}"
    parent = procs([sys.executable, "-c", PARENT, marker], stdout=subprocess.PIPE, text=True)
    child_pid = int(parent.stdout.readline())
    wait_for_children(parent.pid, 1)
    with_children = Sampler(Selection(cmdlines=[marker])).sample()
    assert set(pids_of(with_children)) == {parent.pid, child_pid}
    assert {p["selector"] for p in with_children["processes"]} == {f"cmdline:{marker}"}
    without = Sampler(Selection(cmdlines=[marker], children=False)).sample()
    assert set(pids_of(without)) == {parent.pid}


def test_name_and_pid_selection(procs, tmp_path):
    name = f"sk{uuid.uuid4().hex[:8]}"
    binary = tmp_path / name
    shutil.copy("/bin/sleep", binary)
    named = procs([str(binary), "60"])
    other = procs(["/bin/sleep", "60"])
    sample = Sampler(Selection(names=[f"^{name}$"], pids=[other.pid])).sample()
    found = pids_of(sample)
    assert set(found) == {named.pid, other.pid}
    assert found[named.pid]["name"] == name and found[named.pid]["selector"] == f"name:^{name}$"
    assert found[other.pid]["selector"] == f"pid:{other.pid}"


def test_first_cpu_reading_is_thrown_away_then_a_busy_process_shows(procs):
    busy = procs([sys.executable, "-c", "import time\nend = time.time() + 30\nwhile time.time() < end: pass"])
    idle = procs(["/bin/sleep", "60"])
    sampler = Sampler(Selection(pids=[busy.pid, idle.pid]))
    first = sampler.sample()
    assert first["system"]["cpu_percent"] is None
    assert all(p["cpu_percent"] is None for p in first["processes"])
    assert first["system"]["disk_read_bps"] is None and first["system"]["net_recv_bps"] is None
    time.sleep(1.0)  # CPU % is a rate: it needs an interval to be measured over
    second = sampler.sample()
    found = pids_of(second)
    assert second["system"]["cpu_percent"] is not None
    # a busy loop gets a full core on an idle host, a few percent on a crowded one; a sleeper ~none
    assert found[busy.pid]["cpu_percent"] > 1.0
    assert found[idle.pid]["cpu_percent"] < 1.0
    for key in ("disk_read_bps", "disk_write_bps", "net_sent_bps", "net_recv_bps"):
        assert second["system"][key] is None or second["system"][key] >= 0


def test_vanished_process_is_dropped_without_failing_the_sample(procs):
    victim = procs(["/bin/sleep", "60"])
    survivor = procs(["/bin/sleep", "60"])
    sampler = Sampler(Selection(pids=[victim.pid, survivor.pid]))
    assert set(pids_of(sampler.sample())) == {victim.pid, survivor.pid}
    victim.kill()
    victim.wait(10)
    assert set(pids_of(sampler.sample())) == {survivor.pid}


@pytest.mark.skipif(not procfs.AVAILABLE, reason="Linux /proc only")
def test_procfs_fast_path_agrees_with_psutil(procs):
    code = ("import threading, time\n"
            "[threading.Thread(target=time.sleep, args=(60,), daemon=True).start() for _ in range(3)]\n"
            "time.sleep(60)")
    sleeper = procs([sys.executable, "-c", code])
    deadline = time.monotonic() + 10
    while psutil.Process(sleeper.pid).num_threads() < 4 and time.monotonic() < deadline:
        time.sleep(0.02)
    proc = psutil.Process(sleeper.pid)
    settled, last = 0, -1  # a starting process still grows: compare once its RSS holds still
    while settled < 3 and time.monotonic() < deadline + 10:
        rss = proc.memory_info().rss
        settled, last = (settled + 1 if rss == last else 0), rss
        time.sleep(0.05)
    # psutil reads just before and just after each fast read: the same counters agree within them
    # (a process the machine is slow to finish starting can still move between two reads)
    rss_before, times_before = proc.memory_info().rss, proc.cpu_times()
    stat = procfs.read_stat(sleeper.pid)
    rss_after, times_after = proc.memory_info().rss, proc.cpu_times()
    assert stat.threads == proc.num_threads() == 4
    slack = 256 * 1024
    assert min(rss_before, rss_after) - slack <= stat.rss_bytes <= max(rss_before, rss_after) + slack
    assert stat.ppid == os.getpid()
    cpu_before, cpu_after = times_before.user + times_before.system, times_after.user + times_after.system
    assert cpu_before - 0.05 < stat.cpu_seconds < cpu_after + 0.05
    slow_before = pids_of(Sampler(Selection(pids=[sleeper.pid]), use_procfs=False).sample())[sleeper.pid]
    fast = pids_of(Sampler(Selection(pids=[sleeper.pid]), use_procfs=True).sample())[sleeper.pid]
    slow = pids_of(Sampler(Selection(pids=[sleeper.pid]), use_procfs=False).sample())[sleeper.pid]
    for key in ("pid", "name", "threads", "open_files"):
        assert fast[key] == slow[key], key
    low, high = sorted((slow_before["rss_bytes"], slow["rss_bytes"]))
    assert low - slack <= fast["rss_bytes"] <= high + slack


def test_psutil_path_selects_like_the_fast_path(procs):
    marker = f"sk-marker-{uuid.uuid4().hex}"
    parent = procs([sys.executable, "-c", PARENT, marker], stdout=subprocess.PIPE, text=True)
    child_pid = int(parent.stdout.readline())
    wait_for_children(parent.pid, 1)
    sample = Sampler(Selection(cmdlines=[marker]), use_procfs=False).sample()
    assert set(pids_of(sample)) == {parent.pid, child_pid}


def test_process_limit_bounds_the_sample(procs):
    sleepers = [procs(["/bin/sleep", "60"]) for _ in range(5)]
    sample = Sampler(Selection(pids=[p.pid for p in sleepers], max_processes=3)).sample()
    assert len(sample["processes"]) == 3


@pytest.mark.parametrize("readings,rates", [
    ([(100, 0.0), (300, 2.0)], [None, 100.0]),
    ([(100, 0.0), (50, 1.0), (150, 2.0)], [None, None, 100.0]),  # counter reset: no negative rate
    ([(None, 0.0), (10, 1.0)], [None, None]),
])
def test_rates_are_wrap_safe(readings, rates):
    rate = _Rate()
    assert [rate.update(value, mono) for value, mono in readings] == rates


@pytest.mark.browser
def test_browser_group_counts_real_chromium(chrome):
    ours = psutil.Process(chrome.driver_pid)
    rss = []
    for proc in [ours, *ours.children(recursive=True)]:
        try:  # chromium starts and ends helper processes all the time
            if "chrom" in proc.name():
                rss.append(proc.memory_info().rss)
        except psutil.NoSuchProcess:
            continue
    group = Sampler().sample()["browsers"]
    assert len(rss) >= 2 and group["count"] >= len(rss) - 1  # one helper may end in between
    assert group["rss_bytes"] >= sum(rss) * 0.8


def test_the_agent_never_tracks_itself_by_pattern_but_does_by_pid():
    own = re.escape(procfs.read_cmdline(os.getpid())[:40]) if procfs.AVAILABLE else re.escape(sys.executable)
    assert os.getpid() not in pids_of(Sampler(Selection(cmdlines=[own])).sample())
    assert os.getpid() in pids_of(Sampler(Selection(pids=[os.getpid()])).sample())
