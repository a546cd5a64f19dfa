"""A room's frames go out in rounds, a slice of sockets per turn (hub.RoomHub._flush, hub.Round): each
socket gets one frame of everything it has not had yet. Every socket still gets every event once and in
order, whatever the turns flushed between its frames, and a socket that joins while a round is going
misses nothing."""

from __future__ import annotations

import asyncio
import time

from tests.support import RoomClient, api, comment, create_deal, post_events, token, ws_url


def spy_on_writes(hub, slice_s: float = 0.0, after=None) -> list[tuple[object, int, int]]:
    """(the round, where the slice started, how many flushed batches the log held) of every turn;
    `slice_s`: each slice takes that long, like a big room's (a few ms), so news comes during a round;
    `after(room, round)`: called once the slice is written (to make something happen mid-round)."""
    written: list[tuple[object, int, int]] = []
    write = hub._write

    def spy(room, current):
        written.append((current, current.next, len(room.log)))
        time.sleep(slice_s)
        write(room, current)
        if after is not None:
            after(room, current)

    hub._write = spy
    return written


async def connected(node, room, n: int) -> list[RoomClient]:
    """`n` sockets of the room, each past its snapshot."""
    clients = [await RoomClient.connect(ws_url(node.port, room)) for _ in range(n)]
    for c in clients:
        await c.until(lambda f: f["type"] == "snapshot")
    return clients


async def test_rounds_of_slices_bring_every_socket_every_event_once_in_order(make_node, room):
    """Forty sockets in slices of eight: a round takes five turns while the events keep coming and are
    flushed at every turn; a socket's frame has everything since its last."""
    node = await make_node(fanout_slice=8, tick_ms=40, max_tick_ms=40)
    written = spy_on_writes(node.hub, slice_s=0.003)
    clients = await connected(node, room, 40)
    late = None
    try:
        total = 0
        for round_ in range(12):
            pairs = [[comment(f"e{round_}-{i}-a"), comment(f"e{round_}-{i}-b")] for i in range(3)]
            await asyncio.gather(*(post_events(node.port, room, pair) for pair in pairs))
            total += 6
            if round_ == 5:
                late = await RoomClient.connect(ws_url(node.port, room))
            await asyncio.sleep(0.01)
        for c in clients:
            events = await c.events_until(total)
            assert [e["offset"] for e in events] == list(range(1, total + 1))
        assert late is not None
        await late.events_until(total)
        start = late.frames[0]["offset"]
        assert late.frames[0]["type"] == "snapshot"
        assert [e["offset"] for e in late.events] == list(range(start + 1, total + 1))
        assert any(start > 0 for _, start, _ in written), "no round went in more than one slice"
        # A socket keeps its place from one round to the next (the stagger holds); one that joins
        # comes after them.
        # (The first rounds came while the sockets were still connecting.)
        first = next(r for r, _, _ in written if len(r.peers) == len(clients))
        last = written[-1][0]
        assert len(last.peers) == len(clients) + 1 and last.peers[:-1] == first.peers
    finally:
        for c in [*clients, *([late] if late else [])]:
            await c.close()


async def test_news_during_a_round_goes_in_a_paced_round_once_to_each_socket(make_node, room):
    """What comes while a round goes out reaches its remaining slices in it, and the others in the next
    round, paced: its slices spread over the room's tick, one per turn, not in one burst."""
    node = await make_node(fanout_slice=2, tick_ms=40, max_tick_ms=40)
    hub = node.hub
    injected: list[object] = []

    def news_mid_round(r, current):
        if current.burst and current.next == 2 and not injected:
            # As a pin arrives from the channel (RoomHub._on_message, StageChanged) between two slices.
            injected.append(current)
            r.stage["announcement"] = "10 minutes left"
            r.batch.set_field("announcement", "10 minutes left")
            hub.schedule_flush(r)

    written = spy_on_writes(hub, after=news_mid_round)
    clients = await connected(node, room, 8)
    try:
        await post_events(node.port, room, [comment("a")])
        for c in clients:
            await c.until(lambda f: f.get("announcement") == "10 minutes left")
        await asyncio.sleep(0.2)  # a frame too many would be here by now
        for c in clients:
            assert [e["offset"] for e in c.events] == [1]
            assert sum(f.get("announcement") == "10 minutes left" for f in c.frames) == 1
        assert injected
        paced = [r for r, _, _ in written if not r.burst]
        assert paced, "the news did not go in a round of its own"
        assert [start for r, start, _ in written if r is paced[0]] == [0, 2, 4, 6]  # a turn each
    finally:
        for c in clients:
            await c.close()


async def test_a_deal_that_closes_goes_to_every_socket_in_one_pass_and_one_that_opens_in_slices(
        make_node, room):
    """Sold out (here: stopped) is what every screen must show at once: that round is not interleaved
    with the claims being answered. A deal going live goes in slices, in consecutive loop passes, so
    the first claims are answered while it is still going out."""
    node = await make_node(fanout_slice=2)
    written = spy_on_writes(node.hub)
    clients = await connected(node, room, 7)
    try:
        deal = await create_deal(node.port, room)
        for c in clients:
            await c.until(lambda f: any(d["id"] == deal["id"] and d["state"] == "live"
                                        for d in f.get("deals", [])))
        opened = [r for r, _, _ in written if r.burst and not r.whole]
        assert opened and [start for r, start, _ in written if r is opened[-1]] == [0, 2, 4, 6]
        status, body = await api(node.port, "POST", f"/api/rooms/{room}/deals/{deal['id']}/stop",
                                 token("assistant", room, "amy"))
        assert status == 200, body
        for c in clients:
            await c.until(lambda f: any(d["id"] == deal["id"] and d["state"] == "stopped"
                                        for d in f.get("deals", [])))
        closed = [r for r, _, _ in written if r.whole]
        assert len(closed) == 1 and [start for r, start, _ in written if r is closed[0]] == [0]
    finally:
        for c in clients:
            await c.close()


async def test_a_closing_deal_does_not_wait_behind_a_round(make_node, room):
    """When a deal's closing state (sold out) comes due while a round goes out in slices, a new round
    goes to every socket at once, and the sockets still get every event once and in order."""
    node = await make_node(fanout_slice=2)
    hub = node.hub
    interrupted: list[object] = []

    def interrupt(r, current):
        if current.next < len(current.peers) and not interrupted:  # mid-round: a deal's new state
            interrupted.append(current)
            r.state_changed = r.deal_closed = True
            hub._flush(r)

    written = spy_on_writes(hub, after=interrupt)
    clients = await connected(node, room, 7)
    try:
        await post_events(node.port, room, [comment("a"), comment("b")])
        await post_events(node.port, room, [comment("c")])
        for c in clients:
            assert [e["offset"] for e in await c.events_until(3)] == [1, 2, 3]
        assert interrupted
        after = [r for r, _, _ in written if r is not interrupted[0]]
        assert any(r.whole for r in after), "the closing state waited behind the round"
    finally:
        for c in clients:
            await c.close()
