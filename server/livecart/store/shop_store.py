"""A room's shop settings in Redis: webhook secrets, the generic order mapping, the checkout link, and
which claim each shop order paid for (its refunds do not say).

Secrets are write-only from the outside: `settings()` gives a hint (the last four characters) and who
set it when, never the secret; only `secret()`, called by the webhook route to check a signature, reads
it. They live in the room's `shop` hash, which nothing else reads, and never reach a log. Each change of
a setting is written to the room's ledger (the audit log: who changed which setting, when; never the
value of a secret), in the same transaction as the change.
"""

from __future__ import annotations

from typing import Any

from livecart.protocol import decode_body, encode_json
from livecart.store.keys import RoomKeys
from livecart.store.redis_client import Client, as_store_unavailable, decode_str

__all__ = ["SHOPS", "ShopStore"]

SHOPS = ("shopify", "orders")  # the webhook kinds a room can hold a secret for
CLAIM_MEMORY_S = 90 * 86400  # refunds come weeks after the order
LEDGER_MAX = 100_000  # as lib.lua trims the ledger


def _hint(secret: str) -> str:
    return "…" + secret[-4:]


class ShopStore:
    def __init__(self, client: Client) -> None:
        self.client = client

    async def set_secret(self, room: str, shop: str, secret: str | None, by: str, now_ms: int) -> None:
        keys = RoomKeys(room)
        with as_store_unavailable():
            async with self.client.pipeline(transaction=True) as pipe:
                if secret is None:
                    pipe.hdel(keys.shop, f"{shop}:secret", f"{shop}:set_at", f"{shop}:by")
                else:
                    pipe.hset(keys.shop, mapping={f"{shop}:secret": secret, f"{shop}:set_at": now_ms,
                                                  f"{shop}:by": by})
                pipe.xadd(keys.ledger, {"op": "webhook_secret" if secret else "webhook_secret_removed",
                                        "shop": shop, "by": by, "at": now_ms},
                          maxlen=LEDGER_MAX, approximate=True)
                await pipe.execute()

    async def secret(self, room: str, shop: str) -> str | None:
        with as_store_unavailable():
            value = await self.client.hget(RoomKeys(room).shop, f"{shop}:secret")
        return decode_str(value) if value is not None else None

    async def set_field(self, room: str, name: str, value: Any, by: str, now_ms: int) -> None:
        """`orders:mapping` (a checked mapping document) or `checkout_url`; None removes it."""
        keys = RoomKeys(room)
        with as_store_unavailable():
            async with self.client.pipeline(transaction=True) as pipe:
                if value is None:
                    pipe.hdel(keys.shop, name)
                else:
                    pipe.hset(keys.shop, name, encode_json(value))
                op = name.replace(":", "_") + ("" if value is not None else "_removed")  # orders_mapping, ...
                pipe.xadd(keys.ledger, {"op": op, "by": by, "at": now_ms}, maxlen=LEDGER_MAX,
                          approximate=True)
                await pipe.execute()

    async def field(self, room: str, name: str) -> Any:
        with as_store_unavailable():
            value = await self.client.hget(RoomKeys(room).shop, name)
        return decode_body(value.encode() if isinstance(value, str) else value, "application/json") \
            if value is not None else None

    async def settings(self, room: str) -> dict[str, Any]:
        """What the console shows: per shop whether a secret is set (a hint of it, by whom, when), the
        mapping, the checkout link. Never a secret."""
        with as_store_unavailable():
            stored = await self.client.hgetall(RoomKeys(room).shop)
        raw = {decode_str(k): decode_str(v) for k, v in stored.items()}
        shops: dict[str, Any] = {}
        for shop in SHOPS:
            secret = raw.get(f"{shop}:secret")
            shops[shop] = {"url": f"/api/rooms/{room}/webhooks/{shop}",
                           "secret": None if secret is None else {
                               "hint": _hint(secret), "by": raw.get(f"{shop}:by", ""),
                               "set_at": int(raw.get(f"{shop}:set_at", "0") or 0)}}
        mapping = raw.get("orders:mapping")
        shops["orders"]["mapping"] = decode_body(mapping.encode(), "application/json") if mapping else None
        checkout = raw.get("checkout_url")
        return {"shops": shops,
                "checkout_url": decode_body(checkout.encode(), "application/json") if checkout else None}

    async def remember_claim(self, room: str, order_id: str, claim_id: str) -> None:
        key = RoomKeys(room).shop_claims
        with as_store_unavailable():
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.hset(key, order_id, claim_id)
                pipe.expire(key, CLAIM_MEMORY_S)
                await pipe.execute()

    async def claim_of(self, room: str, order_id: str) -> str | None:
        with as_store_unavailable():
            value = await self.client.hget(RoomKeys(room).shop_claims, order_id)
        return decode_str(value) if value is not None else None
