"""Running real Locust masters, workers and the reference target as hosts of a NetnsLab.

Waiting is always a poll with a deadline that also fails fast when a process that must stay
up has died; results are read from the master's CSV files, never from printed output.
"""

from __future__ import annotations

import csv
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from stresskit.target.launcher import ManagedProcess
from tests.support.netns import Host, NetnsLab

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
LOCUSTFILES = Path(__file__).resolve().parent / "locustfiles"
CHECKED = LOCUSTFILES / "checked.py"
UNCHECKED = LOCUSTFILES / "unchecked.py"
TARGET_PORT = 8089
MASTER_PORT = 5557

T = TypeVar("T")


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A minimal environment (no STRESSKIT_* / LOCUST_* leaking in from the test's own)."""
    env = {"PATH": f"{VENV_BIN}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
           "HOME": "/root", "LANG": "C.UTF-8", "PYTHONUNBUFFERED": "1"}
    env.update(extra or {})
    return env


def wait_for(predicate: Callable[[], T], timeout: float, what: str,
             alive: Sequence[ManagedProcess] = ()) -> T:
    """Poll ``predicate`` until it returns something truthy; fail fast if a process in ``alive`` dies."""
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        value = predicate()
        if value:
            return value
        for proc in alive:
            if not proc.alive():
                raise AssertionError(f"{proc.name} exited with {proc.process.returncode} while waiting for "
                                     f"{what}:\n{proc.log_tail(30)}")
        if time.monotonic() >= deadline:
            tails = "\n".join(f"--- {p.name}:\n{p.log_tail(15)}" for p in alive)
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}\n{tails}")
        time.sleep(delay)
        delay = min(delay * 1.5, 0.5)


def wait_exit(proc: ManagedProcess, timeout: float) -> int:
    """The process's exit code, waiting at most ``timeout`` seconds (then fail with its log)."""
    deadline = time.monotonic() + timeout
    while proc.alive():
        if time.monotonic() >= deadline:
            raise AssertionError(f"{proc.name} still running after {timeout:.0f}s:\n{proc.log_tail(30)}")
        time.sleep(0.1)
    return proc.process.returncode


def read_csv(path: Path) -> list[dict[str, str]]:
    """Rows of a CSV file, or [] while it does not exist yet."""
    try:
        with path.open(newline="") as fh:
            return list(csv.DictReader(fh))
    except FileNotFoundError:
        return []


def request_count(prefix: Path, name: str) -> int:
    """Request Count of one entry of ``<prefix>_stats.csv`` (0 while absent)."""
    for row in read_csv(Path(f"{prefix}_stats.csv")):
        if row.get("Name") == name:
            return int(row["Request Count"])
    return 0


def failure_count(prefix: Path) -> int:
    """Failure Count of the Aggregated row of ``<prefix>_stats.csv``."""
    for row in read_csv(Path(f"{prefix}_stats.csv")):
        if row.get("Name") == "Aggregated":
            return int(row["Failure Count"])
    return 0


def worker_rows(prefix: Path) -> list[dict[str, str]]:
    """The master's ``<prefix>_workers.csv`` (stresskit.cluster.distributed)."""
    return read_csv(Path(f"{prefix}_workers.csv"))


def events_of(rows: list[dict[str, str]], host: str) -> list[str]:
    """Membership events of the worker running on lab host ``host`` (worker ids start with the host name)."""
    return [r["event"] for r in rows if r["worker"].startswith(f"{host}_")]


def start_target(lab: NetnsLab, host: Host, extra: Sequence[str] = (), env: Mapping[str, str] | None = None,
                 probe_from: Host | None = None) -> ManagedProcess:
    """The reference target on ``host``'s address, ready when its port answers from ``probe_from``."""
    proc = lab.run(host, [str(VENV_BIN / "python"), "-m", "stresskit", "target", "--bind", host.address,
                          "--port", str(TARGET_PORT), "--latency-ms", "1", *extra],
                   env=clean_env(env), name=f"target-{host.name}", cwd=ROOT)
    lab.wait_for_port(probe_from or host, host.address, TARGET_PORT, timeout=60, process=proc)
    return proc


def start_locust(lab: NetnsLab, host: Host, args: Sequence[str], env: Mapping[str, str] | None = None,
                 name: str | None = None) -> ManagedProcess:
    """``locust ARGS`` on ``host``, run from the repository root like the compose image's WORKDIR."""
    return lab.run(host, [str(VENV_BIN / "locust"), *args], env=clean_env(env), name=name or f"locust-{host.name}",
                   cwd=ROOT)


def master_args(locustfile: Path, target: Host, prefix: Path, users: int, run_time: str, workers: int,
                extra: Sequence[str] = ()) -> list[str]:
    """A headless master that stops by itself after ``run_time``."""
    return ["-f", str(locustfile), "--master", "--master-bind-port", str(MASTER_PORT), "--headless",
            "-u", str(users), "-r", str(users), "-t", run_time, "--expect-workers", str(workers),
            "--enable-rebalancing", "--host", f"http://{target.address}:{TARGET_PORT}", "--csv", str(prefix),
            "--only-summary", *extra]


def worker_args(locustfile: Path, master: Host | str) -> list[str]:
    address = master.address if isinstance(master, Host) else master
    return ["-f", str(locustfile), "--worker", "--master-host", address, "--master-port", str(MASTER_PORT)]


def log_lines(proc: ManagedProcess, needle: str) -> list[str]:
    """Lines of a process's log containing ``needle`` (for the *bad input* tests: the message is the contract)."""
    return [line for line in proc.log_path.read_text(errors="replace").splitlines() if needle in line]


def as_int(value: Any) -> int:
    return int(float(value))
