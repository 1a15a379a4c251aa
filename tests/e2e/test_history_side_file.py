"""The columnar side file of Locust's ``_stats_history.csv``: a real Locust run writes it, the report
reads the same frame from it as from the CSV, and parses the CSV whenever the two could differ."""

import os
import shutil
import subprocess
import sys

import pandas as pd

from stresskit.report.columnar import INDEX_NAME, SIDE_SUFFIX, read_columnar
from stresskit.report.load import read_history
from tests.conftest import ROOT


def _run(target, tmp_path, *extra: str):
    prefix = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(ROOT / "tests/e2e/locustfiles/history_side.py"), "--headless",
         "-u", "2", "-r", "2", "-t", "3s", "--host", target.url, "--csv", str(prefix), "--only-summary", *extra],
        capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode in (0, 1), result.stderr[-2000:]  # 1: the failures the locustfile asks for
    return str(prefix), f"{prefix}_stats_history.csv"


def _via_csv(prefix: str, path: str):
    shutil.move(path + SIDE_SUFFIX, path + ".away")
    try:
        return read_history(prefix)
    finally:
        shutil.move(path + ".away", path + SIDE_SUFFIX)


def test_a_real_run_writes_a_history_side_file_the_report_reads_as_the_csv(target, tmp_path):
    prefix, path = _run(target, tmp_path, "--csv-full-history")
    assert read_columnar(path) is not None, "no side file that matches the CSV"
    side, csv = read_history(prefix), _via_csv(prefix, path)
    assert side.note.rows == csv.note.rows >= 6  # 3 names (2 + Aggregated) for at least 2 of the 3 seconds
    assert set(side.frame["Name"]) == {"/healthz", "/no-such-page", "Aggregated"}
    assert side.frame["Total Failure Count"].max() > 0
    a, b = side.frame[sorted(side.frame.columns)], csv.frame[sorted(csv.frame.columns)]
    pd.testing.assert_frame_equal(a, b, check_categorical=True)

    # the CSV changed afterwards (a row cut off its end): the side file no longer matches; the CSV is parsed
    with open(path, "rb+") as fh:
        fh.truncate(os.path.getsize(path) - 10)
    assert read_columnar(path) is None
    reread = read_history(prefix)  # parsed from the CSV now: the cut-short last row is gone or skipped
    assert reread.frame is not None and 0 < reread.note.rows <= side.note.rows


def test_the_aggregated_history_alone_gets_a_side_file_too(target, tmp_path):
    prefix, path = _run(target, tmp_path)
    assert read_columnar(path) is not None
    side, csv = read_history(prefix), _via_csv(prefix, path)
    assert set(side.frame["Name"]) == {"Aggregated"}
    pd.testing.assert_frame_equal(side.frame[sorted(side.frame.columns)], csv.frame[sorted(csv.frame.columns)],
                                  check_categorical=True)
    # a side file whose index lost its checkpoints is not believed
    index = os.path.join(path + SIDE_SUFFIX, INDEX_NAME)
    with open(index) as fh:
        kept = "".join(line for line in fh if '"rows"' not in line)
    with open(index, "w") as fh:
        fh.write(kept)
    assert read_columnar(path) is None
