"""The platform side of a show: comments and likes ingested at a rate; deals, pins, announcements.

Publishing is open loop (it never waits for the server to catch up): every 10 ms the events due by
then go out as one ingest request, up to 16 requests in flight; each comment's text ends with
" lt@<send time in µs>", the marker the audience measures latency from. Bodies that fail are sent again
(ingest is idempotent by event id) until the run's deadline. `RoomsPublisher` does the same for many
rooms at once, each at its own steady rate (an ingest request per room and event).
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Callable
from typing import Any

import aiohttp
import orjson

from loadtest.audience import MARKER
from loadtest.corpus import NAMES, comment_text

__all__ = ["Console", "Publisher", "RoomsPublisher"]

STEP_S = 0.01
MAX_INFLIGHT = 16


class Console:
    """HTTP calls to the node's public API with the tokens of the roles that may make them."""

    def __init__(self, session: aiohttp.ClientSession, url: str, room: str, tokens: dict[str, str]) -> None:
        self.session = session
        self.url = url.rstrip("/")
        self.room = room
        self.tokens = tokens

    async def call(self, method: str, path: str, role: str, body: Any = None,
                   idempotency_key: str | None = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.tokens[role]}", "Content-Type": "application/json"}
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        async with self.session.request(
            method, f"{self.url}/api/rooms/{self.room}{path}",
            data=None if body is None else orjson.dumps(body), headers=headers,
            timeout=aiohttp.ClientTimeout(total=10),
        ) as resp:
            return resp.status, orjson.loads(await resp.read())

    async def offset(self) -> int:
        status, state = await self.call("GET", "/state", "ingest")
        if status != 200:
            raise RuntimeError(f"GET state: {status} {state}")
        return int(state["offset"])

    async def server_now(self) -> int:
        status, body = await self.call("GET", "/deals", "assistant")
        if status != 200:
            raise RuntimeError(f"GET deals: {status} {body}")
        return int(body["now"])

    async def create_deal(self, name: str, stock: int, limit: int, start_in_s: float | None,
                          duration_s: int = 600) -> dict[str, Any]:
        """A deal that goes live `start_in_s` from the server's now (None: live at once)."""
        start_at = None if start_in_s is None else await self.server_now() + int(start_in_s * 1000)
        spec = {"product": {"id": name, "name": name}, "price": 199.0, "deal_price": 99.0, "stock": stock,
                "limit_per_user": limit, "duration_s": duration_s, "start_at": start_at}
        key = uuid.uuid4().hex  # one per deal: a retry after a 503 or a lost answer creates it once
        for attempt in range(3):
            try:
                status, body = await self.call("POST", "/deals", "assistant", spec, idempotency_key=key)
            except (aiohttp.ClientError, TimeoutError):
                if attempt == 2:
                    raise
                status, body = 503, None
            if status != 503:
                break
            await asyncio.sleep(0.5 * (attempt + 1))
        if status != 201:
            raise RuntimeError(f"create deal: {status} {body}")
        return body["deal"]  # type: ignore[no-any-return]  # JSON Any: a DEAL map

    async def deal(self, deal_id: str) -> dict[str, Any]:
        _, body = await self.call("GET", "/deals", "assistant")
        return next(d for d in body["deals"] if d["id"] == deal_id)

    async def announce(self, text: str) -> None:
        status, body = await self.call("POST", "/announcement", "assistant", {"text": text})
        if status != 200:
            raise RuntimeError(f"announcement: {status} {body}")

    async def pin(self, name: str, deal_id: str) -> None:
        await self.call("POST", "/pin", "assistant", {"product": {"name": name, "deal_id": deal_id}})


class Publisher:
    """Ingests events at `rate(t)` per second (t: seconds since start) until stopped."""

    def __init__(self, console: Console, rate: Callable[[float], float], *, like_share: float,
                 text_size: int, seed: int = 1) -> None:
        self.console = console
        self.rate = rate
        self.like_share = like_share
        self.text_size = text_size
        self.rng = random.Random(seed)
        self.sent = 0  # events handed to the server and accepted (or duplicates)
        self.interval_sent = 0
        self.errors = 0
        self.retries = 0
        self.seq = 0
        self.inflight: set[asyncio.Task[None]] = set()

    async def run(self, duration_s: float, deadline: float) -> None:
        start = time.monotonic()
        due = 0.0
        last = start
        while (now := time.monotonic()) - start < duration_s:
            due += self.rate(now - start) * (now - last)
            last = now
            batch: list[dict[str, Any]] = []
            while due >= 1 and len(batch) < 2000:
                due -= 1
                batch.append(self._next())
            if batch:
                while len(self.inflight) >= MAX_INFLIGHT:
                    await asyncio.wait(self.inflight, return_when=asyncio.FIRST_COMPLETED)
                task = asyncio.get_running_loop().create_task(self._post(self.console, batch, deadline))
                self.inflight.add(task)
                task.add_done_callback(self.inflight.discard)
            await asyncio.sleep(STEP_S)
        if self.inflight:
            await asyncio.wait(self.inflight)

    def _next(self) -> dict[str, Any]:
        if self.rng.random() < self.like_share:
            return self._event("like", count=self.rng.choice((1, 1, 1, 3, 10)))
        return self._event("comment", text=comment_text(self.rng, self.text_size))

    def _event(self, kind: str, **fields: Any) -> dict[str, Any]:
        self.seq += 1
        user = {"id": f"p{self.rng.randrange(100_000)}", "name": self.rng.choice(NAMES)}
        return {"id": f"lt{self.seq}", "type": kind, "user": user, **fields}

    async def _post(self, console: Console, batch: list[dict[str, Any]], deadline: float) -> None:
        stamp = str(int(time.time() * 1e6))
        for event in batch:
            if event["type"] == "comment":
                event["text"] += MARKER + stamp
        while True:
            try:
                status, body = await console.call("POST", "/events", "ingest", batch)
                if status == 200 and not body["rejected"]:
                    self.sent += len(batch)
                    self.interval_sent += len(batch)
                    return
                self.errors += 1
                if status < 500 and status != 429:
                    return  # refused for good: counted, not retried
            except (aiohttp.ClientError, TimeoutError, OSError):
                self.errors += 1
            if time.monotonic() > deadline:
                return
            self.retries += 1
            await asyncio.sleep(0.2)


class RoomsPublisher(Publisher):
    """Comments into many rooms, each at `rate_per_room` per second, evenly spaced.

    Round robin over the rooms (in the order given: pass them shuffled) at the total rate: every room
    gets its next comment 1/rate_per_room seconds after the one before, and the rooms' comments are
    spread over that interval instead of all leaving at once. Up to `inflight` requests at a time.
    """

    def __init__(self, consoles: list[Console], rate_per_room: float, *, text_size: int, seed: int = 1,
                 inflight: int = 64) -> None:
        super().__init__(consoles[0], lambda t: rate_per_room * len(consoles), like_share=0.0,
                         text_size=text_size, seed=seed)
        self.consoles = consoles
        self.max_inflight = inflight

    async def run(self, duration_s: float, deadline: float) -> None:
        start = time.monotonic()
        due = 0.0
        last = start
        turn = 0
        loop = asyncio.get_running_loop()
        while (now := time.monotonic()) - start < duration_s:
            due += self.rate(now - start) * (now - last)
            last = now
            while due >= 1:
                due -= 1
                console = self.consoles[turn % len(self.consoles)]
                turn += 1
                while len(self.inflight) >= self.max_inflight:
                    await asyncio.wait(self.inflight, return_when=asyncio.FIRST_COMPLETED)
                task = loop.create_task(self._post(console, [self._next()], deadline))
                self.inflight.add(task)
                task.add_done_callback(self.inflight.discard)
            await asyncio.sleep(STEP_S)
        if self.inflight:
            await asyncio.wait(self.inflight)
