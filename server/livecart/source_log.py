"""`SourceLog`: the ingest deliveries of every source, counted in memory (sources.SourceTally) and
written to Redis once a second, pipelined (store/source_store.py), so the ingest path pays a dict update
instead of a Redis call per request. The console's list is therefore up to a second behind; a node that
dies loses at most its last second of counts (never an event). Webhooks are written at once instead
(web/webhooks.py): they are few, and an unmapped delivery is counted once by its id, in Redis."""

from __future__ import annotations

import asyncio
import logging

from livecart.errors import StoreUnavailable
from livecart.sources import Delivery, Source, SourceTally
from livecart.store.source_store import SourceStore

__all__ = ["SourceLog"]

log = logging.getLogger("livecart.sources")
FLUSH_S = 1.0


class SourceLog:
    def __init__(self, store: SourceStore) -> None:
        self.store = store
        self.tally = SourceTally()

    def note(self, room: str, source: Source, delivery: Delivery, now_ms: int) -> None:
        self.tally.add(room, source, delivery, now_ms)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_S)
            await self.flush()

    async def flush(self) -> None:
        """Write what was tallied; while Redis is away, keep it for the next flush."""
        pending = self.tally.drain()
        if not pending:
            return
        try:
            await self.store.note_many(pending)
        except StoreUnavailable:
            self.tally.restore(pending)
            log.warning("sources: %d tallies kept for the next flush (Redis unreachable)", len(pending))
