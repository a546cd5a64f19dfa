"""Room statistics in Redis: per-second buckets folded from the room log, the fold cursor, the funnel
marks of each deal, and the registry of active rooms the directors look after.

Guarantees:
- `fold` adds deltas and moves the cursor in one atomic call, and only when the cursor is still where
  the caller read it: each logged event counts exactly once in the buckets, whichever node folds.
- Buckets, cursor and marks expire `retention_days` after the room's last fold (the stream plus the
  configured days afterwards); every node reads the same buckets.
"""

from __future__ import annotations

from typing import Any

from livecart.protocol import load_json
from livecart.stats import Bucket
from livecart.store.keys import ROOMS, ROOMS_SEEN, RoomKeys
from livecart.store.redis_client import Client, as_store_unavailable, decode_str, presence_total, register
from livecart.store.values import Cursor, DirectorInputs, LoggedEvent

__all__ = ["IDLE_BATCH", "StatsStore"]

DAY_MS = 86_400_000
DAY_S = 86_400
HMGET_MAX = 7200  # wider ranges read the whole hash (one room's stream is hours, not years)
IDLE_BATCH = 50  # idle rooms per read of the registry (the purge pages through them)


class StatsStore:
    def __init__(self, client: Client, *, retention_days: float) -> None:
        self.client = client
        self.retention_ms = int(retention_days * DAY_MS)
        self._fold = register(client, "stats_fold.lua")

    async def cursor(self, room: str) -> Cursor:
        with as_store_unavailable():
            found = await self.client.hgetall(RoomKeys(room).stats_cursor)
        return _cursor(found)

    async def director_inputs(self, room: str, now_ms: int, fold_chunk: int, deals: int) -> DirectorInputs:
        """Everything a director step reads of a room, in two round trips (one pipeline of independent
        reads, then one MULTI of the log after the cursor, with the epoch, and the newest `deals` deals)
        instead of one each."""
        keys = RoomKeys(room)
        with as_store_unavailable():
            async with self.client.pipeline(transaction=False) as pipe:
                pipe.hgetall(keys.stats_cursor)
                pipe.zrevrange(keys.deals, 0, deals - 1)
                pipe.hgetall(keys.counters)
                pipe.hgetall(keys.presence)
                pipe.hgetall(keys.answered)
                found_cursor, deal_ids, counters, presence, answered = await pipe.execute()
            cursor = _cursor(found_cursor)
            ids = [decode_str(i) for i in deal_ids]
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.hget(keys.meta, "epoch")
                after = cursor.offset if cursor.epoch else 0
                pipe.xrange(keys.log, f"{after + 1}-0", "+", count=fold_chunk)
                for deal_id in ids:
                    pipe.hgetall(keys.deal(deal_id))
                epoch, entries, *found_deals = await pipe.execute()
        return DirectorInputs(
            cursor=cursor, epoch=decode_str(epoch or b""),
            logged=[_logged(fields) for _id, fields in entries],
            deals=[{decode_str(k): decode_str(v) for k, v in f.items()} for f in found_deals if f],
            counters={decode_str(k): int(v) for k, v in counters.items()},
            online=presence_total(presence, now_ms),
            answered={decode_str(k): int(v) for k, v in answered.items()})

    async def log_after(self, room: str, offset: int, count: int) -> tuple[str, list[LoggedEvent]]:
        """The room's epoch and up to `count` logged events after `offset`."""
        keys = RoomKeys(room)
        with as_store_unavailable():
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.hget(keys.meta, "epoch")
                pipe.xrange(keys.log, f"{offset + 1}-0", "+", count=count)
                epoch, entries = await pipe.execute()
        return decode_str(epoch or b""), [_logged(fields) for _id, fields in entries]

    async def log_before(self, room: str, count: int) -> list[LoggedEvent]:
        """The newest `count` logged events, oldest first."""
        with as_store_unavailable():
            entries: Any = await self.client.xrevrange(RoomKeys(room).log, count=count)
        return [_logged(fields) for _id, fields in reversed(entries)]

    async def log_all(self, room: str, chunk: int = 5000) -> list[LoggedEvent]:
        """Every event the room's history still holds, in offset order."""
        out: list[LoggedEvent] = []
        start = "-"
        with as_store_unavailable():
            while True:
                entries: Any = await self.client.xrange(RoomKeys(room).log, start, "+", count=chunk)
                out += [_logged(fields) for _id, fields in entries]
                if len(entries) < chunk:
                    return out
                start = "(" + decode_str(entries[-1][0])

    async def fold(self, room: str, expected: str, new: str, claims: int, rejections: int,
                   deltas: dict[int, Bucket]) -> bool:
        keys = RoomKeys(room)
        args: list[Any] = [expected, new, claims, rejections, self.retention_ms, keys.prefix, len(deltas)]
        for second, bucket in sorted(deltas.items()):
            args += [second, " ".join(f"{k}={v}" for k, v in bucket.items())]
        with as_store_unavailable():
            return bool(await self._fold(keys=[keys.stats_cursor, keys.stats_days], args=args))

    async def buckets(self, room: str, start: int, end: int) -> dict[int, Bucket]:
        """Buckets of seconds start <= s < end: HMGET for short ranges, whole days for long ones."""
        keys = RoomKeys(room)
        found: dict[int, Any] = {}
        with as_store_unavailable():
            if end - start <= HMGET_MAX:
                seconds = list(range(start, end))
                async with self.client.pipeline(transaction=False) as pipe:
                    days = sorted({s // DAY_S for s in seconds})
                    for day in days:
                        pipe.hmget(keys.stats(day), [s for s in seconds if s // DAY_S == day])
                    for day, values in zip(days, await pipe.execute(), strict=True):
                        found.update(zip((s for s in seconds if s // DAY_S == day), values, strict=True))
            else:
                for day in await self._days(room, start // DAY_S, (end - 1) // DAY_S):
                    found.update({int(k): v for k, v in (await self.client.hgetall(keys.stats(day))).items()})
        return {s: {k: int(v) for k, v in load_json(raw).items()}
                for s, raw in found.items() if raw is not None and start <= s < end}

    async def _days(self, room: str, first: int | str = "-inf", last: int | str = "+inf") -> list[int]:
        found: list[Any] = await self.client.zrangebyscore(RoomKeys(room).stats_days, first, last)
        return [int(d) for d in found]

    async def span(self, room: str) -> tuple[int, int] | None:
        """The first and last second that have a bucket."""
        keys = RoomKeys(room)
        with as_store_unavailable():
            seconds: list[int] = []
            for day in await self._days(room):  # a day listed may have expired: look until one has data
                seconds = [int(k) for k in await self.client.hkeys(keys.stats(day))]
                if seconds:
                    break
            if not seconds:
                return None
            first = min(seconds)
            for day in reversed(await self._days(room)):
                last_day = [int(k) for k in await self.client.hkeys(keys.stats(day))]
                if last_day:
                    return first, max(last_day)
        return first, max(seconds)

    async def mark(self, room: str, marks: dict[str, int]) -> None:
        """Funnel facts that are true once (viewers when a deal launched, when it sold out)."""
        if not marks:
            return
        key = RoomKeys(room).funnel
        with as_store_unavailable():
            async with self.client.pipeline(transaction=False) as pipe:
                for name, value in marks.items():
                    pipe.hsetnx(key, name, value)
                pipe.pexpire(key, self.retention_ms)
                await pipe.execute()

    async def marks(self, room: str) -> dict[str, int]:
        with as_store_unavailable():
            found = await self.client.hgetall(RoomKeys(room).funnel)
        return {decode_str(k): int(v) for k, v in found.items()}

    async def counters(self, room: str) -> dict[str, int]:
        with as_store_unavailable():
            found = await self.client.hgetall(RoomKeys(room).counters)
        return {decode_str(k): int(v) for k, v in found.items()}

    async def touch(self, rooms: set[str], now_ms: int) -> None:
        if not rooms:
            return
        with as_store_unavailable():
            async with self.client.pipeline(transaction=False) as pipe:
                pipe.zadd(ROOMS, dict.fromkeys(rooms, now_ms))
                pipe.zadd(ROOMS_SEEN, dict.fromkeys(rooms, now_ms))
                await pipe.execute()

    async def idle_rooms(self, before_ms: int, offset: int = 0) -> list[str]:
        """Up to IDLE_BATCH rooms with no activity since `before_ms`, oldest first, skipping the first
        `offset` (candidates for the idle-room purge)."""
        with as_store_unavailable():
            found: list[Any] = await self.client.zrangebyscore(ROOMS_SEEN, "-inf", before_ms, start=offset,
                                                               num=IDLE_BATCH)
        return [decode_str(r) for r in found]

    async def active_rooms(self, since_ms: int) -> list[str]:
        with as_store_unavailable():
            await self.client.zremrangebyscore(ROOMS, "-inf", since_ms - DAY_MS)
            found: list[Any] = await self.client.zrangebyscore(ROOMS, since_ms, "+inf")
        return [decode_str(r) for r in found]


def _cursor(found: dict[Any, Any]) -> Cursor:
    fields = {decode_str(k): decode_str(v) for k, v in found.items()}
    claims, rejections = fields.get("claims"), fields.get("rejections")
    return Cursor(fields.get("at", ""), int(claims) if claims else None,
                  int(rejections) if rejections else None)


def _logged(fields: dict[Any, Any]) -> LoggedEvent:
    values = {decode_str(k): v for k, v in fields.items()}
    return load_json(values["e"]), int(values["t"])
