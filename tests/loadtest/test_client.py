"""livecart.client against a real node, and its pure parts (the cursor, the backoff) on their own."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import random

import pytest
import websockets

from livecart.client import Backoff, ConnectionTerminated, RoomClient, RoomCursor
from loadtest.histogram import Histogram
from tests.support import WAIT, comment, create_deal, post_events, token, ws_url


def test_the_cursor_drops_duplicates_counts_holes_and_skips_recent_history():
    cursor = RoomCursor()
    assert cursor.query() == {}
    cursor.apply({"type": "snapshot", "epoch": "e1", "offset": 5, "recent": [{"offset": 5}]})
    assert cursor.query() == {"since": "5", "epoch": "e1"}
    fresh = cursor.apply({"type": "batch", "events": [{"offset": o} for o in (5, 6, 7, 9)]})
    assert [e["offset"] for e in fresh] == [6, 7, 9]
    assert (cursor.duplicates, cursor.gaps, cursor.last, cursor.received) == (1, 1, 9, 3)
    cursor.apply({"type": "snapshot", "epoch": "e1", "offset": 12})  # a resume that history could not serve
    assert cursor.missed == 3 and cursor.last == 12
    cursor.apply({"type": "snapshot", "epoch": "e2", "offset": 1})  # history lost: a new epoch
    assert cursor.resets == 1 and cursor.query() == {"since": "1", "epoch": "e2"}


def test_backoff_is_full_jitter_under_a_doubling_cap_and_resets():
    backoff = Backoff(base_s=0.5, cap_s=4.0, rng=random.Random(7))
    delays = [backoff.next_delay() for _ in range(8)]
    caps = [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0, 4.0]
    assert all(0 <= d <= c for d, c in zip(delays, caps, strict=True))
    assert len(set(delays)) == 8
    backoff.reset()
    assert backoff.attempt == 0


def test_after_a_refusal_the_backoff_waits_at_least_retry_after_and_up_to_half_again():
    backoff = Backoff(base_s=0.5, cap_s=8.0, rng=random.Random(3))  # its own draws stay under 10 s
    waits = [backoff.after_refusal(10) for _ in range(200)]
    assert all(10 <= w <= 15 for w in waits) and max(waits) - min(waits) > 4  # spread, not a herd
    backoff = Backoff(base_s=0.5, cap_s=2.0, rng=random.Random(3))
    assert all(backoff.after_refusal(20) >= 20 for _ in range(50))  # Retry-After wins over the cap


def test_retry_after_is_read_in_whole_seconds_and_bounded():
    from websockets.datastructures import Headers
    from websockets.http11 import Response

    from livecart.client import MAX_RETRY_AFTER_S, _retry_after

    def refusal(*headers: tuple[str, str]) -> Response:
        return Response(503, "Service Unavailable", Headers(headers), b"")

    assert _retry_after(refusal(("Retry-After", "12"))) == 12
    assert _retry_after(refusal(("Retry-After", "86400"))) == MAX_RETRY_AFTER_S
    assert _retry_after(refusal(("Retry-After", "Wed, 21 Oct 2015 07:28:00 GMT"))) is None
    assert _retry_after(refusal()) is None


def test_the_histogram_keeps_percentiles_within_its_resolution_and_merges():
    a, b = Histogram(), Histogram()
    for ms in range(1, 1001):
        (a if ms % 2 else b).record_ms(ms)
    a.merge(Histogram.from_wire(b.to_wire()))
    assert a.total == 1000 and a.max_us == 1_000_000
    for p, exact in ((50, 500), (99, 990), (100, 1000)):
        assert exact <= a.percentile_ms(p) <= exact * 1.02


async def test_the_client_resumes_after_a_drop_and_claims(node, room):
    deal = await create_deal(node.port, room, stock=1, limit_per_user=1)
    seen: list[int] = []
    hooks: list[object] = []  # each open, then each close with its code
    client = RoomClient(f"http://127.0.0.1:{node.port}", room, token("viewer", room, "lin"),
                        on_frame=lambda _f, events: seen.extend(e["offset"] for e in events),
                        on_open=lambda: hooks.append("open"), on_close=hooks.append,
                        backoff=Backoff(base_s=0.05, cap_s=0.1))
    first = await client.connect()
    assert first["type"] == "snapshot"
    runner = asyncio.create_task(client.run())
    await post_events(node.port, room, [comment("a"), comment("b")])
    await wait_for(lambda: seen == [1, 2])
    client.abort()
    await post_events(node.port, room, [comment("c")])
    await wait_for(lambda: seen == [1, 2, 3])
    assert client.resumes == 1 and client.closes[1006] == 1
    assert hooks == ["open", 1006, "open"]
    assert (await client.claim(deal["id"], req="k1"))["ok"] is True
    assert (await client.claim(deal["id"], req="k2"))["reason"] in ("sold_out", "limit_reached")
    assert (await client.claim(deal["id"], req="k1"))["ok"] is True  # the same key: the first answer
    await client.close()
    await asyncio.wait_for(runner, WAIT)
    assert client.cursor.duplicates == client.cursor.gaps == 0
    assert hooks == ["open", 1006, "open", 1000]


async def test_a_client_refused_with_503_busy_comes_back_after_retry_after(make_node, room):
    node = await make_node(connect_rate=1)  # one new socket a second
    first = RoomClient(f"http://127.0.0.1:{node.port}", room, token("viewer", room, "a"))
    await first.connect()
    second = RoomClient(f"http://127.0.0.1:{node.port}", room, token("viewer", room, "b"),
                        backoff=Backoff(base_s=0.01, cap_s=0.01))  # its own backoff would retry at once
    loop = asyncio.get_running_loop()
    started = loop.time()
    runner = asyncio.create_task(second.run())
    await wait_for(lambda: second.is_open)
    assert loop.time() - started >= 1.0  # not before the Retry-After it was given
    assert second.connect_errors == {"HTTP 503": second.failed_connects}
    assert second.retry_afters == {1: second.failed_connects} and second.failed_connects >= 1
    await second.close()
    await first.close()
    await asyncio.wait_for(runner, WAIT)


async def test_a_refused_token_is_terminal(node, room):
    client = RoomClient(f"http://127.0.0.1:{node.port}", room, token("viewer", "another-room"))
    with pytest.raises(ConnectionTerminated) as refused:
        await client.connect()
    assert refused.value.code == 403


async def test_an_address_over_its_socket_limit_is_retried_not_terminal(make_node, room):
    """429 before the upgrade (a per-address limit, docs/protocol.md §12) is worth waiting out, for as
    long as its Retry-After says (10 s for the socket limit: nothing says when a place comes free)."""
    node = await make_node(ip_max_connections=1, ip_limit_exempt="127.0.0.1")
    holder = await websockets.connect(ws_url(node.port, room), local_addr=("127.0.0.2", 0))
    client = RoomClient(f"http://127.0.0.1:{node.port}", room, token("viewer", room),
                        local_addr=("127.0.0.2", 0), backoff=Backoff(base_s=0.05, cap_s=0.1))
    with pytest.raises(websockets.InvalidStatus) as refused:
        await client.connect()
    assert refused.value.response.status_code == 429
    runner = asyncio.create_task(client.run())
    await wait_for(lambda: client.connect_errors["HTTP 429"] >= 1)
    assert client.retry_afters == {10: 1} and not client.is_open and not runner.done()  # waiting, not over
    await holder.close()
    await client.close()
    await asyncio.wait_for(runner, WAIT)


async def test_an_address_over_its_connect_rate_gets_in_after_retry_after(make_node, room):
    node = await make_node(ip_connect_rate=1, ip_connect_burst=1, ip_limit_exempt="127.0.0.1")
    holder = await websockets.connect(ws_url(node.port, room), local_addr=("127.0.0.2", 0))
    client = RoomClient(f"http://127.0.0.1:{node.port}", room, token("viewer", room),
                        local_addr=("127.0.0.2", 0), backoff=Backoff(base_s=0.01, cap_s=0.01))
    runner = asyncio.create_task(client.run())
    # Its first frame, not merely the 101: the snapshot may still be on its way when the socket opens.
    await wait_for(lambda: client.snapshots == 1)
    assert client.is_open
    assert client.connect_errors == {"HTTP 429": client.failed_connects} and client.failed_connects >= 1
    assert client.retry_afters == {1: client.failed_connects}
    await holder.close()
    await client.close()
    await asyncio.wait_for(runner, WAIT)


async def wait_for(condition, timeout: float = WAIT) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met"
        await asyncio.sleep(0.02)


async def test_frames_split_anywhere_arrive_once_in_order_with_pings_and_the_close_handled():
    # The handshake response, data frames, a ping and a close frame, cut into random pieces (the
    # fast path and websockets' parser share the stream): every message exactly once, in order.
    from livecart.client import _Session
    from livecart.framing import server_frame
    from livecart.protocol import Format, encode

    for seed in range(300):
        rng = random.Random(seed)
        got: list[dict] = []
        session = _Session("ws://127.0.0.1/ws/rooms/r?token=t", Format.MSGPACK, got.append)
        session.connection_made(FakeTransport())
        accept = base64.b64encode(hashlib.sha1(
            (session.ws.key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
        stream = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  b"Sec-WebSocket-Accept: " + accept.encode() + b"\r\n\r\n")
        sent = []
        for i in range(40):
            text = "x" * rng.randrange(300)
            message = {"type": "batch", "offset": i, "events": [{"offset": i, "text": text}]}
            sent.append(message)
            stream += server_frame(encode(message, Format.MSGPACK), False)
            if i == 20:
                stream += b"\x89\x04ping"  # a ping in the middle: websockets answers it
        stream += b"\x88\x02\x03\xe8"  # close 1000
        cuts = sorted(rng.sample(range(1, len(stream)), 12))
        for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True):
            session.data_received(stream[a:b])
        assert got == sent, seed
        assert session.ws.close_rcvd is not None and session.ws.close_rcvd.code == 1000


class FakeTransport:
    """The transport end of a session under test: records writes (the pong, the close reply)."""

    def __init__(self) -> None:
        self.written: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def is_closing(self) -> bool:
        return False

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        pass

    def abort(self) -> None:
        pass
