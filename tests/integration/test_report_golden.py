"""Golden tests on real Locust files.

1. A committed real short run (tests/data/golden/: Locust's CSVs and the latency sketches of a
   6-second run against the reference target, plus synthetic resources, faults and run.json)
   must keep giving the same figures (``expected.json``; regenerate deliberately with
   ``STRESSKIT_UPDATE_GOLDEN=1``).
2. A fresh real run: the report's figures must agree with Locust's own files.
"""

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from stresskit.report import build_report
from tests.data.report_runfiles import (
    ROOT,
    history_span,
    run_locust,
    write_faults,
    write_resources,
    write_run_json,
)

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden"
pytestmark = pytest.mark.timeout(240)


def golden_view(report):
    doc = report.to_dict()
    lat = doc["latency"]
    return {
        "verdict": [doc["verdict"]["status"], doc["verdict"]["exit_code"]],
        "criteria": [[c["name"], c["status"]] for c in doc["verdict"]["criteria"]],
        "summary": {k: doc["summary"][k] for k in ("pages_processed", "success_rate", "session_restarts",
                                                   "critical_failures", "requests", "failures", "duration_s")},
        "latency_source": lat["source"],
        "latency": [[r["type"], r["name"], r["count"], *[round(r[p], 3) for p in ("p50", "p95", "p99", "p999", "max")]]
                    for r in lat["requests"]],
        "window_counts": sum(lat["windows"]["overall"]["count"]),
        "failures": doc["failures"]["by_category"],
        "faults": [doc["faults"]["injected"], doc["faults"]["recovered"], doc["faults"]["critical"]],
        "leaks": sorted([lk["series"], lk["verdict"]] for lk in doc["leaks"]["series"]),
        "inputs": [[Path(n["file"]).name, n["status"], n["rows"], n["skipped_rows"]] for n in doc["inputs"]],
    }


def test_committed_real_run_gives_the_golden_figures(tmp_path):
    for path in GOLDEN.glob("run_*"):
        shutil.copy(path, tmp_path / path.name)
    report = build_report(str(tmp_path / "run"))
    view = json.loads(json.dumps(golden_view(report)))
    expected_path = GOLDEN / "expected.json"
    if os.environ.get("STRESSKIT_UPDATE_GOLDEN"):
        expected_path.write_text(json.dumps(view, indent=1) + "\n")
    expected = json.loads(expected_path.read_text())
    assert view == expected


def test_fresh_real_run_agrees_with_locusts_files(target, tmp_path):
    prefix = tmp_path / "run"
    proc = run_locust(prefix, target.url, seconds=6)
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    start, end = history_span(prefix)
    write_resources(Path(f"{prefix}_resources.csv"), start, int(end - start))
    write_faults(Path(f"{prefix}_faults.csv"), start)
    write_run_json(Path(f"{prefix}_run.json"), start, end)
    with open(f"{prefix}_stats.csv") as fh:
        stats = {(r["Type"], r["Name"]): r for r in csv.DictReader(fh)}
    with open(f"{prefix}_stats_history.csv") as fh:
        history = [r for r in csv.DictReader(fh) if r["Name"] == "Aggregated"]
    report = build_report(str(prefix), window_s=2)
    agg = stats[("", "Aggregated")]
    assert report.throughput.requests == int(agg["Request Count"])
    assert report.throughput.failures == int(agg["Failure Count"])
    # the per-window counts are differences of Locust's cumulative counters: they add up exactly
    assert report.throughput.timeline["requests"].sum() == int(history[-1]["Total Request Count"])
    missing = stats[("GET", "/api/missing")]
    cats = dict(zip(report.failures_by_category["category"], report.failures_by_category["count"], strict=False))
    assert cats == {"HTTP 4xx": int(missing["Failure Count"])}
    by_type = report.throughput.by_type.set_index("type")
    assert by_type.loc["GET", "requests"] == int(agg["Request Count"])
    # the sketches hold at least what Locust's CSV (written once a second) has, never less
    lat = report.latency.requests.set_index(["type", "name"])
    for key, row in stats.items():
        if key[1] != "Aggregated":
            assert lat.loc[key, "count"] >= int(row["Request Count"])
            # Locust's rounded P95 and the sketch's agree within Locust's rounding and the CSV lag
            # (the sketches also hold the run's last second, which Locust's CSV can miss)
            locust_p95 = float(row["95%"])
            assert 0.5 * locust_p95 - 3 <= lat.loc[key, "p95"] <= 2.0 * locust_p95 + 3
    assert report.verdict.status == "pass", report.verdict.reasons

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cli = subprocess.run([sys.executable, "-m", "stresskit", "report", str(prefix), "--window", "2"], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=120, check=False)
    assert cli.returncode == 0, cli.stderr
    assert cli.stdout.startswith("VERDICT: PASS")
    html = Path(f"{prefix}_report.html").read_text()
    assert html.count('<img class="chart"') >= 5
    assert "http://" not in html.replace("http://www.w3.org", "") and "https://" not in html  # nothing external


def test_files_of_a_real_agent_and_collector_are_read_cleanly(target, tmp_path):
    """The contract with the collector: a real agent sampling the real target, a real Locust run."""
    from stresskit.agent.launcher import start_agent

    agent = start_agent(["--pid", str(target.pid), "--interval", "0.5", "--host-name", "target-a"], token="tok",
                        workdir=tmp_path / "agent")
    try:
        prefix = tmp_path / "agent_run"
        env = {**os.environ, "PYTHONPATH": str(ROOT), "STRESSKIT_AGENT_TOKEN": "tok"}
        argv = [sys.executable, "-m", "locust", "-f", str(GOLDEN.parent / "report_locustfile_agent.py"), "--headless",
                "-H", target.url, "-u", "3", "-r", "3", "-t", "8s", "--csv", str(prefix), "--csv-full-history",
                "--only-summary", "--stop-timeout", "2", "--agent", agent.url]
        proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
        assert proc.returncode in (0, 1), proc.stderr[-3000:]
    finally:
        agent.stop()
    report = build_report(str(prefix))
    notes = {Path(n.file).name: n for n in report.inputs}
    res = notes["agent_run_resources.csv"]
    assert res.status == "ok" and res.skipped_rows == 0 and res.rows > 10, res
    hosts = report.resources.hosts
    assert list(hosts["host"]) == ["target-a"] and hosts["samples"].iloc[0] >= 8
    kinds = {lk.kind for lk in report.leaks}
    assert {"system", "process"} <= kinds  # the target process is tracked
    assert (report.resources.processes["kind"] == "generator").any()  # the generator measured itself
    assert report.latency.source == "ddsketch"
    json.loads(report.to_json())
