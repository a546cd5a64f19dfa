"""Keeps this node's `Clock` on Redis's: one `TIME` read a second (clock.py says why frames need it)."""

from __future__ import annotations

import asyncio
import time

from livecart.clock import Clock
from livecart.errors import StoreUnavailable
from livecart.store.redis_store import RedisStore

__all__ = ["ClockSync"]

SYNC_S = 1.0


class ClockSync:
    def __init__(self, store: RedisStore, clock: Clock, *, every_s: float = SYNC_S) -> None:
        self.store = store
        self.clock = clock
        self.every_s = every_s

    async def run(self) -> None:
        """`sync` every `every_s`; cancel to stop."""
        while True:
            await asyncio.sleep(self.every_s)
            await self.sync()

    async def sync(self) -> None:
        """Measure once: Redis's TIME against the local clock read before and after it (half the round
        trip corrected). While Redis is unreachable the clock keeps its last offset."""
        sent = int(time.time() * 1000)
        try:
            reference = await self.store.redis_time_ms()
        except StoreUnavailable:
            return
        self.clock.observe(reference, sent, int(time.time() * 1000))
