"""presence.py against a real Redis: each node reports its own sockets, every node shows the total."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from livecart.clock import Clock
from livecart.presence import Presence
from livecart.store.redis_store import RedisStore
from tests.integration.rooms_here import RoomsHere


@pytest.fixture
async def store(redis_server):
    client = aioredis.Redis.from_url(redis_server.url)
    yield RedisStore(client, history_max=100, history_max_age_s=60, dedup_window_s=60)
    await client.aclose()


def node(store: RedisStore, node_id: str, presence_s: float = 60.0) -> tuple[Presence, RoomsHere]:
    clock = Clock()
    hub = RoomsHere(clock)
    return Presence(store, hub, clock=clock, node_id=node_id, presence_s=presence_s), hub


async def test_a_changed_total_across_nodes_goes_into_the_rooms_next_state_batch(store, room):
    a, hub_a = node(store, "a")
    b, hub_b = node(store, "b")
    here_a, here_b = hub_a.open(room), hub_b.open(room)
    here_a.viewers, here_b.viewers, here_b.overlays_here = 3, 2, 1
    await a.report(here_a)
    await b.report(here_b)
    assert (here_b.online, here_b.overlays) == (5, 1)
    assert hub_b.flushes == [(room, False), (room, False)]  # viewers, overlays: at the slower state tick
    assert here_b.batch.flush().counters == {"online": 5, "overlays": 1}

    await b.report(here_b)  # nothing changed: no flush
    assert len(hub_b.flushes) == 2


async def test_a_room_closed_on_a_node_stops_counting_its_sockets_at_once(store, room):
    a, hub_a = node(store, "a")
    b, hub_b = node(store, "b")
    here_a, here_b = hub_a.open(room), hub_b.open(room)
    here_a.viewers, here_b.viewers = 3, 2
    await a.report(here_a)
    del hub_a.rooms[room]  # the hub forgets the room when its last socket leaves, then tells presence
    here_a.viewers = 0
    await a.room_closed(here_a)
    assert hub_a.flushes == [(room, False)]  # the closed room itself is left alone
    await b.report(here_b)
    assert here_b.online == 2


async def test_run_reports_every_room_each_period(store, room):
    presence, hub = node(store, "a", presence_s=0.02)
    hub.open(room).viewers = 4
    task = asyncio.create_task(presence.run())
    try:
        for _ in range(100):
            await asyncio.sleep(0.02)
            if hub.rooms[room].online == 4:
                break
        assert hub.rooms[room].online == 4
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_report_all_counts_many_rooms_in_one_pass_as_report_does_one(store, room):
    a, hub_a = node(store, "a")
    b, hub_b = node(store, "b")
    rooms = [f"{room}-{i}" for i in range(3)]
    for i, name in enumerate(rooms):
        hub_a.open(name).viewers = i + 1
        here = hub_b.open(name)
        here.viewers, here.overlays_here = 10, i
    await a.report_all()
    await b.report_all()
    assert [(hub_b.rooms[n].online, hub_b.rooms[n].overlays) for n in rooms] == [(11, 0), (12, 1), (13, 2)]
    # Nothing changed on b: no flush for it on the next pass (totals compared room by room).
    flushes = len(hub_b.flushes)
    await b.report_all()
    assert len(hub_b.flushes) == flushes
