"""Flash deals in Redis: one Lua script per state change, Redis's clock for every time decision.

Guarantees:
- `left + held + sold == stock` after every script, never negative; a claim never takes more than left.
- A (user, key) pair gets its first claim answer again and claims nothing more.
- Each hold is released (expiry, cancel, refund) or sold (paid) exactly once, whichever node asks.
- Every change publishes the deal's fields on the room channel (at-most-once, like all pub/sub; the hub
  also re-reads live deals every second).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from livecart.deals import DealSpec
from livecart.errors import Conflict, NotFound
from livecart.protocol import encode_json
from livecart.store.batcher import Deliver, ScriptBatcher
from livecart.store.keys import HOLD_ROOMS, RoomKeys, claim_answer_field
from livecart.store.redis_client import (
    Client,
    as_store_unavailable,
    decode_str,
    fields_from_flat,
    lua_source,
    register,
    run_many,
    store_error,
)
from livecart.store.values import ClaimAnswer, CurrencyChanged
from livecart.tiers import stored_tiers

__all__ = ["DealStore"]

ORPHAN_MS = 5000


def _refusal(values: list[Any]) -> ClaimAnswer:
    answer = values[0] if isinstance(values[0], bytes) else values[0].encode()
    return ClaimAnswer("rejected" if int(values[1]) else "again", answer)


def _claim_answer(values: list[Any]) -> ClaimAnswer:
    status, reply = decode_str(values[0]), values[1]
    if status == "err":
        raise NotFound("no_such_deal", "no such deal in this room")
    return ClaimAnswer(status, reply if isinstance(reply, bytes) else reply.encode())


class DealStore:
    def __init__(self, client: Client, *, sharded_pubsub: bool = False) -> None:
        self.client = client
        self._publish = "SPUBLISH" if sharded_pubsub else "PUBLISH"
        self._create = register(client, "deal_create.lua", with_lib=True)
        self._control = register(client, "deal_control.lua", with_lib=True)
        self._settle = register(client, "settle.lua", with_lib=True)
        self._expire = register(client, "expire.lua", with_lib=True)
        self._external = register(client, "external_sale.lua", with_lib=True)
        self._retire = register(client, "deal_retire.lua", with_lib=True)
        self._claim_routes: dict[str, tuple[tuple[str], tuple[str, str, str]]] = {}
        self._answer_keys: dict[tuple[str, str], str] = {}  # (room, deal) -> the deal's answers hash
        self._claims = ScriptBatcher(client, lua_source("claim.lua", with_lib=True), width=2,
                                     parse=_claim_answer, on_error=store_error)
        self._refusals = ScriptBatcher(client, lua_source("refuse.lua"), width=2, parse=_refusal,
                                       on_error=store_error)

    async def load_scripts(self) -> None:
        """Load the claim path's scripts into Redis (ScriptBatcher.load); raises StoreUnavailable."""
        with as_store_unavailable():
            await self._claims.load()
            await self._refusals.load()

    def _head(self, keys: RoomKeys, by: str = "") -> list[Any]:
        return [keys.prefix, keys.channel, self._publish] + ([by] if by else [])

    async def create(self, room: str, deal_id: str, spec: DealSpec, by: str,
                     start_now: bool) -> dict[str, str]:
        keys = RoomKeys(room)
        values = {"id": deal_id, "product_id": spec.product_id, "product_name": spec.product_name,
                  "image_url": spec.image_url, "sku": spec.sku, "price_cents": spec.price_cents,
                  "deal_price_cents": spec.deal_price_cents, "stock": spec.stock,
                  "limit_per_user": spec.limit_per_user, "duration_ms": spec.duration_ms,
                  "starts_at": 0 if start_now else spec.starts_at, "keyword": spec.keyword,
                  "currency": spec.currency}
        if spec.tiers:  # a group buy: tier 0 is the opening price (tiers.py)
            values.update(tiers=encode_json(stored_tiers(spec.deal_price_cents, spec.tiers)), tier=0)
        args: list[Any] = [keys.prefix, keys.channel, self._publish, by or "-", spec.currency]
        for name, value in values.items():
            args += [name, value]
        with as_store_unavailable():
            flat = await self._create(keys=[keys.deal(deal_id), keys.deals, keys.meta], args=args)
        fields = fields_from_flat(flat)
        if "!currency" in fields:  # the room has another currency: nothing was created
            raise CurrencyChanged(fields["!currency"])
        return fields

    async def control(self, room: str, deal_id: str, op: str, by: str, value: Any = "",
                      op_id: str | None = None) -> dict[str, str]:
        """start | stop | restock (value = units to add) | keyword (value = the word, "" to disarm).
        `op_id` names the operation (an Idempotency-Key's digest): applied once, whoever retries it."""
        keys = RoomKeys(room)
        with as_store_unavailable():
            reply = await self._control(keys=[keys.deal(deal_id)],
                                        args=[keys.prefix, keys.channel, self._publish, by or "-", op, value,
                                              op_id or uuid.uuid4().hex])
        if decode_str(reply[0]) == "err":
            code = decode_str(reply[1])
            if code == "no_such_deal":
                raise NotFound("no_such_deal", f"no deal {deal_id!r} in this room")
            raise Conflict(code, f"the deal is stopped or ended; cannot {op}")
        return fields_from_flat(reply[1:])

    def claim(self, room: str, deal_id: str, user: str, qty: int, key: str, claim_id: str,
              hold_ms: int, deliver: Deliver) -> None:
        """The claim, batched with the other claims of this loop pass: `deliver` gets its ClaimAnswer,
        or NotFound for an unknown deal, or StoreUnavailable while Redis is unreachable."""
        route = self._claim_routes.get(room)
        if route is None:  # built once per room: key names cost microseconds, and a rush is per claim
            if len(self._claim_routes) > 10_000:
                self._claim_routes.clear()
            keys = RoomKeys(room)
            route = self._claim_routes[room] = ((keys.deals,), (keys.prefix, keys.channel, self._publish))
        self._claims.submit(route[0], (*route[1], hold_ms), (deal_id, user, qty, key, claim_id), deliver)

    def refuse_once(self, room: str, deal_id: str, user: str, key: str, reply: bytes,
                    deliver: Deliver) -> None:
        """Keep `reply` as the answer of (user, key) unless the key has one: `deliver` gets the key's
        answer, with status `rejected` when it is `reply`, stored now, else `again` (or StoreUnavailable
        while Redis is unreachable). Batched like the claims (refuse.lua, many keys a call), so that in
        a rush a refusal after the sell-out costs a few microseconds of Redis."""
        answers = self._answer_keys.get((room, deal_id))
        if answers is None:  # as for claims: built once per deal, not per refusal
            if len(self._answer_keys) > 10_000:
                self._answer_keys.clear()
            answers = self._answer_keys[room, deal_id] = RoomKeys(room).deal(deal_id) + ":keys"
        self._refusals.submit((answers,), (reply,), (claim_answer_field(user, key),), deliver)

    def close(self) -> None:
        """Close the claim path's own Redis connections (store/script_pipe.py)."""
        self._claims.close()
        self._refusals.close()

    def after_answers(self, done: Callable[[], None]) -> None:
        """Call `done` each time a batch of claim answers has been delivered (ScriptBatcher)."""
        self._claims.after_deliveries = self._refusals.after_deliveries = done

    async def add_refusals(self, room: str, deal_id: str, reason: str, count: int) -> None:
        """Count refusals a node answered without the claim script in the deal's statistics (their
        answers were stored before they were sent, by `refuse_once`)."""
        key = RoomKeys(room).deal(deal_id)
        with as_store_unavailable():
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.hincrby(key, "attempts", count)
                pipe.hincrby(key, "rej_" + reason, count)
                await pipe.execute()

    async def settle(self, room: str, claim_id: str, outcome: str) -> tuple[str, bool]:
        """paid | cancelled | refunded | expired; returns (claim state after, whether it changed)."""
        keys = RoomKeys(room)
        with as_store_unavailable():
            state, changed = await self._settle(keys=[keys.claims],
                                                args=[*self._head(keys), claim_id, outcome])
        return decode_str(state), bool(changed)

    async def expire(self, room: str, limit: int = 500) -> int:
        keys = RoomKeys(room)
        with as_store_unavailable():
            return int(await self._expire(keys=[keys.holds], args=[*self._head(keys), limit]))

    async def external_sale(self, room: str, product_id: str, qty: int, event_id: str,
                            amount_cents: int) -> int:
        keys = RoomKeys(room)
        with as_store_unavailable():
            return int(await self._external(
                keys=[keys.deals], args=[*self._head(keys), product_id, qty, event_id, amount_cents]))

    async def retire(self, room: str, retention_ms: int, limit: int = 20, chunk: int = 1000) -> int:
        """Retire the room's deals that closed more than `retention_ms` ago (deal_retire.lua): at most
        `limit` deals a call, oldest first. Returns how many were retired."""
        keys = RoomKeys(room)
        with as_store_unavailable():
            now = await self._now_ms()
            # Created before now - retention: the only deals that can have closed that long ago.
            candidates: list[Any] = await self.client.zrangebyscore(keys.deals, "-inf", now - retention_ms,
                                                                    start=0, num=limit)
            retired = 0
            for deal_id in candidates:
                while (done := int(await self._retire(keys=[keys.deals],
                                                      args=[keys.prefix, decode_str(deal_id), retention_ms,
                                                            chunk]))) == 2:
                    pass
                retired += done
        return retired

    async def _now_ms(self) -> int:
        seconds, micros = await self.client.time()
        return int(seconds) * 1000 + int(micros) // 1000

    async def holds_left(self, room: str) -> int:
        with as_store_unavailable():
            return int(await self.client.zcard(RoomKeys(room).holds))

    async def register_hold_rooms(self, rooms: set[str], now_ms: int) -> None:
        """Say that this node is still looking after holds in `rooms` (a heartbeat per room)."""
        if rooms:
            with as_store_unavailable():
                await self.client.zadd(HOLD_ROOMS, dict.fromkeys(rooms, now_ms))

    async def orphan_hold_rooms(self, now_ms: int) -> list[str]:
        """Rooms with holds whose node has not said so for ORPHAN_MS: any node may release them."""
        with as_store_unavailable():
            rooms: list[Any] = await self.client.zrangebyscore(HOLD_ROOMS, "-inf", now_ms - ORPHAN_MS,
                                                               start=0, num=100)
        return [decode_str(r) for r in rooms]

    async def forget_hold_room(self, room: str) -> None:
        with as_store_unavailable():
            await self.client.zrem(HOLD_ROOMS, room)

    async def get(self, room: str, deal_ids: list[str]) -> list[dict[str, str]]:
        keys = RoomKeys(room)
        with as_store_unavailable():
            async with self.client.pipeline(transaction=False) as pipe:
                for deal_id in deal_ids:
                    pipe.hgetall(keys.deal(deal_id))
                found = await pipe.execute()
        return [{decode_str(k): decode_str(v) for k, v in f.items()} for f in found if f]

    async def expire_many(self, rooms: list[str], limit: int = 500) -> list[int]:
        """`expire` in many rooms, pipelined (deal_timers.py: once a second, every room with open deals)."""
        calls = [([k.holds], [*self._head(k), limit]) for k in map(RoomKeys, rooms)]
        return [int(n) for n in await run_many(self.client, self._expire, calls)]

    async def get_many(self, wanted: list[tuple[str, list[str]]]) -> list[list[dict[str, str]]]:
        """`get` for many (room, deal ids) in one round trip; each room's deals in the order asked."""
        with as_store_unavailable():
            async with self.client.pipeline(transaction=False) as pipe:
                for room, deal_ids in wanted:
                    keys = RoomKeys(room)
                    for deal_id in deal_ids:
                        pipe.hgetall(keys.deal(deal_id))
                found = iter(await pipe.execute())
        per_room = [[next(found) for _ in ids] for _, ids in wanted]
        return [[{decode_str(k): decode_str(v) for k, v in f.items()} for f in deals if f]
                for deals in per_room]

    async def newest(self, room: str, limit: int = 50) -> list[dict[str, str]]:
        with as_store_unavailable():
            ids: list[Any] = await self.client.zrevrange(RoomKeys(room).deals, 0, limit - 1)
        return await self.get(room, [decode_str(i) for i in ids])

    async def audit(self, room: str, count: int = 200) -> list[dict[str, str]]:
        """The newest ledger entries first: who did what to which deal, and when."""
        with as_store_unavailable():
            entries = await self.client.xrevrange(RoomKeys(room).ledger, count=count)
        return [{decode_str(k): decode_str(v) for k, v in (fields or {}).items()}
                for _id, fields in entries or []]
