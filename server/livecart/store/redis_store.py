"""The room log, counters and presence in Redis, one Lua call per state change.

Guarantees (what callers may rely on):
- `append` is atomic per room: either every accepted event of the batch gets a contiguous offset, is in
  the history, has moved the counters and was published, or (StoreUnavailable) nothing happened.
- Offsets of a room rise by exactly 1 per accepted event; the epoch changes only when the room's meta
  data is lost (a Redis without persistence restarted, a flush), never otherwise.
- Publishing is at-most-once (Redis pub/sub); subscribers detect holes by offset and read `history`.
"""

from __future__ import annotations

import uuid
from typing import Any

from livecart.money import DEFAULT_CURRENCY
from livecart.protocol import encode_json, load_json
from livecart.store import channel
from livecart.store.keys import HOLD_ROOMS, ROOMS, ROOMS_SEEN, RoomKeys
from livecart.store.redis_client import (
    Client,
    as_store_unavailable,
    counters_from_flat,
    decode_str,
    fields_from_flat,
    presence_total,
    register,
    run_many,
)
from livecart.store.values import STAGE, AppendResult, CurrencyChanged, Gap, History, Snapshot

__all__ = ["RedisStore"]


class RedisStore:
    def __init__(self, client: Client, *, history_max: int, history_max_age_s: int,
                 dedup_window_s: int, history_floor: int = 10_000, sharded_pubsub: bool = False,
                 default_currency: str = DEFAULT_CURRENCY) -> None:
        self.client = client
        self.default_currency = default_currency
        self._history_max = history_max
        self._history_max_age_ms = history_max_age_s * 1000
        self._history_floor = history_floor
        self._dedup_ms = dedup_window_s * 1000
        self._publish = "SPUBLISH" if sharded_pubsub else "PUBLISH"
        self._append = register(client, "append.lua")
        self._snapshot = register(client, "snapshot.lua")
        self._history = register(client, "history.lua")
        self._presence = register(client, "presence.lua")
        self._set_currency = register(client, "set_currency.lua")

    async def ping(self) -> None:
        with as_store_unavailable():
            await self.client.ping()

    async def append(self, room: str, events: list[tuple[str, bytes, dict[str, int]]]
                     | list[tuple[str, bytes, dict[str, int], str]], now_ms: int,
                     currency: str = "") -> AppendResult:
        """Append (event id, event JSON without offset, counter deltas[, order clause]) in order; the
        order clause is events.order_clause's. `currency`: the one the batch's money was validated in
        ("" when it has none); CurrencyChanged, and nothing appended, when the room has another."""
        keys = RoomKeys(room)
        args: list[Any] = [now_ms, uuid.uuid4().hex, self._history_max, self._history_max_age_ms,
                           self._history_floor, self._dedup_ms, keys.channel, self._publish, len(events),
                           currency]
        for event_id, body, deltas, *order in events:
            args += [event_id, body, " ".join(f"{k}={v}" for k, v in deltas.items()),
                     order[0] if order else ""]
        with as_store_unavailable():
            reply = await self._append(keys=[keys.meta, keys.log, keys.counters, keys.ids, keys.orders],
                                       args=args)
        if len(reply) == 2:
            raise CurrencyChanged(decode_str(reply[1]))
        epoch, first, _last, flags = reply
        offsets: list[int | None] = []
        next_offset = int(first)
        for flag in decode_str(flags):
            if flag == "1":
                offsets.append(next_offset)
                next_offset += 1
            else:
                offsets.append(None)
        return AppendResult(epoch=decode_str(epoch), offsets=offsets)

    async def snapshot(self, room: str, recent: int = 50, deals: int = 20) -> Snapshot:
        keys = RoomKeys(room)
        with as_store_unavailable():
            epoch, offset, flat, events, deal_flats, stage, currency = await self._snapshot(
                keys=[keys.meta, keys.log, keys.counters, keys.deals],
                args=[uuid.uuid4().hex, recent, keys.prefix, deals, *STAGE])
        return Snapshot(epoch=decode_str(epoch), offset=int(offset), counters=counters_from_flat(flat),
                        recent=[load_json(e) for e in events],
                        deals=[fields_from_flat(f) for f in deal_flats],
                        stage={**{name: load_json(v) if v else None
                                  for name, v in zip(STAGE, stage, strict=True)},
                               "currency": decode_str(currency) if currency else self.default_currency})

    async def room_currency(self, room: str) -> str:
        """The room's currency: the one set or pinned by its first money, else the node's default."""
        with as_store_unavailable():
            value = await self.client.hget(RoomKeys(room).meta, "currency")
        return decode_str(value) if value else self.default_currency

    async def set_currency(self, room: str, currency: str) -> tuple[bool, str]:
        """Make `currency` the room's and tell every node: (True, currency); or (False, the current one)
        when the room already has money (set_currency.lua says what counts) in another currency."""
        keys = RoomKeys(room)
        with as_store_unavailable():
            status, current = await self._set_currency(
                keys=[keys.meta, keys.counters, keys.orders, keys.deals],
                args=[currency, keys.channel, self._publish])
        return decode_str(status) == "ok", decode_str(current) or self.default_currency

    async def revoke(self, room: str, field: str, before_s: float) -> None:
        """Refuse the tokens of `room` that `field` (auth.revocation_field: a role, a user, a jti) names,
        issued before `before_s`, and tell every node (which closes the sockets that use one)."""
        keys = RoomKeys(room)
        with as_store_unavailable():
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.hset(keys.revoked, field, repr(before_s))
                revoked = channel.TokensRevoked(field, before_s)
                pipe.execute_command(self._publish, keys.channel, channel.encode(revoked))
                await pipe.execute()

    async def revocations(self, room: str) -> dict[str, float]:
        """role -> the cut-off (unix seconds) before which its tokens are refused."""
        with as_store_unavailable():
            flat = await self.client.hgetall(RoomKeys(room).revoked)
        return {decode_str(k): float(v) for k, v in flat.items()}

    async def purge_room(self, room: str) -> int:
        """Delete every key of `room` (GDPR-style deletion, idle rooms): its log, counters, deals,
        claims, cues, stats, everything under lc:{room}:, and its entries in the node-wide registries.
        Returns how many keys went. Sockets still in the room get a snapshot of a new epoch."""
        pattern = RoomKeys(room).prefix + "*"  # room names have no glob characters ([A-Za-z0-9_.-])
        removed = 0
        with as_store_unavailable():
            batch: list[Any] = []
            async for key in self.client.scan_iter(match=pattern, count=1000):
                batch.append(key)
                if len(batch) >= 500:
                    removed += await self.client.unlink(*batch)
                    batch = []
            if batch:
                removed += await self.client.unlink(*batch)
            async with self.client.pipeline(transaction=False) as pipe:
                for registry in (ROOMS, ROOMS_SEEN, HOLD_ROOMS):
                    pipe.zrem(registry, room)
                await pipe.execute()
        return removed

    async def memory(self) -> tuple[int, int]:
        """(used_memory, maxmemory) in bytes; maxmemory 0 means no limit."""
        with as_store_unavailable():
            info = await self.client.info("memory")
        return int(info.get("used_memory", 0)), int(info.get("maxmemory", 0))

    async def idempotency_begin(self, room: str, digest: str, fingerprint: str,
                                pending_ms: int) -> dict[str, Any] | None:
        """Claim an Idempotency-Key for a request: None when it is new (marked pending for `pending_ms`),
        else what is stored for it: `{"f": fingerprint, "pending": true}` or `{"f", "s": status,
        "b": body}`. One round trip for a new key."""
        key = RoomKeys(room).idempotency(digest)
        with as_store_unavailable():
            if await self.client.set(key, encode_json({"f": fingerprint, "pending": True}), nx=True,
                                     px=pending_ms):
                return None
            stored = await self.client.get(key)
        return load_json(stored) if stored else {"f": fingerprint, "pending": True}

    async def idempotency_finish(self, room: str, digest: str, answer: dict[str, Any] | None,
                                 keep_s: int) -> None:
        """Keep `answer` as the key's answer for `keep_s`, or (None) forget the key: the request did
        not happen (a 5xx, a rate limit), and the same key may try again."""
        key = RoomKeys(room).idempotency(digest)
        with as_store_unavailable():
            if answer is None:
                await self.client.delete(key)
            else:
                await self.client.set(key, encode_json(answer), ex=keep_s)

    async def revocations_of(self, rooms: list[str]) -> list[dict[str, float]]:
        """`revocations` of many rooms in one round trip (the hub rereads them every few seconds)."""
        with as_store_unavailable():
            async with self.client.pipeline(transaction=False) as pipe:
                for room in rooms:
                    pipe.hgetall(RoomKeys(room).revoked)
                found = await pipe.execute()
        return [{decode_str(k): float(v) for k, v in flat.items()} for flat in found]

    async def pin(self, room: str, card: dict[str, Any] | None) -> None:
        """Pin a product card on the room (None unpins) and tell every node."""
        await self.show(room, "pinned", card)

    async def show(self, room: str, name: str, value: dict[str, Any] | None) -> None:
        """Set one STAGE part of the room (None clears it) and tell every node."""
        assert name in STAGE
        keys = RoomKeys(room)
        with as_store_unavailable():
            async with self.client.pipeline(transaction=True) as pipe:
                if value is None:
                    pipe.hdel(keys.meta, name)
                else:
                    pipe.hset(keys.meta, name, encode_json(value))
                pipe.execute_command(self._publish, keys.channel,
                                     channel.encode(channel.StageChanged(name, value)))
                await pipe.execute()

    async def redis_time_ms(self) -> int:
        with as_store_unavailable():
            seconds, micros = await self.client.time()
        return int(seconds) * 1000 + int(micros) // 1000

    async def history(self, room: str, since: int, epoch: str) -> History | Gap:
        """Every event after `since` (the stream is bounded by history_max), or a Gap."""
        keys = RoomKeys(room)
        with as_store_unavailable():
            reply = await self._history(keys=[keys.meta, keys.log, keys.counters], args=[since, epoch])
        status, current_epoch, offset = decode_str(reply[0]), decode_str(reply[1]), int(reply[2])
        if status == "gap":
            return Gap(epoch=current_epoch, offset=offset)
        return History(epoch=current_epoch, offset=offset, counters=counters_from_flat(reply[3]),
                       events=[load_json(e) for e in reply[4:]])

    async def presence(self, room: str, node_id: str, count: int, now_ms: int, ttl_ms: int,
                       role: str = "viewer") -> int:
        """Record this node's count of `role` sockets in `room`; the total across live nodes."""
        with as_store_unavailable():
            total = await self._presence(keys=[RoomKeys(room).presence_of(role)],
                                         args=[node_id, count, now_ms, ttl_ms])
        return int(total)

    async def presence_many(self, counts: list[tuple[str, str, int]], node_id: str, now_ms: int,
                            ttl_ms: int) -> list[int]:
        """`presence` for many (room, role, count) at once, pipelined; the totals in the same order."""
        calls = [([RoomKeys(room).presence_of(role)], [node_id, count, now_ms, ttl_ms])
                 for room, role, count in counts]
        return [int(total) for total in await run_many(self.client, self._presence, calls)]

    async def online(self, room: str, now_ms: int, role: str = "viewer") -> int:
        """Sockets of `role` (viewers unless said) in `room` across live nodes (read-only; see
        presence.lua)."""
        with as_store_unavailable():
            fields = await self.client.hgetall(RoomKeys(room).presence_of(role))
        return presence_total(fields, now_ms)

    async def close(self) -> None:
        await self.client.aclose()
