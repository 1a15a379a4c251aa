"""`stresskit report` as a user runs it: exit codes, stdout verdict first, stderr one line on bad input."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from stresskit.cli import main
from stresskit.report.verdict import ReportExit
from tests.data.report_runfiles import synthetic_run

ROOT = Path(__file__).resolve().parents[2]


def stresskit(*args, timeout=120):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "stresskit", "report", *map(str, args)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)


def test_report_writes_documents_and_prints_verdict_first(tmp_path):
    prefix = synthetic_run(tmp_path / "run", seconds=300)
    proc = stresskit(prefix)
    assert proc.returncode == ReportExit.PASS, proc.stderr
    assert proc.stdout.splitlines()[0].startswith("VERDICT: PASS")
    # the process ends without the interpreter's teardown (cli._end_now): nothing buffered is lost
    assert proc.stdout.splitlines()[-1].startswith("written: ") and "_report.junit.xml" in proc.stdout
    assert "[report" in proc.stderr and "done in" in proc.stderr  # progress goes to stderr
    for suffix in ("_report.html", "_report.json", "_report.junit.xml"):
        assert (tmp_path / f"run{suffix}").stat().st_size > 0
    doc = json.loads((tmp_path / "run_report.json").read_text())
    assert doc["verdict"]["status"] == "pass"


def test_leak_exit_code_and_quiet(tmp_path):
    prefix = synthetic_run(tmp_path / "run", seconds=300, leak_mb_per_h=900)
    proc = stresskit(prefix, "--quiet", "--no-html", "--json", tmp_path / "out" / "r.json")
    assert proc.returncode == ReportExit.MEMORY_LEAK
    assert proc.stderr == ""
    assert proc.stdout.startswith("VERDICT: FAIL")
    assert (tmp_path / "out" / "r.json").exists()
    assert not (tmp_path / "run_report.html").exists()


@pytest.mark.parametrize("args, needle", [
    (["{tmp}/absent"], "no run files found for prefix"),
    (["{tmp}/empty"], "empty run"),
    (["{tmp}/run", "--window", "0"], "must be > 0"),
    (["{tmp}/run", "--warmup", "lots"], "warm-up must be"),
    (["{tmp}/run", "--baseline", "{tmp}/absent"], "baseline: no run files found"),
])
def test_bad_input_is_one_clear_line(tmp_path, args, needle, capsys):
    # in-process through the real entry point (stresskit.cli.main), to keep the suite fast
    synthetic_run(tmp_path / "run", seconds=60)
    (tmp_path / "empty_stats.csv").write_text("Type,Name,Request Count,Failure Count\n,Aggregated,0,0\n")
    try:
        code = main(["report", *[a.format(tmp=tmp_path) for a in args], "--quiet"])
    except SystemExit as exc:  # argparse rejects bad option values by exiting
        code = exc.code
    err = capsys.readouterr().err
    assert code == ReportExit.BAD_INPUT
    assert needle in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_unwritable_output_is_reported_without_traceback(tmp_path, capsys):
    prefix = synthetic_run(tmp_path / "run", seconds=60)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code = main(["report", str(prefix), "--quiet", "--json", str(blocker / "r.json")])
    err = capsys.readouterr().err
    assert code == ReportExit.ERROR
    assert "cannot write the report" in err and "Traceback" not in err


def test_corrupt_rows_are_reported_in_the_summary(tmp_path):
    prefix = synthetic_run(tmp_path / "run", seconds=120)
    with open(f"{prefix}_resources.csv", "a") as fh:
        fh.write("1700000100.0,target-a,1,process,backend-0,100\n\x00\x01garbage\n")
    proc = stresskit(prefix, "--quiet", "--no-html")
    assert proc.returncode == ReportExit.PASS, proc.stdout
    assert "corrupt row(s) skipped" in proc.stdout
