"""`livecart-loadtest`: run a scenario against a node, or compare / re-render result files.

    livecart-loadtest SCENARIO --url http://HOST:PORT [--room R] [--clients N] [--rate R] [--duration S]
                      [--json PATH] [--html PATH] [...]
    livecart-loadtest compare BEFORE.json AFTER.json [--html PATH]
    livecart-loadtest report RESULT.json --html PATH

Tokens are minted from LIVECART_SECRET (the node's signing secret). Exit status: 0 when the verdict is
"pass", 1 when it is "fail", 2 for a usage error.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from loadtest.scenarios import SCENARIOS, Scenario

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "compare":
        from loadtest.compare import compare_html, compare_text

        before, after = _load(args.before), _load(args.after)
        print(compare_text(before, after))
        if args.html:
            Path(args.html).write_text(compare_html(before, after), encoding="utf-8")
        return 0
    if args.command == "report":
        from loadtest.report import render

        Path(args.html).write_text(render(_load(args.result)), encoding="utf-8")
        return 0
    secret = os.environ.get("LIVECART_SECRET")
    if not secret:
        parser.error("set LIVECART_SECRET to the node's signing secret (tokens are minted from it)")
    scenario = _scenario(args)
    if scenario.name == "growth" and args.html:
        parser.error("growth writes --json only (its checks are in the result's `growth` and `reasons`)")
    import uvloop

    from loadtest.report import render, summary_text

    if getattr(args, "redis_limit", False):
        from loadtest import redis_limit

        if not redis_limit.available():
            parser.error("--redis-limit needs redis-server, redis-cli and redis-benchmark on PATH")
    result = uvloop.run(_run(args, scenario, secret))
    if getattr(args, "redis_limit", False):
        # After the rush: it must not take the node's CPU.
        result["redis_limit"] = redis_limit.measure(calls=args.redis_limit)
    if args.json:
        Path(args.json).write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    if args.html:
        Path(args.html).write_text(render(result), encoding="utf-8")
    if scenario.name == "growth":
        from loadtest.growth import summary

        print(summary(result))
    else:
        print(summary_text(result))
    return 0 if result["verdict"] == "pass" else 1


async def _run(args: argparse.Namespace, scenario: Scenario, secret: str) -> dict[str, Any]:
    from loadtest.conductor import Conductor

    if scenario.name == "lucky-bag":
        from loadtest.lucky_bag import LuckyBagRun

        return await LuckyBagRun(scenario, url=args.url, room=args.room, secret=secret, quiet=args.quiet,
                                 drain_s=args.drain).run()

    if scenario.name == "growth":
        from loadtest.growth import GrowthRun

        return await GrowthRun(scenario, url=args.url, room=args.room, secret=secret, fmt=args.format,
                               quiet=args.quiet, drain_s=args.drain).run()

    workers = args.workers or (min(os.cpu_count() or 1, 4) if scenario.clients >= 500 else 1)
    if scenario.many_rooms:
        from loadtest.many_rooms import RoomsConductor

        conductor_type: type[Conductor] = RoomsConductor
    else:
        conductor_type = Conductor
    conductor = conductor_type(scenario, url=args.url, room=args.room, secret=secret, workers=workers,
                          fmt=args.format, quiet=args.quiet, drain_s=args.drain, source_ips=args.source_ips,
                          server_pid=args.server_pid)
    return await conductor.run()


def _scenario(args: argparse.Namespace) -> Scenario:
    s = SCENARIOS[args.command].with_overrides(
        clients=args.clients, rate=args.rate, duration=args.duration, ramp=args.ramp,
        text_size=args.text_size, stock=args.stock, small_rooms=getattr(args, "small_rooms", None),
        small_size=getattr(args, "small_size", None), big_rooms=getattr(args, "big_rooms", None),
        big_size=getattr(args, "big_size", None))
    if getattr(args, "close", None) or getattr(args, "sockets", None) is not None:
        extra = dict(s.extra, close=args.close or s.extra["close"])
        if args.sockets is not None:
            extra["sockets"] = args.sockets
        s = replace(s, extra=extra)
    if args.share is not None:
        s = replace(s, drop_share=args.share, slow_share=args.share)
    if args.limit is not None or args.claims is not None or args.claim_rate is not None:
        s = replace(s, deals=tuple(replace(d, limit=args.limit if args.limit is not None else d.limit,
                                           claims=args.claims if args.claims is not None else d.claims,
                                           claim_rate=args.claim_rate if args.claim_rate is not None
                                           else d.claim_rate)
                                   for d in s.deals))
    # A paced rush lasts as long as its claims take to send, whatever --duration says.
    paced = [d.countdown_s + s.clients * d.claims / d.claim_rate + 1.0 for d in s.deals if d.claim_rate]
    if paced:
        s = replace(s, duration=max(s.duration, *paced))
    return s


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="livecart-loadtest", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="SCENARIO|compare|report")
    for name, s in SCENARIOS.items():
        p = sub.add_parser(name, help=s.about, description=s.about)
        p.add_argument("--url", required=True, help="the node's base URL, http://HOST:PORT")
        p.add_argument("--room", help="room to use (default: a fresh one per run)")
        if s.many_rooms:
            p.add_argument("--small-rooms", type=int, help=f"small rooms (default {s.small_rooms})")
            p.add_argument("--small-size", type=int, help=f"sockets per small room (default {s.small_size})")
            p.add_argument("--big-rooms", type=int, help=f"big rooms (default {s.big_rooms})")
            p.add_argument("--big-size", type=int, help=f"sockets per big room (default {s.big_size})")
            p.add_argument("--clients", type=int, help=argparse.SUPPRESS)  # the rooms' sockets decide
            p.add_argument("--rate", type=float,
                           help=f"comments per second into each room (default {s.rate:g})")
        else:
            p.add_argument("--clients", type=int,
                           help=f"viewer sockets (default {s.clients}); in deal-rush, claimers")
            p.add_argument("--rate", type=float, help=f"events per second ingested (default {s.rate:g})")
        p.add_argument("--duration", type=float, help=f"seconds of publishing (default {s.duration:g})")
        p.add_argument("--json", help="write the result object to this file")
        p.add_argument("--html", help="write a self-contained HTML report with charts to this file")
        p.add_argument("--ramp", type=float, help=f"sockets opened per second (default {s.ramp:g})")
        p.add_argument("--text-size", type=int, help="pad comments to this many characters")
        p.add_argument("--stock", type=int, help="deal stock (default: a share of the claimers)")
        p.add_argument("--limit", type=int, help="per-user limit of the deals")
        p.add_argument("--claims", type=int, help="claims each claimer sends, each with its own key")
        if name == "deal-rush":
            p.add_argument("--redis-limit", nargs="?", type=int, const=100_000, metavar="CLAIMS",
                           help="after the rush, measure the claim script alone in a throwaway "
                                "redis-server with redis-benchmark (loadtest/redis_limit.py), over "
                                "CLAIMS claims per measurement (default 100,000)")
        if name == "lucky-bag":
            p.add_argument("--close", choices=("console", "timer"),
                           help="close the bag with the console's draw once every entry is counted "
                                "(default), or wait for its end (--duration, at least 30 s)")
            p.add_argument("--sockets", type=int, help="entrants that comment from a viewer socket "
                                                       "(default 200; the others through ingest)")
        p.add_argument("--claim-rate", type=float,
                       help="claims per second from all claimers together, spread evenly (default: "
                            "each claimer sends all its claims at once)")
        p.add_argument("--share", type=float, help="share of sockets dropped (reconnect-storm) or stalled "
                                                   "(slow-consumers)")
        p.add_argument("--workers", type=int, help="loader processes (default: one per core, up to 4)")
        p.add_argument("--format", choices=("msgpack", "json"), default="msgpack",
                       help="socket format (default msgpack: what native apps use, cheapest to decode)")
        p.add_argument("--drain", type=float, default=15.0, help="seconds to wait for the last deliveries")
        p.add_argument("--source-ips", type=int, default=1,
                       help="spread sockets over 127.0.0.1..N (past ~28k sockets to one address)")
        p.add_argument("--server-pid", type=int, help="a local node's PID: report its CPU (and its "
                                                      "children's, e.g. the embedded redis-server) too")
        p.add_argument("--quiet", action="store_true", help="no live progress on stderr")
    p = sub.add_parser("compare", help="two result files side by side, with ratios")
    p.add_argument("before")
    p.add_argument("after")
    p.add_argument("--html", help="also write the comparison as HTML")
    p = sub.add_parser("report", help="render a result file as a self-contained HTML report")
    p.add_argument("result")
    p.add_argument("--html", required=True)
    return parser


def _load(path: str) -> dict[str, Any]:
    return json.loads(Path(path).read_text(encoding="utf-8"))  # type: ignore[no-any-return]  # JSON Any: a result object


if __name__ == "__main__":
    raise SystemExit(main())
