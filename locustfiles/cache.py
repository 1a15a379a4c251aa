"""Cache clients against Redis (the demo's, or yours with --redis-url).

    locust -f locustfiles/cache.py --headless -u 20 -r 5 -t 1m --cache-min-hit-rate 0.5

With no --host and no --redis-url in a local run, the demo target and a redis-server are
started on loopback for the run. The run's hit rate is logged at the end, shown in the web
UI's Cache tab, and fails the run (exit code 3) when below --cache-min-hit-rate.
"""

from locust import between, events

from stresskit.embedded import use_embedded_target
from stresskit.options import register_options
from stresskit.users.cache import CacheUser, add_arguments, init_cache_hit_rate

register_options(events, add_arguments)
events.init.add_listener(init_cache_hit_rate)
use_embedded_target(events)


class ReferenceCacheUser(CacheUser):
    """Mostly reads over a skewed key space, so the hit rate climbs as hot keys get written."""

    wait_time = between(0.01, 0.05)
    key_space = 2_000
    key_skew = 1.0
    value_size = (64, 1024)
    read_ratio = 0.8
