"""Many rooms at once (the `rooms` scenario): small rooms and big rooms, each with comments at a steady
rate and a live deal, all on one node.

    deals   every room gets a deal, created through the console API, live at once
    ramp    each worker opens the sockets of its share of the rooms (whole rooms per worker), interleaved
            so that every room fills during the ramp
    run     `duration` seconds of comments, `rate` per second into every room (RoomsPublisher)
    drain   every room's final offset is read and every open socket must reach its own room's

What it adds to a single room's result: per room group (small, big) the sockets, completeness and
latency, how many sockets saw their room's deal live, and the node's CPU and memory (`--server-pid`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
from typing import Any

import aiohttp

from loadtest.audience import raise_fd_limit
from loadtest.conductor import Conductor, Worker
from loadtest.histogram import Histogram
from loadtest.publisher import Console, RoomsPublisher
from loadtest.results import summarize
from loadtest.tokens import mint

__all__ = ["RoomsConductor", "rooms_section"]

SETUP_CONCURRENCY = 32  # console calls in flight while creating the deals and reading the offsets
DEAL_STOCK = 1000


class RoomsConductor(Conductor):
    def rooms(self) -> list[tuple[str, str, int]]:
        """(room, group, sockets) of every room of the run."""
        return [(f"{self.room}-{group[0]}{i}", group, size)
                for group, n, size in self.s.room_groups() for i in range(n)]

    async def run(self) -> dict[str, Any]:
        raise_fd_limit()
        # One token per role for every room: `*` is allowed for ingest and assistant (protocol.md §1).
        tokens = {role: mint(self.secret, role, "*", "loadtest") for role in ("ingest", "assistant")}
        rooms = self.rooms()
        started = time.time()
        load_before = os.getloadavg()
        connector = aiohttp.TCPConnector(limit=64)
        async with aiohttp.ClientSession(connector=connector) as session:
            consoles = {room: Console(session, self.url, room, tokens) for room, _, _ in rooms}
            first = consoles[rooms[0][0]]
            await first.offset()  # fails fast on a wrong URL or secret
            deals = await _bounded([c.create_deal(f"deal-{room}", DEAL_STOCK, 1, None,
                                                  duration_s=int(self.s.duration + self.drain_s + 600))
                                    for room, c in consoles.items()])
            start_offsets = dict(zip(consoles, await _bounded([c.offset() for c in consoles.values()]),
                                     strict=True))
            self._mark(f"{len(deals)} rooms, each with a live deal")
            self.workers = [Worker(i, self._worker_cfg(i)) for i in range(self.n_workers)]
            order = list(consoles.values())
            random.Random(7).shuffle(order)  # big and small rooms interleaved in the publishing round
            publisher = RoomsPublisher(order, self.s.rate, text_size=self.s.text_size)
            try:
                self.t0 = time.monotonic()
                ticker = asyncio.get_running_loop().create_task(self._ticks(publisher))
                await self._ramp_rooms(rooms)
                self.phase = "run"
                run_started = time.monotonic() - self.t0
                self._mark("publishing starts")
                await publisher.run(self.s.duration, time.monotonic() + self.s.duration + 30)
                self.phase = "drain"
                finals_offsets = dict(zip(consoles, await _bounded([c.offset() for c in consoles.values()]),
                                          strict=True))
                self._mark(f"publishing done, {publisher.sent} comments in {len(rooms)} rooms")
                ticker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ticker
                finals = await asyncio.gather(*(w.ask("drain", finals_offsets, self.drain_s,
                                                      timeout_s=self.drain_s + 60) for w in self.workers))
            finally:
                self.progress.done()
                for w in self.workers:
                    w.stop()
        meta = {"url": self.url, "room": self.room, "rooms": len(rooms), "workers": self.n_workers,
                "format": self.fmt, "started_at": started, "wall_s": time.time() - started,
                "start_offset": sum(start_offsets.values()), "final_offset": sum(finals_offsets.values()),
                "run_started_s": round(run_started, 3), "peak_clients": self.peak_wanted,
                "cpu_count": os.cpu_count(), "loadavg_before": load_before, "loadavg_after": os.getloadavg(),
                "conductor_cpu_s": time.process_time()}
        result = summarize(self.s, finals=finals, timeline=self.timeline, publisher=publisher, deal_plans={},
                           deals_now={}, events=self.events, meta=meta)
        section = rooms_section(self.s, finals, self.timeline, deals_created=len(deals))
        result["rooms"] = section
        result["reasons"] += section.pop("problems")
        result["verdict"] = "fail" if result["reasons"] else "pass"
        return result

    async def _ramp_rooms(self, rooms: list[tuple[str, str, int]]) -> None:
        """Whole rooms per worker, round robin (each worker gets big and small rooms alike)."""
        shares: list[list[tuple[str, str, int]]] = [[] for _ in self.workers]
        for i, room in enumerate(rooms):
            shares[i % len(self.workers)].append(room)
        per_s = self.s.ramp / len(self.workers)
        for w, share in zip(self.workers, shares, strict=True):
            if share:
                w.send("join_rooms", share, per_s)
        target = sum(n for _, _, n in rooms)
        self.wanted = self.peak_wanted = target
        deadline = time.monotonic() + target / self.s.ramp + 60
        while time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            if self.timeline and self.timeline[-1]["connections"] >= target:
                break
        self._mark(f"{self.timeline[-1]['connections'] if self.timeline else 0} sockets open")


def rooms_section(s: Any, finals: list[dict[str, Any]], timeline: list[dict[str, Any]],
                  deals_created: int) -> dict[str, Any]:
    """The many-rooms part of the result: by room group, the node's cost, and what went wrong."""
    groups: dict[str, dict[str, Any]] = {}
    for group, n, size in s.room_groups():
        totals = {"sockets": 0, "expected": 0, "deliveries": 0, "deal_live": 0, "anomalies": 0}
        latency = Histogram()
        for f in finals:
            for k, v in f["groups"].get(group, {}).items():
                totals[k] += v
            if group in f["group_latency"]:
                latency.merge(Histogram.from_wire(f["group_latency"][group]))
        summary = latency.summary()
        groups[group] = {"rooms": n, "sockets_per_room": size, "sockets_connected": totals["sockets"],
                         "deliveries_expected": totals["expected"], "deliveries": totals["deliveries"],
                         "completeness_pct": round(100.0 * totals["deliveries"] / totals["expected"], 3)
                         if totals["expected"] else 100.0,
                         "duplicates_and_gaps": totals["anomalies"],
                         "sockets_saw_deal_live": totals["deal_live"],
                         "latency_ms": {k: float(summary[k]) for k in ("p50", "p99", "max")}}
    run = [r for r in timeline if r["phase"] == "run"]
    cpu = [r["server_cpu_pct"] for r in run if r.get("server_cpu_pct") is not None]
    rss = [r["server_rss_mb"] for r in timeline if r.get("server_rss_mb") is not None]
    delivered = [r["deliveries_per_s"] for r in run]
    problems = []
    for group, g in groups.items():
        if g["sockets_saw_deal_live"] < g["sockets_connected"]:
            problems.append(f"{g['sockets_connected'] - g['sockets_saw_deal_live']} sockets of {group} rooms "
                            f"never saw their room's deal live")
    if deals_created < s.small_rooms + s.big_rooms:
        problems.append(f"only {deals_created} deals created for {s.small_rooms + s.big_rooms} rooms")
    return {"rooms": s.small_rooms + s.big_rooms, "rate_per_room": s.rate, "deals_live": deals_created,
            "groups": groups,
            "deliveries_per_s_mean": round(sum(delivered) / len(delivered)) if delivered else None,
            "server_cpu_pct_mean": round(sum(cpu) / len(cpu), 1) if cpu else None,
            "server_cpu_pct_peak": max(cpu, default=None),
            "server_rss_mb_peak": max(rss, default=None),
            "server_rss_mb_end_of_run": run[-1].get("server_rss_mb") if run else None,
            "problems": problems}


async def _bounded(calls: list[Any]) -> list[Any]:
    """Run the console calls with at most SETUP_CONCURRENCY in flight; results in order."""
    gate = asyncio.Semaphore(SETUP_CONCURRENCY)

    async def one(call: Any) -> Any:
        async with gate:
            return await call

    return list(await asyncio.gather(*(one(c) for c in calls)))

