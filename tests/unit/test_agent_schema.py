"""The sample format and its mapping onto the resources CSV columns."""

import pytest

from stresskit.agent.schema import (
    SCHEMA_VERSION,
    SampleError,
    gap_row,
    generator_row,
    sample_rows,
    validate_sample,
)
from stresskit.core.schema import RESOURCE_COLUMNS


def make_sample(**overrides):
    sample = {
        "v": SCHEMA_VERSION, "type": "sample", "seq": 7, "instance": "ab12", "host": "web-1", "time": 1000.5,
        "mono": 55.0, "interval": 1.0,
        "system": {"cpu_percent": 12.5, "memory_percent": 40.0, "memory_used": 4000, "memory_available": 6000,
                   "memory_total": 10000, "swap_percent": 1.0, "load1": 0.5, "disk_read_bps": None,
                   "disk_write_bps": 10.0, "net_sent_bps": 1.25, "net_recv_bps": 2.5, "connections": 9},
        "processes": [{"pid": 42, "name": "app", "selector": "name:app", "cpu_percent": None, "memory_percent": 1.5,
                       "rss_bytes": 150, "threads": 3, "open_files": 12, "connections": 2}],
        "browsers": {"count": 2, "rss_bytes": 900},
    }
    sample.update(overrides)
    return sample


def test_rows_carry_exactly_the_schema_columns():
    rows = sample_rows(make_sample())
    assert [row["kind"] for row in rows] == ["system", "process", "browsers"]
    for row in rows:
        assert tuple(row) == RESOURCE_COLUMNS
    system, proc, browsers = rows
    assert (system["cpu_percent"], system["rss_bytes"], system["available_bytes"], system["connections"]) == (
        12.5, 4000, 6000, 9)
    assert system["disk_read_bps"] == ""  # not known yet -> empty cell, never a made-up 0
    assert (proc["pid"], proc["name"], proc["cpu_percent"], proc["threads"], proc["open_files"]) == (
        42, "app", "", 3, 12)
    assert (browsers["count"], browsers["rss_bytes"]) == (2, 900)
    assert {row["seq"] for row in rows} == {7} and {row["host"] for row in rows} == {"web-1"}


def test_gap_and_generator_rows():
    gap = gap_row("web-1", 1000.0, 12)
    assert tuple(gap) == RESOURCE_COLUMNS
    assert (gap["kind"], gap["name"], gap["count"], gap["seq"]) == ("gap", "web-1", 12, "")
    gen = generator_row("worker-a", {"time": 5.0, "pid": 3, "cpu_percent": 97.0, "rss_bytes": 10, "memory_percent": 0.1,
                                     "threads": 4})
    assert tuple(gen) == RESOURCE_COLUMNS
    assert (gen["kind"], gen["host"], gen["name"], gen["cpu_percent"], gen["seq"]) == (
        "generator", "worker-a", "worker-a", 97.0, "")


@pytest.mark.parametrize("change,message", [
    ({"v": 2}, "schema version"),
    ({"type": "heartbeat"}, "type"),
    ({"seq": "7"}, "seq"),
    ({"seq": 0}, "seq must be >= 1"),
    ({"seq": True}, "seq"),
    ({"host": None}, "host"),
    ({"processes": {}}, "processes"),
    ({"processes": [{"name": "x"}]}, "pid"),
])
def test_malformed_samples_are_rejected(change, message):
    with pytest.raises(SampleError, match=message):
        validate_sample(make_sample(**change))


def test_unknown_extra_fields_are_allowed():
    assert validate_sample(make_sample(agent={"rss_bytes": 1}, future_field=1))["seq"] == 7
