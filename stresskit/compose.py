"""One opt-in that wires every stresskit part into a locustfile, in the order they need.

``locustfiles/production.py`` calls :func:`use_stresskit`; a team's own locustfile can do the
same, or pick parts one by one (each part's ``use_*`` function is documented in its module).
The order matters: options first, fault checks before the embedded demo target (so a bad
option stops the run before a target is started), scenarios before criteria.
"""

from __future__ import annotations

from typing import Any

from stresskit.core.perrun import Once

_WIRED = Once()


def use_stresskit(
    events: Any,
    *,
    scenarios: bool = True,
    criteria: bool = True,
    faults: bool = True,
    collector: bool = True,
    latency: bool = True,
    distributed_checks: bool = True,
    web_login: bool = True,
    embedded_target: bool = True,
    metrics: bool = True,
) -> None:
    """Opt ``events`` (Locust's ``events`` module or an environment's) into stresskit.

    Idempotent: each part registers its options and listeners once per ``events`` object.
    """
    if not _WIRED.first(events):
        return
    from stresskit.cluster import quota
    from stresskit.core.options import register_options
    from stresskit.observe.finalcsv import use_final_csv
    from stresskit.observe.historyside import use_history_side_file
    from stresskit.observe.statsbound import use_bounded_stats
    from stresskit.run.lifecycle import use_lifecycle
    from stresskit.users import api, cache, page, websocket

    use_lifecycle(events)  # first: signals, init guard, checks before anything is started
    register_options(events, api.add_arguments, cache.add_arguments, page.add_arguments,
                     websocket.add_arguments, quota.add_arguments)
    events.init.add_listener(cache.init_cache_hit_rate)
    quota.use_page_quota(events)
    use_final_csv(events)
    use_history_side_file(events)
    use_bounded_stats(events)
    if distributed_checks:
        from stresskit.cluster.distributed import use_distributed_checks

        use_distributed_checks(events)
    if web_login:
        from stresskit.observe.weblogin import use_web_login

        use_web_login(events)
    if scenarios:
        from stresskit.run.shape import use_scenarios

        use_scenarios(events)
    if criteria:
        from stresskit.run.availability import use_availability
        from stresskit.run.criteria import use_criteria

        use_availability(events)  # per-kind availability: its criteria join the run's
        use_criteria(events)
    if scenarios:
        from stresskit.arrival import use_arrival

        use_arrival(events)
    if collector:
        from stresskit.observe.collector import use_collector

        use_collector(events)
    if latency:
        from stresskit.observe.latency import use_latency

        use_latency(events)
    if metrics:
        from stresskit.observe.metrics import use_metrics  # Prometheus endpoint with --metrics-port

        use_metrics(events)
    if faults:
        from stresskit.faults import use_faults

        use_faults(events)
    if embedded_target:
        from stresskit.run.embedded import use_embedded_target

        use_embedded_target(events)
    from stresskit.observe.webui import use_web_ui

    use_web_ui(events)  # after the parts that fill options in at init: the form shows their values
