"""The report tests' locustfile plus the resource collector: a real agent's samples become
``PREFIX_resources.csv`` (with --agent), the generator measures itself."""

from locust import events

from stresskit.observe.collector import use_collector
from tests.data.report_locustfile import ReportUser  # noqa: F401  (the user class; latency recorder on)

use_collector(events, web_ui=False)
