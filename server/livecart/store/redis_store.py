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
from dataclasses import dataclass
from importlib import resources
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio import RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from livecart.errors import StoreUnavailable
from livecart.money import DEFAULT_CURRENCY
from livecart.protocol import encode_json, load_json
from livecart.store import channel
from livecart.store.keys import RoomKeys

__all__ = ["ROOM_FIELDS", "STAGE", "UNAVAILABLE", "AppendResult", "Client", "CurrencyChanged", "Gap",
           "History", "RedisStore", "Snapshot", "decode_str", "fields_from_flat"]

UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, ConnectionError, OSError)
# A node talks to one Redis, or to a Redis Cluster where each room lives on the shard of its hash tag.
Client = aioredis.Redis | RedisCluster
# What the console puts on screen for the whole room, each a latest-value map or None: the pinned product
# card, a highlighted comment, an announcement. Kept in the room's meta hash, published as a StageChanged
# (store/channel.py).
STAGE = ("pinned", "highlight", "announcement")
# Latest-value fields of a room's state: the stage, and its currency (a plain ISO code in meta, published
# as a channel.StageChanged too; a room that never set one shows the node's default_currency).
ROOM_FIELDS = (*STAGE, "currency")


class CurrencyChanged(Exception):
    """The room's currency is not the one the money was validated in (a node's cache was stale, or the
    first money pinned another node's default): validate again in `currency`."""

    def __init__(self, currency: str) -> None:
        super().__init__(currency)
        self.currency = currency


def _script(name: str) -> str:
    return resources.files("livecart.store").joinpath("scripts", name).read_text()


@dataclass(frozen=True, slots=True)
class AppendResult:
    epoch: str
    offsets: list[int | None]  # per input event: its offset, or None for a duplicate

    @property
    def accepted(self) -> int:
        return sum(1 for o in self.offsets if o is not None)


@dataclass(frozen=True, slots=True)
class Snapshot:
    epoch: str
    offset: int
    counters: dict[str, int]
    recent: list[dict[str, Any]]
    deals: list[dict[str, str]]  # stored fields of the newest deals (deals.deal_to_wire makes DEAL maps)
    # ROOM_FIELDS name -> its value: STAGE parts (None: unset), e.g. "pinned": the pinned product card, and
    # "currency" (always set)
    stage: dict[str, Any]


@dataclass(frozen=True, slots=True)
class History:
    epoch: str
    offset: int
    counters: dict[str, int]
    events: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Gap:
    """History no longer reaches back (or the epoch changed): the client needs a fresh snapshot."""

    epoch: str
    offset: int


def counters_from_flat(flat: Any) -> dict[str, int]:
    if not isinstance(flat, list):  # cjson turns an empty table into {}
        return {}
    return {decode_str(flat[i]): int(flat[i + 1]) for i in range(0, len(flat) - 1, 2)}


def fields_from_flat(flat: list[Any]) -> dict[str, str]:
    """A Redis hash returned as a flat [name, value, ...] list, as a dict of strings."""
    return {decode_str(flat[i]): decode_str(flat[i + 1]) for i in range(0, len(flat) - 1, 2)}


def decode_str(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


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
        self._append = client.register_script(_script("append.lua"))
        self._snapshot = client.register_script(_script("snapshot.lua"))
        self._history = client.register_script(_script("history.lua"))
        self._presence = client.register_script(_script("presence.lua"))
        self._set_currency = client.register_script(_script("set_currency.lua"))

    async def ping(self) -> None:
        try:
            await self.client.ping()
        except UNAVAILABLE as exc:
            raise StoreUnavailable(str(exc)) from exc

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
        try:
            reply = await self._append(keys=[keys.meta, keys.log, keys.counters, keys.ids, keys.orders],
                                       args=args)
        except UNAVAILABLE as exc:
            raise StoreUnavailable(str(exc)) from exc
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
        try:
            epoch, offset, flat, events, deal_flats, stage, currency = await self._snapshot(
                keys=[keys.meta, keys.log, keys.counters, keys.deals],
                args=[uuid.uuid4().hex, recent, keys.prefix, deals])
        except UNAVAILABLE as exc:
            raise StoreUnavailable(str(exc)) from exc
        return Snapshot(epoch=decode_str(epoch), offset=int(offset), counters=counters_from_flat(flat),
                        recent=[load_json(e) for e in events],
                        deals=[fields_from_flat(f) for f in deal_flats],
                        stage={**{name: load_json(v) if v else None
                                  for name, v in zip(STAGE, stage, strict=True)},
                               "currency": decode_str(currency) if currency else self.default_currency})

    async def room_currency(self, room: str) -> str:
        """The room's currency: the one set or pinned by its first money, else the node's default."""
        try:
            value = await self.client.hget(RoomKeys(room).meta, "currency")
        except UNAVAILABLE as exc:
            raise StoreUnavailable(str(exc)) from exc
        return decode_str(value) if value else self.default_currency

    async def set_currency(self, room: str, currency: str) -> tuple[bool, str]:
        """Make `currency` the room's and tell every node: (True, currency); or (False, the current one)
        when the room already has money (set_currency.lua says what counts) in another currency."""
        keys = RoomKeys(room)
        try:
            status, current = await self._set_currency(
                keys=[keys.meta, keys.counters, keys.orders, keys.deals],
                args=[currency, keys.channel, self._publish])
        except UNAVAILABLE as exc:
            raise StoreUnavailable(str(exc)) from exc
        return decode_str(status) == "ok", decode_str(current) or self.default_currency

    async def revoke(self, room: str, field: str, before_s: float) -> None:
        """Refuse the tokens of `room` that `field` (auth.revocation_field: a role, a user, a jti) names,
        issued before `before_s`, and tell every node (which closes the sockets that use one)."""
        keys = RoomKeys(room)
        try:
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.hset(keys.revoked, field, repr(before_s))
                revoked = channel.TokensRevoked(field, before_s)
                pipe.execute_command(self._publish, keys.channel, channel.encode(revoked))
                await pipe.execute()
        except UNAVAILABLE as exc:
            raise StoreUnavailable(str(exc)) from exc

    async def revocations(self, room: str) -> dict[str, float]:
        """role -> the cut-off (unix seconds) before which its tokens are refused."""
        try:
            flat = await self.client.hgetall(RoomKeys(room).revoked)
        except UNAVAILABLE as exc:
            raise StoreUnavailable(str(exc)) from exc
        return {decode_str(k): float(v) for k, v in flat.items()}

    async def purge_room(self, room: str) -> int:
        """Delete every key of `room` (GDPR-style deletion, idle rooms): its log, counters, deals,
        claims, cues, stats, everything under lc:{room}:, and its entries in the node-wide registries.
        Returns how many keys went. Sockets still in the room get a snapshot of a new epoch."""
        from livecart.store.deal_store import HOLD_ROOMS
        from livecart.store.keys import ROOMS, ROOMS_SEEN

        pattern = RoomKeys(room).prefix + "*"  # room names have no glob characters ([A-Za-z0-9_.-])
        removed = 0
        try:
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
        except UNAVAILABLE as exc:
            raise StoreUnavailable(str(exc)) from exc
        return removed

    async def memory(self) -> tuple[int, int]:
        """(used_memory, maxmemory) in bytes; maxmemory 0 means no limit."""
        try:
            info = await self.client.info("memory")
        except UNAVAILABLE as exc:
            raise StoreUnavailable(str(exc)) from exc
        return int(info.get("used_memory", 0)), int(info.get("maxmemory", 0))

    async def idempotency_begin(self, room: str, digest: str, fingerprint: str,
                                pending_ms: int) -> dict[str, Any] | None:
        """Claim an Idempotency-Key for a request: None when it is new (marked pending for `pending_ms`),
        else what is stored for it: `{"f": fingerprint, "pending": true}` or `{"f", "s": status,
        "b": body}`. One round trip for a new key."""
        key = RoomKeys(room).idempotency(digest)
        try:
            if await self.client.set(key, encode_json({"f": fingerprint, "pending": True}), nx=True,
                                     px=pending_ms):
                return None
            stored = await self.client.get(key)
        except UNAVAILABLE as exc:
            raise StoreUnavailable(str(exc)) from exc
        return load_json(stored) if stored else {"f": fingerprint, "pending": True}

    async def idempotency_finish(self, room: str, digest: str, answer: dict[str, Any] | None,
                                 keep_s: int) -> None:
        """Keep `answer` as the key's answer for `keep_s`, or (None) forget the key: the request did
        not happen (a 5xx, a rate limit), and the same key may try again."""
        key = RoomKeys(room).idempotency(digest)
        try:
            if answer is None:
                await self.client.delete(key)
            else:
                await self.client.set(key, encode_json(answer), ex=keep_s)
        except UNAVAILABLE as exc:
            raise StoreUnavailable(str(exc)) from exc

    async def revocations_of(self, rooms: list[str]) -> list[dict[str, float]]:
        """`revocations` of many rooms in one round trip (the hub rereads them every few seconds)."""
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                for room in rooms:
                    pipe.hgetall(RoomKeys(room).revoked)
                found = await pipe.execute()
        except UNAVAILABLE as exc:
            raise StoreUnavailable(str(exc)) from exc
        return [{decode_str(k): float(v) for k, v in flat.items()} for flat in found]

    async def pin(self, room: str, card: dict[str, Any] | None) -> None:
        """Pin a product card on the room (None unpins) and tell every node."""
        await self.show(room, "pinned", card)

    async def show(self, room: str, name: str, value: dict[str, Any] | None) -> None:
        """Set one STAGE part of the room (None clears it) and tell every node."""
        assert name in STAGE
        keys = RoomKeys(room)
        try:
            async with self.client.pipeline(transaction=True) as pipe:
                if value is None:
                    pipe.hdel(keys.meta, name)
                else:
                    pipe.hset(keys.meta, name, encode_json(value))
                pipe.execute_command(self._publish, keys.channel,
                                     channel.encode(channel.StageChanged(name, value)))
                await pipe.execute()
        except UNAVAILABLE as exc:
            raise StoreUnavailable(str(exc)) from exc

    async def redis_time_ms(self) -> int:
        try:
            seconds, micros = await self.client.time()
        except UNAVAILABLE as exc:
            raise StoreUnavailable(str(exc)) from exc
        return int(seconds) * 1000 + int(micros) // 1000

    async def history(self, room: str, since: int, epoch: str) -> History | Gap:
        """Every event after `since` (the stream is bounded by history_max), or a Gap."""
        keys = RoomKeys(room)
        try:
            reply = await self._history(keys=[keys.meta, keys.log, keys.counters], args=[since, epoch])
        except UNAVAILABLE as exc:
            raise StoreUnavailable(str(exc)) from exc
        status, current_epoch, offset = decode_str(reply[0]), decode_str(reply[1]), int(reply[2])
        if status == "gap":
            return Gap(epoch=current_epoch, offset=offset)
        return History(epoch=current_epoch, offset=offset, counters=counters_from_flat(reply[3]),
                       events=[load_json(e) for e in reply[4:]])

    async def presence(self, room: str, node_id: str, count: int, now_ms: int, ttl_ms: int,
                       role: str = "viewer") -> int:
        """Record this node's count of `role` sockets in `room`; the total across live nodes."""
        try:
            total = await self._presence(keys=[RoomKeys(room).presence_of(role)],
                                         args=[node_id, count, now_ms, ttl_ms])
        except UNAVAILABLE as exc:
            raise StoreUnavailable(str(exc)) from exc
        return int(total)

    async def online(self, room: str, now_ms: int, role: str = "viewer") -> int:
        """Sockets of `role` (viewers unless said) in `room` across live nodes (read-only; see
        presence.lua)."""
        try:
            fields = await self.client.hgetall(RoomKeys(room).presence_of(role))
        except UNAVAILABLE as exc:
            raise StoreUnavailable(str(exc)) from exc
        total = 0
        for value in fields.values():
            count, _, expires = decode_str(value).partition(":")
            if expires.isdigit() and int(expires) > now_ms and count.isdigit():
                total += int(count)
        return total

    async def close(self) -> None:
        await self.client.aclose()
