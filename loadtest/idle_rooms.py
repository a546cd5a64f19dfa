"""The cost of an idle room: a node's CPU with N rooms that each hold one idle viewer socket, then with
those rooms left (their socket gone, the rooms still "active" for the director's 10 minutes), each
minus the same node's CPU while empty, per room and second.

    python -m loadtest.idle_rooms --url http://127.0.0.1:8080 --server-pid PID [--rooms 1000]
                                  [--settle 135] [--window 30] [--json PATH]

Needs LIVECART_SECRET, like livecart-loadtest. `--settle`: seconds to wait after the sockets joined
(and after they left) before measuring, so that what is measured is the rooms' steady state, not their
joining: the director looks at a room's viewers for 130 s after they change (the built-in rules'
viewer_* look-back). CPU is the node's and its children's (the embedded redis-server), from /proc.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from typing import Any

from livecart.client import RoomClient
from loadtest.audience import raise_fd_limit
from loadtest.procstat import cpu_seconds, rss_bytes
from loadtest.tokens import mint

__all__ = ["measure"]


async def _cpu_pct(pid: int, seconds: float) -> float:
    before, start = cpu_seconds(pid), time.monotonic()
    await asyncio.sleep(seconds)
    after = cpu_seconds(pid)
    if before is None or after is None:
        raise RuntimeError(f"no process {pid}")
    return round((after - before) / (time.monotonic() - start) * 100, 2)


def _rss_mb(pid: int) -> float:
    return round((rss_bytes(pid) or 0) / 2**20, 1)


async def measure(url: str, pid: int, secret: str, rooms: int, settle_s: float,
                  window_s: float) -> dict[str, Any]:
    out: dict[str, Any] = {"rooms": rooms, "settle_s": settle_s, "window_s": window_s}
    out["empty_cpu_pct"] = await _cpu_pct(pid, window_s)
    out["empty_rss_mb"] = _rss_mb(pid)
    tag = f"idle-{int(time.time())}"
    opened = asyncio.Event()
    connected = 0

    def first_frame(frame: dict[str, Any], events: list[dict[str, Any]]) -> None:
        nonlocal connected
        if frame["type"] == "snapshot":
            connected += 1
            if connected == rooms:
                opened.set()

    clients = [RoomClient(url, f"{tag}-{i}", mint(secret, "viewer", f"{tag}-{i}", f"u{i}"), fmt="msgpack",
                          on_frame=first_frame) for i in range(rooms)]
    started = time.monotonic()
    tasks = []
    for client in clients:  # 500 a second: under the node's connect limit
        tasks.append(asyncio.get_running_loop().create_task(client.run()))
        await asyncio.sleep(0.002)
    await asyncio.wait_for(opened.wait(), 120)
    out["connect_s"] = round(time.monotonic() - started, 1)
    await asyncio.sleep(settle_s)
    out["stay_cpu_pct"] = await _cpu_pct(pid, window_s)
    out["stay_rss_mb"] = _rss_mb(pid)
    out["stay_us_per_room_s"] = _per_room(out["stay_cpu_pct"], out["empty_cpu_pct"], rooms)
    await asyncio.gather(*(c.close() for c in clients))
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.sleep(settle_s)
    out["left_cpu_pct"] = await _cpu_pct(pid, window_s)
    out["left_us_per_room_s"] = _per_room(out["left_cpu_pct"], out["empty_cpu_pct"], rooms)
    return out


def _per_room(pct: float, empty_pct: float, rooms: int) -> float:
    """µs of CPU per room and second above the empty node's."""
    return round((pct - empty_pct) / 100 / rooms * 1e6, 1)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m loadtest.idle_rooms", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True)
    parser.add_argument("--server-pid", type=int, required=True)
    parser.add_argument("--rooms", type=int, default=1000)
    parser.add_argument("--settle", type=float, default=135.0)
    parser.add_argument("--window", type=float, default=30.0)
    parser.add_argument("--json", help="write the result object to this file too")
    args = parser.parse_args()
    secret = os.environ.get("LIVECART_SECRET")
    if not secret:
        parser.error("set LIVECART_SECRET to the node's signing secret")
    raise_fd_limit()
    import uvloop

    result = uvloop.run(measure(args.url, args.server_pid, secret, args.rooms, args.settle, args.window))
    text = json.dumps(result)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            f.write(text)
    print(text)


if __name__ == "__main__":
    main()
