"""Cache disconnection: every Redis client connection is cut mid-run (CLIENT KILL TYPE normal),
or with --recovery-restart-redis redis-server itself is SIGKILLed and restarted.

    locust -f locustfiles/recovery_cache.py --headless -u 10 -r 10 -t 30s --csv run --recovery-at 10

Cache users (redis-py, straight to Redis) and API users of the target's cache endpoint (the
target's own Redis connections) must both recover: ``RECOVERY cache_disconnect`` per user.
"""

from locust import constant, events

from stresskit.core.options import register_options
from stresskit.faults import use_faults
from stresskit.faults.recovery import use_recovery
from stresskit.run.embedded import use_managed_target
from stresskit.users import api, cache
from stresskit.users.api import ApiUser, Endpoint
from stresskit.users.cache import CacheUser

register_options(events, api.add_arguments, cache.add_arguments)
events.init.add_listener(cache.init_cache_hit_rate)
use_managed_target(events)
use_faults(events)
use_recovery(events, "cache_disconnect")


class RecoveringCacheUser(CacheUser):
    wait_time = constant(0.05)
    key_space = 500
    read_ratio = 0.8


class CachedApiUser(ApiUser):
    wait_time = constant(0.05)
    network_timeout = 3.0
    connection_timeout = 3.0
    endpoints = (Endpoint("GET", "/api/cache/{key}", name="/api/cache/[key]",
                          params=lambda u: {"key": f"k{u.random.randrange(200)}"}),)
