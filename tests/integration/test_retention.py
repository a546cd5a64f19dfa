"""Redis does not grow without bound: a closed deal's keys, claim records and holds go after the
retention, and refused attempts on a closed deal are not stored."""

from __future__ import annotations

import redis.asyncio as aioredis

from livecart.deals import new_deal_id, parse_spec
from livecart.store.deal_store import DealStore
from livecart.store.keys import RoomKeys


async def live_deal(store: DealStore, client: aioredis.Redis, room: str, stock: int = 10) -> str:
    now = (await client.time())[0] * 1000
    spec = parse_spec({"product": {"id": "p1", "name": "P"}, "price": 10, "deal_price": 5, "stock": stock,
                       "limit_per_user": 5, "duration_s": 600, "start_at": None}, now)
    deal_id = new_deal_id()
    await store.create(room, deal_id, spec, "test", start_now=True)
    return deal_id


async def test_a_closed_deal_is_retired_after_the_retention_with_its_claims(redis_server, room):
    client = aioredis.Redis.from_url(redis_server.url)
    store = DealStore(client)
    keys = RoomKeys(room)
    closed, still_open = await live_deal(store, client, room), await live_deal(store, client, room)
    for i in range(5):
        assert (await store.claim(room, closed, f"u{i}", 1, "k", f"c{i}", 600_000)).status == "ok"
    assert (await store.claim(room, still_open, "u0", 1, "k", "keep", 600_000)).status == "ok"
    await store.control(room, closed, "restock", "test", 1)  # :ops
    await store.control(room, closed, "stop", "test")
    assert await store.retire(room, retention_ms=3_600_000) == 0  # closed, but within the retention
    assert await store.retire(room, retention_ms=0, chunk=2) == 1  # 5 claim records, 2 per script call
    assert not await client.keys(keys.deal(closed) + "*")
    assert await client.hkeys(keys.claims) == [b"keep"]
    assert await client.zrange(keys.holds, 0, -1) == [b"keep"]
    assert await client.zrange(keys.deals, 0, -1) == [still_open.encode()]
    await client.aclose()


async def test_refused_attempts_on_a_closed_deal_are_not_stored(redis_server, room):
    client = aioredis.Redis.from_url(redis_server.url)
    store = DealStore(client)
    deal_id = await live_deal(store, client, room)
    await store.control(room, deal_id, "stop", "test")
    for i in range(50):
        answer = await store.claim(room, deal_id, f"u{i}", 1, f"k{i}", f"c{i}", 600_000)
        assert answer.parsed() == {"ok": False, "reason": "ended"}
    again = await store.claim(room, deal_id, "u0", 1, "k0", "c0", 600_000)
    assert again.parsed() == {"ok": False, "reason": "ended"}  # the same answer, without storing it
    assert await client.hlen(RoomKeys(room).deal(deal_id) + ":keys") == 0
    assert int(await client.hget(RoomKeys(room).deal(deal_id), "attempts")) == 51  # still counted
    await client.aclose()
