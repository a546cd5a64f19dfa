"""Revoked page tokens: a leaked OBS or host-view URL stops working within seconds.

An assistant revokes a role (`overlay` or `host`) for a room: every token of that role and room issued
before the cut-off is refused from then on. The cut-off is kept in Redis (`lc:{room}:revoked`) and
published on the room channel; each node closes its sockets that use such a token (4001) and refuses
them on connect and over HTTP. A node caches a room's cut-offs for a second, and the published message
updates the cache at once, so a revocation takes effect on every node well within a second or two.
"""

from __future__ import annotations

import time

from livecart.auth import REVOCABLE_ROLES, Claims
from livecart.errors import Unauthorized
from livecart.store.redis_store import RedisStore

__all__ = ["Revocations"]

CACHE_S = 1.0
MAX_ROOMS = 10_000


class Revocations:
    def __init__(self, store: RedisStore) -> None:
        self._store = store
        self._cache: dict[str, tuple[float, dict[str, float]]] = {}  # room -> (read at, cut-offs)

    async def check(self, room: str, claims: Claims) -> None:
        """Raise Unauthorized if `claims` is a revoked token of `room`. Costs nothing for roles that
        cannot be revoked, and at most one Redis read a second per room for those that can."""
        if claims.role not in REVOCABLE_ROLES:
            return
        now = time.monotonic()
        cached = self._cache.get(room)
        if cached is None or now - cached[0] > CACHE_S:
            if len(self._cache) > MAX_ROOMS:
                self._cache.clear()
            cached = self._cache[room] = (now, await self._store.revocations(room))
        if claims.issued_at < cached[1].get(claims.role, 0.0):
            raise Unauthorized("token revoked")

    def note(self, room: str, role: str, before_s: float) -> None:
        """A revocation published by any node: effective here at once."""
        cached = self._cache.get(room)
        if cached is not None:  # (an uncached room reads Redis, which has it, on its next check)
            cutoffs = dict(cached[1])
            cutoffs[role] = max(before_s, cutoffs.get(role, 0.0))
            self._cache[room] = (cached[0], cutoffs)
