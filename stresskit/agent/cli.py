"""``stresskit agent``: run the resource agent on a target host.

    STRESSKIT_AGENT_TOKEN=... stresskit agent --bind 0.0.0.0 --process-name 'gunicorn|nginx' --cmdline app.py

Without a token the agent binds loopback only; any other address needs ``STRESSKIT_AGENT_TOKEN``
or ``--token-file``. Faults stay off without ``--allow-faults``. SIGTERM and SIGINT stop the
agent cleanly and release every fault it holds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import signal
import sys
from pathlib import Path

from stresskit.agent.actuator import FaultLimits
from stresskit.agent.sampler import DEFAULT_BROWSER_PATTERN, Selection, default_host_name
from stresskit.agent.server import AgentConfig, AgentServer
from stresskit.core.addresses import is_loopback
from stresskit.errors import AgentError, ConfigError

__all__ = ["build_config", "configure", "run"]

log = logging.getLogger("stresskit.agent")

TOKEN_ENV = "STRESSKIT_AGENT_TOKEN"


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the agent's options to its sub-command parser."""
    net = parser.add_argument_group("serving")
    net.add_argument("--bind", default="127.0.0.1", help="address to listen on (default 127.0.0.1; "
                     "anything but loopback needs a token)")
    net.add_argument("--port", type=int, default=9105, help="TCP port (default 9105; 0 picks a free one)")
    net.add_argument("--token-file", type=Path, help=f"file holding the bearer token (or set {TOKEN_ENV})")
    net.add_argument("--max-connections", type=int, default=32, help="connections served at once (default 32)")
    net.add_argument("--request-timeout", type=float, default=5.0,
                     help="seconds a client has to send a whole request (default 5)")
    net.add_argument("--write-timeout", type=float, default=10.0,
                     help="seconds a subscriber may stop reading before it is dropped (default 10)")
    net.add_argument("--ready-file", type=Path, help="write {url, port, pid, instance} as JSON here once serving")

    sampling = parser.add_argument_group("sampling")
    sampling.add_argument("--interval", type=float, default=1.0, help="seconds between samples (default 1)")
    sampling.add_argument("--ring-seconds", type=float, default=3600.0,
                          help="how long samples are kept for resuming subscribers (default 3600)")
    sampling.add_argument("--ring-max-mb", type=float, default=64.0,
                          help="upper bound of the ring's compressed size in MiB (default 64)")
    sampling.add_argument("--host-name", default=None, help="host name put in samples (default: this host's)")
    sampling.add_argument("--process-name", action="append", default=[], metavar="REGEX",
                          help="track processes whose name matches (repeatable)")
    sampling.add_argument("--pid", action="append", type=int, default=[], help="track this pid (repeatable)")
    sampling.add_argument("--cmdline", action="append", default=[], metavar="REGEX",
                          help="track processes whose command line matches (repeatable)")
    sampling.add_argument("--no-children", action="store_true", help="do not track descendants of matches")
    sampling.add_argument("--browser-pattern", default=DEFAULT_BROWSER_PATTERN, metavar="REGEX",
                          help="process names counted as browsers (default %(default)r)")
    sampling.add_argument("--max-processes", type=int, default=500, help="tracked processes at most (default 500)")
    sampling.add_argument("--rescan-seconds", type=float, default=5.0,
                          help="how often new matching processes are looked for (default 5)")
    sampling.add_argument("--detail-seconds", type=float, default=10.0,
                          help="how often open files and connections are counted (default 10; it lists "
                               "every socket); samples in between repeat the last count")

    faults = parser.add_argument_group("fault actuator")
    faults.add_argument("--allow-faults", action="store_true",
                        help="enable memory pressure and CPU burn on request (off by default)")
    faults.add_argument("--max-memory-mb", type=float, default=512.0,
                        help="memory all active faults may hold together (default 512)")
    faults.add_argument("--max-cpu-cores", type=float, default=1.0,
                        help="cores all active faults may burn together (default 1)")
    faults.add_argument("--max-fault-seconds", type=float, default=300.0,
                        help="longest fault allowed (default 300)")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])


def _regex(option: str, pattern: str) -> None:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ConfigError(f"{option} {pattern!r} is not a valid regular expression ({exc})") from None


def _positive(option: str, value: float, minimum: float = 0.0) -> None:
    if not value > minimum:
        raise ConfigError(f"{option} must be greater than {minimum:g} (got {value:g})")



def read_token(token_file: Path | None) -> str | None:
    """The bearer token from ``--token-file`` or the environment ("" counts as none)."""
    if token_file is not None:
        try:
            token = token_file.read_text().strip()
        except OSError as exc:
            raise ConfigError(f"--token-file {token_file}: {exc.strerror}") from None
        if not token:
            raise ConfigError(f"--token-file {token_file} is empty")
        return token
    return os.environ.get(TOKEN_ENV, "").strip() or None


def build_config(args: argparse.Namespace) -> AgentConfig:
    """Validate the options into an :class:`AgentConfig`; bad input raises :class:`ConfigError`."""
    _positive("--interval", args.interval, 0.01)
    _positive("--ring-seconds", args.ring_seconds)
    _positive("--ring-max-mb", args.ring_max_mb)
    _positive("--request-timeout", args.request_timeout)
    _positive("--write-timeout", args.write_timeout)
    _positive("--rescan-seconds", args.rescan_seconds)
    _positive("--detail-seconds", args.detail_seconds)
    _positive("--max-memory-mb", args.max_memory_mb)
    _positive("--max-cpu-cores", args.max_cpu_cores)
    _positive("--max-fault-seconds", args.max_fault_seconds)
    if args.max_connections < 1 or args.max_processes < 1:
        raise ConfigError("--max-connections and --max-processes must be at least 1")
    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port {args.port} is not a TCP port")
    for pattern in args.process_name:
        _regex("--process-name", pattern)
    for pattern in args.cmdline:
        _regex("--cmdline", pattern)
    _regex("--browser-pattern", args.browser_pattern)
    token = read_token(args.token_file)
    if not token and not is_loopback(args.bind):
        raise ConfigError(f"refusing to serve on {args.bind} without a token: set {TOKEN_ENV} or --token-file, "
                          "or bind 127.0.0.1")
    if token and len(token) < 16:
        log.warning("the agent token is shorter than 16 characters; use a long random one")
    selection = Selection(names=args.process_name, pids=args.pid, cmdlines=args.cmdline,
                          children=not args.no_children, browser_pattern=args.browser_pattern,
                          max_processes=args.max_processes)
    limits = FaultLimits(enabled=args.allow_faults, max_memory_mb=args.max_memory_mb,
                         max_cpu_cores=args.max_cpu_cores, max_seconds=args.max_fault_seconds)
    return AgentConfig(
        bind=args.bind, port=args.port, token=token, interval=args.interval, ring_seconds=args.ring_seconds,
        ring_max_bytes=int(args.ring_max_mb * 1024 * 1024), host_name=args.host_name or default_host_name(),
        max_connections=args.max_connections, request_timeout=args.request_timeout,
        write_timeout=args.write_timeout, rescan_seconds=args.rescan_seconds,
        detail_seconds=args.detail_seconds, selection=selection, limits=limits,
    )


async def serve(config: AgentConfig, ready_file: Path | None = None) -> None:
    """Serve until SIGTERM or SIGINT, then release faults and close."""
    server = AgentServer(config)
    try:
        port = await server.start()
    except OSError as exc:
        raise AgentError(f"cannot listen on {config.bind}:{config.port}: {exc.strerror or exc}") from None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    host = f"[{config.bind}]" if ":" in config.bind else config.bind
    url = f"http://{host}:{port}"
    log.info("listening on %s (host %s, instance %s, token %s, faults %s)", url, config.host_name,
             server.instance, "required" if config.token else "not required",
             "allowed" if config.limits.enabled else "off")
    if ready_file is not None:
        tmp = ready_file.with_name(ready_file.name + ".tmp")
        tmp.write_text(json.dumps({"url": url, "port": port, "pid": os.getpid(), "instance": server.instance}))
        tmp.replace(ready_file)
    try:
        await stop.wait()
        log.info("stopping")
    finally:
        await server.close()


def run(args: argparse.Namespace) -> int:
    """Entry point of ``stresskit agent``."""
    logging.basicConfig(level=args.log_level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = build_config(args)
    asyncio.run(serve(config, args.ready_file))
    return 0
