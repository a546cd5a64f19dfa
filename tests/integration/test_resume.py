"""Resume by offset + epoch: exactly the missed events, or a fresh snapshot when history cannot."""

from __future__ import annotations

import asyncio
import time

from livecart.events import counter_deltas, validate_event
from livecart.protocol import encode_json
from livecart.store.redis_store import RedisStore
from tests.support import RoomClient, comment, post_events, ws_url


async def test_resume_after_disconnect_gets_exactly_the_missed_events_then_live_ones(node, room):
    await post_events(node.port, room, [comment("before")])
    client = await RoomClient.connect(ws_url(node.port, room))
    snap = await client.recv()
    await client.close()
    await post_events(node.port, room, [comment(f"missed{i}") for i in range(5)])

    again = await RoomClient.connect(ws_url(node.port, room, since=snap["offset"], epoch=snap["epoch"]))
    again.offset = snap["offset"]
    first = await again.recv()
    assert first["type"] == "recovered" and first["epoch"] == snap["epoch"] and first["offset"] == 6
    await again.events_until(6)
    assert [e["id"] for e in again.events] == [f"missed{i}" for i in range(5)]
    await post_events(node.port, room, [comment("live")])
    events = await again.events_until(7)
    assert [e["offset"] for e in events] == [2, 3, 4, 5, 6, 7]
    await again.close()


async def test_resume_while_events_keep_flowing_has_no_gap_and_no_duplicate(node, room):
    client = await RoomClient.connect(ws_url(node.port, room))
    await client.recv()
    stop = asyncio.Event()

    async def publish() -> int:
        n = 0
        while not stop.is_set():
            await post_events(node.port, room, [comment(f"p{n}")])
            n += 1
        return n

    publisher = asyncio.create_task(publish())
    seen: list[int] = []
    for _ in range(5):  # disconnect and resume five times mid-stream
        await asyncio.sleep(0.05)
        frame = await client.recv()
        while frame["type"] != "batch" or not frame["events"]:
            frame = await client.recv()
        offset, epoch = client.offset, client.epoch
        seen += [e["offset"] for e in client.events]
        client.events.clear()
        await client.close()
        client = await RoomClient.connect(ws_url(node.port, room, since=offset, epoch=epoch))
        client.offset, client.epoch = offset, epoch
        assert (await client.recv())["type"] == "recovered"
    stop.set()
    total = await publisher
    await client.events_until(total)
    seen += [e["offset"] for e in client.events]
    assert seen == list(range(1, total + 1))
    await client.close()


async def test_resume_with_a_stale_epoch_gets_a_fresh_snapshot(node, room):
    await post_events(node.port, room, [comment("a"), comment("b")])
    client = await RoomClient.connect(ws_url(node.port, room, since=1, epoch="not-the-epoch"))
    first = await client.recv()
    assert first["type"] == "snapshot" and first["recovered"] is False and first["offset"] == 2
    await client.close()


async def test_resume_from_before_the_kept_history_gets_a_fresh_snapshot(make_node, room):
    node = await make_node(history_max=5)
    client = await RoomClient.connect(ws_url(node.port, room))
    snap = await client.recv()
    await client.close()
    for i in range(6):
        await post_events(node.port, room, [comment(f"h{i}-{j}") for j in range(100)])
    again = await RoomClient.connect(ws_url(node.port, room, since=snap["offset"], epoch=snap["epoch"]))
    first = await again.recv()
    assert first["type"] == "snapshot" and first["offset"] == 600 and first["epoch"] == snap["epoch"]
    await again.close()


async def test_resume_at_the_latest_offset_gets_recovered_and_nothing_else(node, room):
    await post_events(node.port, room, [comment("x")])
    client = await RoomClient.connect(ws_url(node.port, room))
    snap = await client.recv()
    await client.close()
    again = await RoomClient.connect(ws_url(node.port, room, since=snap["offset"], epoch=snap["epoch"]))
    assert (await again.recv())["type"] == "recovered"
    await post_events(node.port, room, [comment("y")])
    frame = await again.until(lambda f: f["type"] == "batch" and f["events"])
    assert [e["id"] for e in frame["events"]] == ["y"]
    await again.close()


async def test_a_storm_of_resumes_from_mixed_offsets_during_traffic_is_exact_for_every_socket(node, room):
    """Sockets resuming from the same offset share one history read; those from other offsets (or
    joining after a read started) get their own. Either way: every event once, in order."""
    await post_events(node.port, room, [comment(f"a{i}") for i in range(3)])
    client = await RoomClient.connect(ws_url(node.port, room))
    snap = await client.recv()
    await client.close()
    sinces = [snap["offset"] - (i % 3) for i in range(40)]  # three groups: offsets 3, 2 and 1

    async def resume(since: int) -> list[int]:
        c = await RoomClient.connect(ws_url(node.port, room, since=since, epoch=snap["epoch"]))
        c.offset = since
        assert (await c.recv())["type"] == "recovered"
        events = await c.events_until(snap["offset"] + 20)
        await c.close()
        return [e["offset"] for e in events]

    storm = [asyncio.create_task(resume(s)) for s in sinces]
    for i in range(20):  # live traffic while they join
        await post_events(node.port, room, [comment(f"b{i}")])
    for since, offsets in zip(sinces, await asyncio.gather(*storm), strict=True):
        assert offsets == list(range(since + 1, snap["offset"] + 21)), since


async def test_a_state_frame_from_behind_a_resumed_socket_does_not_resend_its_events(node, room):
    """A socket that resumed from history can be ahead of the room's own stream on this node (pub/sub
    lagging, as in a reconnect storm): a state-only batch from behind it once lowered its floor, and the
    lagging events, which it already had, were sent again. White-box: the hub gets those two batches."""
    from livecart.batch import Batch

    client = await RoomClient.connect(ws_url(node.port, room))
    await client.recv()
    await post_events(node.port, room, [comment("a"), comment("b")])
    await client.events_until(2)
    hub, state = node.hub, node.hub.rooms[room]
    peers = list(state.peers)
    for batch in (Batch(events=[], offset=1, counters={"likes": 0}),  # offset 1
                  Batch(events=[client.events[1]], offset=2)):  # then its event 2
        state.log.append(batch)
        hub._deliver(state, peers)
    await post_events(node.port, room, [comment("c")])
    await client.events_until(3)
    assert [e["offset"] for e in client.events] == [1, 2, 3]
    await client.close()


async def test_events_a_node_reads_from_history_bring_the_counters_they_moved(node, room):
    # Events this node's pub/sub never delivered (published before its subscription was in place, or
    # while it reconnected) reach its sockets from a history read. The counters must move with them:
    # they stayed as they were until the next published event (in CI: an event posted right after a
    # room's first socket joined came with its count still the old one).
    client = await RoomClient.connect(ws_url(node.port, room))
    assert (await client.recv())["type"] == "snapshot"
    await post_events(node.port, room, [comment("c1")])
    await client.until(lambda f: f.get("counters", {}).get("comments") == 1)
    # SPUBLISH: sharded channels are another namespace, so the node's SUBSCRIBE never sees these.
    unheard = RedisStore(node.store.client, history_max=1000, history_max_age_s=60, dedup_window_s=60,
                         sharded_pubsub=True)
    now = int(time.time() * 1000)
    events = [validate_event(comment(f"c{n}"), now) for n in (2, 3)]
    await unheard.append(room, [(e["id"], encode_json(e), counter_deltas(e)) for e in events], now)
    await asyncio.sleep(0.3)
    assert [e["id"] for e in client.events] == ["c1"]  # not heard
    # The node's pub/sub connection drops: it subscribes again and reads what it missed.
    assert await node.store.client.client_kill_filter(_type="pubsub") >= 1
    frame = await client.until(lambda f: any(e["offset"] == 3 for e in f.get("events", [])))
    assert [e["id"] for e in client.events] == ["c1", "c2", "c3"]
    assert frame["counters"]["comments"] == 3
    await client.close()
