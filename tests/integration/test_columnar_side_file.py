"""The collector's columnar side file of ``_resources.csv``: the report reads the same frame from it as
from the CSV, and falls back to the CSV whenever the two could differ."""

from __future__ import annotations

import os
import shutil

import pandas as pd
import pytest
from locust.env import Environment

from stresskit.agent.launcher import start_agent
from stresskit.observe.collector import AlertPolicy, Collector
from stresskit.report.columnar import INDEX_NAME, SIDE_SUFFIX, read_columnar
from stresskit.report.load import read_resources
from tests.support.wait import wait_for

TOKEN = "side-file-token"
T0 = 1_700_000_000.0


def _collector(tmp_path, urls=(), token=None) -> Collector:
    return Collector(Environment(), list(urls), token, tmp_path / "run_resources.csv",
                     AlertPolicy(cpu=100, memory=100, sustain=60), read_timeout=2.0, generator_interval=0.5)


def _edge_rows(at: float) -> list[dict]:
    """Rows like the collector writes, with the awkward cells: empty, text, whole and fractional numbers."""
    return [
        {"timestamp": at, "host": "db-1", "seq": 1, "kind": "system", "name": "system", "pid": "",
         "cpu_percent": 12.5, "memory_percent": 40.0, "rss_bytes": "", "available_bytes": 8_000_000_000,
         "connections": 17, "count": ""},
        {"timestamp": at, "host": "db-1", "seq": 1, "kind": "process", "name": "postgres", "pid": 4242,
         "cpu_percent": 3, "memory_percent": 1.5, "rss_bytes": 123_456_789, "available_bytes": "",
         "connections": "", "count": 3},
        {"timestamp": at + 0.5, "host": "worker-1", "seq": "", "kind": "generator", "name": "worker-1",
         "pid": 99, "cpu_percent": "41.0", "memory_percent": "", "rss_bytes": 70_000_000,
         "available_bytes": "", "connections": "", "count": ""},
        {"timestamp": at + 0.7, "host": "db-1", "seq": "", "kind": "gap", "name": "db-1", "pid": "",
         "cpu_percent": "", "memory_percent": "", "rss_bytes": "", "available_bytes": "", "connections": "",
         "count": 2},
        {"timestamp": at + 0.8, "host": "", "seq": "", "kind": "", "name": "", "pid": "", "cpu_percent": "",
         "memory_percent": "", "rss_bytes": "", "available_bytes": "", "connections": "", "count": ""},
    ]


def _via_csv(path: str):
    """read_resources on the CSV alone (the side file moved away and put back)."""
    shutil.move(path + SIDE_SUFFIX, path + ".away")
    try:
        return read_resources(path)
    finally:
        shutil.move(path + ".away", path + SIDE_SUFFIX)


def _same(side, csv) -> None:
    assert side.note.rows == csv.note.rows and side.note.skipped_rows == csv.note.skipped_rows
    assert side.note.implausible_rows == csv.note.implausible_rows
    a = side.frame[sorted(side.frame.columns)]
    b = csv.frame[sorted(csv.frame.columns)]
    pd.testing.assert_frame_equal(a, b, check_categorical=True)


def test_side_file_gives_the_csv_frame_and_falls_back_when_they_differ(tmp_path) -> None:
    collector = _collector(tmp_path)
    for i in range(30):
        collector._write(_edge_rows(T0 + i))
    collector.close()
    path = str(collector.csv_path)
    assert read_columnar(path) is not None
    side = read_resources(path)
    csv = _via_csv(path)
    _same(side, csv)
    assert side.note.skipped_rows == 30  # the rows without a kind, counted as the CSV reader counts them

    # the CSV changed after the run (a row appended by hand): the side file no longer matches
    with open(path, "a", newline="") as fh:
        fh.write(f"{T0 + 99},db-1,,system,system,,1,2,,3,4,\n")
    assert read_columnar(path) is None
    assert read_resources(path).note.rows == csv.note.rows + 1

    # a column file cut short (a kill mid-write), or no checkpoint left: the CSV again
    with open(path, "rb+") as fh:  # the CSV back to the size the side file knows
        fh.truncate(os.path.getsize(path) - len(f"{T0 + 99},db-1,,system,system,,1,2,,3,4,\n"))
    assert read_columnar(path) is not None
    os.truncate(os.path.join(path + SIDE_SUFFIX, "rss_bytes.bin"), 100)
    assert read_columnar(path) is None
    index = os.path.join(path + SIDE_SUFFIX, INDEX_NAME)
    with open(index) as fh:
        codes_only = "".join(line for line in fh if '"code"' in line)
    with open(index, "w") as fh:
        fh.write(codes_only)
    assert read_columnar(path) is None


@pytest.fixture
def agent(tmp_path):
    agent = start_agent(["--interval", "0.2"], token=TOKEN, workdir=tmp_path)
    yield agent
    agent.stop()


def test_a_real_agent_and_collector_write_a_side_file_the_report_reads(tmp_path, agent) -> None:
    collector = _collector(tmp_path, [agent.url], TOKEN)
    collector.start()
    try:
        wait_for(lambda: collector.rows_written >= 20, timeout=30, what="the collector writing 20 rows")
    finally:
        collector.close()
    path = str(collector.csv_path)
    assert read_columnar(path) is not None
    _same(read_resources(path), _via_csv(path))
