"""Which currency each room counts money in, cached: prices and order amounts are validated in it."""

from __future__ import annotations

from livecart.store.redis_store import RedisStore

__all__ = ["RoomCurrencies"]

MAX_CACHED = 10_000  # rooms; the cache is only a hint (append.lua checks), so it may forget


class RoomCurrencies:
    def __init__(self, store: RedisStore) -> None:
        self._store = store
        self._known: dict[str, str] = {}

    async def of(self, room: str) -> str:
        """The room's currency, to validate money in. Cached: a stale answer costs one refused append
        (append.lua and deal_create.lua check the room's real currency), never money in the wrong unit."""
        currency = self._known.get(room)
        if currency is None:
            currency = await self._store.room_currency(room)
            self.note(room, currency)
        return currency

    def note(self, room: str, currency: str) -> None:
        """What the store said the room's currency is (a refused append, a change)."""
        if len(self._known) >= MAX_CACHED:
            self._known.clear()
        self._known[room] = currency
