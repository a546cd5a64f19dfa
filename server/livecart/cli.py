"""`livecart serve` and `livecart token`: the only place that reads argv and the environment."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from livecart import auth
from livecart.config import Settings
from livecart.errors import BadRequest
from livecart.logs import configure_logging

__all__ = ["main"]

DEMO_ROOM = "demo"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="livecart", description="Real-time companion for live commerce.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run a node (its own redis-server unless --redis-url is given)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--redis-url", dest="redis_url")
    serve.add_argument("--data-dir", dest="data_dir")
    serve.add_argument("--tick-ms", dest="tick_ms", type=int)
    serve.add_argument("--outbound-max-bytes", dest="outbound_max_bytes", type=int)
    token = sub.add_parser("token", help="print a signed token")
    token.add_argument("--room", required=True)
    token.add_argument("--role", required=True, choices=auth.ROLES)
    token.add_argument("--user")
    token.add_argument("--ttl", type=float, default=12 * 3600, help="seconds (default 12 h)")
    token.add_argument("--data-dir", dest="data_dir")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    overrides = {k: v for k, v in vars(args).items() if k not in ("command", "room", "role", "user", "ttl")}
    try:
        settings = Settings.from_env(os.environ, overrides)
    except ValueError as exc:
        print(f"livecart: {exc}", file=sys.stderr)
        return 2
    if args.command == "token":
        try:
            print(auth.issue(settings.secret, role=args.role, room=args.room, user=args.user, ttl_s=args.ttl))
        except (ValueError, BadRequest) as exc:
            print(f"livecart token: {exc}", file=sys.stderr)
            return 2
        return 0
    return serve(settings)


def serve(settings: Settings) -> int:
    configure_logging()
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    asyncio.run(_serve(settings))
    return 0


async def _serve(settings: Settings) -> None:
    from livecart.web.node import Node

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):  # before anything starts: a stop during start waits for it
        loop.add_signal_handler(sig, stop.set)
    node = Node(settings)
    await node.start()
    _print_urls(settings, node.port)
    await stop.wait()
    logging.getLogger("livecart").info("shutting down")
    try:
        await asyncio.wait_for(node.stop(), settings.shutdown_timeout_s)
    except TimeoutError:
        logging.getLogger("livecart").error("shutdown took longer than %.0f s", settings.shutdown_timeout_s)


def _print_urls(settings: Settings, port: int) -> None:
    base = f"http://{settings.host}:{port}"

    def url(page: str, role: str, user: str | None = None) -> str:
        token = auth.issue(settings.secret, role=role, room=DEMO_ROOM, user=user)
        return f"{base}/{page}?room={DEMO_ROOM}&token={token}"

    redis = f"redis: {settings.redis_url}" if settings.redis_url else "embedded redis"
    print(f"livecart serving on {base} (data: {Path(settings.data_dir).resolve()}, {redis})")
    print(f"  console: {url('console', 'assistant')}")
    print(f"  overlay: {url('overlay', 'overlay')}")
    print(f"  viewer:  {url('viewer', 'viewer', user='guest')}")  # a demo viewer who may claim and comment
    print(f"  host:    {url('host', 'host')}", flush=True)
