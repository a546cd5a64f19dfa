"""The console's routes besides deals: page tokens, the highlighted comment and announcement, and the
overlay presence the console shows."""

from __future__ import annotations

import pytest
import websockets

from livecart import auth
from tests.conftest import SECRET
from tests.support import RoomClient, api, token, ws_url


async def test_an_assistant_mints_a_working_overlay_token_for_the_room(node, room):
    status, body = await api(node.port, "POST", f"/api/rooms/{room}/tokens", token("assistant", "*", "amy"),
                             {"role": "overlay"})
    assert status == 201 and body["role"] == "overlay" and body["room"] == room
    claims = auth.verify(SECRET, body["token"])
    assert (claims.role, claims.room, claims.user) == ("overlay", room, None)
    assert body["path"] == f"/overlay?room={room}&token={body['token']}"
    overlay = await RoomClient.connect(ws_url(node.port, room, body["token"]))
    assert (await overlay.recv())["type"] == "snapshot"
    await overlay.close()


@pytest.mark.parametrize(("role", "body", "status", "error"), [
    ("assistant", {"role": "viewer"}, 400, "bad_field"),  # may not mint anything that claims or comments
    ("assistant", {"role": "assistant"}, 400, "bad_field"),
    ("assistant", {"role": "host", "ttl_s": 10}, 400, "bad_field"),
    ("assistant", ["host"], 400, "bad_body"),
    ("host", {"role": "host"}, 403, "forbidden"),
    ("overlay", {"role": "overlay"}, 403, "forbidden"),
])
async def test_minting_page_tokens_refuses_other_roles_and_bad_bodies(node, room, role, body, status, error):
    got, reply = await api(node.port, "POST", f"/api/rooms/{room}/tokens", token(role, room), body)
    assert (got, reply["error"]) == (status, error)


async def test_highlight_and_announcement_reach_sockets_and_late_snapshots(node, room):
    overlay = await RoomClient.connect(ws_url(node.port, room, token("overlay", room)))
    assert (await overlay.recv())["highlight"] is None
    assistant = token("assistant", room, "amy")
    status, body = await api(node.port, "POST", f"/api/rooms/{room}/highlight", assistant,
                             {"text": "<script>x</script>", "name": "Lin", "offset": 3})
    assert status == 200 and body["highlight"]["text"] == "<script>x</script>"
    frame = await overlay.until(lambda f: f.get("highlight"))
    assert frame["highlight"]["name"] == "Lin" and frame["highlight"]["by"] == "amy"
    assert (await api(node.port, "POST", f"/api/rooms/{room}/announcement", assistant,
                      {"text": "  Free shipping today  "}))[0] == 200
    frame = await overlay.until(lambda f: f.get("announcement"))
    assert frame["announcement"]["text"] == "Free shipping today"

    late = await RoomClient.connect(ws_url(node.port, room))
    first = await late.recv()
    assert first["highlight"]["text"] == "<script>x</script>"
    assert first["announcement"]["text"] == "Free shipping today"
    state = (await api(node.port, "GET", f"/api/rooms/{room}/state", token("viewer", room)))[1]
    assert state["announcement"]["text"] == "Free shipping today"

    await api(node.port, "DELETE", f"/api/rooms/{room}/highlight", assistant)
    assert (await overlay.until(lambda f: "highlight" in f and f["highlight"] is None))["highlight"] is None
    for path, bad in (("highlight", {"text": ""}), ("highlight", {"text": "x", "offset": "3"}),
                      ("announcement", {"text": "x" * 281}), ("announcement", "hi")):
        status, body = await api(node.port, "POST", f"/api/rooms/{room}/{path}", assistant, bad)
        assert status == 400 and body["error"] in ("bad_field", "bad_body"), (path, bad)
    assert (await api(node.port, "POST", f"/api/rooms/{room}/announcement", token("host", room),
                      {"text": "hi"}))[0] == 403
    await overlay.close()
    await late.close()


async def test_the_console_sees_an_overlay_connected_on_another_node(make_node, room):
    a, b = await make_node(), await make_node()
    console = await RoomClient.connect(ws_url(a.port, room, token("assistant", room, "amy")))
    assert (await console.recv())["counters"]["overlays"] == 0
    overlay = await RoomClient.connect(ws_url(b.port, room, token("overlay", room)))
    await overlay.recv()
    await console.until(lambda f: f.get("counters", {}).get("overlays") == 1)
    state = (await api(a.port, "GET", f"/api/rooms/{room}/state", token("host", room)))[1]
    assert state["counters"]["overlays"] == 1
    await overlay.close()
    await console.until(lambda f: f.get("counters", {}).get("overlays") == 0)
    await console.close()


async def test_revoking_overlay_tokens_closes_their_sockets_on_every_node_and_refuses_them(make_node, room):
    a, b = await make_node(), await make_node()
    leaked = token("overlay", room)
    host = token("host", room)
    sockets = [await RoomClient.connect(ws_url(n.port, room, leaked)) for n in (a, b)]
    host_socket = await RoomClient.connect(ws_url(b.port, room, host))
    for s in (*sockets, host_socket):
        assert (await s.recv())["type"] == "snapshot"
    status, body = await api(a.port, "POST", f"/api/rooms/{room}/tokens/revoke",
                             token("assistant", room, "amy"), {"role": "overlay"})
    assert status == 200 and body["revoked"] == "overlay" and body["path"].startswith("/overlay?")
    for s in sockets:  # closed 4001 on both nodes, the one that revoked and the other
        with pytest.raises(websockets.ConnectionClosed):
            while True:
                await s.recv()
        assert s.ws.close_code == 4001
    # The leaked token no longer opens a socket or reads the room; the reissued one does; a host token
    # (another role) is untouched.
    again = await RoomClient.connect(ws_url(b.port, room, leaked))
    with pytest.raises(websockets.ConnectionClosed):
        await again.recv()
    assert again.ws.close_code == 4001
    assert (await api(b.port, "GET", f"/api/rooms/{room}/state", leaked))[0] == 401
    fresh = await RoomClient.connect(ws_url(b.port, room, body["token"]))
    assert (await fresh.recv())["type"] == "snapshot"
    assert (await api(a.port, "GET", f"/api/rooms/{room}/state", body["token"]))[0] == 200
    await host_socket.send({"type": "ping", "req": "p"})
    assert (await host_socket.until(lambda f: f["type"] == "pong"))["req"] == "p"
    for s in (fresh, host_socket):
        await s.close()


async def test_only_an_assistant_may_revoke_and_only_page_roles(node, room):
    for role, body, status in (("host", {"role": "overlay"}, 403), ("assistant", {"role": "viewer"}, 400)):
        got, _ = await api(node.port, "POST", f"/api/rooms/{room}/tokens/revoke", token(role, room), body)
        assert got == status
