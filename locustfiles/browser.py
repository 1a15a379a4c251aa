"""Selenium page processors against the reference target (or your own pages with --host).

    locust -f locustfiles/browser.py --headless -u 2 -r 1 --pages 20

Each user drives its own headless Chromium through the run's pages, each page exactly once
across all users and workers (``--pages`` / ``STRESSKIT_PAGES``, default 10); the run stops
by itself when every page is finished. With no --host in a local run, the demo target is
started on loopback for the run. Knobs: ``--page-timeout``, ``--page-max-retries``,
``--browser-restart-every``, ``--browser-memory-limit-mb`` (see docs/users-browser.md).
"""

from locust import events

from stresskit.cluster import quota
from stresskit.core.options import register_options
from stresskit.observe.finalcsv import use_final_csv
from stresskit.run.embedded import use_embedded_target
from stresskit.users.page import add_arguments
from stresskit.users.reference import ReferencePageUser  # noqa: F401  (the user Locust runs)

register_options(events, quota.add_arguments, add_arguments)
quota.use_page_quota(events, stop_when_done=True)
use_final_csv(events)
use_embedded_target(events)
