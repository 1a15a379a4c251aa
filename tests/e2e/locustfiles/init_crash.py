"""The production mix, plus an ``init`` listener with a bug that runs after the demo target and
Redis were started: the lifecycle drill checks they are stopped although Locust exits 1."""

import sys
from pathlib import Path

from locust import events

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from locustfiles.production import *  # shapes, users, use_stresskit


@events.init.add_listener
def broken(environment, **_):
    raise RuntimeError("a bug in a team's own init listener")
