"""Sources in Redis: each room's ingest clients and their deliveries (livecart/sources.py says what a
source is). One atomic script call per webhook delivery, or per source and room for a second of ingest
(source_note.lua, pipelined); reading the list is one pipeline."""

from __future__ import annotations

from typing import Any

from livecart.sources import MAX_SOURCES, Delivery, Source, Tallied, sources_to_wire
from livecart.store.keys import RoomKeys
from livecart.store.redis_client import Client, as_store_unavailable, decode_str, register, run_many

__all__ = ["SourceStore"]


class SourceStore:
    def __init__(self, client: Client, *, keep_days: float) -> None:
        self.client = client
        self.keep_ms = int(keep_days * 86_400_000)  # a room's sources outlive its quiet days, then go
        self._note = register(client, "source_note.lua")

    def _call(self, room: str, source: Source, delivery: Delivery, now_ms: int,
              deliveries: int) -> tuple[list[Any], list[Any]]:
        keys = RoomKeys(room)
        return ([keys.sources, keys.source(source.id), keys.source_deliveries],
                [source.id, source.via, now_ms, delivery.accepted, delivery.duplicates, delivery.rejected,
                 delivery.unmapped, delivery.delivery_id, MAX_SOURCES, self.keep_ms, keys.prefix, deliveries])

    async def note(self, room: str, source: Source, delivery: Delivery, now_ms: int) -> None:
        """Count one delivery of `source` in `room` (raises StoreUnavailable while Redis is away)."""
        keys, args = self._call(room, source, delivery, now_ms, 1)
        with as_store_unavailable():
            await self._note(keys=keys, args=args)

    async def note_many(self, tallies: list[Tallied]) -> None:
        """Write the deliveries tallied in memory, pipelined (StoreUnavailable while Redis is away)."""
        await run_many(self.client, self._note, [
            self._call(t.room, t.source, Delivery(t.accepted, t.duplicates, t.rejected), t.last_ms,
                       t.deliveries) for t in tallies])

    async def list(self, room: str) -> list[dict[str, Any]]:
        """The room's sources, the most recent delivery first (sources.sources_to_wire)."""
        keys = RoomKeys(room)
        with as_store_unavailable():
            newest: list[Any] = await self.client.zrevrange(keys.sources, 0, MAX_SOURCES - 1)
            ids = [decode_str(i) for i in newest]
            async with self.client.pipeline(transaction=False) as pipe:
                for sid in ids:
                    pipe.hgetall(keys.source(sid))
                rows: list[Any] = await pipe.execute() if ids else []
        return sources_to_wire([(sid, {decode_str(k): decode_str(v) for k, v in row.items()})
                                for sid, row in zip(ids, rows, strict=True) if row])
