"""Deal rush: N viewers claim a flash deal the moment it goes live; how fast, how exact, how visible.

    python -m loadtest.deal_rush --url http://127.0.0.1:8080 --clients 2000 --stock 1000000 --claims 10
    python -m loadtest.deal_rush --url http://127.0.0.1:8080 --clients 2000 --stock 500 --claims 1

Each worker process holds clients/workers viewer sockets (uvloop, the `websockets` library). When all
are connected, the deal is created live and every client sends its claims at once (each with its own
idempotency key), pipelined, then waits for every claim_result. Reported: claims per second through the
node, claim latency percentiles (send -> claim_result), exactly-stock and per-user-limit checks, and how
long after the last successful claim the last socket saw the deal sold out. Tokens are minted from
LIVECART_SECRET. Only the public protocol is used.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import sys
import time
import urllib.request
from typing import Any

import orjson
import uvloop
import websockets

from livecart.auth import issue

ROOM = "rush"


def _percentile(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(p / 100 * len(sorted_values)))]


async def _worker(args: argparse.Namespace, index: int, secret: str, go: Any, out: Any) -> None:
    base = args.url.replace("http://", "ws://")
    n = args.clients // args.workers + (1 if index < args.clients % args.workers else 0)
    users = [f"w{index}u{i}" for i in range(n)]
    sockets = []
    for user in users:
        tok = issue(secret, role="viewer", room=args.room, user=user, ttl_s=3600)
        sockets.append(await websockets.connect(f"{base}/ws/rooms/{args.room}?token={tok}", max_size=2**24))
    for ws in sockets:
        await ws.recv()  # snapshot
    out.put(("connected", index, n))
    deal_id = await asyncio.get_running_loop().run_in_executor(None, go.get)
    latencies: list[float] = []
    won: dict[str, int] = {}
    answers = 0
    sold_out_seen: list[float] = []
    last_ok = 0.0

    async def run(user: str, ws: Any) -> None:
        nonlocal answers, last_ok
        sent: dict[str, float] = {}
        for k in range(args.claims):
            req = f"{user}-{k}"
            sent[req] = time.perf_counter()
            await ws.send(orjson.dumps({"type": "claim", "deal": deal_id, "qty": 1, "req": req}).decode())
        pending, seen_sold_out = set(sent), False
        while pending or (args.watch_sold_out and not seen_sold_out):
            try:
                raw = await asyncio.wait_for(ws.recv(), args.timeout)
            except TimeoutError:
                break
            # Room frames arrive every tick on every socket; parse them only when watching for sold out
            # (the loader, not the server, would otherwise be the limit).
            if not args.watch_sold_out and not raw.startswith('{"type":"claim_result"'):
                continue
            frame = orjson.loads(raw)
            now = time.perf_counter()
            if frame["type"] == "claim_result" and frame.get("req") in pending:
                pending.discard(frame["req"])
                answers += 1
                latencies.append((now - sent[frame["req"]]) * 1000)
                if frame["ok"]:
                    won[user] = won.get(user, 0) + frame["claim"]["qty"]
                    last_ok = max(last_ok, time.time())
            elif frame["type"] == "batch" and not seen_sold_out:
                for deal in frame.get("deals", ()):
                    if deal["id"] == deal_id and deal["left"] == 0:
                        seen_sold_out = True
                        sold_out_seen.append(time.time())

    started = time.time()
    await asyncio.gather(*(run(u, ws) for u, ws in zip(users, sockets, strict=True)))
    finished = time.time()
    for ws in sockets:
        await ws.close()
    out.put(("done", index, {"latencies": latencies, "won": won, "answers": answers, "started": started,
                             "finished": finished, "sold_out_seen": sold_out_seen, "last_ok": last_ok,
                             "cpu_s": time.process_time()}))


def _worker_main(args: argparse.Namespace, index: int, secret: str, go: Any, out: Any) -> None:
    uvloop.run(_worker(args, index, secret, go, out))


def _api(url: str, path: str, token: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(url + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"Authorization": f"Bearer {token}",
                                              "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as resp:
        return json.loads(resp.read())  # type: ignore[no-any-return]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8080")
    parser.add_argument("--room", default=ROOM + str(int(time.time())))
    parser.add_argument("--clients", type=int, default=2000)
    parser.add_argument("--claims", type=int, default=1, help="claims per client, each with its own key")
    parser.add_argument("--stock", type=int, default=500)
    parser.add_argument("--limit", type=int, default=1000, help="per-user limit")
    parser.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) // 2))
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--watch-sold-out", action="store_true", help="wait for every socket to see left 0")
    parser.add_argument("--json", help="write the result object here")
    args = parser.parse_args(argv)
    secret = os.environ.get("LIVECART_SECRET")
    if not secret:
        print("deal_rush: set LIVECART_SECRET to the server's secret", file=sys.stderr)
        return 2
    go, out = mp.Queue(), mp.Queue()
    procs = [mp.Process(target=_worker_main, args=(args, i, secret, go, out)) for i in range(args.workers)]
    for p in procs:
        p.start()
    connected = sum(out.get(timeout=120)[2] for _ in procs)
    assistant = issue(secret, role="assistant", room=args.room, user="rush", ttl_s=3600)
    deal = _api(args.url, f"/api/rooms/{args.room}/deals", assistant, {
        "product": {"id": "rush", "name": "Rush item"}, "price": 100, "deal_price": 50, "stock": args.stock,
        "limit_per_user": args.limit, "duration_s": 600, "start_at": None})["deal"]
    for _ in procs:
        go.put(deal["id"])
    results = [out.get(timeout=600)[2] for _ in procs]
    for p in procs:
        p.join()
    latencies = sorted(x for r in results for x in r["latencies"])
    won: dict[str, int] = {}
    for r in results:
        won.update(r["won"])
    start, end = min(r["started"] for r in results), max(r["finished"] for r in results)
    answers = sum(r["answers"] for r in results)
    expected = min(args.stock, args.clients * min(args.claims, args.limit))
    seen = [t for r in results for t in r["sold_out_seen"]]
    last_ok = max(r["last_ok"] for r in results)
    report = {
        "scenario": "deal-rush", "clients_connected": connected, "claims_sent": args.clients * args.claims,
        "claims_answered": answers, "units_won": sum(won.values()), "expected_units": expected,
        "max_units_per_user": max(won.values(), default=0), "limit": args.limit,
        "claims_per_s": round(answers / max(end - start, 1e-9)),
        "claim_latency_ms": {"p50": round(_percentile(latencies, 50), 2),
                             "p99": round(_percentile(latencies, 99), 2),
                             "max": round(latencies[-1] if latencies else 0.0, 2)},
        "sold_out_visible_ms": (round((max(seen) - last_ok) * 1000, 1)
                                if args.watch_sold_out and len(seen) == connected else None),
        "sockets_seeing_sold_out": len(seen) if args.watch_sold_out else None,
        "loader_cpu_s": round(sum(r["cpu_s"] for r in results), 2), "wall_s": round(end - start, 3),
    }
    exact = report["units_won"] == expected and report["max_units_per_user"] <= args.limit
    report["verdict"] = "pass" if exact and answers == args.clients * args.claims else "fail"
    print(json.dumps(report, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f)
    return 0 if report["verdict"] == "pass" else 1


if __name__ == "__main__":
    raise SystemExit(main())
