"""Latency from the intended start, end to end through the recorder and the report: a worker
records both series for paced requests (and only the send-time one for unpaced ones), the master
merges them, and the text, JSON and HTML reports show them side by side with what each means."""

import json

import greenlet
from locust.env import Environment

from stresskit.core.lateness import set_lateness_ms
from stresskit.observe.latency import INTENDED, LatencyRecorder
from stresskit.report.build import build_report
from stresskit.report.html import render_html
from stresskit.report.latency import SERIES_MEANING


class WorkerSide(LatencyRecorder):
    def _role(self):
        return "worker"


def fire(env, name, values, lateness=None):
    """Fire request events from a greenlet of their own, as a Locust user would (lateness is per greenlet)."""
    def run():
        set_lateness_ms(lateness)
        for v in values:
            env.events.request.fire(request_type="GET", name=name, response_time=v, response_length=0,
                                    exception=None, context={})
    greenlet.greenlet(run).switch()


def test_both_series_are_recorded_merged_and_reported(tmp_path):
    prefix = tmp_path / "r"
    master_env, worker_env = Environment(), Environment()
    master = LatencyRecorder(master_env, window_s=60.0, grace_s=0.0, path=f"{prefix}_latency.jsonl")
    WorkerSide(worker_env, window_s=60.0)  # subscribes to worker_env's events
    fire(worker_env, "/paced", [10.0] * 99 + [20.0], lateness=0.0)  # on time
    fire(worker_env, "/paced", [10.0] * 100, lateness=500.0)        # started 0.5 s late
    fire(worker_env, "/closed", [5.0] * 50)                         # unpaced: one series only
    worker_env.events.request.fire(request_type="DROPPED", name="api", response_time=0, response_length=0,
                                   exception=None, context={})     # a count, not a latency
    data: dict = {}
    worker_env.events.report_to_master.fire(client_id="w1", data=data)
    master_env.events.worker_report.fire(client_id="w1", data=data)
    sent = master.run_quantiles((0.5, 0.99))
    intended = master.run_quantiles((0.5, 0.99), series=INTENDED)
    assert set(sent) == {("GET", "/paced"), ("GET", "/closed")} and set(intended) == {("GET", "/paced")}
    assert abs(intended[("GET", "/paced")][1] - 510) <= 0.01 * 510  # P99 shows the late starts
    assert sent[("GET", "/paced")][1] <= 20.5                        # the send-time series does not
    master.flush()
    header = ("Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,Min Response Time,"
              "Max Response Time,Average Content Size,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,"
              "99.99%,100%")
    rows = ["GET,/paced,200,0,10,132,10,510,2,10,0,10,10,10,10,500,510,510,510,510,510,510",
            "GET,/closed,50,0,5,5,5,5,2,2.5,0,5,5,5,5,5,5,5,5,5,5,5",
            ",Aggregated,250,0,10,100,5,510,2,12.5,0,10,10,10,10,500,510,510,510,510,510,510"]
    (tmp_path / "r_stats.csv").write_text("\n".join([header, *rows]) + "\n")

    report = build_report(str(prefix))
    requests = report.latency.requests.set_index("name")
    assert requests.loc["/paced", "intended_p99"] > 500 and requests.loc["/paced", "p99"] < 25
    assert requests.loc["/closed"].isna()["intended_p99"]
    text = report.summary_text()
    assert "intended p50" in text and SERIES_MEANING["intended"] in text and SERIES_MEANING["sent"] in text
    doc = json.loads(report.to_json())
    assert doc["latency"]["series"] == SERIES_MEANING
    paced = next(r for r in doc["latency"]["requests"] if r["name"] == "/paced")
    assert paced["intended_p99"] > 500
    html = render_html(report)
    assert "P99 intended" in html and "from the intended start" in html
