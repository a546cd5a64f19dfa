"""An upgraded socket makes websockets' protocol only when a frame or a close needs it (web/ws.py): an
idle one holds none, and pings, pongs and both ways of closing are answered as before."""

from __future__ import annotations

import asyncio

from livecart.errors import CloseCode
from tests.support import RoomClient, ws_url


def sockets_of(node, room):
    return [ws for ws in node.listener.sockets if ws.room == room]


async def test_an_idle_socket_holds_no_protocol_and_answers_a_ping_with_one(node, room):
    client = await RoomClient.connect(ws_url(node.port, room))
    await client.recv()
    [ws] = sockets_of(node, room)
    assert ws.proto is None  # nothing but data so far
    pong = await client.ws.ping(b"are you there")
    await asyncio.wait_for(pong, 10)  # websockets checks the payload came back
    assert ws.proto is not None
    await client.send({"type": "ping", "req": "after"})
    assert (await client.reply())["req"] == "after"  # data still flows through the fast path
    await client.close()
    assert client.ws.close_code == 1000


async def test_answering_the_heartbeat_needs_no_protocol(node, room):
    client = await RoomClient.connect(ws_url(node.port, room))
    await client.recv()
    [ws] = sockets_of(node, room)
    seen = ws.last_seen
    ws.transport.write(b"\x89\x00")  # the heartbeat's ping (web/listener.py); the client answers a pong
    for _ in range(100):
        if ws.last_seen != seen:
            break
        await asyncio.sleep(0.05)
    assert ws.last_seen != seen and ws.proto is None and ws.open
    await client.send({"type": "ping", "req": "still"})
    assert (await client.reply())["req"] == "still"
    await client.close()


async def test_a_server_close_of_an_idle_socket_is_a_proper_close_handshake(node, room):
    client = await RoomClient.connect(ws_url(node.port, room))
    await client.recv()
    [ws] = sockets_of(node, room)
    assert ws.proto is None
    ws.close(CloseCode.TRY_AGAIN, "resume later")
    await asyncio.wait_for(client.ws.wait_closed(), 10)
    assert client.ws.close_code == CloseCode.TRY_AGAIN and client.ws.close_reason == "resume later"
    for _ in range(100):  # the node forgets it once the TCP connection is gone
        if not sockets_of(node, room):
            break
        await asyncio.sleep(0.05)
    assert not sockets_of(node, room) and ws.lost and ws.reader is None
