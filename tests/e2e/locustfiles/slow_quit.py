"""The production mix, plus a ``quitting`` listener that hangs: the lifecycle drill checks that
``--shutdown-grace`` still ends the process and stops what the run started."""

import sys
from pathlib import Path

import gevent
from locust import events

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from locustfiles.production import *  # shapes, users, use_stresskit


@events.quitting.add_listener
def hang(**_):
    gevent.sleep(600)
