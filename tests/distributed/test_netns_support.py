"""The namespace lab itself: hosts reach each other only over the switch, cut/restore is a real
partition, and teardown leaves no namespace behind."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.netns import NetnsLab, unavailable_reason

pytestmark = pytest.mark.netns


def _namespaces() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def test_hosts_talk_over_the_switch_and_a_cut_partitions_them(netns_lab):
    a = netns_lab.add_host("a")
    b = netns_lab.add_host("b")
    assert a.address == "198.18.0.1" and b.address == "198.18.0.2"
    server = netns_lab.run(b, [sys.executable, "-m", "http.server", "8000", "--bind", b.address], name="http")
    netns_lab.wait_for_port(a, b.address, 8000, timeout=20, process=server)
    status, _ = netns_lab.http_get(a, f"http://{b.address}:8000/")
    assert status == 200
    # Loopback is up inside each host, and the host's own address is not reachable from the root namespace.
    assert netns_lab.exec(b, "ip", "-o", "link", "show", "lo").stdout.count("UP") >= 1

    netns_lab.cut(b)
    assert netns_lab.is_cut(b)
    with pytest.raises(OSError):
        netns_lab.connect(a, b.address, 8000, timeout=1.0)
    netns_lab.restore(b)
    assert not netns_lab.is_cut(b)
    netns_lab.wait_for_port(a, b.address, 8000, timeout=20, process=server)


def test_teardown_removes_everything_it_created(tmp_path):
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    before = _namespaces()
    lab = NetnsLab(tmp_path)
    host = lab.add_host("h")
    sleeper = lab.run(host, [sys.executable, "-c", "import time; time.sleep(60)"], name="sleeper")
    assert {lab.switch, host.netns} <= _namespaces()
    lab.close()
    assert not sleeper.alive()
    assert _namespaces() == before


def test_addresses_outside_the_benchmark_range_are_refused(tmp_path):
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    with pytest.raises(ValueError, match="outside 198.18.0.0/15"):
        NetnsLab(tmp_path, subnet="203.0.113.0/24")  # documentation range: refused, never used


def test_a_host_runs_commands_under_its_own_name_and_the_pid_is_the_command(netns_lab):
    host = netns_lab.add_host("worker7")
    proc = netns_lab.run(host, [sys.executable, "-c",
                                "import os, socket; print(socket.gethostname(), os.getpid(), os.getcwd())"],
                         name="whoami", cwd=netns_lab.workdir)
    assert proc.process.wait(30) == 0
    name, pid, cwd = proc.log_path.read_text().split()
    assert name == "worker7" and int(pid) == proc.pid and cwd == str(netns_lab.workdir)
