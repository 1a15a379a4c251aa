"""The report believes only what can be true: crafted files that would have given a false verdict.

Each test writes a run (Locust CSVs, resources, faults, run.json per stresskit.core.schema), corrupts it
the way a crashed collector, a file appended twice or a jumping clock would, and checks the verdict
is the one of the clean run, with the rows left out counted and named in text, JSON and HTML.
"""

import json
from pathlib import Path

from stresskit.report import build_report
from stresskit.report.load import read_faults, read_resources
from stresskit.report.plausible import time_bounds
from tests.data.report_runfiles import synthetic_run

START = 1_700_000_000.0


def _rows(path: Path) -> tuple[str, list[str]]:
    lines = path.read_text().splitlines()
    return lines[0], lines[1:]


def _documents(report, tmp_path) -> tuple[str, dict, str]:
    html = tmp_path / "r.html"
    report.write(html=str(html))
    return report.summary_text(), json.loads(report.to_json()), html.read_text()


def test_duplicated_resource_rows_are_kept_once_not_summed(tmp_path):
    prefix = synthetic_run(tmp_path / "run", seconds=300)
    clean = build_report(str(prefix))
    assert clean.verdict.status == "pass", clean.verdict.reasons
    path = tmp_path / "run_resources.csv"
    header, rows = _rows(path)
    # the whole file appended a second time: summed, system memory would read 2 × 25% and process RSS doubles
    path.write_text("\n".join([header, *rows, *rows]) + "\n")
    report = build_report(str(prefix))
    assert report.verdict.status == "pass", report.verdict.reasons
    note = next(n for n in report.inputs if n.file.endswith("_resources.csv"))
    assert note.implausible_rows == len(rows)
    assert note.implausible == {"duplicate": len(rows)}
    host = report.resources.hosts.iloc[0]
    assert host["memory_percent_max"] < 30  # 25% once, not 50%
    assert host["used_mb_max"] == clean.resources.hosts.iloc[0]["used_mb_max"]
    text, doc, html = _documents(report, tmp_path)
    assert f"left out {len(rows)} row(s)" in text and "the same sample twice" in text
    assert doc["data_checks"] == [{"file": str(path), "rows_left_out": len(rows), "reasons": {"duplicate": len(rows)}}]
    assert "rows that cannot be true" in html and "the same sample twice" in html


def test_summed_duplicates_would_have_failed_resources_stable(tmp_path):
    """Memory at 60%: two copies summed give 120% > 90% sustained — a false FAIL the report must not give."""
    prefix = synthetic_run(tmp_path / "run", seconds=300)
    path = tmp_path / "run_resources.csv"
    header, rows = _rows(path)
    cols = header.split(",")
    i_mem = cols.index("memory_percent")
    out = []
    for r in rows:
        cells = r.split(",")
        if cells[cols.index("kind")] == "system":
            cells[i_mem] = "60.0"
        out.append(",".join(cells))
    path.write_text("\n".join([header, *out, *out]) + "\n")
    run = json.loads((tmp_path / "run_run.json").read_text())
    run["criteria"] = [c for c in run["criteria"] if c["name"] != "resources_stable"]  # the report judges them
    (tmp_path / "run_run.json").write_text(json.dumps(run))
    report = build_report(str(prefix))
    stable = next(c for c in report.verdict.criteria if c.name.startswith("resources_stable"))
    assert stable.status == "pass", stable.detail
    assert report.resources.hosts.iloc[0]["memory_percent_max"] == 60.0


def test_a_sample_dated_far_in_the_future_is_left_out(tmp_path):
    prefix = synthetic_run(tmp_path / "run", seconds=300)
    path = tmp_path / "run_resources.csv"
    header, rows = _rows(path)
    future = rows[10].split(",")
    future[0] = f"{START + 400 * 86400:.3f}"  # next year
    path.write_text("\n".join([header, *rows, ",".join(future)]) + "\n")
    report = build_report(str(prefix))
    assert report.resources.span[1] < START + 301
    note = next(n for n in report.inputs if n.file.endswith("_resources.csv"))
    assert note.implausible == {"timestamp outside the run": 1}


def test_without_run_json_a_day_past_now_is_the_limit(tmp_path):
    path = tmp_path / "x_resources.csv"
    path.write_text("timestamp,host,kind,name,memory_percent,rss_bytes\n"
                    f"{START},h,system,system,20,1000\n{START + 1},h,system,system,21,1000\n"
                    f"{START + 2},h,system,system,22,1000\n")
    read = read_resources(str(path), time_bounds(None, now=START + 1.5 - 86400))
    assert read.note.rows == 2 and read.note.implausible == {"timestamp outside the run": 1}


def test_infinite_and_impossible_values_are_left_out(tmp_path):
    prefix = synthetic_run(tmp_path / "run", seconds=120)
    path = tmp_path / "run_resources.csv"
    header, rows = _rows(path)
    cols = header.split(",")
    system = [i for i, r in enumerate(rows) if r.split(",")[cols.index("kind")] == "system"]
    procs = [i for i, r in enumerate(rows) if r.split(",")[cols.index("kind")] == "process"]

    def setcell(i, column, value):
        cells = rows[i].split(",")
        cells[cols.index(column)] = value
        rows[i] = ",".join(cells)

    setcell(system[3], "memory_percent", "inf")
    setcell(system[4], "cpu_percent", "250")  # the machine is at most 100%
    setcell(system[5], "memory_percent", "130")
    setcell(procs[2], "rss_bytes", "-5000")
    setcell(procs[3], "cpu_percent", "180")  # a process on two cores: possible, kept
    path.write_text("\n".join([header, *rows]) + "\n")
    report = build_report(str(prefix))
    note = next(n for n in report.inputs if n.file.endswith("_resources.csv"))
    assert note.implausible == {"infinite or not a number": 1, "value out of range": 3}
    host = report.resources.hosts.iloc[0]
    assert host["cpu_max"] < 100 and host["memory_percent_max"] < 100
    assert report.verdict.status == "pass", report.verdict.reasons


def _faults(tmp_path, rows):
    path = tmp_path / "f_faults.csv"
    path.write_text("timestamp,event,kind,user,worker,detail,recovery_time\n"
                    + "\n".join(",".join(map(str, r)) for r in rows) + "\n")
    return read_faults(str(tmp_path / "f"), (START - 600, START + 1000))


def test_negative_recovery_times_and_recoveries_without_injection_are_left_out(tmp_path):
    read = _faults(tmp_path, [
        (START + 1, "injected", "browser_crash", "u1", "local", "", ""),
        (START + 2, "recovered", "browser_crash", "u1", "local", "", 1.0),
        (START + 3, "recovered", "browser_crash", "u1", "local", "", 2.0),   # a second recovery, one injection
        (START + 4, "injected", "websocket_drop", "u2", "local", "", ""),
        (START + 5, "recovered", "websocket_drop", "u2", "local", "", -3.0),  # negative
        (START + 6, "recovered", "websocket_drop", "u2", "local", "", "inf"),  # infinite
        (START + 7, "recovered", "rate_limiting", "u3", "local", "", 0.5),    # never injected
        (START + 8, "injected", "websocket_drop", "u2", "local", "", ""),
        (START + 9, "recovered", "websocket_drop", "u2", "local", "", 1.0),
    ])
    assert read.note.implausible == {"negative recovery time": 2, "recovery without an injection": 2}
    frame = read.frame
    assert list(frame["event"]) == ["injected", "recovered", "injected", "injected", "recovered"]
    assert (frame["recovery_time"].dropna() >= 0).all()


def test_run_wide_faults_let_every_user_recover_once(tmp_path):
    read = _faults(tmp_path, [
        (START + 1, "injected", "memory_pressure", "", "local", "run-wide", ""),
        (START + 5, "recovered", "memory_pressure", "api-1", "w1", "", 4.0),
        (START + 5, "recovered", "memory_pressure", "api-2", "w1", "", 4.0),
        (START + 6, "recovered", "memory_pressure", "", "local", "healthy", 5.0),
        (START + 7, "recovered", "memory_pressure", "api-1", "w1", "", 6.0),  # api-1 owed only one
    ])
    assert read.note.implausible == {"recovery without an injection": 1}
    assert len(read.frame) == 4


def test_more_recoveries_than_injections_do_not_pass_as_recovered(tmp_path):
    prefix = synthetic_run(tmp_path / "run", seconds=120)
    path = tmp_path / "run_faults.csv"
    header, rows = _rows(path)
    extra = [f"{START + 20 + i},recovered,browser_crash,u1,local,,1.0" for i in range(50)]
    path.write_text("\n".join([header, *rows, *extra]) + "\n")
    report = build_report(str(prefix))
    crash = report.faults["by_kind"].set_index("kind").loc["browser_crash"]
    assert crash["recovered"] == crash["injected"] == 1
    text, doc, html = _documents(report, tmp_path)
    assert "more recoveries than injections" in text and "more recoveries than injections" in html
    assert doc["data_checks"][0]["reasons"] == {"recovery without an injection": 50}


def test_a_process_and_its_children_are_not_duplicates(tmp_path):
    """Rows of one process name with different pids at one timestamp are a process tree (summed later);
    the same pid twice, or a second system row of the host at that time, is a duplicate."""
    path = tmp_path / "x_resources.csv"
    path.write_text("timestamp,host,kind,name,pid,memory_percent,rss_bytes\n"
                    f"{START},h,system,system,,20,1000\n"
                    f"{START},h,process,app,10,1,100\n"
                    f"{START},h,process,app,11,1,50\n"       # a child: kept
                    f"{START},h,process,app,10,1,100\n"      # the same pid again: duplicate
                    f"{START},h,system,system,,20,1000\n"    # the same system sample again: duplicate
                    f"{START + 1},h,system,system,,20,1000\n")
    read = read_resources(str(path), time_bounds((START, START + 1)))
    assert read.note.implausible == {"duplicate": 2}
    assert list(read.frame["pid"].fillna(0).astype(int)) == [0, 10, 11, 0]
