"""``stresskit proxy``: the fault proxy's command line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stresskit.core.addresses import is_loopback
from stresskit.faults.proxy import DESCRIPTION
from stresskit.faults.proxy.server import ApiError, ProxyServer, _host_port  # noqa: F401

__all__ = ["configure", "main", "parse_proxy_spec", "run"]

log = logging.getLogger("stresskit.proxy")

# -- command line ------------------------------------------------------------------------------

def parse_proxy_spec(text: str) -> dict[str, Any]:
    """``NAME=LISTEN=UPSTREAM`` (e.g. ``target=127.0.0.1:8100=127.0.0.1:8089``) → a proxy body."""
    parts = text.split("=")
    if len(parts) != 3 or not all(parts):
        raise argparse.ArgumentTypeError(f"expected NAME=LISTEN_HOST:PORT=UPSTREAM_HOST:PORT, got {text!r}")
    name, listen, upstream = parts
    for what, value in (("listen", listen), ("upstream", upstream)):
        try:
            _host_port(value, what)
        except ApiError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return {"name": name, "listen": listen, "upstream": upstream, "enabled": True}


def configure(parser: argparse.ArgumentParser) -> None:
    """Options of ``stresskit proxy``."""
    parser.add_argument("--api", default="127.0.0.1:8474", metavar="HOST:PORT",
                        help="address of the Toxiproxy-style control API (default 127.0.0.1:8474; port 0 = any)")
    parser.add_argument("--proxy", action="append", default=[], type=parse_proxy_spec,
                        metavar="NAME=LISTEN=UPSTREAM", help="a proxy to create at start (repeatable)")
    parser.add_argument("--config", type=Path, default=None,
                        help="a Toxiproxy JSON config file: a list of {name, listen, upstream}")
    parser.add_argument("--token", default=None,
                        help="bearer token required on the API (mandatory when --api is not on loopback); "
                             "also STRESSKIT_PROXY_TOKEN")
    parser.add_argument("--ready-file", type=Path, default=None,
                        help="write {api, proxies} as JSON here once listening (for scripts and tests)")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])


def run(args: argparse.Namespace) -> int:
    """Run the proxy server until SIGINT/SIGTERM."""
    import os

    from stresskit.errors import ConfigError

    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    token = args.token or os.environ.get("STRESSKIT_PROXY_TOKEN") or None
    try:
        api_host, api_port = _host_port(args.api, "--api")
    except ApiError as exc:
        raise ConfigError(str(exc)) from None
    if not token and not is_loopback(api_host):
        raise ConfigError(f"--api {args.api} is not a loopback address: pass --token (anyone who reaches the API "
                          "can cut your traffic)")
    specs: list[dict[str, Any]] = list(args.proxy)
    if args.config is not None:
        try:
            loaded = json.loads(args.config.read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"--config {args.config}: {exc}") from None
        if not isinstance(loaded, list):
            raise ConfigError(f"--config {args.config}: expected a JSON list of proxies")
        specs += loaded
    return asyncio.run(_serve(api_host, api_port, specs, token, args.ready_file))


async def _serve(api_host: str, api_port: int, specs: Sequence[dict[str, Any]], token: str | None,
                 ready_file: Path | None) -> int:
    from aiohttp import web

    from stresskit.errors import ConfigError

    server = ProxyServer(token)
    for spec in specs:
        try:
            await server.create(spec)
        except ApiError as exc:
            await server.close()
            raise ConfigError(f"proxy {spec.get('name')!r}: {exc}") from None
    runner = web.AppRunner(server.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, api_host, api_port)
    try:
        await site.start()
    except OSError as exc:
        await server.close()
        raise ConfigError(f"cannot serve the API on {api_host}:{api_port}: {exc.strerror or exc}") from None
    listening: Any = site._server  # aiohttp keeps the asyncio server private
    bound = listening.sockets[0].getsockname()
    api_url = f"http://{bound[0]}:{bound[1]}"
    log.info("fault proxy API on %s; proxies: %s", api_url,
             ", ".join(f"{p.name} {p.listen}→{p.upstream}" for p in server.proxies.values()) or "none")
    if ready_file is not None:
        ready_file.write_text(json.dumps({"api": api_url,
                                          "proxies": {n: p.to_json() for n, p in server.proxies.items()}}))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.close()
    await runner.cleanup()
    return 0



def main(argv: Sequence[str] | None = None) -> int:
    """``python -m stresskit.faults.proxy``: the same as ``stresskit proxy``."""
    from stresskit.errors import ConfigError

    parser = argparse.ArgumentParser(prog="stresskit proxy", description=DESCRIPTION)
    configure(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except ConfigError as exc:
        print(f"stresskit proxy: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
