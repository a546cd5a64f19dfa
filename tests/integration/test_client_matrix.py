"""One room-socket scenario, run by every kind of client a node meets in the field.

Connect, read room events, claim a deal, close, then resume with `since` + `epoch` and get exactly what
was missed. The clients: an aiohttp session that made HTTP requests first (its pooled keep-alive
connection carries the upgrade), the `websockets` client, Node's `ws` package, Chromium, and the
`websockets` client through deploy/nginx.conf, whose upstream keep-alive sends upgrades on connections
that carried HTTP requests before. HTTP/1.1 allows an upgrade on any request of a persistent
connection; a node that only looked at a connection's first request answered those upgrades 404.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

import aiohttp
import orjson
import pytest
import websockets
from playwright.async_api import Page, async_playwright

from tests.support import (
    WAIT,
    api,
    close_stream,
    comment,
    create_deal,
    post_events,
    start_nginx,
    token,
    until_listening,
    ws_url,
)

CLIENTS_DIR = Path(__file__).resolve().parents[1] / "clients"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


class Driver(Protocol):
    """One websocket client implementation: text frames in, JSON maps out."""

    async def connect(self, url: str) -> None: ...

    async def send(self, message: dict[str, Any]) -> None: ...

    async def recv(self) -> dict[str, Any]: ...

    async def close(self) -> None: ...


PostEvents = Callable[[int, str, list[dict[str, Any]]], Awaitable[int]]


async def post_fresh(port: int, room: str, events: list[dict[str, Any]]) -> int:
    status, body, _ = await post_events(port, room, events)
    assert status == 200, body
    return int(body["accepted"])


class AiohttpSession:
    """One `ClientSession` for everything: its HTTP requests and its upgrades share pooled connections."""

    def __init__(self) -> None:
        self.session = aiohttp.ClientSession()
        self.ws: aiohttp.ClientWebSocketResponse | None = None

    async def http(self, port: int, room: str, events: list[dict[str, Any]]) -> int:
        async with self.session.get(f"http://127.0.0.1:{port}/healthz") as resp:
            assert resp.status == 200
        async with self.session.post(f"http://127.0.0.1:{port}/api/rooms/{room}/events", data=orjson.dumps(
                events), headers={"Authorization": f"Bearer {token('ingest', room)}",
                                  "Content-Type": "application/json"}) as resp:
            assert resp.status == 200, await resp.text()
            return int((await resp.json())["accepted"])

    async def connect(self, url: str) -> None:
        self.ws = await self.session.ws_connect(url.replace("ws://", "http://"))

    async def send(self, message: dict[str, Any]) -> None:
        assert self.ws is not None
        await self.ws.send_str(orjson.dumps(message).decode())

    async def recv(self) -> dict[str, Any]:
        assert self.ws is not None
        msg = await asyncio.wait_for(self.ws.receive(), WAIT)
        assert msg.type is aiohttp.WSMsgType.TEXT, msg
        return orjson.loads(msg.data)

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()

    async def aclose(self) -> None:
        await self.session.close()


class WebsocketsClient:
    def __init__(self) -> None:
        self.ws: Any = None

    async def connect(self, url: str) -> None:
        self.ws = await websockets.connect(url, max_size=2**24)

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(orjson.dumps(message).decode())

    async def recv(self) -> dict[str, Any]:
        return orjson.loads(await asyncio.wait_for(self.ws.recv(), WAIT))

    async def close(self) -> None:
        await self.ws.close()


class NodeWs:
    """Node's `ws` package, through tests/clients/ws_bridge.mjs (stdin lines out, stdout lines in)."""

    def __init__(self) -> None:
        self.proc: asyncio.subprocess.Process | None = None

    async def connect(self, url: str) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            "node", str(CLIENTS_DIR / "ws_bridge.mjs"), url, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE)
        opened = await self._line()
        assert opened["type"] == "<open>", opened

    async def _line(self) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), WAIT)
        assert line, "the node client ended"
        return json.loads(line)

    async def send(self, message: dict[str, Any]) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(orjson.dumps(message) + b"\n")
        await self.proc.stdin.drain()

    async def recv(self) -> dict[str, Any]:
        return await self._line()

    async def close(self) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.close()
        await asyncio.wait_for(self.proc.wait(), WAIT)


class ChromiumPage:
    """Chromium's own WebSocket, opened by a page the node served."""

    def __init__(self, page: Page, port: int) -> None:
        self.page, self.port = page, port

    async def connect(self, url: str) -> None:
        await self.page.goto(f"http://127.0.0.1:{self.port}/healthz")
        opened = await self.page.evaluate("""url => new Promise((resolve) => {
            window.inbox = [];
            window.sock = new WebSocket(url);
            window.sock.onmessage = (e) => window.inbox.push(e.data);
            window.sock.onopen = () => resolve("open");
            window.sock.onclose = (e) => {
                window.inbox.push(JSON.stringify({type: "<closed>", code: e.code}));
                resolve("closed " + e.code);
            };
        })""", url)
        assert opened == "open", opened

    async def send(self, message: dict[str, Any]) -> None:
        await self.page.evaluate("text => window.sock.send(text)", orjson.dumps(message).decode())

    async def recv(self) -> dict[str, Any]:
        await self.page.wait_for_function("window.inbox.length > 0", timeout=WAIT * 1000)
        return json.loads(await self.page.evaluate("window.inbox.shift()"))

    async def close(self) -> None:
        await self.page.evaluate("""() => new Promise((resolve) => {
            window.sock.onclose = () => resolve(); window.sock.close(1000); })""")


async def events_until(client: Driver, offset: int) -> list[dict[str, Any]]:
    """Room events read until `offset` (other frames, e.g. viewer counts, skipped)."""
    events: list[dict[str, Any]] = []
    while not events or events[-1]["offset"] < offset:
        frame = await client.recv()
        assert frame["type"] in ("batch", "claim_result", "pong"), frame
        if frame["type"] == "batch":
            events.extend(frame["events"])
    return events


async def scenario(client: Driver, room: str, port: int, api_port: int, post: PostEvents) -> None:
    await asyncio.wait_for(_scenario(client, room, port, api_port, post), 6 * WAIT)


async def _scenario(client: Driver, room: str, port: int, api_port: int, post: PostEvents) -> None:
    """`port`: where the client connects; `api_port`: a node, for the test's own set-up calls."""
    url = ws_url(port, room, token("viewer", room, user="ann"))
    assert await post(port, room, [comment("before-1"), comment("before-2")]) == 2
    await client.connect(url)
    first = await client.recv()
    assert first["type"] == "snapshot" and first["offset"] == 2, first
    epoch = first["epoch"]

    deal = await create_deal(api_port, room, stock=5)
    assert await post(port, room, [comment("live-1"), comment("live-2")]) == 2
    seen = await events_until(client, 4)
    assert [e["offset"] for e in seen if e["type"] == "comment"] == [3, 4]
    await client.send({"type": "claim", "deal": deal["id"], "qty": 1, "req": "tap-1"})
    while (frame := await client.recv())["type"] != "claim_result":
        assert frame["type"] == "batch", frame
        seen.extend(frame["events"])
    assert frame["req"] == "tap-1" and frame["ok"] is True, frame
    last = seen[-1]["offset"]
    assert [e["offset"] for e in seen] == list(range(3, last + 1))
    await client.close()

    status, listed = await api(api_port, "GET", f"/api/rooms/{room}/deals", token("viewer", room, "ann"))
    assert status == 200 and listed["deals"][0]["held"] == 1
    assert await post(port, room, [comment("missed-1"), comment("missed-2")]) == 2
    # Resume from the last event read: whatever came after it (the claim's own events, the comments
    # posted while away) follows, once each, in order.
    await client.connect(ws_url(port, room, token("viewer", room, user="ann"), since=last, epoch=epoch))
    resumed = await client.recv()
    assert resumed["type"] == "recovered" and resumed["epoch"] == epoch, resumed
    missed = await events_until(client, resumed["offset"])
    assert [e["offset"] for e in missed] == list(range(last + 1, resumed["offset"] + 1))
    assert [e["id"] for e in missed if e["type"] == "comment"] == ["missed-1", "missed-2"]
    await client.close()


@pytest.fixture
async def chromium_page() -> AsyncIterator[Callable[[int], Awaitable[ChromiumPage]]]:
    if not os.path.exists(CHROMIUM):
        pytest.fail("chromium is missing: scripts/setup test installs Debian's chromium")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                   args=["--no-sandbox", "--disable-dev-shm-usage",
                                                         "--disable-gpu"])

        async def open_page(port: int) -> ChromiumPage:
            return ChromiumPage(await (await browser.new_context()).new_page(), port)

        yield open_page
        await browser.close()


@pytest.fixture
def nginx(tmp_path: Path) -> Any:
    started: list[subprocess.Popen[bytes]] = []

    async def start(backends: list[int]) -> int:
        port, proc = start_nginx(tmp_path, backends)
        started.append(proc)
        await until_listening(port)
        return port

    yield start
    for proc in started:
        proc.terminate()
        proc.wait(10)


async def test_an_aiohttp_session_upgrades_on_the_connection_its_requests_used(node, room):
    client = AiohttpSession()
    try:
        await scenario(client, room, node.port, node.port, client.http)
    finally:
        await client.aclose()


async def test_the_websockets_client_connects_claims_and_resumes(node, room):
    await scenario(WebsocketsClient(), room, node.port, node.port, post_fresh)


async def test_nodes_ws_package_connects_claims_and_resumes(node, room):
    if not (CLIENTS_DIR / "node_modules" / "ws").is_dir():
        pytest.fail("Node's ws package is missing: scripts/setup test installs it in tests/clients")
    await scenario(NodeWs(), room, node.port, node.port, post_fresh)


async def test_chromium_connects_claims_and_resumes(node, room, chromium_page):
    await scenario(await chromium_page(node.port), room, node.port, node.port, post_fresh)


async def test_through_nginx_with_upstream_keepalive(make_node, nginx, room):
    # One node behind the balancer: every HTTP request leaves its upstream connection in nginx's pool,
    # and the upgrades that follow are sent on it.
    node = await make_node()
    port = await nginx([node.port])
    await scenario(WebsocketsClient(), room, port, node.port, post_fresh)
    session = AiohttpSession()
    try:
        await scenario(session, room + "b", port, node.port, session.http)
    finally:
        await session.aclose()


async def test_an_upgrade_pipelined_behind_a_request_is_answered_after_it(node, room):
    # The request's response is complete before the 101: aiohttp hands the connection over only once it
    # has answered every earlier request.
    reader, writer = await asyncio.open_connection("127.0.0.1", node.port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                 b"GET /ws/rooms/" + room.encode() + b"?token=" + token("viewer", room).encode()
                 + b" HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT)
        assert head.startswith(b"HTTP/1.1 200")
        length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length")))
        assert json.loads(await reader.readexactly(length))["ok"] is True
        upgrade = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT)
        assert upgrade.startswith(b"HTTP/1.1 101"), upgrade
    finally:
        await close_stream(writer)
