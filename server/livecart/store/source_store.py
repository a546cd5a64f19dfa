"""Sources in Redis: each room's ingest clients and their deliveries (livecart/sources.py says what a
source is). One atomic script call per delivery (source_note.lua); reading the list is one pipeline."""

from __future__ import annotations

from typing import Any

from livecart.sources import MAX_SOURCES, Delivery, Source, sources_to_wire
from livecart.store.keys import RoomKeys
from livecart.store.redis_client import Client, as_store_unavailable, decode_str, register

__all__ = ["SourceStore"]


class SourceStore:
    def __init__(self, client: Client, *, keep_days: float) -> None:
        self.client = client
        self.keep_ms = int(keep_days * 86_400_000)  # a room's sources outlive its quiet days, then go
        self._note = register(client, "source_note.lua")

    async def note(self, room: str, source: Source, delivery: Delivery, now_ms: int) -> None:
        """Count one delivery of `source` in `room` (raises StoreUnavailable while Redis is away)."""
        keys = RoomKeys(room)
        with as_store_unavailable():
            await self._note(keys=[keys.sources, keys.source(source.id), keys.source_deliveries],
                             args=[source.id, source.via, now_ms, delivery.accepted, delivery.duplicates,
                                   delivery.rejected, delivery.unmapped, delivery.delivery_id, MAX_SOURCES,
                                   self.keep_ms, keys.prefix])

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
