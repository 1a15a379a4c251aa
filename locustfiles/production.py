"""The production mix — the locustfile ships with the package: :mod:`stresskit.locustfiles.production`.

    locust -f locustfiles/production.py --headless                       # light scenario, demo target
    locust -f locustfiles/production.py --headless --scenario production --time-scale 0.01

This file keeps the repository's path working; everything (users, shapes, ``use_stresskit``)
comes from the packaged locustfile.
"""

from stresskit.locustfiles.production import *
