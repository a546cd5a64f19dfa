"""The `lucky-bag` scenario: N viewers enter a lucky bag by comment within seconds, the draw runs, and
the tool checks the winners against its own recomputation of the published draw.

    open    the console API opens a bag (keyword 福袋, `winners` prizes, the presence rule on); an
            overlay socket and `sockets` viewer sockets watch the room
    enter   N - sockets entrants comment the keyword through ingest (batches of 500, as a platform
            connector sends them), the viewer sockets each send one keyword comment; a share of the
            ingest entrants (`leave_share`) then leaves the room before the draw
    close   as soon as the overlay counts every entrant: the console's "draw now" (`--close console`,
            the default), or the bag's own end (`--close timer`, after `--duration`, at least 30 s)
    check   the draw record (GET …/bags/{bag}/record) against the tool's own implementation of
            livecart-draw-v1 (docs/protocol.md "Lucky bags"; nothing imported from the server): the seed
            matches the commitment, the entrants are exactly those who entered, the absent ones are
            exactly those who left, and the winners are what the draw gives; the overlay and every
            socket show those winners, and each winning socket got its `won` frame

Numbers: entries/s (first entry sent to the overlay showing all N), the time from the bag's close to
the winners on the overlay and on every socket (latency_ms), and the draw's own time in the node.
Clocks: close times are the server's (Redis TIME), arrival times the loader's: run both on one host.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
import websockets

from loadtest.histogram import Histogram
from loadtest.publisher import Console
from loadtest.scenarios import Scenario
from loadtest.tokens import mint

__all__ = ["LuckyBagRun", "recompute_winners"]

KEYWORD = "福袋"
BATCH = 500
WINNERS = 10


def ranking(seed: str, entrants: list[str]) -> list[str]:
    """livecart-draw-v1, from its published description: entrants by SHA-256(seed ":" id), then id."""
    return sorted(set(entrants), key=lambda u: (hashlib.sha256(f"{seed}:{u}".encode()).hexdigest(), u))


def recompute_winners(seed: str, entrants: list[str], count: int, absent: list[str]) -> list[str]:
    skip = set(absent)
    return [u for u in ranking(seed, entrants) if u not in skip][:count]


@dataclass
class Watcher:
    """One socket watching the room: when it saw every entrant counted, and the winners."""

    user: str | None
    ws: Any = None
    counted_at: float | None = None  # loader time (s) the bag first showed every entrant
    winners_at: float | None = None
    winners: list[str] = field(default_factory=list)
    won: dict[str, Any] | None = None
    entry: str | None = None  # the bag_entry result of its keyword comment
    errors: list[str] = field(default_factory=list)


class LuckyBagRun:
    def __init__(self, scenario: Scenario, *, url: str, room: str | None, secret: str, quiet: bool,
                 drain_s: float) -> None:
        self.s = scenario
        self.url = url.rstrip("/")
        self.room = room or f"bag-{uuid.uuid4().hex[:8]}"
        self.secret = secret
        self.quiet = quiet
        self.drain_s = drain_s
        self.close = str(scenario.extra.get("close", "console"))
        self.socket_entrants = min(int(scenario.extra.get("sockets", 200)), scenario.clients)
        self.leave_share = float(scenario.extra.get("leave_share", 0.1))
        self.loadavg_before = os.getloadavg()
        self.changed = asyncio.Event()  # a socket saw something: _until looks again

    def say(self, text: str) -> None:
        if not self.quiet:
            print(f"[lucky-bag] {text}", flush=True)

    async def run(self) -> dict[str, Any]:
        n = self.s.clients
        tokens = {role: mint(self.secret, role, self.room, "loadtest") for role in ("ingest", "assistant")}
        async with aiohttp.ClientSession() as session:
            console = Console(session, self.url, self.room, tokens)
            await console.offset()  # fails fast on a wrong URL or secret
            overlay = Watcher(None)
            viewers = [Watcher(f"s{i}") for i in range(self.socket_entrants)]
            watchers = [overlay, *viewers]
            await asyncio.gather(*(self._connect(w) for w in watchers))
            readers = [asyncio.create_task(self._read(w, n)) for w in watchers]
            # With the console's close the bag stays open as long as the entries take (the draw closes it).
            duration = max(30, int(self.s.duration)) if self.close == "timer" else 1800
            status, body = await console.call("POST", "/bags", "assistant", {
                "product": {"id": "bag-prize", "name": "Mystery box"}, "winners": WINNERS,
                "keyword": KEYWORD, "duration_s": duration, "claim_s": 600, "rules": {"present": True}},
                idempotency_key=uuid.uuid4().hex)
            if status != 201:
                raise RuntimeError(f"open the bag: {status} {body}")
            bag = body["bag"]
            self.say(f"bag {bag['id']} open in room {self.room}; {n} entrants")
            ingest_users = [f"p{i}" for i in range(n - self.socket_entrants)]
            started = time.time()
            sent = await self._enter(console, ingest_users, viewers)
            leavers = ingest_users[:int(len(ingest_users) * self.leave_share)]
            await self._ingest(console, [{"id": f"leave-{u}", "type": "leave",
                                          "user": {"id": u, "name": u}} for u in leavers])
            await self._until(lambda: overlay.counted_at is not None, self.drain_s)
            if self.close == "console":
                status, body = await console.call("POST", f"/bags/{bag['id']}/draw", "assistant",
                                                  idempotency_key=uuid.uuid4().hex)
                if status != 200:
                    raise RuntimeError(f"draw: {status} {body}")
            await self._until(lambda: all(w.winners_at is not None for w in watchers),
                              self.drain_s + (duration if self.close == "timer" else 0))
            await asyncio.sleep(0.5)  # the winners' `won` frames may trail the batch a little
            for task in readers:
                task.cancel()
            await asyncio.gather(*readers, return_exceptions=True)
            for w in watchers:
                await w.ws.close()
            status, record = await console.call("GET", f"/bags/{bag['id']}/record", "assistant")
        return self._result(record if status == 200 else {}, bag, overlay, viewers, started, sent,
                            ingest_users, leavers)

    async def _connect(self, w: Watcher) -> None:
        role = "overlay" if w.user is None else "viewer"
        token = mint(self.secret, role, self.room, w.user)
        ws_url = self.url.replace("http", "ws", 1)
        w.ws = await websockets.connect(f"{ws_url}/ws/rooms/{self.room}?token={token}&format=json",
                                        max_size=2**24)

    async def _read(self, w: Watcher, n: int) -> None:
        async for raw in w.ws:
            frame = orjson.loads(raw)
            bag = frame.get("bag")
            if isinstance(bag, dict):
                if w.counted_at is None and bag.get("entrants") == n:
                    w.counted_at = time.time()
                if w.winners_at is None and bag.get("winners") and bag.get("round", 0) >= 1:
                    w.winners_at = time.time()
                    w.winners = [x["user"] for x in bag["winners"] if x["round"] == 1]
            kind = frame["type"]
            self.changed.set()
            if kind == "won":
                w.won = frame
            elif kind == "bag_entry":
                w.entry = frame["result"]
            elif kind == "error":
                w.errors.append(frame.get("error", "?"))

    async def _enter(self, console: Console, users: list[str], viewers: list[Watcher]) -> int:
        comments = [{"id": f"e-{u}", "type": "comment", "text": f"{KEYWORD}！我要",
                     "user": {"id": u, "name": u}} for u in users]
        await asyncio.gather(
            self._ingest(console, comments),
            *(v.ws.send(orjson.dumps({"type": "comment", "text": KEYWORD, "req": "enter"}).decode())
              for v in viewers))
        return len(comments) + len(viewers)

    async def _ingest(self, console: Console, events: list[dict[str, Any]]) -> None:
        """Post `events` in batches of BATCH, four at a time, honouring 429 Retry-After."""
        batches = [events[i:i + BATCH] for i in range(0, len(events), BATCH)]
        queue = list(reversed(batches))

        async def post() -> None:
            while queue:
                batch = queue.pop()
                while True:
                    try:
                        status, body = await console.call("POST", "/events", "ingest", batch)
                    except (aiohttp.ClientError, TimeoutError):
                        status, body = 503, None  # ingest is idempotent by event id: send it again
                    if status == 200:
                        break
                    if status in (429, 503):
                        await asyncio.sleep(0.2)
                        continue
                    raise RuntimeError(f"ingest: {status} {body}")

        await asyncio.gather(*(post() for _ in range(4)))

    async def _until(self, done: Any, limit_s: float) -> None:
        """Wait until `done()` (checked whenever a socket saw a change of the bag), at most `limit_s`."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(limit_s):
                while not done():
                    self.changed.clear()
                    await self.changed.wait()

    def _result(self, record: dict[str, Any], bag: dict[str, Any], overlay: Watcher,
                viewers: list[Watcher], started: float, sent: int, ingest_users: list[str],
                leavers: list[str]) -> dict[str, Any]:
        reasons: list[str] = []
        entered = sorted(ingest_users + [v.user for v in viewers if v.user])
        n = len(entered)
        if not record:
            reasons.append("no draw record")
            record = {"seed": "", "commitment": "", "entrants": [], "rounds": [{"winners": [], "absent": []}]}
        rnd = record["rounds"][0] if record.get("rounds") else {"winners": [], "absent": []}
        if hashlib.sha256(record["seed"].encode()).hexdigest() != record["commitment"]:
            reasons.append("the seed does not match the commitment")
        if record["commitment"] != bag["commitment"]:
            reasons.append("the record's commitment is not the one published when the bag opened")
        if record["entrants"] != entered:
            reasons.append(f"entrants: the record has {len(record['entrants'])}, the tool entered {n}")
        if sorted(rnd["absent"]) != sorted(leavers):
            reasons.append(f"absent: the record has {len(rnd['absent'])}, {len(leavers)} left")
        expected = recompute_winners(record["seed"], entered, WINNERS, leavers)
        if rnd["winners"] != expected:
            reasons.append(f"winners {rnd['winners']} are not the recomputed {expected}")
        watchers = [overlay, *viewers]
        shown = [w for w in watchers if w.winners_at is not None]
        if any(sorted(w.winners) != sorted(expected) for w in shown):
            reasons.append("a socket showed other winners")
        if len(shown) < len(watchers):
            reasons.append(f"{len(watchers) - len(shown)} sockets never saw the winners")
        winning_sockets = [v for v in viewers if v.user in expected]
        if any(v.won is None for v in winning_sockets):
            reasons.append("a winning viewer socket got no `won` frame")
        if any(v.entry != "entered" for v in viewers):
            odd = sorted({str(v.entry) for v in viewers} - {"entered"})
            reasons.append(f"socket entries not entered: {odd}")
        # The close: the console's draw freezes the bag (closed_at); with the timer it closes at ends_at,
        # and the node's timer (every 100 ms) notices a little later, which the user sees too.
        closed_at = int(record.get("ends_at" if self.close == "timer" else "closed_at") or 0) / 1000
        latencies = Histogram()
        for w in shown:
            latencies.record_ms(max(0.0, (w.winners_at or 0) - closed_at) * 1000)
        counted = overlay.counted_at
        entries_s = (counted - started) if counted else None
        closed_ms = int(record.get("closed_at") or 0)
        draw_ms = int(rnd.get("drawn_at", 0)) - closed_ms if closed_ms else None
        summary = latencies.summary()
        lat = {"p50": summary["p50"], "p99": summary["p99"], "max": summary["max"]}
        section = {
            "entrants": n, "entries_sent": sent, "via_ingest": len(ingest_users), "via_sockets": len(viewers),
            "left_before_draw": len(leavers), "winners": expected, "close": self.close,
            "entries_per_s": round(n / entries_s, 1) if entries_s else None,
            "entries_counted_s": round(entries_s, 3) if entries_s else None,
            "close_to_winners_on_overlay_ms": round(((overlay.winners_at or 0) - closed_at) * 1000, 1)
            if overlay.winners_at else None,
            "draw_in_node_ms": draw_ms, "bag": bag["id"], "commitment": record["commitment"],
            "seed": record["seed"], "recomputed": rnd["winners"] == expected,
        }
        return {
            "scenario": "lucky-bag", "room": self.room, "clients_connected": len(watchers),
            "deliveries_expected": len(watchers), "deliveries": len(shown),
            "completeness_pct": round(100 * len(shown) / len(watchers), 2), "duplicates": 0, "gaps": 0,
            "latency_ms": lat, "latency_is": "bag close (server clock) to the winners on each socket",
            "loader": {"note": "one process", "worker_cpu_pct_mean": 0, "deliveries_per_loader_cpu_s": 0},
            "timeline": [], "lucky_bag": section, "meta": {
                "started_at": started, "url": self.url, "room": self.room, "workers": 1,
                "loadavg_before": self.loadavg_before, "loadavg_after": os.getloadavg()},
            "sockets": {"closes_by_code": {}, "resumes": 0}, "publisher": {"events_sent": sent},
            "settings": {"clients": n, "sockets": len(viewers), "close": self.close, "winners": WINNERS,
                         "leave_share": self.leave_share, "url": self.url},
            "verdict": "pass" if not reasons else "fail", "reasons": reasons,
        }
