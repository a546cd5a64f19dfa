"""Cues in Redis: stored per room, published on the room channel (channel.CuePosted), acked by hosts;
and the per-room director lease.

Guarantees:
- `emit` stores and publishes each cue in one atomic call, and refuses a rule cue whose key fired
  within its cooldown, so even two directors running one room for a moment never repeat a cue.
- An ack is recorded once (the first one wins) and the acked CUE is published again, so every host
  and assistant socket sees it answered.
- The lease is held by one node at a time; it lapses `ttl_ms` after its holder stops renewing it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from livecart.cues import Cue
from livecart.errors import NotFound
from livecart.protocol import encode_json, load_json
from livecart.store import channel
from livecart.store.keys import RoomKeys
from livecart.store.redis_client import Client, as_store_unavailable, decode_str, register, run_many

__all__ = ["CueStore"]

DAY_MS = 86_400_000


def _with_ack(cue: dict[str, Any], ack: str | bytes | None) -> dict[str, Any]:
    if ack:
        at, _, by = decode_str(ack).partition(" ")
        cue["acked_at"], cue["acked_by"] = int(at), by
    return cue


class CueStore:
    def __init__(self, client: Client, *, retention_days: float,
                 sharded_pubsub: bool = False) -> None:
        self.client = client
        self.retention_ms = int(retention_days * DAY_MS)
        self._publish = "SPUBLISH" if sharded_pubsub else "PUBLISH"
        self._emit = register(client, "cue_emit.lua")
        self._lease_news = register(client, "lease_news.lua")

    async def emit(self, room: str, cues: list[Cue], now_ms: int) -> list[Cue]:
        """Store and publish `cues`; returns those that went out (the rest fired within cooldown)."""
        if not cues:
            return []
        keys = RoomKeys(room)
        args: list[Any] = [now_ms, keys.channel, self._publish, self.retention_ms, len(cues)]
        for cue in cues:
            args += [cue.key, cue.cooldown_ms, cue.id, encode_json(cue.to_wire())]
        with as_store_unavailable():
            flags = await self._emit(keys=[keys.cues, keys.cue_order, keys.cue_keys], args=args)
        return [cue for cue, flag in zip(cues, decode_str(flags), strict=True) if flag == "1"]

    async def recent_keys(self, room: str, since_ms: int) -> list[str]:
        """Rule keys that fired since `since_ms` (a new director starts with them as already said)."""
        with as_store_unavailable():
            found: list[Any] = await self.client.zrangebyscore(RoomKeys(room).cue_keys, since_ms, "+inf")
        return [decode_str(k) for k in found]

    async def ack(self, room: str, cue_id: str, by: str, now_ms: int) -> dict[str, Any]:
        """Record the first ack of a cue and publish the acked CUE; NotFound for an unknown id."""
        keys = RoomKeys(room)
        with as_store_unavailable():
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.hget(keys.cues, cue_id)
                pipe.hsetnx(keys.cue_acks, cue_id, f"{now_ms} {by}")
                pipe.hget(keys.cue_acks, cue_id)
                pipe.pexpire(keys.cue_acks, self.retention_ms)
                body, _new, ack, _ = await pipe.execute()
            if body is None:
                await self.client.hdel(keys.cue_acks, cue_id)
                raise NotFound("no_such_cue", "no cue with this id in this room")
            cue = _with_ack(load_json(body), ack)
            async with self.client.pipeline(transaction=True) as pipe:
                if cue["kind"] == "questions" and isinstance(cue.get("data"), dict):
                    # The host answered: the director counts only questions asked after this.
                    pipe.hset(keys.answered, str(cue["data"].get("topic")), cue["acked_at"])
                    pipe.pexpire(keys.answered, self.retention_ms)
                pipe.execute_command(self._publish, keys.channel, channel.encode(channel.CuePosted(cue)))
                await pipe.execute()
        return cue

    async def list(self, room: str, since_ms: int = 0, limit: int = 200) -> list[dict[str, Any]]:
        """Cues created since `since_ms`, oldest first, at most the newest `limit`."""
        keys = RoomKeys(room)
        with as_store_unavailable():
            ids: list[Any] = await self.client.zrevrangebyscore(keys.cue_order, "+inf", since_ms, start=0,
                                                                num=limit)
            if not ids:
                return []
            async with self.client.pipeline(transaction=False) as pipe:
                pipe.hmget(keys.cues, ids)
                pipe.hmget(keys.cue_acks, ids)
                bodies, acks = await pipe.execute()
        out = [_with_ack(load_json(b), a) for b, a in zip(bodies, acks, strict=True) if b is not None]
        return out[::-1]

    async def publish_stats(self, room: str, live: dict[str, Any]) -> None:
        """The live stats frame's body to every node's host and assistant sockets of the room."""
        with as_store_unavailable():
            await self.client.execute_command(
                self._publish, RoomKeys(room).channel, channel.encode(channel.LiveStats(live)))

    async def answered(self, room: str) -> dict[str, int]:
        with as_store_unavailable():
            found = await self.client.hgetall(RoomKeys(room).answered)
        return {decode_str(k): int(v) for k, v in found.items()}

    async def lease_news(self, rooms: Sequence[str], node_id: str, ttl_ms: int,
                         now_ms: int) -> Sequence[tuple[int, int, int] | None]:
        """For each room: take or keep its director lease (held by one node at a time; it lapses `ttl_ms`
        after its holder stops renewing it) and, in the same call, read its news markers (offset, deals,
        viewers online); None where another node holds the lease (lease_news.lua). Pipelined."""
        calls = [([k.director, k.meta, k.deals, k.presence], [node_id, ttl_ms, now_ms])
                 for k in map(RoomKeys, rooms)]
        return [(int(found[1]), int(found[2]), int(found[3])) if found[0] else None
                for found in await run_many(self.client, self._lease_news, calls)]
