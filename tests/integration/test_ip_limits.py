"""Per-IP limits on a real node and a real Redis, with clients on different loopback addresses
(127.0.0.2, 127.0.0.3, ...: the whole of 127.0.0.0/8 is loopback). 127.0.0.1 stays exempt in these
nodes, as it is by default, so only the addresses under test are limited."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import aiohttp
import orjson
import pytest
import websockets

from livecart.errors import CloseCode
from tests.support import WAIT, RoomClient, close_stream, create_deal, token, ws_url

A, B = "127.0.0.2", "127.0.0.3"
LIMITED = {"ip_limit_exempt": "127.0.0.1"}


async def connect(port: int, room: str, source: str, tok: str | None = None,
                  headers: dict[str, str] | None = None) -> RoomClient:
    client = await RoomClient.connect(ws_url(port, room, tok=tok), local_addr=(source, 0),
                                      additional_headers=headers)
    await client.recv()  # the first frame: the socket is joined
    return client


async def refused(port: int, room: str, source: str) -> Any:
    with pytest.raises(websockets.InvalidStatus) as refusal:
        await RoomClient.connect(ws_url(port, room), local_addr=(source, 0))
    return refusal.value.response


async def http_claim(port: int, room: str, deal: str, user: str, source: str,
                     headers: dict[str, str] | None = None) -> tuple[int, Any, Any]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(source, 0))) as http, \
            http.post(f"http://127.0.0.1:{port}/api/rooms/{room}/deals/{deal}/claims",
                      data=orjson.dumps({"qty": 1, "key": f"k-{user}"}),
                      headers={"Authorization": f"Bearer {token('viewer', room, user)}", **(headers or {})}
                      ) as resp:
        return resp.status, await resp.json(), resp.headers


async def settled(condition: Callable[[], bool], what: str, within: float = WAIT) -> None:
    """Wait for the node to process a close (a bound on failure, not a speed check)."""
    for _ in range(int(within * 50)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"never happened: {what}")


async def metric(port: int, line_start: str) -> float:
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/metrics") as resp:
        for line in (await resp.text()).splitlines():
            if line.startswith(line_start):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_an_address_at_its_socket_limit_is_refused_429_while_another_is_not(make_node, room):
    node = await make_node(ip_max_connections=2, **LIMITED)
    first, second = await connect(node.port, room, A), await connect(node.port, room, A)
    response = await refused(node.port, room, A)
    assert response.status_code == 429 and int(response.headers["Retry-After"]) >= 1
    assert orjson.loads(response.body)["error"] == "too_many_connections"
    others = [await connect(node.port, room, B) for _ in range(2)]  # B has its own two places
    assert node.admission.sockets[A] == 2 and node.admission.sockets[B] == 2
    assert await metric(node.port, 'livecart_ip_rejections_total{limit="connections"}') == 1
    assert await metric(node.port, "livecart_client_ips ") == 2

    await first.close()
    await settled(lambda: node.admission.sockets[A] == 1, "A's count goes down after a close")
    third = await connect(node.port, room, A)  # the place it gave back
    for client in (second, third, *others):
        await client.close()
    await settled(lambda: not node.listener.sockets, "every socket closed")
    assert node.admission.sockets[A] == 0 and node.admission.sockets[B] == 0
    assert len(node.admission.sockets) == 0  # no address is remembered once its sockets are gone


async def test_every_way_a_socket_ends_gives_its_place_back_exactly_once(make_node, room):
    """A witness socket from the same address stays open throughout: a close counted twice would take
    its place too (the count would read 0, not 1)."""
    # A 2 s heartbeat: it must abort the silent peer below within the wait, but never the witness,
    # whose pongs come from this same (sometimes busy) event loop: a socket is dead after two periods
    # without a word, and at 0.3 s, then at 1 s, loaded runs (load average ~20) lost the witness.
    node = await make_node(ip_max_connections=3, heartbeat_s=2.0, **LIMITED)
    witness = await connect(node.port, room, A)

    async def ends(how: str, end: Callable[[RoomClient], Any], close_code: int | None = None) -> None:
        client = await connect(node.port, room, A, tok=token("viewer", room, "v", ttl=1.5 if how ==
                                                                  "token expiry" else 3600))
        assert node.admission.sockets[A] == 2
        await end(client)
        if close_code is not None:
            with pytest.raises(websockets.ConnectionClosed):
                while True:
                    await client.recv()
            assert client.ws.close_code == close_code, how
        await settled(lambda: len(node.listener.sockets) == 1, f"{how}: the node forgot the socket")
        assert node.admission.sockets[A] == 1, how

    async def bad_messages(client: RoomClient) -> None:
        for _ in range(20):
            await client.ws.send("not json")

    async def too_large(client: RoomClient) -> None:
        await client.ws.send("x" * (64 * 1024 + 1))

    async def nothing(client: RoomClient) -> None:
        pass

    async def abort(client: RoomClient) -> None:
        client.ws.transport.abort()

    await ends("client close handshake", lambda c: c.close())
    await ends("client abort", abort)
    await ends("server close 1008, too many bad messages", bad_messages, CloseCode.POLICY)
    await ends("server close 1009, frame too large", too_large, CloseCode.TOO_BIG)
    await ends("token expiry", nothing, CloseCode.UNAUTHORIZED)

    # A peer that upgrades and then falls silent (never reads, never answers pings): the heartbeat aborts it.
    # Its own socket is waited for (up to three heartbeat deadlines on a busy machine); the witness's place
    # is then checked by the count.
    before = set(node.listener.sockets)
    reader, writer = await asyncio.open_connection("127.0.0.1", node.port, local_addr=(A, 0))
    try:
        writer.write(f"GET /ws/rooms/{room}?token={token('viewer', room)} HTTP/1.1\r\nHost: x\r\n"
                     "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n".encode())
        assert (await reader.readline()).startswith(b"HTTP/1.1 101")
        assert node.admission.sockets[A] == 2
        [silent] = set(node.listener.sockets) - before
        await settled(lambda: silent not in node.listener.sockets, "the heartbeat aborted the silent peer",
                      within=3 * WAIT)
        assert len(node.listener.sockets) == 1, "the witness was aborted too (its pongs came too late?)"
        assert node.admission.sockets[A] == 1
    finally:
        await close_stream(writer)

    # Refused upgrades never held a place: a bad token, and the address's own limit.
    with pytest.raises(websockets.InvalidStatus):
        await RoomClient.connect(ws_url(node.port, room, tok="bad"), local_addr=(A, 0))
    held = [await connect(node.port, room, A) for _ in range(2)]
    assert (await refused(node.port, room, A)).status_code == 429
    assert node.admission.sockets[A] == 3
    for client in held:
        await client.close()
    await settled(lambda: len(node.listener.sockets) == 1, "the held sockets closed")
    assert node.admission.sockets[A] == 1

    # The node stopping closes every socket: 1001, and nothing is left counted.
    await node.listener.close_all(CloseCode.GOING_AWAY, "going away", grace_s=WAIT)
    assert node.admission.sockets[A] == 0 and len(node.admission.sockets) == 0
    with pytest.raises(websockets.ConnectionClosed):
        while True:
            await witness.recv()
    assert witness.ws.close_code == 1001


async def test_new_sockets_per_address_are_limited_429_with_retry_after(make_node, room):
    node = await make_node(ip_connect_rate=0.001, ip_connect_burst=2, **LIMITED)
    clients = [await connect(node.port, room, A) for _ in range(2)]
    response = await refused(node.port, room, A)
    assert response.status_code == 429 and int(response.headers["Retry-After"]) >= 1
    body = orjson.loads(response.body)
    assert body["error"] == "rate_limited" and "address" in body["detail"]
    clients.append(await connect(node.port, room, B))
    assert await metric(node.port, 'livecart_ip_rejections_total{limit="connect_rate"}') == 1
    for client in clients:
        await client.close()


async def test_claims_per_address_are_limited_over_http_and_sockets_another_address_is_not(make_node, room):
    node = await make_node(ip_claim_rate=0.001, ip_claim_burst=3, **LIMITED)
    deal = (await create_deal(node.port, room, stock=100, limit_per_user=5))["id"]
    # Different users on one address: no user is over their own limit, the address is.
    for user in ("u1", "u2"):
        status, body, _ = await http_claim(node.port, room, deal, user, A)
        assert status == 200 and body["ok"], body
    viewer = await connect(node.port, room, A, tok=token("viewer", room, "u3"))
    await viewer.send({"type": "claim", "deal": deal, "qty": 1, "req": "s1"})
    assert (await viewer.reply())["type"] == "claim_result"
    status, body, headers = await http_claim(node.port, room, deal, "u4", A)
    assert status == 429 and body["error"] == "rate_limited" and int(headers["Retry-After"]) >= 1
    await viewer.send({"type": "claim", "deal": deal, "qty": 1, "req": "s2"})
    error = await viewer.reply()
    assert (error["error"], error["req"]) == ("rate_limited", "s2") and error["retry_after"] > 0
    # A retried key is not a new claim: it gets its first answer.
    status, body, _ = await http_claim(node.port, room, deal, "u1", A)
    assert status == 200 and body["ok"]
    status, body, _ = await http_claim(node.port, room, deal, "u5", B)
    assert status == 200 and body["ok"]
    assert await metric(node.port, 'livecart_ip_rejections_total{limit="claims"}') == 2
    await viewer.close()


async def test_comments_per_address_are_limited_another_address_is_not(make_node, room):
    node = await make_node(ip_comment_rate=0.001, ip_comment_burst=2, **LIMITED)
    speakers = [await connect(node.port, room, A, tok=token("viewer", room, f"s{n}")) for n in range(3)]
    other = await connect(node.port, room, B, tok=token("viewer", room, "elsewhere"))
    for n, speaker in enumerate(speakers):
        await speaker.send({"type": "comment", "text": "好看!", "req": f"c{n}"})
    answers = [await speaker.reply() for speaker in speakers]
    assert [a["type"] for a in answers] == ["comment_result", "comment_result", "error"]
    assert answers[2]["error"] == "rate_limited" and answers[2]["retry_after"] > 0
    await other.send({"type": "comment", "text": "hi", "req": "o1"})
    assert (await other.reply())["type"] == "comment_result"
    assert await metric(node.port, 'livecart_ip_rejections_total{limit="comments"}') == 1
    for client in (*speakers, other):
        await client.close()


async def test_x_forwarded_for_counts_only_from_a_trusted_proxy(make_node, room):
    """127.0.0.4 plays the trusted balancer; 127.0.0.2 is a client that sends its own header."""
    proxy = "127.0.0.4"
    node = await make_node(trusted_proxies=proxy, ip_claim_rate=0.001, ip_claim_burst=1, **LIMITED)
    via_proxy = await connect(node.port, room, proxy, headers={"X-Forwarded-For": "127.0.0.9, 127.0.0.7"})
    spoofer = await connect(node.port, room, A, headers={"X-Forwarded-For": "127.0.0.7"})
    assert sorted(ws.client for ws in node.listener.sockets) == [A, "127.0.0.7"]
    assert node.admission.sockets["127.0.0.7"] == 1 and node.admission.sockets[A] == 1
    assert node.admission.sockets[proxy] == 0 and node.admission.sockets["127.0.0.9"] == 0

    deal = (await create_deal(node.port, room, stock=100))["id"]
    forwarded = {"X-Forwarded-For": "127.0.0.7"}
    assert (await http_claim(node.port, room, deal, "u1", proxy, forwarded))[0] == 200
    assert (await http_claim(node.port, room, deal, "u2", proxy, forwarded))[0] == 429  # 127.0.0.7's limit
    assert (await http_claim(node.port, room, deal, "u3", proxy, {"X-Forwarded-For": "127.0.0.8"}))[0] == 200
    # The spoofer's header is ignored: its claims count against its own address, which has one left.
    assert (await http_claim(node.port, room, deal, "u4", A, {"X-Forwarded-For": "127.0.0.6"}))[0] == 200
    assert (await http_claim(node.port, room, deal, "u5", A, {"X-Forwarded-For": "127.0.0.5"}))[0] == 429
    for client in (via_proxy, spoofer):
        await client.close()
