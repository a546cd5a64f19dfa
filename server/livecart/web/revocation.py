"""Revoked tokens: a leaked OBS or host-view URL, or a viewer's or assistant's token, stops working
within seconds.

An assistant revokes, for a room, a role (`overlay` or `host`: every token of that role and room issued
before the cut-off), a user (every token of theirs issued before it, whatever the role), or one token
by its id (`jti`). The cut-offs are kept in Redis (`lc:{room}:revoked`, fields from
auth.revocation_field) and published on the room channel; each node closes its sockets that use such a
token (4001) and refuses them on connect and over HTTP. A node caches a room's cut-offs for a second,
and the published message updates the cache at once. Pub/sub is at-most-once, so the hub also rereads
the cut-offs of its rooms every few seconds (RoomHub._revocation_loop): a missed message delays a
close by seconds, not until the token expires.
"""

from __future__ import annotations

import time

from livecart.auth import Claims, is_revoked
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
        """Raise Unauthorized if `claims` is a revoked token of `room`. At most one Redis read a second
        per room."""
        now = time.monotonic()
        cached = self._cache.get(room)
        if cached is None or now - cached[0] > CACHE_S:
            if len(self._cache) > MAX_ROOMS:
                self._cache.clear()
            cached = self._cache[room] = (now, await self._store.revocations(room))
        if is_revoked(cached[1], claims.role, claims.user, claims.token_id, claims.issued_at):
            raise Unauthorized("token revoked")

    def note(self, room: str, field: str, before_s: float) -> None:
        """A revocation published by any node: effective here at once."""
        cached = self._cache.get(room)
        if cached is not None:  # (an uncached room reads Redis, which has it, on its next check)
            cutoffs = dict(cached[1])
            cutoffs[field] = max(before_s, cutoffs.get(field, 0.0))
            self._cache[room] = (cached[0], cutoffs)
