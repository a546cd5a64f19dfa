"""A socket that never reads is closed (1013) and costs bounded memory; nobody else notices."""

from __future__ import annotations

import asyncio
import base64
import os
import socket

from tests.support import WAIT, RoomClient, comment, post_events, token, ws_url


async def open_raw_socket_that_never_reads(port: int, room: str) -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, ("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    request = (f"GET /ws/rooms/{room}?token={token('viewer', room)} HTTP/1.1\r\nHost: x\r\n"
               f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
               f"Sec-WebSocket-Version: 13\r\n\r\n")
    await loop.sock_sendall(sock, request.encode())
    head = await asyncio.wait_for(loop.sock_recv(sock, 256), WAIT)
    assert head.startswith(b"HTTP/1.1 101")
    return sock


async def test_a_client_that_never_reads_is_closed_1013_and_memory_stays_bounded(make_node, room):
    max_bytes = 512 * 1024
    # No heartbeat in the way: the stuck socket never answers a ping either, and on a slow machine the
    # heartbeat would abort it as dead (uncounted) before its buffer reached the bound.
    # A 10 ms room tick (50 ms by default): the loop below posts, then waits for the reader to get the
    # batch, 250 times, and each wait was a whole tick; the bound is the same at any tick (it holds
    # with smaller frames too), it is only reached sooner.
    node = await make_node(outbound_max_bytes=max_bytes, outbound_high_water=64 * 1024, heartbeat_s=600,
                           tick_ms=10, max_tick_ms=10)
    stuck = await open_raw_socket_that_never_reads(node.port, room)
    try:
        reader = await RoomClient.connect(ws_url(node.port, room))
        await reader.recv()
        text = "x" * 4000
        peak = 0
        # Enough to fill the kernel's socket buffers (several MB on loopback) and then the bound.
        for i in range(250):
            await post_events(node.port, room, [comment(f"big{i}-{j}", text) for j in range(10)])
            await reader.events_until(10 * (i + 1))  # the reading client keeps up; only the stuck one lags
            for ws in node.listener.sockets:
                if ws.transport is not None:
                    peak = max(peak, ws.transport.get_write_buffer_size())
        events = await reader.events_until(2500)
        assert [e["offset"] for e in events] == list(range(1, 2501))
        assert node.metrics.slow_closes._value.get() == 1
        assert peak <= max_bytes + 100_000  # the bound plus one batch frame
        deadline = asyncio.get_running_loop().time() + 2 * WAIT
        while len(node.listener.sockets) > 1:  # the stuck one is aborted after its close grace
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.1)
        await reader.close()
    finally:
        stuck.close()  # also when an assertion failed: a leaked socket fails the next test
