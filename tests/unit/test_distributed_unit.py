"""stresskit.cluster.distributed without a cluster: the locustfile digest, the reasons a master is
unreachable (real sockets on loopback), and import inertness."""

from __future__ import annotations

import socket
import subprocess
import sys

from stresskit.cluster.distributed import explain_unreachable, locustfile_digest
from stresskit.target.launcher import free_port


def test_digest_depends_on_names_and_bytes_not_on_directories(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    (a / "prod.py").write_text("x = 1\n")
    (b / "prod.py").write_text("x = 1\n")
    digest_a, names = locustfile_digest([str(a / "prod.py")])
    assert names == ["prod.py"]
    assert locustfile_digest([str(b / "prod.py")])[0] == digest_a          # another checkout path
    (b / "prod.py").write_text("x = 2\n")
    assert locustfile_digest([str(b / "prod.py")])[0] != digest_a          # one changed byte
    (b / "other.py").write_text("x = 1\n")
    assert locustfile_digest([str(b / "other.py")])[0] != digest_a         # another file name
    # A directory counts as its .py files; a list's order and URLs count too.
    assert locustfile_digest([str(a)])[1] == ["prod.py"]
    assert locustfile_digest(["https://example.invalid/l.py"])[1] == ["https://example.invalid/l.py"]


def test_a_closed_port_is_connection_refused():
    reason = explain_unreachable("127.0.0.1", free_port())
    assert reason.startswith("connection refused") and "--master" in reason


def test_an_open_port_without_a_master_is_named_as_such():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        reason = explain_unreachable("127.0.0.1", listener.getsockname()[1])
    assert "accepts TCP connections but no Locust master answers" in reason and "8089" in reason


def test_importing_the_modules_registers_and_imports_nothing():
    code = ("import sys, stresskit.cluster.distributed, stresskit.observe.weblogin\n"
            "print(sorted(m for m in ('locust', 'gevent', 'flask') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_opting_in_twice_adds_each_listener_once():
    from locust.event import Events

    from stresskit.cluster.distributed import use_distributed_checks

    events = Events()
    use_distributed_checks(events)
    counts = [len(hook._handlers) for hook in (events.init, events.test_start, events.init_command_line_parser)]
    use_distributed_checks(events)
    assert [len(hook._handlers) for hook in (events.init, events.test_start, events.init_command_line_parser)] \
        == counts
    assert counts[1] == 1
