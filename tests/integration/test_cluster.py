"""Two livecart nodes on a 3-primary Redis Cluster: rooms spread over the shards (one hash tag per
room), fan-out through sharded pub/sub, and a deal rush that sells exactly the stock."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import pytest

from tests.support import RedisCluster, RoomClient, comment, create_deal, post_events, token, ws_url


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> RedisCluster:
    redis_cluster = RedisCluster(tmp_path_factory.mktemp("cluster"))
    redis_cluster.start()
    yield redis_cluster
    redis_cluster.stop()


def shard_of(cluster: RedisCluster, room: str) -> int:
    """The port of the primary that serves `room` (the slot of its hash tag)."""
    import redis

    client = redis.Redis(port=cluster.servers[0].port)
    try:
        slot = client.cluster("keyslot", f"lc:{{{room}}}:log")
        for start, end, primary, *_ in client.execute_command("CLUSTER SLOTS"):
            if start <= slot <= end:
                return int(primary[1])
    finally:
        client.close()
    raise AssertionError(f"no shard serves slot {slot}")


def rooms_on_every_shard(cluster: RedisCluster, base: str, per_shard: int = 2) -> list[str]:
    by_shard: dict[int, list[str]] = {s.port: [] for s in cluster.servers}
    n = 0
    while any(len(rooms) < per_shard for rooms in by_shard.values()):
        name = f"{base}-{n}"
        n += 1
        if len(by_shard[shard_of(cluster, name)]) < per_shard:
            by_shard[shard_of(cluster, name)].append(name)
    return [r for rooms in by_shard.values() for r in rooms]


async def test_rooms_on_every_shard_fan_out_across_two_nodes(make_node, cluster, room):
    a, b = await make_node(cluster.url), await make_node(cluster.url)
    rooms = rooms_on_every_shard(cluster, room)
    # Redis TIME (deal windows, clock sync) answers from one node of the cluster, as a number.
    assert abs(await a.store.redis_time_ms() - time.time() * 1000) < 5_000
    clients = {r: [await RoomClient.connect(ws_url(n.port, r)) for n in (a, b)] for r in rooms}
    for pair in clients.values():
        for c in pair:
            assert (await c.recv())["type"] == "snapshot"
    for i, r in enumerate(rooms):  # ingest on one node, alternating
        await post_events((a if i % 2 else b).port, r,
                          [comment(f"{r}-{n}", text=f"hi {n}") for n in range(5)])
    for r, pair in clients.items():
        for c in pair:
            events = await c.events_until(5)
            assert [e["id"] for e in events] == [f"{r}-{n}" for n in range(5)]
            await c.close()


async def test_a_deal_rush_on_a_cluster_sells_exactly_the_stock(make_node, cluster, room):
    nodes = [await make_node(cluster.url), await make_node(cluster.url)]
    users, stock, limit = 100, 30, 2
    clients = await asyncio.gather(*(
        RoomClient.connect(ws_url(nodes[i % 2].port, room, tok=token("viewer", room, f"user{i}")))
        for i in range(users)))
    await asyncio.gather(*(c.recv() for c in clients))
    deal = await create_deal(nodes[0].port, room, stock=stock, limit_per_user=limit)
    await asyncio.gather(*(c.until(lambda f: any(d["id"] == deal["id"] for d in f.get("deals", [])))
                           for c in clients))
    for i, c in enumerate(clients):
        for n in range(3):
            await c.send({"type": "claim", "deal": deal["id"], "qty": 1, "req": f"u{i}-{n}"})
    won: Counter[int] = Counter()
    for i, c in enumerate(clients):
        answers = [await c.until(lambda f: f["type"] == "claim_result", timeout=30) for _ in range(3)]
        for answer in answers:
            assert answer["ok"] or answer["reason"] in ("sold_out", "limit_reached"), answer
            won[i] += answer["claim"]["qty"] if answer["ok"] else 0
    assert sum(won.values()) == stock and max(won.values()) <= limit
    await asyncio.gather(*(c.until(lambda f: any(d["id"] == deal["id"] and d["left"] == 0
                                                 for d in f.get("deals", [])))
                           for c in clients))
    await asyncio.gather(*(c.close() for c in clients))


async def test_the_pipelined_per_room_loops_work_across_shards(make_node, cluster, room):
    """Presence, the director's leases and the deal re-read go out as one pipeline for many rooms
    (store.redis_client.run_many): on a cluster the rooms of one pass live on different shards."""
    node = await make_node(cluster.url)
    rooms = rooms_on_every_shard(cluster, room, per_shard=1)
    clients = [await RoomClient.connect(ws_url(node.port, r)) for r in rooms]
    for c in clients:
        await c.recv()
    await node.presence.report_all()
    assert [node.hub.rooms[r].online for r in rooms] == [1] * len(rooms)
    quiet = rooms_on_every_shard(cluster, room + "-quiet", per_shard=1)  # rooms no director holds
    now = node.clock.now_ms()
    assert await node.cue_store.lease_news(quiet, "h1", 3000, now) == [(0, 0, 0)] * len(quiet)
    assert await node.cue_store.lease_news(quiet, "h2", 3000, now) == [None] * len(quiet)  # h1 holds them
    for r in rooms:
        await create_deal(node.port, r, stock=5)
    await node.deal_timers.refresh()
    assert all(node.hub.rooms[r].deals for r in rooms)
    # The director's two-round-trip read of each room (a MULTI on the room's shard) works there too.
    for r in rooms:
        inputs = await node.stats_store.director_inputs(r, node.clock.now_ms(), 100, 20)
        assert len(inputs.deals) == 1 and inputs.online == 1
    for c in clients:
        await c.close()
