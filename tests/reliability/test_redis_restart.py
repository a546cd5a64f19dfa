"""Redis goes away under a running node: 503s while it is gone, and everything resumes after."""

from __future__ import annotations

import asyncio

from tests.reliability.fleet import Follower, Publisher, eventually, healthz, wait_followers, wait_health
from tests.support import WAIT, RedisProcess, RoomClient, comment, post_events, ws_url


async def test_node_survives_a_redis_restart_and_clients_keep_their_sockets(make_node, room, tmp_path):
    redis = RedisProcess(tmp_path / "redis")
    redis.start()
    try:
        node = await make_node(redis_url=redis.url)
        client = await RoomClient.connect(ws_url(node.port, room))
        await client.recv()
        await post_events(node.port, room, [comment("before")])
        await client.events_until(1)

        redis.kill()
        await wait_health(node.port, 503)
        status, body, headers = await post_events(node.port, room, [comment("while-down")])
        assert status == 503 and body["error"] == "unavailable" and int(headers["Retry-After"]) >= 1

        redis.start()  # same port, same AOF: the data is back
        await wait_health(node.port, 200)
        deadline = asyncio.get_running_loop().time() + 3 * WAIT
        while (await post_events(node.port, room, [comment("after")]))[0] != 200:
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.1)
        events = await client.events_until(2, timeout=3 * WAIT)
        assert [(e["offset"], e["id"]) for e in events] == [(1, "before"), (2, "after")]
        await client.close()
    finally:
        redis.stop()


async def test_redis_losing_its_data_gives_connected_clients_a_fresh_snapshot(make_node, room, tmp_path):
    redis = RedisProcess(tmp_path / "redis", appendonly=False)
    redis.start()
    try:
        node = await make_node(redis_url=redis.url)
        client = await RoomClient.connect(ws_url(node.port, room))
        first = await client.recv()
        await post_events(node.port, room, [comment("a"), comment("b")])
        await client.events_until(2)
        redis.kill()
        redis.start()  # no persistence: the room's history and epoch are gone
        frame = await client.until(lambda f: f["type"] == "snapshot", timeout=3 * WAIT)
        assert frame["epoch"] != first["epoch"] and frame["offset"] == 0
        await post_events(node.port, room, [comment("c")])
        events = await client.events_until(1)
        assert events[-1]["id"] == "c" and events[-1]["offset"] == 1
        await client.close()
    finally:
        redis.stop()


async def test_redis_restart_under_load_keeps_sockets_and_loses_no_accepted_event(make_node, room, tmp_path):
    redis = RedisProcess(tmp_path / "redis")
    redis.start()
    try:
        nodes = [await make_node(redis_url=redis.url), await make_node(redis_url=redis.url)]
        ports = [n.port for n in nodes]
        followers = [Follower(ports, room, start=i) for i in range(6)]
        await wait_followers(followers)
        publisher = Publisher(ports, room, strict=True)  # strict: only 200, or 503 with Retry-After
        await publisher.more(30, "events accepted")

        redis.kill()
        for port in ports:
            await wait_health(port, 503)
        # Ingest keeps being refused, politely, on both nodes.
        await eventually(lambda: publisher.statuses[503] >= 4, "503s while Redis is away")
        assert [await healthz(port) for port in ports] == [503, 503]
        redis.start()  # same port, same AOF
        for port in ports:
            await wait_health(port, 200)
        await publisher.more(30, "events accepted after the restart")
        await publisher.stop()

        assert set(publisher.statuses) == {200, 503}, publisher.statuses
        await asyncio.gather(*(f.reach(len(publisher.ids), 6 * WAIT) for f in followers))
        for f in followers:
            f.assert_complete(publisher.ids)
            # The same socket all along: no close, no second first frame.
            assert (f.closes, dict(f.first_frames)) == ([], {"snapshot": 1})
        await asyncio.gather(*(f.stop() for f in followers))
    finally:
        redis.stop()
