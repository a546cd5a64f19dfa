"""Redis does not grow without bound: a closed deal's keys, claim records and holds go after the
retention, and refused attempts on a closed deal are not stored."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from livecart.deals import new_deal_id, parse_spec
from livecart.store.batcher import as_future
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
        assert (await as_future(store.claim, room, closed, f"u{i}", 1, "k", f"c{i}", 600_000)).status == "ok"
    assert (await as_future(store.claim, room, still_open, "u0", 1, "k", "keep", 600_000)).status == "ok"
    await store.control(room, closed, "restock", "test", 1)  # :ops
    await store.control(room, closed, "stop", "test")
    assert await store.retire(room, retention_ms=3_600_000) == 0  # closed, but within the retention
    assert await store.retire(room, retention_ms=0, chunk=2) == 1  # 5 claim records, 2 per script call
    assert not await client.keys(keys.deal(closed) + "*")
    assert await client.hkeys(keys.claims) == [b"keep"]
    assert await client.zrange(keys.holds, 0, -1) == [b"keep"]
    assert await client.zrange(keys.deals, 0, -1) == [still_open.encode()]
    store.close()
    await client.aclose()


async def test_refused_attempts_on_a_closed_deal_are_not_stored(redis_server, room):
    client = aioredis.Redis.from_url(redis_server.url)
    store = DealStore(client)
    deal_id = await live_deal(store, client, room)
    await store.control(room, deal_id, "stop", "test")
    for i in range(50):
        answer = await as_future(store.claim, room, deal_id, f"u{i}", 1, f"k{i}", f"c{i}", 600_000)
        assert answer.parsed() == {"ok": False, "reason": "ended"}
    again = await as_future(store.claim, room, deal_id, "u0", 1, "k0", "c0", 600_000)
    assert again.parsed() == {"ok": False, "reason": "ended"}  # the same answer, without storing it
    assert await client.hlen(RoomKeys(room).deal(deal_id) + ":keys") == 0
    assert int(await client.hget(RoomKeys(room).deal(deal_id), "attempts")) == 51  # still counted
    store.close()
    await client.aclose()


async def room_keys(node, room: str) -> list[bytes]:
    return [k async for k in node.store.client.scan_iter(match=f"lc:{{{room}}}:*")]


async def test_purge_deletes_everything_a_room_holds_and_only_that_room(node, room):
    from tests.support import api, claim, comment, create_deal, post_events, token

    other = room + "-other"
    for r in (room, other):
        await post_events(node.port, r, [comment("c1"), comment("c2")])
        deal = await create_deal(node.port, r)
        assert (await claim(node.port, r, deal["id"], "lin"))[0] == 200
    assert await room_keys(node, room)
    assert (await api(node.port, "DELETE", f"/api/rooms/{room}", token("viewer", room, "lin")))[0] == 403
    status, body = await api(node.port, "DELETE", f"/api/rooms/{room}", token("assistant", room, "amy"))
    assert status == 200 and body["purged"] == room and body["keys"] > 5
    assert await room_keys(node, room) == []
    assert len(await room_keys(node, other)) > 5
    wildcard = token("assistant", "*", "amy")
    assert (await api(node.port, "DELETE", f"/api/rooms/{other}", wildcard))[1]["error"] == "confirm_purge"
    assert (await api(node.port, "DELETE", f"/api/rooms/{other}?confirm={other}", wildcard))[0] == 200
    assert await room_keys(node, other) == []


async def test_a_room_idle_past_the_retention_is_purged(own_redis, make_node, room):
    from tests.support import comment, post_events

    # Its own Redis: on the shared one, every room earlier tests left is idle two days ahead too.
    node = await make_node(own_redis.url, room_retention_days=1)
    # This test drives the director by hand, two days ahead of its clock; its own loop, stepping the
    # room (active a moment ago in real time), would write the room's cursor back after the purge.
    node._director_task.cancel()
    await asyncio.wait([node._director_task])
    await post_events(node.port, room, [comment("c1")])
    await node.director.step_all()  # registers the room's activity
    now = node.clock.now_ms()
    await node.director._purge_idle_rooms(now)
    assert await room_keys(node, room)  # active just now
    node.director._idle_checked = float("-inf")
    await node.director._purge_idle_rooms(now + 2 * 86_400_000)
    assert await room_keys(node, room) == []


async def test_the_idle_purge_drains_a_backlog_and_spares_rooms_with_sockets_here(own_redis, make_node):
    """More idle rooms than one registry read returns: one pass purges them all, and a room with
    sockets on this node (oldest of all) stays without stopping the pass at it."""
    from livecart.store.keys import ROOMS_SEEN
    from livecart.store.stats_store import IDLE_BATCH

    node = await make_node(own_redis.url, room_retention_days=1)
    node._director_task.cancel()
    await asyncio.wait([node._director_task])
    client = node.store.client
    now = node.clock.now_ms()
    rooms = [f"idle-{i:03}" for i in range(IDLE_BATCH * 2 + 3)]
    await client.zadd(ROOMS_SEEN, {r: now - 1000 + i for i, r in enumerate(rooms)})
    for r in rooms:
        await client.set(f"lc:{{{r}}}:meta", "x")
    watched = rooms[0]
    node.director.local_rooms = {watched}
    await node.director._purge_idle_rooms(now + 2 * 86_400_000)
    left = sorted([k.decode() async for k in client.scan_iter(match="lc:{idle-*")])
    assert left == [f"lc:{{{watched}}}:meta"]


async def test_livecart_purge_deletes_a_room_through_a_running_node(node, room):
    import asyncio
    import os
    import sys

    from tests.support import SECRET, comment, post_events

    await post_events(node.port, room, [comment("c1")])
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "livecart", "purge", "--room", room, "--url", f"http://127.0.0.1:{node.port}",
        env=dict(os.environ, LIVECART_SECRET=SECRET), stdout=asyncio.subprocess.PIPE)
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0 and f"purged room {room}" in out.decode()
    assert await room_keys(node, room) == []
