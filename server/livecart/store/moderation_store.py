"""Moderation in Redis: a room's blocked words and its muted users, with every change in the audit log.

- Blocked words: one JSON list (RoomKeys.blocked_words), replaced whole by the console.
- Mutes: a hash user -> "ms by" (RoomKeys.muted). The Lua scripts of every mechanic check a user with
  `redis.call('HEXISTS', prefix .. 'muted', user) == 1` inside their own atomic call (poll.lua and
  show.lua do; a lucky bag's entry script does the same), so a mute is never raced by a vote or an entry.
- Every change is one MULTI with its ledger entry (`op` mute | unmute | blocked_words, `by`, `at`).
"""

from __future__ import annotations

from livecart.protocol import encode_json, load_json
from livecart.store.keys import RoomKeys
from livecart.store.redis_client import Client, as_store_unavailable, decode_str

__all__ = ["ModerationStore"]

LEDGER_MAXLEN = 100_000


class ModerationStore:
    def __init__(self, client: Client) -> None:
        self.client = client

    async def words(self, room: str) -> list[str]:
        with as_store_unavailable():
            raw = await self.client.get(RoomKeys(room).blocked_words)
        return load_json(raw) if raw else []

    async def set_words(self, room: str, words: list[str], by: str, now_ms: int) -> None:
        keys = RoomKeys(room)
        with as_store_unavailable():
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.set(keys.blocked_words, encode_json(words))
                pipe.xadd(keys.ledger, {"op": "blocked_words", "count": len(words), "by": by, "at": now_ms},
                          maxlen=LEDGER_MAXLEN, approximate=True)
                await pipe.execute()

    async def mute(self, room: str, user: str, by: str, now_ms: int) -> bool:
        """Mute `user`; False when they already were (nothing changes)."""
        keys = RoomKeys(room)
        with as_store_unavailable():
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.hsetnx(keys.muted, user, f"{now_ms} {by}")
                pipe.xadd(keys.ledger, {"op": "mute", "user": user, "by": by, "at": now_ms},
                          maxlen=LEDGER_MAXLEN, approximate=True)
                new, _ = await pipe.execute()
        return bool(new)

    async def unmute(self, room: str, user: str, by: str, now_ms: int) -> bool:
        """Undo a mute; False when `user` was not muted."""
        keys = RoomKeys(room)
        with as_store_unavailable():
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.hdel(keys.muted, user)
                pipe.xadd(keys.ledger, {"op": "unmute", "user": user, "by": by, "at": now_ms},
                          maxlen=LEDGER_MAXLEN, approximate=True)
                gone, _ = await pipe.execute()
        return bool(gone)

    async def muted(self, room: str) -> dict[str, dict[str, object]]:
        """user -> {"at": ms, "by": who}."""
        with as_store_unavailable():
            found = await self.client.hgetall(RoomKeys(room).muted)
        out: dict[str, dict[str, object]] = {}
        for user, value in found.items():
            at, _, by = decode_str(value).partition(" ")
            out[decode_str(user)] = {"at": int(at), "by": by}
        return out

    async def is_muted(self, room: str, user: str) -> bool:
        with as_store_unavailable():
            return bool(await self.client.hexists(RoomKeys(room).muted, user))
