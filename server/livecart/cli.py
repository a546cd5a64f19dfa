"""`livecart serve`, `token`, `report`, `record` and `replay`: the only place that reads argv and the
environment. `report`, `record` and `replay` talk to a running node over HTTP (`--url`), with a token
they sign themselves from the same secret as the server."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import gc
import logging
import os
import resource
import signal
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

import aiohttp

from livecart import auth, lucky_bag, recording
from livecart.auth import check_room_name
from livecart.config import DEFAULT_PORT, Settings, mask_password
from livecart.cues import load_rules
from livecart.errors import BadRequest
from livecart.logs import configure_logging
from livecart.protocol import load_json

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
    serve.add_argument("--trusted-proxies", dest="trusted_proxies",
                       help="IPs/CIDRs of the balancers whose X-Forwarded-For names the client")
    serve.add_argument("--workers", type=int,
                       help="node processes on the one port (default: one per core; 1: a single process)")
    serve.add_argument("--metrics-port", dest="metrics_port", type=int,
                       help="also answer /healthz and /metrics alone on this port (worker k: port + k)")
    serve.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)  # started by a supervisor
    serve.add_argument("--print-urls", dest="print_urls", action="store_true",
                       help="print the page URLs with their tokens even when stdout is not a terminal")
    token = sub.add_parser("token", help="print a signed token")
    token.add_argument("--room", required=True)
    token.add_argument("--role", required=True, choices=auth.ROLES)
    token.add_argument("--user")
    token.add_argument("--ttl", type=float, default=12 * 3600, help="seconds (default 12 h)")
    token.add_argument("--data-dir", dest="data_dir")
    default_url = f"http://127.0.0.1:{DEFAULT_PORT}"
    report = sub.add_parser("report", help="save a room's post-stream report (.html, .json or .csv)")
    report.add_argument("--room", required=True)
    report.add_argument("--out", required=True, help="report.html, report.json or report.csv (timeline)")
    record = sub.add_parser("record", help="save a room's event log as JSON lines")
    record.add_argument("--room", required=True)
    record.add_argument("--out", required=True)
    replay = sub.add_parser("replay", help="play a recording into a room through ingest, timing scaled")
    replay.add_argument("file")
    replay.add_argument("--room", required=True)
    replay.add_argument("--speed", type=float, default=1.0, help="10 plays ten times faster (default 1)")
    purge = sub.add_parser("purge", help="delete everything a room holds from a running node's Redis")
    purge.add_argument("--room", required=True)
    connect = sub.add_parser("connect", help="bridge a TikTok LIVE or Bilibili stream into a room (ingest)")
    connect.add_argument("platform", choices=("tiktok", "bilibili"))
    connect.add_argument("target", help="tiktok: the streamer's @handle; bilibili: the live room id")
    connect.add_argument("--room", required=True)
    connect.add_argument("--token",
                         help="an ingest token for the room (default: signed with the node's secret)")
    connect.add_argument("--gift-value", dest="gift_value", type=float,
                         help="room currency per TikTok diamond / Bilibili gold coin (default: tiktok 0, "
                              "bilibili 0.001 in a CNY room, else 0)")
    connect.add_argument("--metrics-port", dest="bridge_metrics_port", type=int,
                         help="serve the bridge's /metrics on 127.0.0.1:PORT")
    verify_draw = sub.add_parser("verify-draw", help="recompute a lucky bag's winners from its published "
                                 "draw record (GET /api/rooms/ROOM/bags/BAG/record; - reads stdin)")
    verify_draw.add_argument("file")
    for command in (report, record, replay, purge, connect):
        command.add_argument("--url", default=default_url, help=f"a running node (default {default_url})")
        command.add_argument("--data-dir", dest="data_dir", help="where the signing secret is kept")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(argv) if argv is not None else sys.argv[1:]
    args = _parser().parse_args(argv)
    if args.command == "verify-draw":
        return verify_draw(args.file)
    overrides = {k: v for k, v in vars(args).items()
                 if k not in ("command", "room", "role", "user", "ttl", "out", "url", "file", "speed",
                              "print_urls", "worker", "platform", "target", "token", "gift_value",
                              "bridge_metrics_port")}
    if getattr(args, "worker", False):
        overrides["reuse_port"] = True
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
    if args.command == "connect":
        return _connect(args, settings)
    if args.command in ("report", "record", "replay", "purge"):
        try:
            check_room_name(args.room)
            return _remote(args, settings)
        except (OSError, RuntimeError, ValueError, BadRequest, aiohttp.ClientError) as exc:
            print(f"livecart {args.command}: {exc}", file=sys.stderr)
            return 1
    try:
        load_rules(settings.cue_rules or None)
    except (OSError, ValueError) as exc:  # a bad rules file stops the node before it starts
        print(f"livecart serve: {exc}", file=sys.stderr)
        return 2
    from livecart import supervisor  # (here: `livecart token` need not load Redis and aiohttp's server)

    print_urls = args.print_urls or sys.stdout.isatty()
    workers = settings.workers or supervisor.cores()
    if args.worker or workers == 1:
        return serve(settings, print_urls=print_urls, worker=args.worker)
    return supervise(settings, argv, workers, print_urls=print_urls)


def verify_draw(file: str) -> int:
    """`livecart verify-draw FILE`: 0 when every published winner is what the draw gives, 1 otherwise."""
    try:
        raw = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
        record = load_json(raw)
    except (OSError, ValueError) as exc:
        print(f"livecart verify-draw: {exc}", file=sys.stderr)
        return 1
    problems = lucky_bag.verify(record) if isinstance(record, dict) else ["not a draw record (a JSON object)"]
    if problems:
        for problem in problems:
            print(f"livecart verify-draw: {problem}", file=sys.stderr)
        return 1
    print(f"bag {record.get('bag')}: the seed matches commitment {record['commitment']}; "
          f"{len(record['entrants'])} entrants")
    drawn: list[str] = []
    count = int(record["winners"])
    for rnd in record["rounds"]:
        absent = rnd.get("absent", [])
        winners = lucky_bag.draw_round(record["seed"], record["entrants"], count, absent, drawn)
        print(f"round {rnd['round']}: {len(absent)} absent skipped; winners: {', '.join(winners)}")
        drawn += winners
        count = len([u for u in rnd.get("unclaimed", []) if u in winners])
    print(f"OK: every winner recomputed ({lucky_bag.ALGORITHM})")
    return 0


def _remote(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "replay":
        events = recording.parse(Path(args.file).read_bytes().splitlines())
        plan = recording.schedule(events, args.speed)
        ttl = 3600 + (plan[-1][0] if plan else 0)  # valid for the whole rehearsal
        tok = auth.issue(settings.secret, role="ingest", room=args.room, ttl_s=ttl)
        totals = asyncio.run(recording.replay(args.url, args.room, tok, plan))
        print(f"replayed {len(events)} events into {args.room}: {totals['accepted']} accepted, "
              f"{totals['duplicates']} duplicates, {totals['rejected']} rejected")
        return 0
    tok = auth.issue(settings.secret, role="assistant", room=args.room, user="livecart-cli", ttl_s=600)
    if args.command == "purge":
        answer = asyncio.run(recording.delete(args.url, f"/api/rooms/{args.room}", tok))
        print(f"purged room {args.room}: {answer['keys']} keys deleted")
        return 0
    if args.command == "record":
        body = asyncio.run(recording.record(args.url, args.room, tok))
    else:
        fmt = Path(args.out).suffix.lstrip(".").lower()
        if fmt not in ("html", "json", "csv"):
            raise ValueError("--out must end in .html, .json or .csv")
        body = asyncio.run(recording.fetch(args.url, f"/api/rooms/{args.room}/report?format={fmt}", tok))
    Path(args.out).write_bytes(body)
    print(f"wrote {args.out} ({len(body)} bytes)")
    return 0


def _connect(args: argparse.Namespace, settings: Settings) -> int:
    """`livecart connect`: a bridge, an ingest client of `--url` (livecart/bridges/)."""
    from livecart.bridges import command as bridge

    try:
        check_room_name(args.room)
        if args.platform == "bilibili" and not args.target.isdigit():
            raise ValueError("a Bilibili room id is a number (the one in live.bilibili.com/ROOM_ID)")
        if args.platform == "tiktok" and not args.target.lstrip("@"):
            raise ValueError("a TikTok handle, such as @streamer")
        if args.gift_value is not None and not 0 <= args.gift_value < 1e6:  # also refuses nan
            raise ValueError("--gift-value must be a number from 0 (room currency per diamond or gold coin)")
    except (ValueError, BadRequest) as exc:
        print(f"livecart connect: {exc}", file=sys.stderr)
        return 2
    target = "@" + args.target.lstrip("@") if args.platform == "tiktok" else args.target
    fixed = args.token

    def token() -> str:  # signed anew now and then: a bridge outlives any one token's ttl
        return fixed or auth.issue(settings.secret, role="ingest", room=args.room,
                                   user=f"{args.platform}-bridge", ttl_s=3600)

    configure_logging(node=settings.node_id)
    opts = bridge.BridgeOptions(args.platform, target, args.room, args.url, token, args.gift_value,
                                metrics_port=args.bridge_metrics_port)
    try:
        asyncio.run(bridge.run(opts))
    except bridge.MissingConnectors as exc:
        print(f"livecart connect: the bridges need the connectors extra ({exc}): run "
              "`scripts/setup connectors`, or pip install 'livecart[connectors]'", file=sys.stderr)
        return 2
    except (OSError, RuntimeError, aiohttp.ClientError) as exc:
        print(f"livecart connect: {exc}", file=sys.stderr)
        return 1
    return 0


def supervise(settings: Settings, serve_args: Sequence[str], workers: int, print_urls: bool) -> int:
    """`livecart serve` with `workers` node processes (livecart/supervisor.py)."""
    from livecart.supervisor import Supervisor

    configure_logging(node=settings.node_id)
    supervisor = Supervisor(settings, serve_args, workers)
    try:
        return asyncio.run(supervisor.run(
            lambda port: _print_urls(settings, port, print_urls, workers=workers)))
    except (OSError, RuntimeError) as exc:  # the port is taken, redis-server would not start
        print(f"livecart serve: {exc}", file=sys.stderr)
        return 1


def serve(settings: Settings, print_urls: bool = False, worker: bool = False) -> int:
    """One node in this process; `worker`: one of a supervisor's, which prints the URLs itself."""
    configure_logging(node=settings.node_id)
    # A rush keeps tens of thousands of short-lived futures and frames alive at once; with the default
    # thresholds the cyclic collector ran every 700 allocations and walked them all (a tenth of a
    # node's CPU in a claim rush). Almost nothing here makes reference cycles, so collect rarely.
    gc.set_threshold(50_000, 20, 100)
    _raise_fd_limit()
    _tune_malloc()
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    runner = asyncio.Runner()
    try:
        runner.run(_serve(settings, print_urls, worker))
    finally:
        # uvloop's close() warns ResourceWarning for each socket still open before it closes it; if that
        # warning is raised (PYTHONWARNINGS=error), the socket stays open and close() waits for it
        # forever: a node that never exits after SIGTERM. Warned, not raised, the close always ends.
        with warnings.catch_warnings():
            warnings.simplefilter("default", ResourceWarning)
            runner.close()
    return 0


M_MMAP_THRESHOLD = -3  # glibc mallopt parameters (malloc.h)
MMAP_THRESHOLD = 64 * 1024


def _tune_malloc() -> None:
    """Large transient buffers (request bodies, batch frames of hundreds of KB) are mmapped and given
    back to the system when freed. glibc starts so, but raises its threshold to the largest block freed
    so far (up to 32 MB), after which such buffers come from the heap, and the heap keeps its peak: with
    big comments the node's RSS then grew ~25 MB more (docs/operations.md §1). A fixed threshold keeps
    them mmapped. Nothing to do where the C library is not glibc."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None)
        libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)


def _raise_fd_limit() -> None:
    """Every socket is a file descriptor, and a soft limit of 1024 (a common default) would refuse the
    1,000th viewer: take the hard limit, as servers that hold many sockets do."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def _serve(settings: Settings, print_urls: bool, worker: bool) -> None:
    from livecart.node import Node
    from livecart.supervisor import READY

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):  # before anything starts: a stop during start waits for it
        loop.add_signal_handler(sig, stop.set)
    node = Node(settings)
    await node.start()
    if worker:
        print(f"{READY} {node.port}", flush=True)  # to the supervisor, which prints the URLs once
    else:
        _print_urls(settings, node.port, print_urls)
    await stop.wait()
    logging.getLogger("livecart").info("shutting down")
    try:
        await asyncio.wait_for(node.stop(), settings.shutdown_timeout_s)
    except TimeoutError:
        logging.getLogger("livecart").error("shutdown took longer than %.0f s", settings.shutdown_timeout_s)


def _print_urls(settings: Settings, port: int, with_tokens: bool, workers: int = 1) -> None:
    """The line saying the node serves (always: scripts wait for it), then the demo pages' URLs with
    their 12 h tokens, an assistant's among them, only for a person at a terminal or `--print-urls`:
    a non-interactive stdout usually ends up in a log file, and a token in a log is a leaked token."""
    base = f"http://{settings.host}:{port}"

    def url(page: str, role: str, user: str | None = None) -> str:
        token = auth.issue(settings.secret, role=role, room=DEMO_ROOM, user=user)
        return f"{base}/{page}?room={DEMO_ROOM}&token={token}"

    redis = f"redis: {mask_password(settings.redis_url)}" if settings.redis_url else "embedded redis"
    processes = f", {workers} workers" if workers > 1 else ""
    print(f"livecart serving on {base} (data: {Path(settings.data_dir).resolve()}, {redis}{processes})")
    if not with_tokens:
        print("  page URLs carry tokens: not printed, as stdout is not a terminal (use --print-urls, or "
              "mint tokens with `livecart token`)", flush=True)
        return
    print(f"  console: {url('console', 'assistant')}")
    print(f"  overlay: {url('overlay', 'overlay')}")
    print(f"  viewer:  {url('viewer', 'viewer', user='guest')}")  # a demo viewer who may claim and comment
    print(f"  host:    {url('host', 'host')}", flush=True)
