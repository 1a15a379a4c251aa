"""Bad input: missing files are named and skipped, corrupt rows are skipped and counted."""

import json
from pathlib import Path

import numpy as np
import pytest

from stresskit.report import build_report
from stresskit.report.build import EmptyRunError, NoRunFilesError
from stresskit.report.latency import read_latency
from stresskit.report.load import read_csv_robust, read_faults, read_history, read_resources, read_stats
from tests.data.report_runfiles import synthetic_run


def test_missing_file_is_noted_not_raised(tmp_path):
    read = read_stats(str(tmp_path / "nothing"))
    assert read.frame is None
    assert read.note.status == "missing"
    assert "nothing_stats.csv" in read.note.line()


def test_corrupt_and_truncated_rows_are_skipped_and_counted(tmp_path):
    prefix = synthetic_run(tmp_path / "run", seconds=60)
    path = f"{prefix}_resources.csv"
    lines = Path(path).read_text().splitlines()
    total = len(lines) - 1
    lines.insert(5, "garbage,with,too,many,fields," + ",".join(["x"] * 30))  # too many fields
    lines.insert(9, "not-a-time,target-a,1,system,system,,1,2,3")  # bad timestamp
    lines.insert(12, "1700000001.0,target-a,1,process,backend-0,100,1.0")  # process row without RSS
    lines.insert(15, "1700000001.0,target-a,1,bogus-kind,x,,1,1,1")  # unknown kind
    text = "\n".join(lines) + "\n1700000099.0,target-a,99,sys"  # truncated last line
    Path(path).write_text(text)
    read = read_resources(path)
    assert read.note.status == "ok"
    assert read.note.skipped_rows == 5
    assert read.note.rows == total
    assert set(read.frame["kind"]) <= {"system", "process", "browsers", "generator", "gap"}


def test_non_numeric_values_in_history_drop_only_their_rows(tmp_path):
    prefix = synthetic_run(tmp_path / "run", seconds=30)
    path = f"{prefix}_stats_history.csv"
    lines = Path(path).read_text().splitlines()
    good = len(lines) - 1
    cells = lines[4].split(",")
    cells[0] = "yesterday"
    lines[4] = ",".join(cells)
    Path(path).write_text("\n".join(lines) + "\n")
    read = read_history(str(prefix))
    assert read.note.skipped_rows == 1
    assert read.note.rows == good - 1
    assert read.frame["Timestamp"].dtype.kind in "if"


def test_unclosed_quote_falls_back_to_the_forgiving_parser(tmp_path):
    path = tmp_path / "x_faults.csv"
    path.write_text("timestamp,event,kind,user,worker,detail,recovery_time\n"
                    "1.0,injected,browser_crash,u,local,ok,\n"
                    "2.0,recovered,browser_crash,u,local,,1.5\n"
                    '3.0,injected,rate_limiting,u,local,"never closed\n')
    read = read_faults(str(tmp_path / "x"))
    assert read.frame is not None
    assert list(read.frame["event"])[:2] == ["injected", "recovered"]


def test_wrong_file_is_unreadable_with_a_clear_reason(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2\n")
    read = read_csv_robust(str(path), required=("timestamp",))
    assert read.note.status == "unreadable"
    assert "timestamp" in read.note.detail


def test_bad_latency_lines_are_counted(tmp_path):
    path = tmp_path / "r_latency.jsonl"
    good = {"kind": "window", "start": 0.0, "type": "GET", "name": "/a", "n": 2, "sum": 3.0, "min": 1.0,
            "max": 2.0, "zero": 0, "ra": 0.01, "k0": 0, "bins": [1, 1]}
    path.write_text("\n".join([json.dumps({"kind": "meta", "window_s": 60}), json.dumps(good), "{not json",
                               json.dumps({**good, "n": 7}), json.dumps({**good, "start": 60.0})]) + "\n")
    data, note = read_latency(str(path))
    assert note.rows == 2 and note.skipped_rows == 2
    assert data.run[("GET", "/a")].n == 4  # no run lines: the windows are summed
    assert "cut short" in note.detail


def test_no_files_and_empty_run_raise_clear_errors(tmp_path):
    with pytest.raises(NoRunFilesError, match="no run files found"):
        build_report(str(tmp_path / "nope"))
    (tmp_path / "e_stats.csv").write_text("Type,Name,Request Count,Failure Count\n,Aggregated,0,0\n")
    with pytest.raises(EmptyRunError, match="empty run"):
        build_report(str(tmp_path / "e"))


def test_report_goes_on_with_what_is_there(tmp_path):
    prefix = synthetic_run(tmp_path / "run", seconds=120)
    for suffix in ("_resources.csv", "_faults.csv", "_run.json"):
        (tmp_path / f"run{suffix}").unlink()
    report = build_report(str(prefix))
    statuses = {n.file.rsplit("_", 1)[-1]: n.status for n in report.inputs}
    assert statuses["resources.csv"] == "missing" and statuses["run.json"] == "missing"
    assert report.throughput.requests == 120 * 10 * 2
    assert report.verdict.status == "inconclusive"  # no run.json: the run's own criteria are unknown
    assert report.resources is None and report.faults is None
    assert np.isfinite(report.latency.overall()["p95"])


@pytest.mark.parametrize("seed", range(6))
def test_garbage_in_any_file_never_raises_anything_but_a_report_error(tmp_path, seed):
    from stresskit.errors import ReportError

    rng = np.random.default_rng(seed)
    prefix = synthetic_run(tmp_path / "g", seconds=90)
    files = sorted(tmp_path.glob("g_*"))
    for path in rng.choice(files, size=3, replace=False):
        data = bytearray(Path(path).read_bytes())
        for _ in range(20):  # flip, cut and splice bytes anywhere
            i = int(rng.integers(0, max(len(data), 1)))
            op = rng.integers(0, 3)
            if op == 0 and data:
                data[i % len(data)] = int(rng.integers(0, 256))
            elif op == 1:
                del data[i: i + int(rng.integers(1, 200))]
            else:
                data[i:i] = bytes(rng.integers(0, 256, int(rng.integers(1, 50)), dtype=np.uint8))
        Path(path).write_bytes(bytes(data))
    try:
        report = build_report(str(prefix))
    except ReportError:
        return
    json.loads(report.to_json())
    report.write(html=str(tmp_path / "r.html"), junit=str(tmp_path / "r.xml"))
    from xml.etree import ElementTree as ET

    ET.parse(tmp_path / "r.xml")  # still well-formed XML, whatever bytes came in


def test_request_names_with_tex_and_markup_are_plain_text(tmp_path):
    from tests.data.report_runfiles import write_run_json, write_synthetic_locust

    prefix = tmp_path / "n"
    names = (("GET", "/price/$[id]$"), ("GET", "<script>alert(1)</script>"), ("PAGE", "/pages/[page]"))
    write_synthetic_locust(prefix, 1_700_000_000.0, 120, names=names)
    write_run_json(Path(f"{prefix}_run.json"), 1_700_000_000.0, 1_700_000_120.0)
    report = build_report(str(prefix))
    html_path = tmp_path / "n.html"
    report.write(html=str(html_path))
    html = html_path.read_text()
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "/price/$[id]$" in html


def test_fault_notices_are_said_not_counted_as_corrupt_or_as_faults(tmp_path):
    """``unavailable`` and ``harness_error`` rows (written by the injector and the fault log) are notices: the
    input line names them, the fault counts leave them out, nothing is called corrupt (the demo's report once
    said "1 corrupt row(s) skipped" for a healthy run's ``unavailable`` row)."""
    (tmp_path / "x_faults.csv").write_text(
        "timestamp,event,kind,user,worker,detail,recovery_time\n"
        "1.0,injected,rate_limiting,w0/U/0,local,burst,\n"
        "1.5,recovered,rate_limiting,w0/U/0,local,first success,0.5\n"
        "2.0,unavailable,rate_limiting,w0/U/1,local,cannot be produced against this backend,\n"
        "3.0,harness_error,,,local,could not inject network_timeout: proxy API gone,\n")
    read = read_faults(str(tmp_path / "x"))
    assert read.note.skipped_rows == 0, read.note.line()
    assert list(read.frame["event"]) == ["injected", "recovered"]
    assert "1 × unavailable rate_limiting" in read.note.line() and "harness_error" in read.note.line()
    assert len(read.extra["notices"]) == 2


def test_resource_rows_out_of_time_order_give_the_same_analysis(tmp_path):
    """Rows of several hosts interleave out of time order in a distributed run's file, and a row of one
    process may come late: each series is still regressed in time order."""
    from stresskit.report.resources import analyze_resources

    prefix = synthetic_run(tmp_path / "r", seconds=600, leak_mb_per_h=600.0)
    path = f"{prefix}_resources.csv"
    ordered = analyze_resources(path)
    lines = Path(path).read_text().splitlines(keepends=True)
    body = lines[1:]
    np.random.default_rng(7).shuffle(body)
    shuffled_path = tmp_path / "shuffled_resources.csv"
    shuffled_path.write_text(lines[0] + "".join(body))
    shuffled = analyze_resources(str(shuffled_path))
    assert len(ordered.leaks) >= 2 and any(lk.verdict == "leak" for lk in ordered.leaks)
    assert [(lk.series, lk.verdict, lk.n_points, lk.slope_mb_per_h) for lk in ordered.leaks] == \
        [(lk.series, lk.verdict, lk.n_points, lk.slope_mb_per_h) for lk in shuffled.leaks]
    assert ordered.processes.equals(shuffled.processes)
