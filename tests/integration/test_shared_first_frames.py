"""Joiners share the reads behind their first frames: one snapshot read in flight per room, and the
sockets that join meanwhile share the next one (a connect storm costs a read per round trip, not one
per socket), each still getting every event exactly once."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.support import RoomClient, comment, post_events, ws_url


async def test_sockets_joining_during_a_snapshot_read_share_the_next_one(node, room, monkeypatch):
    first = await RoomClient.connect(ws_url(node.port, room))  # the room is open here from now on
    await first.recv()
    original, gate, started, reads = node.store.snapshot, asyncio.Event(), asyncio.Event(), []

    async def slow_snapshot(name: str, *args: Any, **kwargs: Any) -> Any:
        reads.append(name)
        started.set()
        await gate.wait()  # a read that takes long: joiners pile up behind it
        return await original(name, *args, **kwargs)

    monkeypatch.setattr(node.store, "snapshot", slow_snapshot)
    await post_events(node.port, room, [comment("before")])
    leader = asyncio.create_task(RoomClient.connect(ws_url(node.port, room)))
    await asyncio.wait_for(started.wait(), 10)
    followers = [await RoomClient.connect(ws_url(node.port, room)) for _ in range(5)]
    await post_events(node.port, room, [comment("during")])  # after they joined, before their read
    await asyncio.sleep(0.2)
    assert reads == [room]  # nobody else started a read while one was in flight

    gate.set()
    clients = [await leader, *followers]
    for client in clients:
        assert (await client.recv())["type"] == "snapshot"
    assert len(reads) == 2  # the five followers shared one read, started after the leader's ended
    await post_events(node.port, room, [comment("after")])
    for client in clients:
        await client.events_until(3)
        later = [e["offset"] for e in client.events]
        assert later == sorted(set(later)) and client.offset == 3  # no gap, no duplicate, up to date
        await client.close()
    await first.close()
