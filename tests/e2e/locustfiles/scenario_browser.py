"""The light scenario with real page processors: headless Chromium walks the reference target's pages.

    locust -f tests/e2e/locustfiles/scenario_browser.py --headless --host URL --time-scale 0.03 --csv PREFIX

API users and stresskit's ``PageProcessorUser``; the scenario's WebSocket and cache users are
skipped (this locustfile has no class of those kinds; the shape says so in one line each).
"""

from locust import constant, events

from shapes import LightShape, SelectedScenario  # noqa: F401
from stresskit.cluster import quota
from stresskit.run.criteria import use_criteria
from stresskit.run.shape import use_scenarios
from stresskit.users import ApiUser, PageProcessorUser
from stresskit.users import api as api_users

use_scenarios(events)
use_criteria(events)
quota.use_page_quota(events)


class Api(ApiUser):
    wait_time = constant(0.2)
    endpoints = api_users.REFERENCE_ENDPOINTS


class Pages(PageProcessorUser):
    """Chromium per user, started in on_start and quit in on_stop."""
