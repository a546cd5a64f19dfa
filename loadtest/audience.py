"""One worker process's share of the audience: viewer sockets, what they receive, when, and their claims.

The conductor (`conductor.py`) sends commands over a pipe; each gets at most one reply:

    ("join", n, per_s)              open n more viewer sockets at per_s
    ("join_rooms", rooms, per_s)    many rooms: for each (room, group, n), n sockets of that room, at per_s
    ("leave", n)                    close n sockets (viewers leaving the show)
    ("drop", share)                 abort that share of open sockets at once; they resume by themselves
    ("pause", share) / ("unpause",) that share stops reading (slow consumers), then reads again
    ("arm", deal, share, claims)    that share claims `claims` times the moment its socket sees `deal` live
    ("drain", offset, timeout_s) -> final stats once every open socket has reached `offset` (or timeout);
                                    many rooms: `offset` is {room: its final offset}

and every second, unasked, it sends ("tick", interval stats): a worker too busy to answer on time
still reports, late, and nothing is lost or counted twice.

Latency is measured per delivered comment: its text ends with " lt@<publisher's send time in µs>", and
the arrival time is taken once per frame. Everything is counted in histograms and counters, never lists.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import random
import resource
import time
from collections import Counter, deque
from collections.abc import Coroutine
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from livecart.client import Backoff, ConnectionTerminated, NotConnected, RoomClient
from livecart.protocol import Format, decode
from loadtest.channel import Channel
from loadtest.histogram import Histogram
from loadtest.tokens import mint

__all__ = ["MARKER", "worker_main"]

MARKER = " lt@"
TAPS_PER_PASS = 64  # claimers tapping per pass of a worker's loop (Audience._tap)
STALL_PROBE_S = 0.01  # how often a worker looks for stalls of its own event loop (Audience._probe_stalls)
CLAIM_RETRY_S = 15.0  # how long a claim whose socket dropped waits for it to be back, then counts as lost


class SharedDecoder:
    """Decodes each distinct frame payload once per worker process.

    A room writes each tick's frame to every socket as the same bytes, so a worker holding a thousand
    sockets of the room would decode it a thousand times. Decoded frames are shared: read-only.
    """

    def __init__(self, fmt: str, size: int = 512) -> None:
        self.format = Format.parse(fmt)
        self.size = size
        self.cache: dict[bytes, Any] = {}

    def __call__(self, payload: bytes) -> Any:
        hit = self.cache.get(payload)
        if hit is None:
            hit = decode(payload, self.format)
            if len(self.cache) >= self.size:
                self.cache.clear()  # frames are read within a tick or two: no need to be clever
            self.cache[payload] = hit
        return hit


def stamp_runs(events: list[dict[str, Any]]) -> list[tuple[int, int]]:
    """(publisher's send time in µs, how many) for the marked comments, runs of equal stamps merged.

    The publisher stamps every event of one ingest request alike, so a frame has few runs.
    """
    runs: list[tuple[int, int]] = []
    stamp, run = "", 0
    for event in events:
        text = event.get("text")
        if text is not None:
            i = text.rfind(MARKER)
            if i >= 0:
                sent = text[i + 4:]
                if sent == stamp:
                    run += 1
                    continue
                if run:
                    runs.append((int(stamp), run))
                stamp, run = sent, 1
    if run:
        runs.append((int(stamp), run))
    return runs


@dataclass(slots=True)
class DealWatch:
    deal: str
    claims: int = 0  # claims each armed viewer sends
    rate: float = 0.0  # claims per second from this worker's claimers (0: each sends all at once)
    queue: deque[tuple[Viewer, int]] = field(default_factory=deque)  # (claimer, its next claim): paced
    pacer: asyncio.Task[None] | None = None
    sent_by_user: Counter[str] = field(default_factory=Counter)
    armed: set[int] = field(default_factory=set)
    live_seen: int = 0
    sold_out_seen: int = 0
    last_sold_out_seen: float = 0.0
    first_live_seen: float = 0.0
    sent: int = 0
    answers: int = 0
    errors: int = 0  # answered with an error frame
    failed: int = 0  # no answer: timeout or connection lost
    abandoned: int = 0  # no answer because the viewer left
    resent: int = 0  # claims sent again with their key after the socket dropped before the answer
    won: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    last_ok: float = 0.0
    first_sent: float = 0.0
    first_answer: float = 0.0
    last_answer: float = 0.0
    latency: Histogram = field(default_factory=Histogram)


@dataclass(slots=True)
class Viewer:
    n: int
    user: str
    client: RoomClient
    start: int | None = None  # offset of the first snapshot
    slow: bool = False
    left: bool = False
    dropped_at: float = 0.0
    resume_target: int | None = None
    seen_live: set[str] = field(default_factory=set)
    seen_sold_out: set[str] = field(default_factory=set)
    announcement: str = ""  # the last announcement this socket showed
    anomalies: int = 0  # duplicates + gaps seen so far
    previous: tuple[Any, ...] = ()  # summary of the frame before (see _summary)
    task: asyncio.Task[None] | None = None
    closes_at_leave: Counter[int] | None = None  # the server's closes before the viewer left (cmd_leave)
    room: str = ""  # many rooms: the room of this socket ("" : the worker's one room)
    group: str = ""  # many rooms: its room's group ("small", "big")
    deal_live: bool = False  # a frame showed this socket a live deal


class Audience:
    def __init__(self, conn: Connection, cfg: dict[str, Any]) -> None:
        self.conn = conn
        self.cfg = cfg
        self.viewers: list[Viewer] = []
        self.deals: dict[str, DealWatch] = {}
        self.latency = Histogram()  # readers, whole run (intervals merged in at every tick)
        self.slow_latency = Histogram()  # slow consumers, whole run
        self.group_latency: dict[str, Histogram] = {}  # many rooms: readers by room group, whole run
        self.interval = Histogram()  # readers, since the last tick
        self.deliveries = 0
        self.interval_deliveries = 0
        self.interval_claims: Counter[str] = Counter()
        self.connected = 0  # viewers that got a first frame at least once
        # Kept as they happen: counted each second over 8,000 viewers, they took ~18 ms of the worker's
        # loop, a stall that fell in a rush now and then.
        self.open_sockets = 0
        self.closes = 0
        self.stall_ms = 0.0  # the loop's longest stall since the last tick (_probe_stalls)
        self.errors: Counter[str] = Counter()
        self.resume_s = Histogram()  # drop -> first frame again
        self.caught_up_s = Histogram()  # drop -> every missed event received
        self.pending_resumes = 0
        self.refused_before_drop: int | None = None  # upgrades refused with 503 before the drop
        self.last_announcement = ""
        self.evidence: list[dict[str, Any]] = []
        self.rng = random.Random(cfg["seed"])
        self.decoder = SharedDecoder(cfg["format"])
        self.done = asyncio.Event()
        self.tasks: set[asyncio.Task[Any]] = set()  # the loop keeps only weak references to tasks
        self.taps: deque[tuple[Viewer, DealWatch]] = deque()  # claimers that saw a deal live, to tap

    # -- commands -------------------------------------------------------------------------------
    async def serve(self) -> None:
        self.channel = Channel(self.conn, self._on_command)
        loop = asyncio.get_running_loop()
        ticks = loop.create_task(self._tick_every_second())
        probe = loop.create_task(self._probe_stalls())
        await self.done.wait()
        ticks.cancel()
        probe.cancel()

    async def _tick_every_second(self) -> None:
        next_at = time.monotonic()
        while True:
            next_at += 1.0
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            # How late this timer fired, or any of the probe's since the last tick: an event loop busy
            # with more socket data than it can read, or stopped by a collection, runs its timers
            # late. That lag, not CPU alone, says the loader fell behind.
            lag_ms = max((time.monotonic() - next_at) * 1000, self.stall_ms)
            self.stall_ms = 0.0
            next_at = max(next_at, time.monotonic() - 1.0)
            self.channel.send(("tick", {**self._interval_stats(), "lag_ms": lag_ms}))

    async def _probe_stalls(self) -> None:
        """The longest stall of the loop since the last tick, from a timer every STALL_PROBE_S. The tick's
        one timer a second saw a stall only when it fell on it: a 0.47 s collection inside a claim rush
        (the answers it held unread counted as the node's latency) reported 114 ms."""
        while True:
            due = time.monotonic() + STALL_PROBE_S
            await asyncio.sleep(STALL_PROBE_S)
            self.stall_ms = max(self.stall_ms, (time.monotonic() - due) * 1000)

    def _on_command(self, command: Any) -> None:
        if isinstance(command, EOFError):  # the conductor went away: stop
            self.done.set()
            return
        handler = getattr(self, "cmd_" + command[0])
        result = handler(*command[1:])
        if asyncio.iscoroutine(result):
            self._background(self._reply_later(command[0], result))
        elif result is not None:
            self.channel.send((command[0], result))

    def _background(self, work: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _reply_later(self, name: str, result: Any) -> None:
        reply = await result
        if reply is not None:
            self.channel.send((name, reply))

    async def cmd_join_rooms(self, rooms: list[tuple[str, str, int]], per_s: float) -> None:
        """Many rooms: open each room's sockets, interleaved so every room fills during the ramp."""
        gap = 1.0 / per_s if per_s > 0 else 0.0
        start = time.monotonic()
        left = {room: n for room, _, n in rooms}
        spawned = 0
        while left:
            for room, group, _ in rooms:
                if not left.get(room):
                    continue
                self.group_latency.setdefault(group, Histogram())
                self._spawn(room, group)
                left[room] -= 1
                if not left[room]:
                    del left[room]
                spawned += 1
                delay = start + spawned * gap - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)

    async def cmd_join(self, n: int, per_s: float) -> None:
        gap = 1.0 / per_s if per_s > 0 else 0.0
        start = time.monotonic()
        for i in range(n):
            self._spawn()
            delay = start + (i + 1) * gap - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)

    def cmd_leave(self, n: int) -> None:
        open_ = [v for v in self.viewers if not v.left and v.client.is_open]
        for v in self.rng.sample(open_, min(n, len(open_))):
            v.left = True
            v.closes_at_leave = v.client.closes.copy()
            for watch in self.deals.values():
                watch.armed.discard(v.n)  # a viewer who left claims nothing
            self._background(v.client.close())

    def cmd_drop(self, share: float) -> None:
        now = time.time()
        if self.refused_before_drop is None:  # the storm's refusals are the ones after this
            self.refused_before_drop = self._refused()
        for v in self._share(share):
            v.dropped_at = now
            v.resume_target = None
            self.pending_resumes += 1
            v.client.abort()

    def _refused(self) -> int:
        return sum(v.client.connect_errors.get("HTTP 503", 0) for v in self.viewers)

    def cmd_pause(self, share: float) -> None:
        for v in self._share(share):
            v.slow = True
            v.client.pause_reading()

    def cmd_unpause(self) -> None:
        for v in self.viewers:
            if v.slow:
                v.client.resume_reading()

    def cmd_arm(self, deal: str, share: float, claims: int, rate: float = 0.0) -> None:
        watch = self.deals.setdefault(deal, DealWatch(deal))
        watch.claims = claims
        watch.rate = rate
        for v in self._share(share):
            if deal in v.seen_live:  # this command came late (a busy worker): claim right away
                self._rush(v, watch)
            else:
                watch.armed.add(v.n)

    def cmd_watch(self, deal: str) -> None:
        self.deals.setdefault(deal, DealWatch(deal))

    def cmd_announced(self, text: str) -> None:
        self.last_announcement = text

    def _interval_stats(self) -> dict[str, Any]:
        stats = {"deliveries": self.interval_deliveries, "latency": self.interval.to_wire(),
                 "open": self.open_sockets,
                 "claims": dict(self.interval_claims), "cpu_s": time.process_time(),
                 "wall_s": time.monotonic(),
                 "errors": sum(self.errors.values()),
                 "closes": self.closes}
        self.latency.merge(self.interval)
        self.interval = Histogram()
        self.interval_deliveries = 0
        self.interval_claims = Counter()
        return stats

    async def cmd_drain(self, offset: int | dict[str, int], timeout_s: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            behind = [v for v in self.viewers if not v.left and v.start is not None and v.task is not None
                      and not v.task.done() and (v.client.cursor.last or 0) < _target(offset, v)]
            # A paced rush still sending (its queue) is pending too: a busy machine may have it start late.
            claims_pending = bool(self.taps) or any(w.answers + w.failed + w.abandoned < w.sent or w.queue
                                                    for w in self.deals.values())
            if not behind and not claims_pending and not self.pending_resumes:
                break
            await asyncio.sleep(0.05)
        result = self._final(offset)
        for v in self.viewers:
            v.left = True
        await asyncio.gather(*(v.client.close() for v in self.viewers), return_exceptions=True)
        for v in self.viewers:
            if v.task is not None:
                v.task.cancel()
        self.done.set()
        return result

    # -- sockets ----------------------------------------------------------------------------------
    def _spawn(self, room: str | None = None, group: str = "") -> None:
        n = len(self.viewers)
        user = f"{self.cfg['user_prefix']}{n}"
        room = room or self.cfg["room"]
        token = mint(self.cfg["secret"], "viewer", room, user)
        client = RoomClient(self.cfg["url"], room, token, fmt=self.cfg["format"],
                            decoder=self.decoder, connect_timeout_s=self.cfg["connect_timeout_s"],
                            backoff=Backoff(base_s=self.cfg["backoff_s"], cap_s=self.cfg["backoff_cap_s"]),
                            local_addr=self._source_address(n))
        v = Viewer(n, user, client, room=room if room != self.cfg["room"] else "", group=group)
        client.on_frame = self._frame_handler(v)
        client.on_open = self._opened
        client.on_close = self._closed
        self.viewers.append(v)
        v.task = asyncio.get_running_loop().create_task(self._live(v))

    def _opened(self) -> None:
        self.open_sockets += 1
        if self.open_sockets == len(self.viewers):
            # Every socket is open: what the worker holds now lives as long as the run. A full
            # collection walks all of it (8,000 viewers: 0.13-0.57 s, every second or so while they
            # connected, and once inside a claim rush, where the answers it held unread counted as
            # 0.5 s of the node's latency). Frozen, the collector skips it from now on.
            gc.freeze()

    def _closed(self, code: int) -> None:
        self.open_sockets -= 1
        self.closes += 1

    def _source_address(self, n: int) -> tuple[str, int] | None:
        # Past ~28k sockets one (source, destination) address pair runs out of ephemeral ports;
        # loopback has 127.0.0.0/8 to spread over.
        sources = self.cfg.get("source_ips", 1)
        return (f"127.0.0.{1 + n % sources}", 0) if sources > 1 else None

    async def _live(self, v: Viewer) -> None:
        try:
            await v.client.run()
        except ConnectionTerminated as exc:
            self.errors[f"terminated {exc.code}"] += 1
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a load tool reports every failure instead of dying on it
            self.errors[type(exc).__name__] += 1

    def _share(self, share: float) -> list[Viewer]:
        open_ = [v for v in self.viewers if not v.left and v.client.is_open and not v.slow]
        return self.rng.sample(open_, round(len(open_) * share))

    def _frame_handler(self, v: Viewer) -> Any:
        client = v.client

        def on_frame(frame: dict[str, Any], events: list[dict[str, Any]]) -> None:
            # Evidence for a bug report: the frames around the first duplicate or gap of a socket.
            summary = _summary(frame, client.connects)
            cursor = client.cursor
            if cursor.duplicates + cursor.gaps != v.anomalies:
                v.anomalies = cursor.duplicates + cursor.gaps
                if len(self.evidence) < 5:
                    self.evidence.append({"user": v.user, "cursor_last": cursor.last,
                                          "duplicates": cursor.duplicates, "gaps": cursor.gaps,
                                          "previous_frame": v.previous, "frame": summary})
            v.previous = summary
            if events:
                n = len(events)
                self.deliveries += n
                self.interval_deliveries += n
                now_us = int(time.time() * 1e6)
                hist = self.slow_latency if v.slow else self.interval
                if n == len(frame["events"]):  # the usual case: the frame's runs, found once per frame
                    runs = frame.get("_stamp_runs")
                    if runs is None:
                        runs = frame["_stamp_runs"] = stamp_runs(events)
                else:
                    runs = stamp_runs(events)
                for sent_us, count in runs:
                    hist.record_us(now_us - sent_us, count)
                if v.group and not v.slow:
                    by_group = self.group_latency[v.group]
                    for sent_us, count in runs:
                        by_group.record_us(now_us - sent_us, count)
                if v.resume_target is not None and (client.cursor.last or 0) >= v.resume_target:
                    self._resumed(v, caught_up=True)
            kind = frame["type"]
            announcement = frame.get("announcement")
            if announcement:
                v.announcement = announcement["text"]
            deals = frame.get("deals")
            if deals and not v.deal_live:
                v.deal_live = any(d["state"] == "live" for d in deals)
            if deals and self.deals:
                self._watch_deals(v, deals)
            if kind == "snapshot" or kind == "recovered":
                if v.start is None:
                    v.start = frame["offset"]
                    self.connected += 1
                if v.dropped_at:
                    self.resume_s.record_us(int((time.time() - v.dropped_at) * 1e6))
                    v.resume_target = frame["offset"] if kind == "recovered" else None
                    if v.resume_target is None or (client.cursor.last or 0) >= v.resume_target:
                        self._resumed(v, caught_up=True)

        return on_frame

    def _resumed(self, v: Viewer, caught_up: bool) -> None:
        if v.dropped_at and caught_up:
            self.caught_up_s.record_us(int((time.time() - v.dropped_at) * 1e6))
            v.dropped_at = 0.0
            v.resume_target = None
            self.pending_resumes -= 1

    def _watch_deals(self, v: Viewer, deals: list[dict[str, Any]]) -> None:
        for deal in deals:
            watch = self.deals.get(deal["id"])
            if watch is None:
                continue
            now = time.time()
            if deal["state"] == "live" and watch.deal not in v.seen_live:
                v.seen_live.add(watch.deal)
                watch.live_seen += 1
                watch.first_live_seen = watch.first_live_seen or now
                if v.n in watch.armed:
                    watch.armed.discard(v.n)
                    self._rush(v, watch)
            # Only sockets that saw the deal live time its sell-out (a late joiner's snapshot says nothing).
            if deal["left"] == 0 and watch.deal in v.seen_live and watch.deal not in v.seen_sold_out:
                v.seen_sold_out.add(watch.deal)
                watch.sold_out_seen += 1
                watch.last_sold_out_seen = max(watch.last_sold_out_seen, now)

    def _rush(self, v: Viewer, watch: DealWatch) -> None:
        if watch.rate:
            watch.queue.append((v, 0))
            if watch.pacer is None or watch.pacer.done():
                watch.pacer = asyncio.get_running_loop().create_task(self._pace(watch))
                self.tasks.add(watch.pacer)
                watch.pacer.add_done_callback(self.tasks.discard)
            return
        # A claimer taps `claims` times at once, a few loop passes later at most (_tap).
        if not self.taps:
            asyncio.get_running_loop().call_soon(self._tap)
        self.taps.append((v, watch))

    def _tap(self) -> None:
        """Claimers tap TAPS_PER_PASS at a time, each claimer's claims in one write, now, answered through
        a callback: no task, future or timer per claim, which cost the loader more CPU per claim than
        the node spent on it. Claims still unanswered when the run drains count as failed (_final).

        In slices, not all in the pass that saw the deal go live, and written at once, not at the end of
        the pass: a worker reads the live frame of a thousand sockets in one pass, and tapping them all
        there (a claim is timed from its tap) held the first claims back until the pass ended and their
        answers unread until the next: the loader's own delay, counted as the node's."""
        for _ in range(min(TAPS_PER_PASS, len(self.taps))):
            v, watch = self.taps.popleft()
            if v.left:
                continue
            now = time.perf_counter()
            for k in range(watch.claims):
                self._send_claim(v, watch, k, now)
            v.client.flush()
        if self.taps:
            asyncio.get_running_loop().call_soon(self._tap)

    async def _pace(self, watch: DealWatch) -> None:
        """Claims at `watch.rate` per second, round robin over the claimers still to claim. Open loop:
        the n-th claim is due at start + n / rate whatever the answers do, and its latency counts
        from then, so a loader that falls behind shows as latency instead of hiding it."""
        start = time.perf_counter()
        n = 0
        queue = watch.queue
        while queue:
            now = time.perf_counter()
            due = min(int((now - start) * watch.rate) + 1 - n, len(queue))
            for _ in range(due):
                v, k = queue.popleft()
                if v.left:
                    continue
                self._send_claim(v, watch, k, start + n / watch.rate)
                n += 1
                if k + 1 < watch.claims:
                    queue.append((v, k + 1))
            await asyncio.sleep(0.002)

    def _send_claim(self, v: Viewer, watch: DealWatch, k: int, due: float) -> None:
        watch.sent += 1
        watch.sent_by_user[v.user] += 1
        watch.first_sent = watch.first_sent or time.time()
        # The deal in the key too: the client matches answers by key, and a claimer of two deals at once
        # must not have one answer taken for the other.
        self._claim(v, watch, f"{watch.deal}-{v.user}-{k}", due)

    def _claim(self, v: Viewer, watch: DealWatch, req: str, due: float) -> None:
        try:
            v.client.send_request({"type": "claim", "deal": watch.deal, "qty": 1, "req": req},
                                  functools.partial(self._claim_answered, v, watch, req, due))
        except NotConnected:
            self._background(self._claim_again(v, watch, req, due))

    async def _claim_again(self, v: Viewer, watch: DealWatch, req: str, due: float) -> None:
        """The socket dropped before the answer (or was down when the claim was due): as an app does, send
        the same key again once the socket is back. A claim is idempotent by key, so this claims nothing
        twice and gets the first answer; without it, a claim the server had made was counted as lost."""
        deadline = time.monotonic() + CLAIM_RETRY_S
        while not v.client.is_open:
            if v.left or time.monotonic() > deadline:
                if v.left:  # the viewer left the show while its claim was on the way
                    watch.abandoned += 1
                else:
                    watch.failed += 1
                    self.errors["claim NotConnected"] += 1
                return
            await asyncio.sleep(0.05)
        watch.resent += 1
        self._claim(v, watch, req, due)

    def _claim_answered(self, v: Viewer, watch: DealWatch, req: str, sent: float,
                        answer: dict[str, Any] | None) -> None:
        if answer is None:  # the socket closed before the answer
            if v.left:
                watch.abandoned += 1
            else:
                self._background(self._claim_again(v, watch, req, sent))
            return
        watch.answers += 1
        watch.last_answer = time.time()
        watch.first_answer = watch.first_answer or watch.last_answer
        watch.latency.record_us(int((time.perf_counter() - sent) * 1e6))
        if answer.get("type") != "claim_result":
            watch.errors += 1
            self.errors["claim " + str(answer.get("error"))] += 1
        elif answer["ok"]:
            watch.won[v.user] += answer["claim"]["qty"]
            watch.last_ok = max(watch.last_ok, time.time())
            self.interval_claims["ok"] += 1
        else:
            watch.reasons[answer["reason"]] += 1
            self.interval_claims[answer["reason"]] += 1

    # -- results ----------------------------------------------------------------------------------
    def _final(self, offset: int | dict[str, int]) -> dict[str, Any]:
        for w in self.deals.values():  # no answer by now: given up on
            w.failed += max(0, w.sent - w.answers - w.failed - w.abandoned)
        self.latency.merge(self.interval)
        self.interval = Histogram()
        expected = deliveries = duplicates = gaps = missed = resets = 0
        slow_expected = slow_deliveries = 0
        closes: Counter[int] = Counter()
        slow_closes: Counter[int] = Counter()
        connects = failed = resumes = 0
        connect_errors: Counter[str] = Counter()
        retry_afters: Counter[str] = Counter()
        groups: dict[str, dict[str, int]] = {}  # many rooms: by room group
        for v in self.viewers:
            c = v.client
            connect_errors.update(c.connect_errors)
            retry_afters.update({str(s): n for s, n in c.retry_afters.items()})
            # A viewer who left ended its socket itself: only what the server did before counts. (Its own
            # close can end in 1006 when a lagging loader does not read the server's answer within 2 s.)
            (slow_closes if v.slow else closes).update(v.closes_at_leave if v.closes_at_leave is not None
                                                       else c.closes)
            connects += c.connects
            failed += c.failed_connects
            resumes += c.resumes
            if v.start is None:
                continue
            # A viewer who left is owed what came before its last event (holes count as gaps); its
            # close may still be on the way, so "still open" does not mean it should have more.
            end = (c.cursor.last or 0) if v.left else _target(offset, v)
            got = c.cursor.received
            want = max(end - v.start, got)
            if v.slow:
                slow_expected += want
                slow_deliveries += got
                continue
            expected += want
            deliveries += got
            if v.group:
                g = groups.setdefault(v.group, {"sockets": 0, "expected": 0, "deliveries": 0, "deal_live": 0,
                                                "anomalies": 0})
                g["sockets"] += 1
                g["expected"] += want
                g["deliveries"] += got
                g["deal_live"] += v.deal_live
                g["anomalies"] += c.cursor.duplicates + c.cursor.gaps + c.cursor.missed
            duplicates += c.cursor.duplicates
            gaps += c.cursor.gaps
            missed += c.cursor.missed
            resets += c.cursor.resets
        stayed = [v for v in self.viewers if not v.left and v.client.is_open]
        missed_announcement = (sum(1 for v in stayed if v.announcement != self.last_announcement)
                               if self.last_announcement else 0)
        deals = {d: {"live_seen": w.live_seen,
                     "missed_sold_out": sum(1 for v in stayed
                                            if d in v.seen_live and d not in v.seen_sold_out),
                     "sold_out_seen": w.sold_out_seen,
                     "last_sold_out_seen": w.last_sold_out_seen, "first_live_seen": w.first_live_seen,
                     "armed_left": len(w.armed), "sent": w.sent,
                     "unsent": sum(1 for v, _ in w.queue if not v.left),  # paced claims never sent
                     # {claims sent: users who sent that many}: what the stock owes them (results.py)
                     "users_by_claims": {str(n): users
                                         for n, users in Counter(w.sent_by_user.values()).items()},
                     "answers": w.answers, "errors": w.errors, "resent": w.resent,
                     "failed": w.failed, "abandoned": w.abandoned, "won": dict(w.won),
                     "reasons": dict(w.reasons), "last_ok": w.last_ok,
                     "first_sent": w.first_sent, "first_answer": w.first_answer, "last_answer": w.last_answer,
                     "latency": w.latency.to_wire()}
                 for d, w in self.deals.items()}
        return {"connected": self.connected, "viewers": len(self.viewers), "expected": expected,
                "deliveries": deliveries, "duplicates": duplicates, "gaps": gaps, "missed": missed,
                "resets": resets, "slow": sum(1 for v in self.viewers if v.slow),
                "slow_expected": slow_expected, "slow_deliveries": slow_deliveries,
                "closes": {str(k): n for k, n in closes.items()},
                "slow_closes": {str(k): n for k, n in slow_closes.items()}, "connects": connects,
                "failed_connects": failed, "connect_errors": dict(connect_errors),
                "retry_afters": dict(retry_afters), "resumes": resumes,
                "refused_after_drop": (self._refused() - self.refused_before_drop
                                       if self.refused_before_drop is not None else 0),
                "errors": dict(self.errors),
                "latency": self.latency.to_wire(), "slow_latency": self.slow_latency.to_wire(),
                "resume_s": self.resume_s.to_wire(), "caught_up_s": self.caught_up_s.to_wire(),
                "pending_resumes": self.pending_resumes, "deals": deals,
                "missed_announcement": missed_announcement, "evidence": self.evidence,
                "groups": groups, "group_latency": {g: h.to_wire() for g, h in self.group_latency.items()},
                "cpu_s": time.process_time()}


def _target(offset: int | dict[str, int], v: Viewer) -> int:
    """The offset `v` must reach: the run's one room's, or (many rooms) its own room's."""
    return offset[v.room] if isinstance(offset, dict) else offset


def _summary(frame: dict[str, Any], connection: int) -> tuple[Any, ...]:
    """(type, frame offset, first and last event offset, event count, which connection of the socket)."""
    events = frame.get("events") or ()
    return (frame.get("type"), frame.get("offset"), events[0]["offset"] if events else None,
            events[-1]["offset"] if events else None, len(events), connection)


def raise_fd_limit() -> int:
    """Every socket is a file descriptor: take the hard limit (10,000 sockets need more than 1024)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def worker_main(conn: Connection, cfg: dict[str, Any]) -> None:
    """A worker process's entry point: uvloop, and the audience serving the conductor's commands."""
    import uvloop

    raise_fd_limit()
    gc.set_threshold(50_000, 20, 100)  # as the node (cli.py): a worker makes little cyclic garbage
    uvloop.run(Audience(conn, cfg).serve())
