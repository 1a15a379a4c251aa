"""``stresskit target``: run the reference target on a given address."""

from __future__ import annotations

import argparse
import asyncio
import errno
import logging
import os
import signal
from typing import Any

from stresskit.core.options import non_negative_float, positive_float, positive_int
from stresskit.core.redact import redact_text, redact_url
from stresskit.errors import ConfigError, TargetUnreachable
from stresskit.target.config import TargetConfig


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"port must be a whole number from 0 to 65535, not {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port must be a whole number from 0 to 65535, not {value}")
    return value


def configure(parser: argparse.ArgumentParser) -> None:
    d = TargetConfig()
    parser.add_argument("--bind", default=d.bind, help="address to listen on (default %(default)s)")
    parser.add_argument("--port", type=_port, default=d.port, help="port (default %(default)s; 0 picks a free one)")
    parser.add_argument("--redis-url", default=os.environ.get("STRESSKIT_REDIS_URL"),
                        help="Redis behind /api/cache (env STRESSKIT_REDIS_URL, preferred when the URL holds a "
                             "password: a command line is visible to every user of the host); without it "
                             "/api/cache answers 503")
    parser.add_argument("--admin-token", default=os.environ.get("STRESSKIT_ADMIN_TOKEN"),
                        help="bearer token for /admin (env STRESSKIT_ADMIN_TOKEN); without it /admin is off")
    parser.add_argument("--pages", type=positive_int, default=d.pages, help="number of pages (default %(default)s)")
    parser.add_argument("--rows-per-page", type=positive_int, default=d.rows_per_page)
    parser.add_argument("--latency-ms", type=non_negative_float, default=d.latency_ms,
                        help="median of the log-normal base latency of API calls (default %(default)s; 0 = none)")
    parser.add_argument("--ws-max-connections", type=positive_int, default=d.ws_max_connections,
                        help="WebSocket connections over this are closed with code 1013 (default %(default)s)")
    parser.add_argument("--ws-idle-timeout", type=positive_float, default=d.ws_idle_timeout,
                        help="close silent WebSocket connections after this many seconds, code 4000")
    parser.add_argument("--rate-limit", type=positive_float, default=d.rate_limit,
                        help="API requests per second per client before 429 (default %(default)s)")
    parser.add_argument("--rate-burst", type=positive_int, default=d.rate_burst)
    parser.add_argument("--max-created-items", type=positive_int, default=d.max_created_items,
                        help="items created through POST /api/items that are kept, oldest dropped first "
                             "(default %(default)s; keeps the target's memory flat on a soak)")
    parser.add_argument("--max-rate-clients", type=positive_int, default=d.max_rate_clients,
                        help="clients the rate limiter tracks at once, least recent dropped first "
                             "(default %(default)s)")
    parser.add_argument("--loop", default="auto", choices=["auto", "uvloop", "asyncio"],
                        help="event loop: uvloop when installed (auto, the default) or the standard one")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])


def config_from_args(args: argparse.Namespace) -> TargetConfig:
    return TargetConfig(
        bind=args.bind, port=args.port, redis_url=args.redis_url or None, admin_token=args.admin_token or None,
        pages=args.pages, rows_per_page=args.rows_per_page, latency_ms=args.latency_ms,
        ws_max_connections=args.ws_max_connections, ws_idle_timeout=args.ws_idle_timeout,
        rate_limit=args.rate_limit, rate_burst=args.rate_burst,
        max_created_items=args.max_created_items, max_rate_clients=args.max_rate_clients,
    )


async def _check_redis(url: str) -> None:
    import redis.asyncio as aioredis

    client = aioredis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
    try:
        await client.ping()
    except Exception as exc:  # noqa: BLE001  any failure to reach Redis becomes one clear line
        raise TargetUnreachable(
            f"cannot reach Redis at {redact_url(url)}: {redact_text(str(exc), [url])}; "
            "start redis-server or fix --redis-url"
        ) from None
    finally:
        await client.aclose()


async def serve(config: TargetConfig) -> None:
    """Serve until SIGTERM or SIGINT; print one line with the bound address when ready."""
    from aiohttp import web

    from stresskit.target.app import build_app

    if config.redis_url:
        await _check_redis(config.redis_url)
    runner = web.AppRunner(build_app(config), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, config.bind, config.port, backlog=4096, reuse_address=True)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        reason = "address in use; pick another --port" if exc.errno == errno.EADDRINUSE else exc.strerror
        raise ConfigError(f"cannot listen on {config.bind}:{config.port}: {reason}") from None
    listening: Any = site._server  # aiohttp keeps the asyncio server private
    sockets = listening.sockets if listening else []
    port = sockets[0].getsockname()[1] if sockets else config.port
    print(f"stresskit target listening on http://{config.bind}:{port} "
          f"(pages={config.pages}, redis={'on' if config.redis_url else 'off'}, "
          f"admin={'on' if config.admin_token else 'off'}, pid={os.getpid()})", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = config_from_args(args)
    loop_factory = None
    if args.loop in ("auto", "uvloop"):
        try:
            import uvloop

            loop_factory = uvloop.new_event_loop
        except ImportError:
            if args.loop == "uvloop":
                raise ConfigError("--loop uvloop: uvloop is not installed (pip install uvloop)") from None
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(serve(config))
    return 0
