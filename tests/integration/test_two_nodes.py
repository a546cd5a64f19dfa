"""Several nodes on one Redis: ingest on one, viewers on all, the same events in the same order."""

from __future__ import annotations

import asyncio

from tests.support import RoomClient, comment, post_events, ws_url


async def test_ingest_on_one_node_reaches_viewers_on_both(make_node, room):
    a, b = await make_node(), await make_node()
    clients = [await RoomClient.connect(ws_url(n.port, room)) for n in (a, b, b)]
    for c in clients:
        await c.recv()
    await asyncio.gather(*(post_events(a.port if i % 2 else b.port, room, [comment(f"n{i}")])
                           for i in range(40)))
    results = [await c.events_until(40) for c in clients]
    for events in results:
        assert [e["offset"] for e in events] == list(range(1, 41))
    assert results[0] == results[1] == results[2]
    await asyncio.gather(*(c.close() for c in clients))


async def test_a_viewer_resumes_on_another_node(make_node, room):
    a, b = await make_node(), await make_node()
    client = await RoomClient.connect(ws_url(a.port, room))
    snap = await client.recv()
    await post_events(a.port, room, [comment("one")])
    await client.events_until(1)
    await client.close()
    await post_events(a.port, room, [comment("two"), comment("three")])
    moved = await RoomClient.connect(ws_url(b.port, room, since=1, epoch=snap["epoch"]))
    moved.offset = 1
    assert (await moved.recv())["type"] == "recovered"
    assert [e["id"] for e in await moved.events_until(3)] == ["two", "three"]
    await moved.close()
