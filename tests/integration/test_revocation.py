"""Revoking tokens: viewer and assistant tokens by id (jti) or by user, and the periodic recheck that
closes a revoked socket even on a node that missed the published message."""

from __future__ import annotations

import pytest
import websockets

from livecart import auth
from tests.support import SECRET, RoomClient, api, token, ws_url


async def closed_with(client: RoomClient) -> int | None:
    with pytest.raises(websockets.ConnectionClosed):
        while True:
            await client.recv()
    return client.ws.close_code


async def test_a_viewer_token_is_revoked_by_its_id_and_a_user_by_name(node, room):
    leaked = token("viewer", room, "lin")
    other_of_lin = token("viewer", room, "lin")
    bo = token("viewer", room, "bo")
    clients = [await RoomClient.connect(ws_url(node.port, room, t)) for t in (leaked, other_of_lin, bo)]
    for c in clients:
        assert (await c.recv())["type"] == "snapshot"
    assistant = token("assistant", room, "amy")
    jti = auth.verify(SECRET, leaked).token_id
    status, body = await api(node.port, "POST", f"/api/rooms/{room}/tokens/revoke", assistant, {"jti": jti})
    assert status == 200 and body["revoked"] == {"jti": jti}
    assert await closed_with(clients[0]) == 4001
    assert (await api(node.port, "GET", f"/api/rooms/{room}/state", leaked))[0] == 401
    assert (await api(node.port, "GET", f"/api/rooms/{room}/state", other_of_lin))[0] == 200

    status, _ = await api(node.port, "POST", f"/api/rooms/{room}/tokens/revoke", assistant, {"user": "lin"})
    assert status == 200
    assert await closed_with(clients[1]) == 4001
    assert (await api(node.port, "GET", f"/api/rooms/{room}/state", other_of_lin))[0] == 401
    assert (await api(node.port, "GET", f"/api/rooms/{room}/state", token("viewer", room, "lin")))[0] == 200
    await clients[2].send({"type": "ping", "req": "p"})  # bo is untouched
    assert (await clients[2].until(lambda f: f["type"] == "pong"))["req"] == "p"
    await clients[2].close()


async def test_an_assistant_token_is_revocable_by_user(node, room):
    amy, other = token("assistant", room, "amy"), token("assistant", room, "zoe")
    path = f"/api/rooms/{room}/tokens/revoke"
    assert (await api(node.port, "POST", path, other, {"user": "amy"}))[0] == 200
    assert (await api(node.port, "GET", f"/api/rooms/{room}/deals", amy))[0] == 401


async def test_a_node_that_missed_the_revocation_message_closes_the_socket_on_its_recheck(
        make_node, room):
    node = await make_node(revocation_check_s=0.2)
    leaked = token("overlay", room)
    client = await RoomClient.connect(ws_url(node.port, room, leaked))
    assert (await client.recv())["type"] == "snapshot"
    # Written straight to Redis with no message published: as if this node's pub/sub had missed it.
    field = auth.revocation_field(token_id=auth.verify(SECRET, leaked).token_id)
    await node.store.client.hset(f"lc:{{{room}}}:revoked", field, "1.0")
    assert await closed_with(client) == 4001
