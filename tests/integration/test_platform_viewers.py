"""A platform's viewer count (`viewers` events → the `platform_viewers` counter) through a real node and
Redis: a latest value, idempotent by event id, refused with a reason when bad, seen by viewers and
staff; and from TikTokLive's own RoomUserSeqEvent through a bridge's throttle into the room."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from livecart.bridges.metrics import BridgeMetrics
from livecart.bridges.outbox import Outbox
from livecart.bridges.run import Sink
from livecart.bridges.tiktok import TikTokMapper
from livecart.bridges.viewer_count import ViewerThrottle
from tests import platform_events as pe
from tests.support import RoomClient, api, post_events, token, ws_url


def viewers(event_id: str, count: Any, platform: Any = "tiktok") -> dict[str, Any]:
    return {"id": event_id, "type": "viewers", "platform": platform, "count": count}


async def counters(node: Any, room: str) -> dict[str, Any]:
    return (await node.store.snapshot(room)).counters


async def test_the_platform_viewer_count_is_the_latest_value_not_a_sum(node, room):
    status, body, _ = await post_events(node.port, room, [viewers("v1", 1200), viewers("v2", 900)])
    assert (status, body["accepted"], body["rejected"]) == (200, 2, [])
    assert (await counters(node, room))["platform_viewers"] == 900
    # Another platform's count replaces it too: the counter is the latest count any platform sent.
    await post_events(node.port, room, [viewers("b1", 4321, "bilibili")])
    assert (await counters(node, room))["platform_viewers"] == 4321
    # The same id again, even with another number (a reconnect, a second bridge): nothing changes.
    status, body, _ = await post_events(node.port, room, [viewers("v1", 5000)])
    assert (status, body["accepted"], body["duplicates"]) == (200, 0, 1)
    after = await counters(node, room)
    assert after["platform_viewers"] == 4321
    # A count of 0 is a count (everyone left), and it moves nothing else.
    await post_events(node.port, room, [viewers("v3", 0)])
    assert {k: v for k, v in (await counters(node, room)).items() if v} == {}


async def test_a_bad_viewer_count_is_refused_with_a_reason_and_changes_nothing(node, room):
    await post_events(node.port, room, [viewers("ok", 77)])
    bad = [viewers("b1", -1), viewers("b2", "12"), viewers("b3", 1.5), viewers("b4", True),
           viewers("b5", 10**9 + 1), viewers("b6", None), viewers("b7", 5, "TikTok"), viewers("b8", 5, None),
           {"id": "b9", "type": "viewers", "platform": "tiktok", "count": 5, "user": "tiktok"}]
    status, body, _ = await post_events(node.port, room, bad)
    assert (status, body["accepted"]) == (200, 0)
    reasons = {r["index"]: (r["error"], r["detail"]) for r in body["rejected"]}
    assert sorted(reasons) == list(range(len(bad)))
    assert all("count" in detail for _e, detail in (reasons[i] for i in range(6)))
    assert reasons[5][0] == "missing_field" and reasons[7][0] == "missing_field"
    assert "platform" in reasons[6][1] and "platform" in reasons[7][1] and "user" in reasons[8][1]
    snap = await node.store.snapshot(room)
    assert snap.counters["platform_viewers"] == 77 and snap.offset == 1
    # A refused id is not remembered: the same id, now valid, is taken.
    assert (await post_events(node.port, room, [viewers("b1", 80)]))[1]["accepted"] == 1


async def test_viewers_and_staff_see_the_platform_count_in_snapshots_and_batches(node, room):
    await post_events(node.port, room, [viewers("v1", 1500)])
    viewer = await RoomClient.connect(ws_url(node.port, room))
    console = await RoomClient.connect(ws_url(node.port, room, token("assistant", room, "amy")))
    for client in (viewer, console):
        first = await client.recv()
        assert first["type"] == "snapshot" and first["counters"]["platform_viewers"] == 1500
    await post_events(node.port, room, [viewers("v2", 1800, "bilibili")])
    for client in (viewer, console):
        await client.until(lambda f: f.get("counters", {}).get("platform_viewers") == 1800)
        [event] = await client.events_until(2)
        assert event["type"] == "viewers" and (event["count"], event["platform"]) == (1800, "bilibili")
    status, state = await api(node.port, "GET", f"/api/rooms/{room}/state", token("host", room))
    assert status == 200 and state["counters"]["platform_viewers"] == 1800
    await viewer.close()
    await console.close()


async def test_a_bridge_sends_tiktok_s_viewer_counts_throttled_with_stable_ids(node, room):
    clock = [1_795_667_420_000]
    async with aiohttp.ClientSession() as session:
        metrics = BridgeMetrics("tiktok")
        outbox = Outbox(session, f"http://127.0.0.1:{node.port}", room, "tiktok:@shop",
                        lambda: token("ingest", room), metrics)
        sink = Sink("tiktok", outbox, metrics, viewers=ViewerThrottle("tiktok", "@shop", interval_ms=5_000),
                    clock=lambda: clock[0])
        task = asyncio.create_task(outbox.run())
        mapper = TikTokMapper("@shop")
        # TikTok sends RoomUserSeqEvent every second or two: 1000, 1100, 1200 within five seconds.
        for msg_id, total in ((1, 1000), (2, 1100), (3, 1200)):
            [seq] = await pe.tiktok_events(pe.viewers(msg_id, total))
            sink.take(mapper.map(seq, clock[0]))
            clock[0] += 1_500
        await asyncio.wait_for(outbox.drained(), 10)
        assert (await counters(node, room))["platform_viewers"] == 1000  # one event so far
        sink.tick(clock[0] + 1_000)  # the interval is over: the latest count held back goes
        await asyncio.wait_for(outbox.drained(), 10)
        snap = await node.store.snapshot(room)
        assert snap.counters["platform_viewers"] == 1200 and snap.offset == 2
        assert metrics.viewers._value.get() == 1200
        sent = metrics.registry.get_sample_value("livecart_bridge_events_sent_total", {"result": "accepted"})
        assert sent == 2
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
