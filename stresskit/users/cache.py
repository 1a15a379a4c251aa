"""``CacheUser``: an abstract Locust user that reads and writes a Redis key space, and the run's
cache hit rate.

    class SessionCache(CacheUser):
        wait_time = constant(0.01)
        key_space = 50_000
        key_skew = 1.1          # Zipf: a few hot keys
        value_size = (100, 2000)
        read_ratio = 0.9
        pipeline = 10           # ten commands per round trip

Stats entries are listed in :mod:`stresskit.clients.cache` (``GET hit``, ``GET miss``, ``SET``,
``PIPELINE``, ``connect``).

The hit rate (:class:`CacheHitRate`): every process counts its users' hits and misses; a worker
sends the counts of each report interval to the master with Locust's ``report_to_master``
event, the master (or a local runner directly) adds them to
``stresskit.core.runstate.run_state_of(environment).cache_hits / cache_misses`` and keeps per-interval
rates. The master's web UI shows a *Cache* tab (total and last-interval hit rate, recent
intervals); the end of the run logs the rate, and ``--cache-min-hit-rate`` sets exit code
:data:`EXIT_CACHE_HIT_RATE` when the run's rate is below it.

Locustfiles opt in with ``register_options(events, add_arguments)`` and
``events.init.add_listener(init_cache_hit_rate)``; without the latter a local run still counts
(each user attaches the tracker), but a master would not receive the workers' counts.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import time
from collections import deque
from typing import Any

import gevent
import redis
from locust import User, task

from stresskit.clients.cache import KeySpace, RedisCacheClient
from stresskit.core.envtypes import RunEnvironment
from stresskit.core.exitcodes import ExitCode
from stresskit.core.options import positive_int, setting
from stresskit.core.perrun import PerRun, log_once
from stresskit.core.runstate import run_state_of

__all__ = ["EXIT_CACHE_HIT_RATE", "CacheHitRate", "CacheUser", "add_arguments", "init_cache_hit_rate"]

log = logging.getLogger("stresskit.users.cache")

EXIT_CACHE_HIT_RATE = int(ExitCode.CRITERIA_FAILED)
"""Process exit code when the run's cache hit rate ends below ``--cache-min-hit-rate`` (set only
when no other part has set a non-zero code)."""

REPORT_KEY = "stresskit_cache"
_SLOT: PerRun[Any] = PerRun("cache_hit_rate")
TAB_KEY = "stresskit-cache"


# -- options ---------------------------------------------------------------------------------------

def _ratio(text: str) -> float:
    """0.9 or 90% → 0.9; anything outside [0, 1] is an error."""
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a ratio within [0, 1] (or a percentage like 90%), not {text!r}")
    return value


def _sizes(text: str) -> tuple[int, int]:
    """``256`` or ``100-2000`` (bytes)."""
    low, _, high = text.partition("-")
    try:
        lo, hi = int(low), int(high or low)
    except ValueError:
        lo = hi = -1
    if lo < 0 or hi < lo or hi > 512 * 1024 * 1024:
        raise argparse.ArgumentTypeError(f"expected a size in bytes like 256 or a range like 100-2000, not {text!r}")
    return lo, hi


def add_arguments(parser: Any) -> None:
    """Add the cache user options to Locust's parser (each with a ``STRESSKIT_*`` variable)."""
    parser.add_argument("--redis-url", env_var="STRESSKIT_REDIS_URL", default="",
                        help="Redis (or compatible) server of the cache users, redis://host:port/db "
                             "(the demo starts one when empty)")
    parser.add_argument("--redis-password", env_var="STRESSKIT_REDIS_PASSWORD", default="", is_secret=True,
                        help="Redis password (overrides one in --redis-url)")
    parser.add_argument("--cache-key-space", env_var="STRESSKIT_CACHE_KEY_SPACE", type=positive_int, default=None,
                        help="number of distinct keys (default: the class's key_space, 10000)")
    parser.add_argument("--cache-value-size", env_var="STRESSKIT_CACHE_VALUE_SIZE", type=_sizes, default=None,
                        help="value size in bytes, e.g. 256 or 100-2000 (default 256)")
    parser.add_argument("--cache-read-ratio", env_var="STRESSKIT_CACHE_READ_RATIO", type=_ratio, default=None,
                        help="share of reads among cache operations, 0..1 (default 0.8)")
    parser.add_argument("--cache-pipeline", env_var="STRESSKIT_CACHE_PIPELINE", type=positive_int, default=None,
                        help="commands per round trip; 1 sends single commands (default 1)")
    parser.add_argument("--cache-min-hit-rate", env_var="STRESSKIT_CACHE_MIN_HIT_RATE", type=_ratio, default=None,
                        help=f"fail the run (exit code {EXIT_CACHE_HIT_RATE}) when the cache hit rate ends below "
                             "this ratio, e.g. 0.9 or 90%%")


# -- the hit rate ----------------------------------------------------------------------------------

class CacheHitRate:
    """Counts cache hits and misses where users run and sums them where the run is judged.

    One per environment (:meth:`attach`). On a worker, :meth:`record` accumulates until the next
    ``report_to_master``; on the master each ``worker_report`` is added to the run state; a
    local runner adds directly. Per-interval rates are kept (``interval`` seconds per bucket,
    ``history`` buckets) on the master or local runner.
    """

    interval = 3.0
    history = 1200

    def __init__(self, environment: RunEnvironment) -> None:
        self.environment = environment
        self._pending = [0, 0]
        self.intervals: deque[list[float]] = deque(maxlen=self.history)
        """``[bucket start, hits, misses]`` per interval, oldest first."""
        self.worker_totals: dict[str, list[int]] = {}
        events = environment.events
        events.report_to_master.add_listener(self._on_report_to_master)
        events.worker_report.add_listener(self._on_worker_report)
        events.quitting.add_listener(self._on_quitting)
        if getattr(environment, "web_ui", None) is not None:
            self._extend_web_ui(environment.web_ui)

    @classmethod
    def attach(cls, environment: RunEnvironment) -> CacheHitRate:
        """The environment's tracker, created (and its listeners added) on first use."""
        tracker = _SLOT.get_or_create(environment, lambda: cls(environment))
        return tracker

    def _is_worker(self) -> bool:
        from locust.runners import WorkerRunner

        return isinstance(self.environment.runner, WorkerRunner)

    # -- counting ----------------------------------------------------------------------------

    def record(self, hits: int, misses: int) -> None:
        """Count reads of a user on this process."""
        if self._is_worker():
            self._pending[0] += hits
            self._pending[1] += misses
        else:
            self._add(hits, misses)

    def _add(self, hits: int, misses: int) -> None:
        run_state_of(self.environment).add(cache_hits=hits, cache_misses=misses)
        start = time.time() // self.interval * self.interval
        if self.intervals and self.intervals[-1][0] == start:
            self.intervals[-1][1] += hits
            self.intervals[-1][2] += misses
        else:
            self.intervals.append([start, hits, misses])

    def _on_report_to_master(self, client_id: str, data: dict, **_: Any) -> None:
        hits, misses = self._pending
        if hits or misses:
            data[REPORT_KEY] = {"hits": hits, "misses": misses}
            self._pending = [0, 0]

    def _on_worker_report(self, client_id: str, data: dict, **_: Any) -> None:
        counts = data.get(REPORT_KEY)
        if not counts:
            return
        hits, misses = int(counts.get("hits", 0)), int(counts.get("misses", 0))
        totals = self.worker_totals.setdefault(client_id, [0, 0])
        totals[0] += hits
        totals[1] += misses
        self._add(hits, misses)

    # -- reading -----------------------------------------------------------------------------

    @property
    def hits(self) -> int:
        return run_state_of(self.environment).cache_hits

    @property
    def misses(self) -> int:
        return run_state_of(self.environment).cache_misses

    @property
    def rate(self) -> float | None:
        """The run's hit rate so far (master / local), None before the first read."""
        return run_state_of(self.environment).cache_hit_rate

    def last_interval(self) -> tuple[int, int, float | None]:
        """Hits, misses and rate of the last complete interval (the current one if it is the only one)."""
        if not self.intervals:
            return 0, 0, None
        now_bucket = time.time() // self.interval * self.interval
        complete = [b for b in self.intervals if b[0] < now_bucket] or list(self.intervals)
        _, hits, misses = complete[-1]
        total = hits + misses
        return int(hits), int(misses), (hits / total if total else None)

    def rows(self, recent: int = 20) -> list[dict[str, Any]]:
        """Rows of the web UI table: the run, the last interval, then recent intervals, newest first."""
        rows = [_row("whole run", self.hits, self.misses)]
        hits, misses, _ = self.last_interval()
        rows.append(_row(f"last {self.interval:g}s interval", hits, misses))
        for start, h, m in list(self.intervals)[-recent:][::-1]:
            rows.append(_row(time.strftime("%H:%M:%S", time.localtime(start)), int(h), int(m)))
        return rows

    # -- end of run --------------------------------------------------------------------------

    def threshold(self) -> float:
        """``--cache-min-hit-rate``, else the highest ``min_hit_rate`` of the run's cache user classes."""
        classes = [c for c in (self.environment.user_classes or []) if getattr(c, "kind", None) == "cache"]
        default = max((float(getattr(c, "min_hit_rate", 0.0)) for c in classes), default=0.0)
        return float(setting(self.environment, "cache_min_hit_rate", default, _ratio))

    def _on_quitting(self, environment: RunEnvironment | None = None, **_: Any) -> None:
        if self._is_worker():
            return
        self.evaluate()

    def evaluate(self) -> bool:
        """Log the run's hit rate; set the exit code when it is below the threshold. True = pass."""
        rate, threshold = self.rate, self.threshold()
        if rate is None:
            if threshold > 0:
                log.warning("cache hit rate threshold %.1f%% not checked: no cache reads in this run", threshold * 100)
            return True
        summary = f"cache hit rate {rate:.1%} (hits {self.hits}, misses {self.misses})"
        if threshold > 0 and rate < threshold:
            log.error("%s is below --cache-min-hit-rate %.1f%%: failing the run with exit code %d",
                      summary, threshold * 100, EXIT_CACHE_HIT_RATE)
            if not self.environment.process_exit_code:
                self.environment.process_exit_code = EXIT_CACHE_HIT_RATE
            return False
        log.info("%s%s", summary, f", threshold {threshold:.1%} met" if threshold > 0 else "")
        return True

    # -- web UI ------------------------------------------------------------------------------

    def _extend_web_ui(self, web_ui: Any) -> None:
        """A *Cache* tab: an extended table fed through ``/stats/requests``'s ``extended_stats``."""
        from flask import request

        if getattr(web_ui.app, "_got_first_request", False):
            # too late for Flask to take a new hook (a user attached first): say how to get the tab
            log.info("cache hit-rate tab not added to the web UI: register init_cache_hit_rate on events.init")
            return
        args = web_ui.template_args
        args.setdefault("extended_tabs", []).append({"title": "Cache", "key": TAB_KEY})
        args.setdefault("extended_tables", []).append({
            "key": TAB_KEY,
            "structure": [
                {"key": "interval", "title": "Interval"},
                {"key": "hits", "title": "Hits"},
                {"key": "misses", "title": "Misses"},
                {"key": "hit_rate", "title": "Hit rate"},
            ],
        })

        @web_ui.app.after_request
        def _add_cache_stats(response: Any) -> Any:
            if request.path != "/stats/requests" or not response.is_json:
                return response
            import json

            body = response.get_json()
            body.setdefault("extended_stats", []).append({"key": TAB_KEY, "data": self.rows()})
            response.set_data(json.dumps(body))
            return response


def _row(label: str, hits: int, misses: int) -> dict[str, Any]:
    total = hits + misses
    return {"interval": label, "hits": hits, "misses": misses,
            "hit_rate": f"{hits / total:.1%}" if total else "-"}


def init_cache_hit_rate(environment: RunEnvironment, **_: Any) -> None:
    """``events.init`` listener: attach the hit-rate tracker on every process (master included)."""
    CacheHitRate.attach(environment)


# -- the user --------------------------------------------------------------------------------------



class CacheUser(User):
    """A Locust user running reads and writes against a Redis key space (see the module docstring)."""

    abstract = True
    kind = "cache"

    redis_url: str | None = None
    """Server URL; ``--redis-url`` wins, then this, then a redis:// ``--host``."""
    redis_password: str | None = None
    key_prefix: str = "stresskit:load:"
    key_space: int = 10_000
    key_skew: float = 0.0
    """Zipf exponent of key popularity; 0 picks keys uniformly."""
    value_size: int | tuple[int, int] = 256
    """Bytes per value, or a (min, max) range."""
    read_ratio: float = 0.8
    pipeline: int = 1
    """Commands per round trip; 1 sends single commands."""
    ttl: int = 300
    """Expiry of written keys in seconds; 0 keeps them."""
    min_hit_rate: float = 0.0
    """Fail the run (exit code 3) below this hit rate; 0 is off. ``--cache-min-hit-rate`` wins."""
    socket_timeout: float = 5.0
    connect_attempts: int = 8
    backoff_base: float = 0.5
    backoff_max: float = 10.0

    def __init__(self, environment: RunEnvironment) -> None:
        super().__init__(environment)
        self.random = random.Random()
        self.cache: RedisCacheClient | None = None
        self.hit_rate = CacheHitRate.attach(environment)
        self._errors_in_row = 0

    # -- configuration -----------------------------------------------------------------------

    def resolve_url(self) -> str:
        """The Redis URL of this user ('' when none is configured)."""
        env = self.environment
        url = setting(env, "redis_url", "") or self.redis_url or ""
        if not url:
            host = self.host or env.host or ""
            if host.startswith(("redis://", "rediss://", "unix://")):
                url = host
        return url

    def on_start(self) -> None:
        """Read the settings, connect (PING) with backoff; stop on a missing URL or bad password."""
        env = self.environment
        self._keys = KeySpace(setting(env, "cache_key_space", int(self.key_space), positive_int),
                              self.key_prefix, float(self.key_skew))
        sizes = setting(env, "cache_value_size", self.value_size, _sizes)
        self._sizes = (sizes, sizes) if isinstance(sizes, int) else (int(sizes[0]), int(sizes[1]))
        self._payload = os.urandom(self._sizes[1])
        self._read_ratio = float(setting(env, "cache_read_ratio", float(self.read_ratio), _ratio))
        self._pipeline = int(setting(env, "cache_pipeline", int(self.pipeline), positive_int))
        url = self.resolve_url()
        if not url:
            self.give_up("cache users need a Redis server: pass --redis-url redis://HOST:PORT/0 "
                         "(or set STRESSKIT_REDIS_URL)")
            return
        password = setting(env, "redis_password", "") or self.redis_password or None
        self.cache = RedisCacheClient(url, env.events.request, password=password,
                                      socket_timeout=self.socket_timeout, on_reads=self.hit_rate.record,
                                      context=self.context)
        for attempt in range(max(1, self.connect_attempts)):
            try:
                self.cache.connect()
                return
            except redis.AuthenticationError as exc:
                self.give_up(f"Redis at {self.cache.safe_url} rejected the credentials ({exc}): "
                             "check --redis-password / STRESSKIT_REDIS_PASSWORD")
                return
            except redis.ResponseError as exc:
                self.give_up(f"Redis at {self.cache.safe_url} refused the connection: {exc}")
                return
            except redis.RedisError as exc:
                log_once(env, log, f"cannot reach Redis at {self.cache.safe_url}: {exc} (retrying with backoff)",
                          logging.WARNING)
                if attempt + 1 < self.connect_attempts:
                    gevent.sleep(self._backoff(attempt))
        self.give_up(f"cache user gives up: Redis at {self.cache.safe_url} unreachable "
                     f"after {self.connect_attempts} attempts")

    def give_up(self, message: str) -> None:
        """Log ``message`` once per run and let this user stop before its next task (no traceback)."""
        log_once(self.environment, log, message)
        self.stop()

    def on_stop(self) -> None:
        if self.cache is not None:
            self.cache.close()

    def _backoff(self, attempt: int) -> float:
        return min(self.backoff_max, self.backoff_base * (2 ** attempt)) * self.random.uniform(0.8, 1.2)

    # -- operations --------------------------------------------------------------------------

    def value(self) -> bytes:
        """A value of a size within ``value_size``."""
        low, high = self._sizes
        return self._payload[: self.random.randint(low, high) if high > low else high]

    @task
    def cache_operation(self) -> None:
        """One read or write, or one pipeline of them, by ``read_ratio``."""
        cache = self.cache
        assert cache is not None  # made in on_start, before any task runs
        try:
            if self._pipeline > 1:
                self.run_pipeline(self._pipeline)
            elif self.random.random() < self._read_ratio:
                cache.get(self._keys.pick(self.random))
            else:
                cache.set(self._keys.pick(self.random), self.value(), self.ttl)
        except redis.RedisError as exc:
            # already a failure entry; back off so a dead server gives a slow trickle, not a busy loop
            if isinstance(exc, (redis.ConnectionError, redis.TimeoutError)):
                log_once(self.environment, log, f"Redis at {cache.safe_url} failing: {exc!r} (backing off)",
                          logging.WARNING)
                gevent.sleep(self._backoff(self._errors_in_row))
                self._errors_in_row += 1
            return
        self._errors_in_row = 0

    def run_pipeline(self, size: int) -> list[Any]:
        """``size`` reads and writes (by ``read_ratio``) in one round trip."""
        cache = self.cache
        assert cache is not None  # made in on_start, before any task runs
        ops: list[tuple[str, str, bytes | None]] = []
        for _ in range(size):
            key = self._keys.pick(self.random)
            if self.random.random() < self._read_ratio:
                ops.append(("GET", key, None))
            else:
                ops.append(("SET", key, self.value()))
        return cache.pipeline(ops, self.ttl)

