"""API, WebSocket and cache users under a scenario shape, with everything use_stresskit adds.

Used by tests/e2e/test_secrets.py and test_webui_verdict.py as a real ``locust`` process, headless
or with the web UI. No browser page processors: the secrets and web-UI drills need the options,
the demo target, Redis and the verdict, not Chromium per page on 2 CPU cores.
"""

import sys
from pathlib import Path

from locust import events

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # `shapes` importable from any cwd

from shapes import SelectedScenario  # noqa: F401
from stresskit.compose import use_stresskit
from stresskit.users.reference import (  # noqa: F401
    ReferenceApiUser,
    ReferenceCacheUser,
    ReferenceWebSocketUser,
)

use_stresskit(events)
