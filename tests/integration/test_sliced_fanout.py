"""A room's frame goes out a slice of sockets per event-loop pass (hub.RoomHub._write_slice), the node
reading between slices: every socket still gets every event once and in order, the next frame waits for
the one going out, and a socket that joins while a frame is going out misses nothing."""

from __future__ import annotations

import asyncio
import time

from tests.support import RoomClient, api, comment, create_deal, post_events, token, ws_url


async def test_a_frame_in_slices_reaches_every_socket_once_in_order(make_node, room):
    node = await make_node(fanout_slice=2, tick_ms=1, max_tick_ms=1)
    hub = node.hub
    slices: list[int] = []  # where each slice started
    flushes_while_sending: list[bool] = []
    write_slice, flush = hub._write_slice, hub._flush

    going_out: list[object] = []  # the frame going out, while it does

    def spy_write_slice(r, out):
        start, peers = out.next, out.peers
        slices.append(start)
        if start == 0:
            assert not going_out, "a frame started while the previous one was still going out"
            going_out.append(out)
        assert going_out == [out]
        if start + hub.fanout_slice >= len(peers):
            going_out.clear()
        if start:
            # A slow frame (a few ms a slice, like a big room's): the next tick comes while it goes out.
            time.sleep(0.002)
            hub.schedule_flush(r)
        write_slice(r, out)

    def spy_flush(r):
        flushes_while_sending.append(r.sending is not None)
        flush(r)

    hub._write_slice, hub._flush = spy_write_slice, spy_flush
    clients = [await RoomClient.connect(ws_url(node.port, room)) for _ in range(7)]
    late = None
    try:
        for c in clients:
            await c.until(lambda f: f["type"] == "snapshot")
        total = 0
        for round_ in range(6):
            # Several requests at once: their events reach the room while earlier frames are going out.
            pairs = [[comment(f"e{round_}-{i}-a"), comment(f"e{round_}-{i}-b")] for i in range(5)]
            await asyncio.gather(*(post_events(node.port, room, pair) for pair in pairs))
            total += 10
            if round_ == 2:
                late = await RoomClient.connect(ws_url(node.port, room))
        for c in clients:
            events = await c.events_until(total)
            assert [e["offset"] for e in events] == list(range(1, total + 1))
        assert late is not None
        await late.events_until(total)
        start = late.frames[0]["offset"]
        assert late.frames[0]["type"] == "snapshot"
        assert [e["offset"] for e in late.events] == list(range(start + 1, total + 1))
        assert any(s > 0 for s in slices), "no frame went out in more than one slice"
        assert any(flushes_while_sending), "no tick came while a frame was going out"
    finally:
        for c in [*clients, *([late] if late else [])]:
            await c.close()


async def test_a_deal_that_closes_goes_to_every_socket_in_one_pass_and_one_that_opens_in_slices(
        make_node, room):
    """Sold out (here: stopped) is what every screen must show at once: that frame is not interleaved
    with the claims being answered. A deal going live goes in slices like any frame, so the first
    claims are answered while it is still going out."""
    node = await make_node(fanout_slice=2)
    hub = node.hub
    written: list[tuple[object, int]] = []  # (frame, where a slice started)
    write_slice = hub._write_slice

    def spy_write_slice(r, out):
        written.append((out, out.next))
        write_slice(r, out)

    hub._write_slice = spy_write_slice
    clients = [await RoomClient.connect(ws_url(node.port, room)) for _ in range(7)]

    def frame_with(state: str) -> object:
        return next(out for out, _ in written
                    if any(d["id"] == deal["id"] and d["state"] == state for d in out.batch.deals))

    try:
        for c in clients:
            await c.until(lambda f: f["type"] == "snapshot")
        deal = await create_deal(node.port, room)
        for c in clients:
            await c.until(lambda f: any(d["id"] == deal["id"] for d in f.get("deals", [])))
        opened = frame_with("live")
        assert [start for out, start in written if out is opened] == [0, 2, 4, 6]  # four slices of two
        status, body = await api(node.port, "POST", f"/api/rooms/{room}/deals/{deal['id']}/stop",
                                 token("assistant", room, "amy"))
        assert status == 200, body
        for c in clients:
            await c.until(lambda f: any(d["id"] == deal["id"] and d["state"] == "stopped"
                                        for d in f.get("deals", [])))
        closed = frame_with("stopped")
        assert [start for out, start in written if out is closed] == [0]  # one pass for all seven
    finally:
        for c in clients:
            await c.close()


async def test_a_closing_deal_does_not_wait_behind_a_frame_in_slices(make_node, room):
    """When a deal's closing state (sold out) comes due while a frame goes out in slices, the rest of
    that frame goes at once, whole, and the sockets still get every event once and in order."""
    node = await make_node(fanout_slice=2)
    hub = node.hub
    written: list[tuple[object, int]] = []  # (frame, where a slice started)
    interrupted: list[object] = []
    write_slice = hub._write_slice

    def spy_write_slice(r, out):
        written.append((out, out.next))
        write_slice(r, out)
        if out.next < len(out.peers) and not interrupted:  # mid-frame: a deal's new state comes due
            interrupted.append(out)
            r.state_changed = r.deal_closed = True
            hub._flush(r)

    hub._write_slice = spy_write_slice
    clients = [await RoomClient.connect(ws_url(node.port, room)) for _ in range(7)]
    try:
        for c in clients:
            await c.until(lambda f: f["type"] == "snapshot")
        await post_events(node.port, room, [comment("a"), comment("b")])
        await post_events(node.port, room, [comment("c")])
        for c in clients:
            assert [e["offset"] for e in await c.events_until(3)] == [1, 2, 3]
        assert [start for out, start in written if out is interrupted[0]] == [0, 2]  # then the rest at once
    finally:
        for c in clients:
            await c.close()
