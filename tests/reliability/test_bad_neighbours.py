"""Bad neighbours in one room, all at once, while events flow: a socket that never reads, one that sends
garbage, one that sends oversized frames. Each gets what the protocol promises it (1013, error frames and
1008, 1009); everyone else keeps their socket and gets every event exactly once.

tests/integration/test_backpressure.py and test_garbage.py check each misbehaviour on its own; this is
the "others' delivery continues and is complete" part, with all three at the same time on two nodes."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable

import websockets

from tests.integration.test_backpressure import open_raw_socket_that_never_reads
from tests.reliability.fleet import Follower, Publisher, eventually, wait_followers
from tests.support import WAIT, token, ws_url


async def pester(port: int, room: str, make_frame: Callable[[random.Random], bytes | str],
                 closes: list[int | None], stop: asyncio.Event) -> None:
    """Connect, send bad frames until the server closes the socket, record its code, do it again."""
    rnd = random.Random(7)
    tok = token("viewer", room, user="pest")
    while not stop.is_set():
        async with websockets.connect(ws_url(port, room, tok=tok), max_size=2**24, close_timeout=1) as ws:
            reader = asyncio.create_task(drain(ws))  # a client reads what it is sent (error frames, ...)
            with contextlib.suppress(websockets.ConnectionClosed):
                while not stop.is_set():
                    await ws.send(make_frame(rnd))
                    await asyncio.sleep(0.005)
            reader.cancel()
        if not stop.is_set():  # not our own close at the end
            closes.append(ws.close_code)


async def drain(ws: websockets.ClientConnection) -> None:
    with contextlib.suppress(websockets.ConnectionClosed):
        async for _ in ws:
            pass


def garbage(rnd: random.Random) -> bytes | str:
    data = bytes(rnd.randrange(256) for _ in range(rnd.randint(0, 300)))
    return data if rnd.random() < 0.5 else data.decode("utf-8", "replace")


def oversized(rnd: random.Random) -> bytes:
    return b"\x81" * (65 * 1024 + rnd.randrange(1024))  # over the 64 KiB inbound limit


async def test_slow_garbage_and_oversized_clients_do_not_disturb_anyone_else(make_node, room):
    nodes = [await make_node(outbound_max_bytes=1024 * 1024), await make_node()]
    ports = [n.port for n in nodes]
    bystanders = [Follower(ports, room, start=i) for i in range(6)]  # three on the troubled node
    await wait_followers(bystanders)
    stuck = await open_raw_socket_that_never_reads(ports[0], room)
    stop = asyncio.Event()
    garbage_closes: list[int | None] = []
    oversized_closes: list[int | None] = []
    pests = [asyncio.create_task(pester(ports[0], room, garbage, garbage_closes, stop)),
             asyncio.create_task(pester(ports[0], room, oversized, oversized_closes, stop))]
    try:
        # Big comments, so that the one who never reads passes its outbound bound soon; as fast as the
        # bystanders read them (they share two cores with everything else here, and must not be slow).
        async def keep_pace(stored: int) -> None:
            for b in bystanders:
                await b.reach(stored - 50, 6 * WAIT)

        publisher = Publisher(ports, room, interval_s=0.0, per_batch=10, text="x" * 4000, strict=True,
                              throttle=keep_pace)
        await eventually(lambda: nodes[0].metrics.slow_closes._value.get() >= 1,
                         "the stuck socket closed 1013", 12 * WAIT)
        await eventually(lambda: len(garbage_closes) >= 1 and len(oversized_closes) >= 2, "pests closed")
        await publisher.more(20, "events after the pests were closed")
        await publisher.stop()
    finally:
        stop.set()
        await asyncio.gather(*pests)
        stuck.close()

    # Their terminal close codes reach them, even though they never stop sending. (They are in the room
    # too, and may also fall behind the flood of big comments: 1013.)
    assert 1008 in garbage_closes and set(garbage_closes) <= {1008, 1013}, garbage_closes
    assert 1009 in oversized_closes and set(oversized_closes) <= {1009, 1013}, oversized_closes
    for b in bystanders:
        await b.reach(len(publisher.ids), 6 * WAIT)
        b.assert_complete(publisher.ids)
        # Never disturbed: the same socket all along.
        assert (b.closes, dict(b.first_frames)) == ([], {"snapshot": 1}), b.log[:3]
    await asyncio.gather(*(b.stop() for b in bystanders))
