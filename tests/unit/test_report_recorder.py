"""The latency recorder's bookkeeping: windows are written and forgotten as they close (bounded
memory), late worker reports become extra lines, and the lines add up in the report."""

import json
import time

from locust.env import Environment

from stresskit.observe.latency import MESSAGE_KEY, LatencyRecorder
from stresskit.report.latency import read_latency


class WorkerSide(LatencyRecorder):
    def _role(self):  # this one plays a worker (ships what it recorded instead of writing it)
        return "worker"


def fire(env, name, values):
    for v in values:
        env.events.request.fire(request_type="GET", name=name, response_time=v, response_length=0,
                                exception=None, context={})


def test_windows_are_written_and_forgotten_and_late_reports_add_up(tmp_path):
    path = tmp_path / "r_latency.jsonl"
    master_env, worker_env = Environment(), Environment()
    master = LatencyRecorder(master_env, window_s=1.0, grace_s=0.0, path=str(path))
    worker = WorkerSide(worker_env, window_s=1.0)
    fire(worker_env, "/a", [10.0] * 50)
    data: dict = {}
    worker_env.events.report_to_master.fire(client_id="w1", data=data)
    assert worker._pending == {}  # shipped and forgotten on the worker
    early = data[MESSAGE_KEY]
    master_env.events.worker_report.fire(client_id="w1", data={MESSAGE_KEY: early})
    master._close_due(time.time() + 5)  # the window is over: written and dropped from memory
    assert master._open == {}
    written = master.lines_written
    assert written == 1
    # a report for that (already written) window arrives late: it is written as its own line
    master_env.events.worker_report.fire(client_id="w2", data={MESSAGE_KEY: early})
    assert master.lines_written == written + 1
    master.flush()
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert [line["kind"] for line in lines] == ["meta", "window", "window", "run"]
    assert lines[2].get("late") is True
    sketches, note = read_latency(str(path))
    assert note.skipped_rows == 0
    assert sketches.run[("GET", "/a")].n == 100
    assert sum(h.n for h in sketches.windows[("GET", "/a")].values()) == 100
    master.remove()
    worker.remove()


def test_malformed_worker_report_is_ignored(tmp_path):
    env = Environment()
    master = LatencyRecorder(env, path=str(tmp_path / "x_latency.jsonl"))
    env.events.worker_report.fire(client_id="w", data={MESSAGE_KEY: [{"start": "soon", "n": 3}]})
    assert master._open == {} and master._run == {}
    master.remove()


def test_live_run_figures_include_open_windows_and_count_each_request_once(tmp_path):
    """Each request goes into its window's sketch only; the whole-run figures (Prometheus, web UI)
    merge the closed windows and the open ones, before and after windows close, without double counts."""
    env = Environment()
    rec = LatencyRecorder(env, window_s=1.0, grace_s=0.0, path=str(tmp_path / "l_latency.jsonl"))
    fire(env, "/a", [10.0] * 40 + [100.0] * 10)
    (n, total, (p50, p99)), = rec.run_summaries((0.5, 0.99)).values()
    assert n == 50 and total == 1400.0
    assert abs(p50 - 10.0) / 10.0 < 0.02 and abs(p99 - 100.0) / 100.0 < 0.02
    rec._close_due(time.time() + 5)  # the window is written and folded into the run's sketch
    assert rec._open == {}
    fire(env, "/a", [10.0] * 50)  # a new open window
    (n, total, _), = rec.run_summaries((0.5,)).values()
    assert n == 100 and total == 1900.0
    ((p50,),) = rec.run_quantiles((0.5,)).values()
    assert abs(p50 - 10.0) / 10.0 < 0.02
    assert rec.run_summaries((0.5,))[("GET", "/a")][0] == 100  # querying twice changes nothing
    rec.flush()
    sketches, _ = read_latency(str(tmp_path / "l_latency.jsonl"))
    assert sketches.run[("GET", "/a")].n == 100
    assert sum(h.n for h in sketches.windows[("GET", "/a")].values()) == 100
    rec.remove()


def test_buffered_values_are_folded_at_the_limit_and_whenever_read(tmp_path):
    """Requests are buffered and folded into the sketches in bulk: every value is in the figures
    read live, shipped by a worker and written at the end, and a key's buffer never passes FOLD_AT."""
    from stresskit.observe.latency import FOLD_AT

    env = Environment()
    rec = LatencyRecorder(env, window_s=60.0, grace_s=0.0, path=str(tmp_path / "b_latency.jsonl"))
    fire(env, "/a", [5.0] * (FOLD_AT + 7))
    assert max(len(v) for v in rec._buffers.values()) < FOLD_AT  # one fold happened at the limit
    (n, total, _), = rec.run_summaries((0.5,)).values()
    assert n == FOLD_AT + 7 and total == 5.0 * (FOLD_AT + 7)
    fire(env, "/a", [7.0] * 3)
    rec.flush()
    sketches, _ = read_latency(str(tmp_path / "b_latency.jsonl"))
    assert sketches.run[("GET", "/a")].n == FOLD_AT + 10
    rec.remove()

    worker_env = Environment()
    worker = WorkerSide(worker_env, window_s=60.0)
    fire(worker_env, "/w", [3.0] * 11)
    data: dict = {}
    worker_env.events.report_to_master.fire(client_id="w1", data=data)
    assert sum(item["n"] for item in data[MESSAGE_KEY]) == 11 and worker._buffers == {}
    worker.remove()
