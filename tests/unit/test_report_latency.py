"""Per-window figures from Locust's stats history, and the latency table's sources."""

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stresskit.report.latency import _history_windows_sorted, history_windows, latency_result
from stresskit.report.load import read_history, read_stats

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden"


@pytest.fixture
def real_history(tmp_path):
    for path in GOLDEN.glob("run_*"):
        shutil.copy(path, tmp_path / path.name)
    return read_history(str(tmp_path / "run")).frame


def key(frame):
    return frame.sort_values(["type", "name", "start"]).reset_index(drop=True)


def test_grid_and_row_paths_agree_on_a_real_history(real_history):
    for window in (1.0, 2.0, 60.0):
        grid = key(history_windows(real_history, window))
        rows = key(_history_windows_sorted(real_history, window))
        pd.testing.assert_frame_equal(grid, rows, check_dtype=False)


def test_window_counts_add_up_to_locusts_last_counters(real_history):
    windows = history_windows(real_history, 2.0)
    for (rtype, name), group in real_history.groupby(["Type", "Name"], observed=True):
        total = windows[(windows["type"] == rtype) & (windows["name"] == name)]["count"].sum()
        assert total == group["Total Request Count"].max()


def test_counter_reset_falls_back_and_stays_exact(real_history):
    frame = real_history.copy()
    agg = frame["Name"] == "Aggregated"
    t_mid = frame.loc[agg, "Timestamp"].median()
    late = agg & (frame["Timestamp"] > t_mid)
    base = frame.loc[agg & (frame["Timestamp"] <= t_mid), "Total Request Count"].max()
    frame.loc[late, "Total Request Count"] -= base  # --reset-stats: counting starts again
    windows = history_windows(frame, 2.0)
    total = windows[windows["name"] == "Aggregated"]["count"].sum()
    assert total == real_history.loc[agg, "Total Request Count"].max()


def test_locust_source_states_its_precision(tmp_path):
    for path in GOLDEN.glob("run_*"):
        shutil.copy(path, tmp_path / path.name)
    stats = read_stats(str(tmp_path / "run")).frame
    result = latency_result(stats, history_windows(read_history(str(tmp_path / "run")).frame, 60), None, 60)
    assert result.source == "locust"
    assert "2 significant digits" in result.precision
    overall = result.overall()
    assert overall["count"] == 787 and overall["p95"] == 23.0  # Locust's _stats.csv Aggregated row
    assert np.isfinite(result.windows["p95"]).any()
