"""The director: once a second, for every active room, the one node holding the room's lease folds the
room log into the stats buckets, runs the cue engine and publishes the live stats.

A room is active when a node has sockets in it or ingested into it lately (the `lc:rooms` registry).
An active room that is idle is not stepped: nothing new since its last step (the same offset, deals and
viewers, read with the lease in one call), no deal open or scheduled (countdowns), no cue held back by
its cooldown, and nothing in its window recent enough for a rule to look at (each rule's window and
baseline: `Horizons`). A step would compute the same signals from the same data, so it is skipped; only
its last live stats are published again, every IDLE_STATS_S, for a host who opens the room meanwhile.
Every node tries each active room's lease every second; the holder keeps it by renewing (during a pass
that outlasts half a lease too, before each step), and another node takes over `LEASE_MS` after the
holder stops (it died). The new holder warms up from Redis: the
last minutes of buckets, the newest comments, the rule keys that fired in the last day (so it does not
repeat them). What happens in Redis is exact whoever runs: the fold moves a cursor atomically, the cue emit
refuses keys within their cooldown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from livecart.clock import Clock
from livecart.comments import QuestionBoard, QuestionCluster, Segmenter, WordWindow, count_words
from livecart.cues import ONCE_GUARD_MS, ONCE_RULES, CueEngine, RoomView
from livecart.deals import DealState, deal_state
from livecart.errors import StoreUnavailable
from livecart.metrics import Metrics
from livecart.money import LEGACY_CURRENCY
from livecart.stats import Window, fold, merge, to_wire
from livecart.store.cue_store import CueStore
from livecart.store.deal_store import DealStore
from livecart.store.redis_store import RedisStore
from livecart.store.stats_store import IDLE_BATCH, StatsStore
from livecart.store.values import LoggedEvent

__all__ = ["Director"]

log = logging.getLogger("livecart.director")
STEP_S = 1.0
LEASE_MS = 3000
ACTIVE_MS = 10 * 60_000  # a room with no sockets and no ingest for this long is left alone
WINDOW_S = 15 * 60  # seconds of buckets the rules can look back on
FOLD_CHUNK = 5000  # log events folded per room per step (a backlog catches up over a few steps)
DEALS = 20
# Deal states whose cues move with the clock alone (countdowns) or with claims (stock levels).
OPEN_STATES = frozenset({DealState.SCHEDULED, DealState.LIVE, DealState.SOLD_OUT})
FRESH_MS = 60_000  # events older than this when folded are history, not news
RETIRE_EVERY_S = 60.0  # how often the director retires a room's long-closed deals (DealStore.retire)
PURGE_IDLE_EVERY_S = 600.0  # how often a node looks for rooms idle past room_retention_ms
PURGE_IDLE_MAX = 500  # rooms one pass may purge: a backlog drains over a few passes, not in one stall
# Rooms leased in one round trip, then stepped one by one: few enough that a chunk's steps end well
# within the lease's LEASE_MS.
LEASE_CHUNK = 200
IDLE_STATS_S = 10.0  # an idle room's last live stats are published again this often


@dataclass(slots=True)
class RoomDesk:
    """What the director keeps for a room it runs (rebuilt from Redis when it takes a room over)."""

    engine: CueEngine
    window: Window = field(default_factory=Window)
    board: QuestionBoard = field(default_factory=QuestionBoard)
    words: WordWindow = field(default_factory=WordWindow)  # each recent comment's words, bounded in bytes
    # The room's currency, read once the room has money: from then on it cannot change (set_currency.lua);
    # before, every amount is 0, the same in any currency.
    currency: str | None = None
    seen: tuple[int, int, int] | None = None  # (offset, deals, viewers online) read before the last step
    open_deals: bool = True  # a deal was scheduled, live or sold out at the last step
    marked: set[str] = field(default_factory=set)  # funnel marks written (stats.mark: true once)
    stats: dict[str, Any] | None = None  # the live stats last published
    stats_at: float = 0.0  # when (monotonic)


@dataclass(frozen=True, slots=True)
class Horizons:
    """How far back (seconds) the rules look into a room's window: for the viewer gauge (rules named
    viewer_*) and for everything else. Data older than that cannot change a signal."""

    viewers_s: int
    events_s: int

    @classmethod
    def of(cls, rules: Mapping[str, Mapping[str, Any]]) -> Horizons:
        def reach(cfg: Mapping[str, Any]) -> int:
            return math.ceil(float(cfg.get("window_s", 0)) + float(cfg.get("baseline_s", 0)))

        viewers = [reach(c) for name, c in rules.items() if name.startswith("viewer_")]
        events = [reach(c) for name, c in rules.items() if not name.startswith("viewer_")]
        return cls(max(viewers, default=0), max(events, default=0))

    def quiet(self, window: Window, second: int) -> bool:
        """Nothing in `window` that a rule reads at `second` and might read differently later."""
        for s, bucket in window.buckets.items():
            if "viewers" in bucket and s >= second - self.viewers_s:
                return False
            if s >= second - self.events_s and any(k != "viewers" for k in bucket):
                return False
        return True


class Director:
    def __init__(self, store: RedisStore, deal_store: DealStore, cue_store: CueStore, stats_store: StatsStore,
                 *, clock: Clock, node_id: str, rules: Mapping[str, Mapping[str, Any]], lang: str,
                 local_rooms: Iterable[str], metrics: Metrics,
                 deal_retention_ms: int = 7 * 86_400_000, room_retention_ms: int = 30 * 86_400_000,
                 step_s: float = STEP_S) -> None:
        self.store, self.deal_store, self.cue_store, self.stats = store, deal_store, cue_store, stats_store
        self.clock = clock
        self.step_s = step_s
        self.node_id = node_id
        self.rules = rules
        self.lang = lang
        self.local_rooms = local_rooms  # a live view of the rooms with sockets on this node (hub.rooms)
        self.metrics = metrics
        self.segmenter = Segmenter()
        self.horizons = Horizons.of(rules)
        self.desks: dict[str, RoomDesk] = {}
        self.touched: set[str] = set()
        self.steps: dict[str, int] = {}  # room -> steps this node ran (tests check "exactly one node")
        self.idle: dict[str, int] = {}  # room -> steps skipped because the room was idle
        self.deal_retention_ms = deal_retention_ms
        self.room_retention_ms = room_retention_ms
        self._idle_checked = -PURGE_IDLE_EVERY_S  # monotonic time of the last idle-room purge
        self._retired_at: dict[str, float] = {}  # room -> when this node last retired its old deals
        # The rooms whose lease this pass took or kept, and when their leases were last renewed (a pass
        # longer than half a lease renews them before its next step: `_keep_leases`).
        self._held: set[str] = set()
        self._renewed_at = 0.0

    def touch(self, room: str) -> None:
        """This node saw activity in `room` (ingest): it is registered on the next step, no Redis call."""
        self.touched.add(room)

    async def run(self) -> None:
        await asyncio.to_thread(self.segmenter.warm)  # jieba's dictionary, off the event loop
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:
            # A fixed rate, not a fixed pause: a slow step must not stretch the 2 s low_stock promise.
            due = max(due + self.step_s, loop.time())
            await asyncio.sleep(due - loop.time())
            try:
                await self.step_all()
            except StoreUnavailable:
                continue

    async def step_all(self) -> None:
        now = self.clock.now_ms()
        touched, self.touched = self.touched | set(self.local_rooms), set()
        await self.stats.touch(touched, now)
        active = await self.stats.active_rooms(now - ACTIVE_MS)
        for gone in set(self.desks) - set(active):  # quiet for ACTIVE_MS: forget it
            del self.desks[gone]
            self.steps.pop(gone, None)
            self.idle.pop(gone, None)
        self._held, self._renewed_at = set(), time.monotonic()
        for start in range(0, len(active), LEASE_CHUNK):
            await self._step_chunk(active[start : start + LEASE_CHUNK], now)
        self.metrics.directed_rooms.set(len(self.desks))
        await self._retire_deals()
        await self._purge_idle_rooms(now)

    async def _step_chunk(self, rooms: list[str], now: int) -> None:
        """Lease (and read the news markers of) these rooms in one round trip, then step each one of
        ours that is not idle."""
        leased = list(zip(rooms, await self.cue_store.lease_news(rooms, self.node_id, LEASE_MS, now),
                          strict=True))
        self._held.update(room for room, news in leased if news is not None)
        for room, news in leased:
            await self._keep_leases()
            if news is None or room not in self._held:
                self.desks.pop(room, None)  # someone else runs it; on takeover we warm up afresh
                continue
            desk = self.desks.get(room)
            if desk is not None and self._idle(desk, news, now):
                self.idle[room] = self.idle.get(room, 0) + 1
                await self._republish_stats(room, desk, now)
                continue
            started = time.perf_counter()
            try:
                await self.step(room)
                if (desk := self.desks.get(room)) is not None:
                    desk.seen = news
                self.metrics.director_seconds.observe(time.perf_counter() - started)
            except StoreUnavailable:
                raise
            except Exception:
                # A bug met by one room's data must not silence every other room: say it loudly,
                # forget this room's memory (the next step rebuilds it from Redis) and go on.
                log.exception("director step failed in room %s", room, extra={"room": room})
                self.desks.pop(room, None)

    async def _keep_leases(self) -> None:
        """Renew the leases this pass holds once half a lease has gone by: a pass that outlasts LEASE_MS
        (many rooms with news, or a takeover's cold steps) must not lose the rooms it stepped first to
        another node while it steps the rest, nor step a room whose lease lapsed meanwhile."""
        if time.monotonic() - self._renewed_at < LEASE_MS / 2000 or not self._held:
            return
        self._renewed_at = time.monotonic()
        held = sorted(self._held)
        renewed = await self.cue_store.lease_news(held, self.node_id, LEASE_MS, self.clock.now_ms())
        self._held = {room for room, news in zip(held, renewed, strict=True) if news is not None}

    def _idle(self, desk: RoomDesk, news: tuple[int, int, int], now_ms: int) -> bool:
        """Would a step of this room compute what the last one did? (The module docstring says when.)"""
        return (news == desk.seen and not desk.open_deals and not desk.engine.waiting
                and self.horizons.quiet(desk.window, now_ms // 1000))

    async def _republish_stats(self, room: str, desk: RoomDesk, now_ms: int) -> None:
        if desk.stats is None or time.monotonic() - desk.stats_at < IDLE_STATS_S:
            return
        desk.stats_at = time.monotonic()
        with contextlib.suppress(StoreUnavailable):
            await self.cue_store.publish_stats(room, dict(desk.stats, now=now_ms))

    async def _purge_idle_rooms(self, now_ms: int) -> None:
        """Every ten minutes: delete the rooms with no activity for room_retention_ms (any node may do
        it; a purge twice is harmless). A room with sockets on this node is active, never idle."""
        if time.monotonic() - self._idle_checked < PURGE_IDLE_EVERY_S or self.room_retention_ms <= 0:
            return
        self._idle_checked = time.monotonic()
        local = set(self.local_rooms)
        kept = purged = 0  # the oldest `kept` idle rooms stay (sockets here): page past them
        while purged < PURGE_IDLE_MAX:
            batch = await self.stats.idle_rooms(now_ms - self.room_retention_ms, offset=kept)
            for room in batch:
                if room in local:
                    kept += 1
                    continue
                log.info("purging room %s: idle for longer than the retention", room, extra={"room": room})
                await self.store.purge_room(room)
                purged += 1
            if len(batch) < IDLE_BATCH:
                break

    async def _retire_deals(self) -> None:
        """Once a minute per room this node directs: retire the deals closed longer than the retention
        (their keys, claim records and holds; the report can be made until then)."""
        now = time.monotonic()
        for gone in set(self._retired_at) - set(self.desks):
            del self._retired_at[gone]
        for room in list(self.desks):
            if now - self._retired_at.get(room, 0.0) >= RETIRE_EVERY_S:
                self._retired_at[room] = now
                await self.deal_store.retire(room, self.deal_retention_ms)

    async def step(self, room: str) -> None:
        now = self.clock.now_ms()
        desk = self.desks.get(room)
        if desk is None:
            desk = self.desks[room] = await self._warm(room, now)
        inputs = await self.stats.director_inputs(room, now, FOLD_CHUNK, DEALS)
        cursor, epoch, logged, deals = inputs.cursor, inputs.epoch, inputs.logged, inputs.deals
        if cursor.epoch and epoch != cursor.epoch:  # the room's history was reset: fold the new one
            epoch, logged = await self.stats.log_after(room, 0, FOLD_CHUNK)
        desk.open_deals = any(deal_state(d, now) in OPEN_STATES for d in deals)
        counters, online = inputs.counters, inputs.online
        claims = sum(int(d.get("claims", 0)) for d in deals)
        rejections = sum(int(v) for d in deals for k, v in d.items() if k.startswith("rej_"))
        deltas = fold(logged)
        second = now // 1000
        current: dict[str, int] = {}
        # Viewers: livecart's own viewer sockets plus the platform audience its connector reports,
        # stored when the number changes (readers carry it forward), not as a bucket every second.
        viewers = online + max(0, counters.get("joins", 0) - counters.get("leaves", 0))
        if viewers != desk.window.viewers(second):
            current["viewers"] = viewers
        # Claims are not room events: count the growth of the deals' totals since the last fold (from 0
        # on a room's first fold, so claims made before anyone watched the room count too).
        for name, total, before in (("claims", claims, cursor.claims),
                                    ("claim_rejections", rejections, cursor.rejections)):
            if total > (before or 0):
                current[name] = total - (before or 0)
        if current:
            merge(deltas, second, current)
        offset = cursor.offset if cursor.epoch == epoch else 0
        if logged:
            offset = int(logged[-1][0]["offset"])
        if not await self.stats.fold(room, cursor.at, f"{epoch}:{offset}" if epoch else "", claims,
                                     rejections, deltas):
            self.desks.pop(room, None)  # someone else folded meanwhile: our memory is stale
            return
        for s, bucket in deltas.items():
            desk.window.add(s, bucket)
        desk.window.trim(second - WINDOW_S)
        self._read_comments(desk, logged)
        await self._mark_funnel(room, desk, deals, viewers, now)
        desk.board.answered.update(inputs.answered)
        hot_cfg = self.rules.get("hot_words", {})
        hot_from = now - int(hot_cfg.get("window_s", 60)) * 1000
        desk.words.trim(hot_from)
        words = count_words(desk.words.lists(), max(10, int(hot_cfg.get("top", 10))))
        clusters = desk.board.clusters(now)
        # Only fresh events deserve a thank-you: a first fold of a long history must not thank everyone.
        fresh = [e for e, _t in logged if int(e["ts"]) >= now - FRESH_MS]
        view = RoomView(now_ms=now, window=desk.window, deals=deals, follows=counters.get("follows", 0),
                        new_events=fresh, questions=clusters, hot_words=words)
        for cue in await self.cue_store.emit(room, desk.engine.step(view), now):
            self.metrics.cues.labels(cue.kind).inc()
        self.steps[room] = self.steps.get(room, 0) + 1
        await self._publish_stats(room, desk, now, clusters, words)

    async def _warm(self, room: str, now: int) -> RoomDesk:
        engine = CueEngine(self.rules, self.lang)
        keys = await self.cue_store.recent_keys(room, now - ONCE_GUARD_MS)
        engine.active.update(keys)  # said lately: stays quiet unless it clears and comes back
        engine.said.update(k for k in keys if k.split(":", 1)[0] in ONCE_RULES)
        desk = RoomDesk(engine=engine)
        desk.board.window_ms = int(self.rules.get("questions", {}).get("window_s", 300)) * 1000
        second = now // 1000
        for s, bucket in (await self.stats.buckets(room, second - WINDOW_S, second + 1)).items():
            desk.window.add(s, bucket)
        cursor = await self.stats.cursor(room)
        recent = [(e, t) for e, t in await self.stats.log_before(room, 2000)
                  if int(e["offset"]) <= cursor.offset and e["type"] == "comment"
                  and int(e["ts"]) > now - desk.board.window_ms]
        self._read_comments(desk, recent)
        return desk

    def _read_comments(self, desk: RoomDesk, logged: list[LoggedEvent]) -> None:
        for event, _t in logged:
            if event["type"] == "comment":
                ts = int(event["ts"])
                desk.board.add(ts, event["user"]["id"], event["text"])
                desk.words.add(ts, self.segmenter.words(event["text"]))

    async def _mark_funnel(self, room: str, desk: RoomDesk, deals: list[dict[str, str]], viewers: int,
                           now: int) -> None:
        """Funnel facts true once (stats.mark writes each only if absent): each is sent once per desk,
        not every second while its deal is live."""
        marks: dict[str, int] = {}
        for d in deals:
            state = deal_state(d, now)
            if state is DealState.LIVE:
                marks[f"{d['id']}:launch_viewers"] = viewers
            elif state is DealState.SOLD_OUT:
                marks[f"{d['id']}:sold_out_at"] = now
        marks = {name: value for name, value in marks.items() if name not in desk.marked}
        await self.stats.mark(room, marks)
        desk.marked.update(marks)

    async def _publish_stats(self, room: str, desk: RoomDesk, now: int, clusters: list[QuestionCluster],
                             words: list[tuple[str, int]]) -> None:
        second = now // 1000
        w = desk.window
        last_min = {m: w.total(m, second - 59, second + 1)
                    for m in ("comments", "likes", "orders", "gmv_cents", "claims", "claim_rejections",
                              "entries", "leaves", "follows")}
        if desk.currency is None and last_min["gmv_cents"]:
            with contextlib.suppress(StoreUnavailable):
                desk.currency = await self.store.room_currency(room)
        live = {
            "now": now,
            "viewers": w.viewers(second) or 0,
            "last_min": to_wire(last_min, desk.currency or LEGACY_CURRENCY),
            "questions": [c.to_wire() for c in clusters[:5]],
            "hot_words": [[word, n] for word, n in words[:10]],
        }
        desk.stats, desk.stats_at = live, time.monotonic()
        with contextlib.suppress(StoreUnavailable):  # a lost stats frame is replaced a second later
            await self.cue_store.publish_stats(room, live)

