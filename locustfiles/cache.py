"""Cache clients against Redis (the demo's, or yours with --redis-url).

    locust -f locustfiles/cache.py --headless -u 20 -r 5 -t 1m --cache-min-hit-rate 0.5

With no --host and no --redis-url in a local run, the demo target and a redis-server are
started on loopback for the run. The run's hit rate is logged at the end, shown in the web
UI's Cache tab, and fails the run (exit code 3) when below --cache-min-hit-rate.
"""

from locust import events

from stresskit.core.options import register_options
from stresskit.observe.finalcsv import use_final_csv
from stresskit.run.embedded import use_embedded_target
from stresskit.users.cache import add_arguments, init_cache_hit_rate
from stresskit.users.reference import ReferenceCacheUser  # noqa: F401  (the user Locust runs)

register_options(events, add_arguments)
events.init.add_listener(init_cache_hit_rate)
use_final_csv(events)
use_embedded_target(events)
