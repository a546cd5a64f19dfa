"""Runs one scenario: worker processes hold the audience, this process publishes and keeps time.

    ramp    the audience joins at `ramp` sockets/s until the curve's first point is connected
    run     `duration` seconds of publishing at the scenario's rate, with its deals, drops, pauses,
            pins, announcements and audience changes at their times
    drain   the room's final offset is read and every open socket must reach it (or the drain times out)

Once a second every worker reports its interval (deliveries, latency histogram, open sockets, claims,
its own CPU) and this process adds one row to the timeline and one line to the live progress.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing as mp
import os
import secrets
import time
from typing import Any

import aiohttp

from loadtest.audience import raise_fd_limit, worker_main
from loadtest.channel import Channel
from loadtest.corpus import ANNOUNCEMENTS
from loadtest.histogram import Histogram
from loadtest.procstat import cpu_seconds, rss_bytes
from loadtest.progress import Progress
from loadtest.publisher import Console, Publisher
from loadtest.results import summarize
from loadtest.scenarios import Scenario
from loadtest.tokens import mint

__all__ = ["Conductor"]

TICK_S = 1.0


class Worker:
    def __init__(self, index: int, cfg: dict[str, Any]) -> None:
        ctx = mp.get_context("spawn")  # no fork of a process that runs an event loop
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=worker_main, args=(child, cfg), daemon=True,
                                   name=f"livecart-loadtest-{index}")
        self.process.start()
        child.close()
        self.replies: asyncio.Queue[Any] = asyncio.Queue()
        self.ticks: list[dict[str, Any]] = []  # interval stats not yet in a timeline row
        self.cpu_s = 0.0
        self.wall_s = 0.0
        self.channel = Channel(self.conn, self._on_message)

    def _on_message(self, message: Any) -> None:
        if isinstance(message, EOFError):
            self.replies.put_nowait(message)
        elif message[0] == "tick":
            self.ticks.append(message[1])
        else:
            self.replies.put_nowait(message)

    def send(self, *command: Any) -> None:
        self.channel.send(command)

    async def ask(self, *command: Any, timeout_s: float = 30.0) -> Any:
        self.send(*command)
        async with asyncio.timeout(timeout_s):
            while True:
                reply = await self.replies.get()
                if isinstance(reply, Exception):
                    raise reply
                if reply[0] == command[0]:
                    return reply[1]

    def stop(self) -> None:
        self.conn.close()
        self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)


class Conductor:
    def __init__(self, scenario: Scenario, *, url: str, room: str | None, secret: str, workers: int,
                 fmt: str = "msgpack", quiet: bool = False, drain_s: float = 15.0,
                 source_ips: int = 1, server_pid: int | None = None) -> None:
        self.s = scenario
        self.url = url.rstrip("/")
        self.room = room or f"lt-{scenario.name}-{secrets.token_hex(4)}"
        self.secret = secret
        self.n_workers = max(1, workers)
        self.fmt = fmt
        self.progress = Progress(quiet=quiet)
        self.drain_s = drain_s
        self.source_ips = source_ips
        self.server_pid = server_pid
        self.timeline: list[dict[str, Any]] = []
        self.workers: list[Worker] = []
        self.wanted = 0  # sockets asked for minus sockets sent away
        self.peak_wanted = 0
        self.events: list[dict[str, Any]] = []  # what happened when (deals, drops, pauses) for the report
        self.deal_plans: dict[str, dict[str, Any]] = {}
        self.phase = "ramp"
        self.t0 = 0.0
        self.announcements = 0
        self.dropped: tuple[float, float | None] | None = None  # (monotonic, node CPU-s) at the drop

    async def run(self) -> dict[str, Any]:
        raise_fd_limit()
        tokens = {role: mint(self.secret, role, self.room, "loadtest") for role in ("ingest", "assistant")}
        started = time.time()
        load_before = os.getloadavg()
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=32)) as session:
            console = Console(session, self.url, self.room, tokens)
            start_offset = await console.offset()  # fails fast on a wrong URL or secret
            self.workers = [Worker(i, self._worker_cfg(i)) for i in range(self.n_workers)]
            publisher = Publisher(console, self.s.rate_at, like_share=self.s.like_share,
                                  text_size=self.s.text_size)
            try:
                self.t0 = time.monotonic()
                ticker = asyncio.get_running_loop().create_task(self._ticks(publisher))
                await self._ramp()
                self.phase = "run"
                run_started = time.monotonic() - self.t0
                self._mark("publishing starts")
                publish_deadline = time.monotonic() + self.s.duration + 30
                await asyncio.gather(publisher.run(self.s.duration, publish_deadline),
                                     self._script(console, publisher))
                # A deal announced near the end goes live after publishing stops: its rush still counts.
                live_by = max((p["live_at"] for p in self.deal_plans.values()), default=0.0)
                await asyncio.sleep(max(0.0, live_by + 0.5 - time.monotonic()))
                self.phase = "drain"
                final_offset = await self._final_offset(console)
                self._mark(f"publishing done, room offset {final_offset}")
                ticker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ticker  # a bug in the timeline surfaces here instead of vanishing
                finals = await asyncio.gather(*(w.ask("drain", final_offset, self.drain_s,
                                                      timeout_s=self.drain_s + 30) for w in self.workers))
                storm = self._since_drop()
                deals_now = {d: await console.deal(d) for d in self.deal_plans}
            finally:
                self.progress.done()
                for w in self.workers:
                    w.stop()
        return summarize(self.s, finals=finals, timeline=self.timeline, publisher=publisher,
                         deal_plans=self.deal_plans, deals_now=deals_now, events=self.events,
                         meta={"url": self.url, "room": self.room, "workers": self.n_workers,
                               "format": self.fmt, "started_at": started, "wall_s": time.time() - started,
                               "start_offset": start_offset, "final_offset": final_offset,
                               "run_started_s": round(run_started, 3),
                               "peak_clients": self.peak_wanted, "cpu_count": os.cpu_count(),
                               "loadavg_before": load_before, "loadavg_after": os.getloadavg(),
                               "conductor_cpu_s": time.process_time(), **storm})

    async def _final_offset(self, console: Console) -> int:
        """The room's offset once publishing is over; a node restarting right now gets 15 s."""
        deadline = time.monotonic() + 15
        while True:
            try:
                return await console.offset()
            except (aiohttp.ClientError, OSError, RuntimeError):
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)

    def _worker_cfg(self, i: int) -> dict[str, Any]:
        return {"url": self.url, "room": self.room, "secret": self.secret, "format": self.fmt,
                "user_prefix": f"lt{i}v", "backoff_s": 0.5, "backoff_cap_s": 5.0,
                "connect_timeout_s": 30.0, "source_ips": self.source_ips, "seed": i}

    def _mark(self, what: str) -> None:
        self.events.append({"t": round(time.monotonic() - self.t0, 3), "what": what})

    def _split(self, n: int) -> list[int]:
        w = len(self.workers)
        return [n // w + (1 if i < n % w else 0) for i in range(w)]

    def _join(self, n: int) -> None:
        per_s = self.s.ramp / len(self.workers)
        for w, k in zip(self.workers, self._split(n), strict=True):
            if k:
                w.send("join", k, per_s)
        self.wanted += n
        self.peak_wanted = max(self.peak_wanted, self.wanted)

    def _leave(self, n: int) -> None:
        for w, k in zip(self.workers, self._split(n), strict=True):
            if k:
                w.send("leave", k)
        self.wanted -= n

    async def _ramp(self) -> None:
        target = self.s.audience_at(0)
        self._join(target)
        deadline = time.monotonic() + target / self.s.ramp + 30
        while time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            if self.timeline and self.timeline[-1]["connections"] >= target:
                break
        self._mark(f"{self.timeline[-1]['connections'] if self.timeline else 0} sockets open")

    async def _script(self, console: Console, publisher: Publisher) -> None:
        """The scenario's timed actions, each at its fraction of the duration."""
        s = self.s
        actions: list[tuple[float, Any]] = []
        for rush in s.deals:
            actions.append((rush.at, lambda r=rush: self._launch(console, r)))
        for at in s.announcements:
            actions.append((at, lambda: self._announce(console)))
        if s.drop_at is not None:
            actions.append((s.drop_at, lambda: self._drop(s.drop_share)))
        if s.slow_at is not None:
            actions.append((s.slow_at, lambda: self._broadcast("pause", s.slow_share)))
            actions.append((s.slow_at + s.slow_for, lambda: self._broadcast("unpause")))
        actions.sort(key=lambda a: a[0])
        start = time.monotonic()
        curve = len(s.audience) > 1
        while True:
            now = time.monotonic() - start
            while actions and actions[0][0] * s.duration <= now:
                result = actions.pop(0)[1]()
                if asyncio.iscoroutine(result):
                    await result
            if curve and now < s.duration:
                target = s.audience_at(now)
                if target > self.wanted:
                    self._join(target - self.wanted)
                elif target < self.wanted:
                    self._leave(self.wanted - target)
            if not actions and (not curve or now >= s.duration):
                return
            await asyncio.sleep(0.1)

    async def _broadcast(self, *command: Any) -> None:
        for w in self.workers:
            w.send(*command)
        self._mark(" ".join(str(c) for c in command))

    async def _drop(self, share: float) -> None:
        self.dropped = (time.monotonic(), cpu_seconds(self.server_pid) if self.server_pid else None)
        await self._broadcast("drop", share)

    def _since_drop(self) -> dict[str, float]:
        """Wall and node CPU seconds from the drop until every worker's drain ended: every dropped socket
        had resumed and caught up by then (or the drain timed out)."""
        if self.dropped is None:
            return {}
        at, cpu = self.dropped
        out = {"drop_to_drained_s": round(time.monotonic() - at, 3)}
        now = cpu_seconds(self.server_pid) if self.server_pid else None
        if cpu is not None and now is not None:
            out["server_cpu_s_drop_to_drained"] = round(now - cpu, 2)
        return out

    async def _announce(self, console: Console) -> None:
        self.announcements += 1
        text = f"{ANNOUNCEMENTS[self.announcements % len(ANNOUNCEMENTS)]} #{self.announcements}"
        await console.announce(text)
        for w in self.workers:
            w.send("announced", text)
        self._mark(f"announcement {self.announcements}")

    async def _launch(self, console: Console, rush: Any) -> None:
        claimers = round(self.wanted * rush.claimers)
        stock = self.s.stock if self.s.stock is not None else max(1, round(claimers * rush.stock_share))
        name = f"deal{len(self.deal_plans) + 1}"
        deal = await console.create_deal(name, stock, rush.limit, rush.countdown_s)
        for w in self.workers:
            w.send("arm", deal["id"], rush.claimers, rush.claims, rush.claim_rate / len(self.workers))
        if self.s.pins:
            await console.pin(name, deal["id"])
        self.deal_plans[deal["id"]] = {"name": name, "stock": stock, "limit": rush.limit,
                                       "claims_per_claimer": rush.claims, "claim_rate": rush.claim_rate,
                                       "starts_at": deal["starts_at"],
                                       "live_at": time.monotonic() + rush.countdown_s}
        self._mark(f"{name} created: stock {stock}, limit {rush.limit}, live in {rush.countdown_s} s")

    async def _ticks(self, publisher: Publisher) -> None:
        last_wall, last_cpu = time.monotonic(), time.process_time()
        last_server = cpu_seconds(self.server_pid) if self.server_pid else None
        latest: list[dict[str, Any]] = [{"open": 0, "errors": 0, "closes": 0} for _ in self.workers]
        while True:
            await asyncio.sleep(TICK_S)
            wall = time.monotonic()
            dt = wall - last_wall
            latency = Histogram()
            claims: dict[str, int] = {}
            worker_cpu = []
            worker_lag = []
            replies = []
            delivery_rate = 0.0
            for i, w in enumerate(self.workers):
                ticks, w.ticks = w.ticks, []
                replies += ticks
                if not ticks:  # a worker too busy to report: it is behind, say so
                    worker_cpu.append(100.0 if w.wall_s else 0.0)
                    worker_lag.append(round((wall - w.wall_s) * 1000) if w.wall_s else 0)
                    continue
                for r in ticks:
                    latency.merge(Histogram.from_wire(r["latency"]))
                    for k, v in r["claims"].items():
                        claims[k] = claims.get(k, 0) + v
                    latest[i] = r  # open sockets, errors and closes are running totals
                last = ticks[-1]
                if w.wall_s:
                    # Rates over the worker's own clock: a late batch of reports is not a spike.
                    span = max(last["wall_s"] - w.wall_s, 1e-3)
                    worker_cpu.append(min(100.0, (last["cpu_s"] - w.cpu_s) / span * 100))
                    delivery_rate += sum(r["deliveries"] for r in ticks) / span
                else:
                    worker_cpu.append(0.0)
                    delivery_rate += sum(r["deliveries"] for r in ticks) / dt
                worker_lag.append(round(max(r["lag_ms"] for r in ticks)))
                w.cpu_s, w.wall_s = last["cpu_s"], last["wall_s"]
            cpu = time.process_time()
            server = cpu_seconds(self.server_pid) if self.server_pid else None
            if server is not None and last_server is not None:
                row_server: float | None = round((server - last_server) / dt * 100, 1)
            else:
                row_server = None
            last_server = server
            rss = rss_bytes(self.server_pid) if self.server_pid else None
            row = {"t": round(wall - self.t0, 2), "phase": self.phase,
                   "connections": sum(r["open"] for r in latest),
                   "deliveries_per_s": round(delivery_rate),
                   "published_per_s": round(publisher.interval_sent / dt),
                   "latency_ms": {k: latency.summary()[k] for k in ("p50", "p99", "max")},
                   "latency_count": latency.total, "claims": claims,
                   "errors": sum(r["errors"] for r in latest) + publisher.errors,
                   "closes": sum(r["closes"] for r in latest),
                   "worker_cpu_pct": [round(c, 1) for c in worker_cpu],
                   "worker_lag_ms": worker_lag,
                   "conductor_cpu_pct": round((cpu - last_cpu) / dt * 100, 1),
                   "server_cpu_pct": row_server,
                   "server_rss_mb": round(rss / 2**20, 1) if rss is not None else None}
            publisher.interval_sent = 0
            last_wall, last_cpu = wall, cpu
            self.timeline.append(row)
            self.progress.show(self.s.name, row)
