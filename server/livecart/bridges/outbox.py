"""The bridge's side of ingest: room events and notices to a node, in order, retried until answered.

Events wait in a bounded queue and go out in batches (`POST /api/rooms/{room}/events`, at most
`max_batch` per request) with the room's ingest token and `X-Livecart-Source`. A request that gets no
answer, a 5xx or a 429 is sent again, the same body, after a backoff (full jitter, 0.5 s doubling to
10 s): ingest is idempotent by event id, so a retry never counts twice. A 4xx (a bad token, a
refused body) is not retried: it is logged and counted, and the bridge goes on. When the queue is
full (the node unreachable for long), the newest events are dropped and counted, so a bridge's
memory stays bounded.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp

from livecart.bridges.mapped import Notice
from livecart.bridges.metrics import BridgeMetrics
from livecart.protocol import encode_json, load_json

__all__ = ["Outbox", "SOURCE_HEADER"]

SOURCE_HEADER = "X-Livecart-Source"
log = logging.getLogger("livecart.bridge")


class Outbox:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        room: str,
        source: str,
        token: Callable[[], str],
        metrics: BridgeMetrics,
        *,
        max_batch: int = 200,
        max_queue: int = 20_000,
        backoff_s: float = 0.5,
        backoff_cap_s: float = 10.0,
    ) -> None:
        self.session = session
        self.base = f"{url.rstrip('/')}/api/rooms/{room}"
        self.source = source
        self.token = token
        self.metrics = metrics
        self.max_batch = max_batch
        self.max_queue = max_queue
        self.backoff_s, self.backoff_cap_s = backoff_s, backoff_cap_s
        self._events: deque[dict[str, Any]] = deque()
        self._notices: deque[Notice] = deque()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()

    def put(self, events: list[dict[str, Any]], notices: Sequence[Notice] = ()) -> None:
        room_left = self.max_queue - len(self._events)
        if len(events) > room_left:
            self.metrics.dropped.labels("queue_full").inc(len(events) - room_left)
            events = events[: max(0, room_left)]
        self._events.extend(events)
        self._notices.extend(notices)
        if self._events or self._notices:
            self._idle.clear()
            self._wake.set()

    async def drained(self) -> None:
        """Until everything put so far has had its answer."""
        await self._idle.wait()

    async def run(self) -> None:
        """Send until cancelled."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._notices:
                await self._send_notice(self._notices[0])
                self._notices.popleft()
            while self._events:
                batch = [self._events[i] for i in range(min(self.max_batch, len(self._events)))]
                await self._send_events(batch)
                for _ in batch:
                    self._events.popleft()
            if not self._notices and not self._events:
                self._idle.set()
            else:
                self._wake.set()

    async def _send_events(self, batch: list[dict[str, Any]]) -> None:
        answer = await self._post("/events", encode_json(batch))
        if answer is None:
            self.metrics.sent.labels("refused").inc(len(batch))
            return
        rejected = answer.get("rejected") or []
        self.metrics.sent.labels("accepted").inc(int(answer.get("accepted", 0)))
        self.metrics.sent.labels("duplicate").inc(int(answer.get("duplicates", 0)))
        self.metrics.sent.labels("rejected").inc(len(rejected))
        for item in rejected[:5]:
            log.warning(
                "ingest rejected %s: %s %s",
                batch[item["index"]].get("id"),
                item.get("error"),
                item.get("detail"),
            )

    async def _send_notice(self, notice: Notice) -> None:
        answer = await self._post("/source-cues", encode_json(notice.to_wire()))
        self.metrics.notices.labels(notice.kind, "sent" if answer is not None else "refused").inc()

    async def _post(self, path: str, body: bytes) -> dict[str, Any] | None:
        """The node's JSON answer; None when it refused the request for good (a 4xx but 429)."""
        delay = self.backoff_s
        while True:
            headers = {
                "Authorization": f"Bearer {self.token()}",
                "Content-Type": "application/json",
                SOURCE_HEADER: self.source,
            }
            try:
                async with self.session.post(self.base + path, data=body, headers=headers) as resp:
                    raw = await resp.read()
                    if resp.status < 300:
                        self.metrics.node_up.set(1)
                        return load_json(raw)  # type: ignore[no-any-return]  # the node's answer map
                    if 400 <= resp.status < 500 and resp.status != 429:
                        log.error(
                            "%s %s: %s %s", "POST", path, resp.status, raw[:300].decode(errors="replace")
                        )
                        return None
                    wait = float(resp.headers.get("Retry-After", "0") or 0)
            except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
                log.warning("POST %s failed (%s); retrying", path, exc)
                wait = 0.0
            self.metrics.node_up.set(0)
            self.metrics.retries.inc()
            await asyncio.sleep(max(wait, random.uniform(0, delay)))
            delay = min(delay * 2, self.backoff_cap_s)
