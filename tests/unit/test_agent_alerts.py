"""Alert logic: a pure function of readings and their timestamps, tested table-driven."""

import pytest

from stresskit.observe.collector import AlertPolicy, AlertTracker

POLICY = AlertPolicy(cpu=90.0, memory=80.0, sustain=10.0)


@pytest.mark.parametrize("readings,fired_at", [
    # (time, value) readings of cpu_percent; times when an alert fires
    ([(0, 95), (5, 96), (10, 97), (15, 99)], [10]),          # sustained for 10 s: fires once
    ([(0, 95), (5, 96), (9, 97)], []),                      # not long enough
    ([(0, 95), (5, 90), (10, 95), (19, 95)], []),           # dropped to the threshold: excursion restarts
    ([(0, 95), (10, 95), (11, 50), (12, 95), (22, 95)], [10, 22]),  # two excursions, two alerts
    ([(0, 95), (5, None), (10, 95)], [10]),                 # unknown readings neither end nor extend it
    ([(0, 50), (100, 60)], []),
])
def test_cpu_alerts(readings, fired_at):
    tracker = AlertTracker(POLICY)
    fired = [t for t, v in readings if tracker.update("h", "cpu_percent", v, float(t))]
    assert fired == fired_at


def test_alert_carries_what_the_event_needs_and_stays_active_until_it_ends():
    tracker = AlertTracker(POLICY)
    assert tracker.update("db", "memory_percent", 85.0, 100.0) is None
    alert = tracker.update("db", "memory_percent", 88.0, 110.0)
    assert alert == {"host": "db", "metric": "memory_percent", "value": 88.0, "threshold": 80.0, "since": 100.0,
                     "time": 110.0}
    assert tracker.active() == [{"host": "db", "metric": "memory_percent", "value": 88.0, "threshold": 80.0,
                                 "since": 100.0}]
    assert tracker.update("web", "memory_percent", 99.0, 110.0) is None  # hosts are independent
    tracker.update("db", "memory_percent", 10.0, 111.0)
    assert tracker.active() == []


def test_zero_sustain_alerts_on_the_first_reading_above():
    tracker = AlertTracker(AlertPolicy(cpu=50, memory=50, sustain=0))
    assert tracker.update("h", "cpu_percent", 51.0, 1.0)["since"] == 1.0
