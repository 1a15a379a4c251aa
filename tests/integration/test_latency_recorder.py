"""The precise latency path against real Locust runs: every request is in the sketches, local and
master + two workers (recorded on the workers, merged on the master, one file on the master)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from stresskit.report import build_report
from stresskit.report.latency import read_latency
from stresskit.target.launcher import free_port
from tests.data.report_runfiles import LOCUSTFILE, ROOT, run_locust

pytestmark = pytest.mark.timeout(240)


def final_stats(path):
    """Locust's own final figures per (method, name), from --json-file."""
    entries = json.loads(Path(f"{path}.json").read_text())
    return {(e["method"], e["name"]): e for e in entries}


def check_sketches_match(prefix, final):
    data, note = read_latency(f"{prefix}_latency.jsonl")
    assert note.status == "ok" and note.skipped_rows == 0
    assert set(data.run) == set(final)
    for key, entry in final.items():
        run = data.run[key]
        assert run.n == entry["num_requests"], key  # every request event, none lost
        assert run.vmax == pytest.approx(entry["max_response_time"], rel=1e-9)
        windows = sum(h.n for h in data.windows[key].values())
        assert windows == entry["num_requests"], key  # the windows add up to the run
    return data


def test_local_run_records_every_request(target, tmp_path):
    prefix = tmp_path / "local"
    proc = run_locust(prefix, target.url, seconds=5, extra=("--json-file", str(tmp_path / "final")))
    assert proc.returncode in (0, 1), proc.stderr[-2000:]  # 1: the deliberate 404s
    final = final_stats(tmp_path / "final")
    data = check_sketches_match(prefix, final)
    assert data.window_s == 1.0  # the finest grain (a short run), at most the recorder's 2 s
    assert all(float(s).is_integer() for per in data.windows.values() for s in per)
    report = build_report(str(prefix))
    assert report.latency.source == "ddsketch"
    overall = report.latency.overall()
    assert overall["count"] == sum(e["num_requests"] for e in final.values())
    assert overall["p50"] <= overall["p95"] <= overall["p99"] <= overall["max"]


def test_distributed_run_merges_worker_sketches_on_the_master(target, tmp_path):
    port = free_port()
    prefix = tmp_path / "dist"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    common = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE)]
    master = subprocess.Popen([*common, "--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
                               "--headless", "--expect-workers", "2", "-u", "4", "-r", "4", "-t", "6s",
                               "-H", target.url, "--csv", str(prefix), "--csv-full-history", "--only-summary",
                               "--json-file", str(tmp_path / "final")],
                              cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    workers = [subprocess.Popen([*common, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port)],
                                cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
               for _ in range(2)]
    try:
        out, _ = master.communicate(timeout=150)
        assert master.returncode in (0, 1), out[-3000:]
        for worker in workers:
            worker.wait(timeout=30)
    finally:
        for proc in (master, *workers):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    final = final_stats(tmp_path / "final")
    assert sum(e["num_requests"] for e in final.values()) > 0
    check_sketches_match(prefix, final)
    # the file is the master's: workers write none (they run in the same directory)
    assert sorted(p.name for p in tmp_path.glob("*_latency.jsonl")) == ["dist_latency.jsonl"]
    lines = [json.loads(line) for line in Path(f"{prefix}_latency.jsonl").read_text().splitlines()]
    assert lines[0]["kind"] == "meta"
    assert {line["kind"] for line in lines[1:]} == {"window", "run"}
