"""The node's front door before a socket exists: deadlines for unfinished requests, a per-address cap on
them, the token checked before the node's connect budget, and an answer (never a dropped connection or
a traceback) for every bad request, query or token."""

from __future__ import annotations

import asyncio
import base64
import re

import msgpack
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.http11 import Request
from websockets.server import ServerProtocol

from tests.support import WAIT, RoomClient, close_stream, token, ws_url

KEY = "dGhlIHNhbXBsZSBub25jZQ=="


def upgrade_request(target: str, extra: str = "") -> bytes:
    return (f"GET {target} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n").encode("latin-1")


async def answer(port: int, data: bytes, source: str = "127.0.0.1") -> tuple[int, bytes, bytes]:
    """(status, head, body) of the node's answer to `data` on a new connection (0: closed unanswered)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    try:
        writer.write(data)
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT)
        except asyncio.IncompleteReadError:
            return 0, b"", b""
        status = int(head.split(b" ", 2)[1])
        length = re.search(rb"(?i)content-length: *(\d+)", head)
        body = await asyncio.wait_for(reader.readexactly(int(length.group(1))), WAIT) if length else b""
        return status, head, body
    finally:
        await close_stream(writer)


async def metric(port: int, name: str) -> float:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    text = (await asyncio.wait_for(reader.read(), WAIT)).decode()
    await close_stream(writer)
    found = re.search(rf"^{re.escape(name)} ([0-9.e+]+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


@pytest.mark.parametrize("start", [b"", b"GET /ws/rooms/r?token=", b"GET /healthz HTTP/1.1\r\nHo"],
                         ids=["silent", "half-sent-upgrade", "half-sent-http"])
async def test_a_connection_that_does_not_finish_its_request_gets_408_and_is_closed(make_node, start):
    node = await make_node(handshake_timeout_s=0.5)
    reader, writer = await asyncio.open_connection("127.0.0.1", node.port)
    writer.write(start)
    data = await asyncio.wait_for(reader.read(), WAIT)  # everything until the node closes
    await close_stream(writer)
    assert data.startswith(b"HTTP/1.1 408 "), data
    assert orjson.loads(data.split(b"\r\n\r\n", 1)[1])["error"] == "request_timeout"
    assert await metric(node.port, "livecart_handshake_timeouts_total") == 1


async def test_a_request_trickled_one_byte_at_a_time_is_cut_at_the_deadline(make_node, room):
    node = await make_node(handshake_timeout_s=1.0)
    reader, writer = await asyncio.open_connection("127.0.0.1", node.port)
    request = upgrade_request(f"/ws/rooms/{room}?token={token('viewer', room)}")
    answer_read = asyncio.ensure_future(reader.read())  # everything until the node closes
    sent = 0
    while not answer_read.done() and sent < len(request):  # each byte resets no timer
        writer.write(request[sent:sent + 1])
        sent += 1
        await asyncio.wait([answer_read], timeout=0.2)
    data = await asyncio.wait_for(answer_read, WAIT)
    await close_stream(writer)
    assert sent < len(request)
    assert data.startswith(b"HTTP/1.1 408 ")


async def test_unfinished_connections_count_toward_a_cap_per_address_shown_in_metrics(make_node, room):
    node = await make_node(ip_limit_exempt="none", ip_max_unfinished=3)
    silent = [await asyncio.open_connection("127.0.0.1", node.port, local_addr=("127.0.0.2", 0))
              for _ in range(3)]
    await asyncio.sleep(0.1)  # let the node accept them (a bound to settle, not a speed check)
    assert await metric(node.port, "livecart_unfinished_connections") == 3
    status, _, body = await answer(node.port, b"", source="127.0.0.2")
    assert status == 429 and orjson.loads(body)["error"] == "too_many_connections"
    assert await metric(node.port, 'livecart_ip_rejections_total{limit="unfinished"}') == 1
    # Another address is not affected, and a finished request gives its place back.
    assert (await answer(node.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", "127.0.0.3"))[0] == 200
    reader, writer = silent.pop()
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200")
    client = await RoomClient.connect(ws_url(node.port, room), local_addr=("127.0.0.2", 0))
    assert (await client.recv())["type"] == "snapshot"
    await client.close()
    await close_stream(writer)
    for _, w in silent:
        await close_stream(w)


async def test_upgrades_without_a_valid_token_do_not_spend_the_nodes_connect_budget(make_node, room):
    node = await make_node(connect_rate=5)
    for n in range(30):
        status, _, body = await answer(node.port, upgrade_request(f"/ws/rooms/{room}?token=forged.{n}.x"))
        assert status == 401, body
    client = await RoomClient.connect(ws_url(node.port, room))  # 503 busy if the forgeries had counted
    assert (await client.recv())["type"] == "snapshot"
    await client.close()


def nested_token(depth: int) -> str:
    header = base64.urlsafe_b64encode(b"[" * depth).rstrip(b"=").decode()
    return f"{header}.e30.c2ln"


@pytest.mark.parametrize(("query", "status", "error"), [
    ("since=%C2%B2&epoch=e", 400, "bad_since"),  # a Unicode digit: str.isdigit() says yes, int() no
    ("since=-1&epoch=e", 400, "bad_since"),
    ("format=xml", 400, "bad_format"),
    (f"token={nested_token(2000)}", 401, "unauthorized"),
    ("token=%FF%FE", 401, "unauthorized"),
    ("token=" + "a" * 5000, 401, "unauthorized"),
])
async def test_a_bad_query_or_token_gets_a_4xx_with_a_reason(node, room, query, status, error):
    tok = "" if "token=" in query else f"token={token('viewer', room)}&"
    got, _, body = await answer(node.port, upgrade_request(f"/ws/rooms/{room}?{tok}{query}"))
    assert got == status, body
    assert orjson.loads(body)["error"] == error


async def test_a_malformed_request_gets_400_not_a_silent_close(node):
    status, _, body = await answer(node.port, b"GET /ws/rooms/r HTTP/1.1\r\nno colon here\r\n\r\n")
    assert status == 400 and orjson.loads(body)["error"] == "bad_request"


async def test_a_msgpack_message_whose_req_is_bytes_is_answered_on_a_json_socket(node, room):
    client = await RoomClient.connect(ws_url(node.port, room))
    assert (await client.recv())["type"] == "snapshot"
    await client.ws.send(msgpack.packb({"type": "ping", "req": b"\x00\x01"}))
    pong = await client.reply()
    assert pong["type"] == "pong" and pong["req"] is None
    await client.ws.send(msgpack.packb({"type": "ack", "cue": "c1", "req": b"\x00"}))
    refused = await client.reply()
    assert refused["type"] == "error" and refused["error"] == "forbidden" and "req" not in refused
    await client.send({"type": "ping", "req": "still-here"})
    assert (await client.reply())["req"] == "still-here"
    await client.close()


# --- fuzzing, with the websockets library's request parser as the oracle -------------------------

def oracle(data: bytes) -> bool | None:
    """What the websockets library makes of `data` as a handshake: True (a valid upgrade request),
    False (refused), None (not complete yet)."""
    proto = ServerProtocol()
    proto.receive_data(data)
    requests = [e for e in proto.events_received() if isinstance(e, Request)]
    if requests:
        return proto.accept(requests[0]).status_code == 101
    return False if proto.handshake_exc is not None else None


query_values = st.one_of(st.text(max_size=30),
                         st.sampled_from(["0", "12", "²", "-1", "1e3", "json", "msgpack"]))


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(query=st.dictionaries(st.sampled_from(["since", "epoch", "format", "token", "stats", "x"]),
                             query_values, max_size=5),
       keep_token=st.booleans(),
       mangle=st.lists(st.tuples(st.integers(0, 400), st.binary(min_size=0, max_size=3)), max_size=3))
async def test_fuzzed_handshakes_always_get_an_answer_that_agrees_with_websockets(node, room, query,
                                                                                  keep_token, mangle):
    if keep_token:
        query["token"] = token("viewer", room)
    from urllib.parse import urlencode

    data = bytearray(upgrade_request(f"/ws/rooms/{room}?{urlencode(query)}"))
    for pos, insert in mangle:
        pos = min(pos, len(data))
        data[pos:pos + len(insert)] = insert
    data = bytes(data)
    if b"\r\n\r\n" not in data:
        data += b"\r\n\r\n"
    expected = oracle(data)
    status, _, body = await answer(node.port, data)
    assert status != 0, "the node closed without an answer"
    assert status < 500, body
    if status == 101:
        assert expected is True  # never an upgrade the reference parser refuses
    elif status >= 400 and body.startswith(b"{"):
        assert set(orjson.loads(body)) == {"error", "detail", "temporary"}



async def test_a_message_sent_right_behind_the_upgrade_request_is_read_once_the_socket_is_open(node, room):
    # Clients should wait for the 101; some do not. Their first frame is read once the socket is open.
    from websockets.frames import Frame, Opcode

    ping = Frame(Opcode.TEXT, b'{"type":"ping","req":"early"}').serialize(mask=True, extensions=[])
    reader, writer = await asyncio.open_connection("127.0.0.1", node.port)
    writer.write(upgrade_request(f"/ws/rooms/{room}?token={token('viewer', room)}") + ping)
    received = b""
    try:
        while b'"req":"early"' not in received:
            chunk = await asyncio.wait_for(reader.read(65536), WAIT)
            assert chunk, received
            received += chunk
    finally:
        await close_stream(writer)
    assert received.startswith(b"HTTP/1.1 101 ")


async def test_a_request_whose_body_never_completes_gets_408(make_node, room):
    node = await make_node(handshake_timeout_s=0.5)
    reader, writer = await asyncio.open_connection("127.0.0.1", node.port)
    writer.write(f"POST /api/rooms/{room}/events HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n"
                 f"Authorization: Bearer {token('ingest', room)}\r\n"
                 "Content-Type: application/json\r\n\r\n[{\"id\":".encode())
    data = await asyncio.wait_for(reader.read(), WAIT)
    await close_stream(writer)
    assert data.startswith(b"HTTP/1.1 408 "), data
