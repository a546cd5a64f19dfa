"""A link that goes silent without closing (a studio Wi-Fi that drops packets, a NAT that forgets the
connection): browsers cannot send websocket pings, so the page pings at application level, notices the
silence within seconds and resumes, with nothing lost.

The silence is made by a loopback TCP relay between the page and a real node that stops forwarding
the bytes of the connections open at that moment (new connections pass), not by a fake server.
"""

from __future__ import annotations

import asyncio
import contextlib

from playwright.async_api import expect

from tests.browser.conftest import Browsing
from tests.support import comment, post_events, token

# The page pings every 4 s and gives up on a link silent for 10 s; then it reconnects with backoff.
DEAD_AFTER_MS = 10_000  # client_web/lib/livecart.js
DEAD_LINK_WAIT_MS = 40_000


class SilencingRelay:
    """Forwards 127.0.0.1:port to the node; `silence()` black-holes the connections open right now."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.connections: list[dict[str, bool]] = []
        self._writers: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def silence(self) -> None:
        for connection in self.connections:
            connection["silent"] = True

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self._writers += [writer, up_writer]
        state = {"silent": False}
        self.connections.append(state)
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pump(source, sink, state))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter, state: dict[str, bool]) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await source.read(65536):
                if not state["silent"]:  # silenced: read and drop, never close (a black hole)
                    sink.write(data)
                    await sink.drain()
        if not state["silent"]:
            sink.close()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for writer in self._writers:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()
        if self._server is not None:
            await self._server.wait_closed()


async def test_the_overlay_notices_a_silent_link_and_resumes(make_node, room, browser):
    node = await make_node()
    relay = SilencingRelay(node.port)
    await relay.start()
    try:
        b = Browsing(browser, relay.port)
        overlay = await b.open(f"/overlay?room={room}&token={token('overlay', room)}", 1920, 1080, clock=True)
        await overlay.locator("body[data-status='live']").wait_for(state="attached")
        await post_events(node.port, room, [comment("before", "before the silence")])
        await expect(overlay.locator("#comments .comment-text")).to_have_text(["before the silence"])
        connections = len(relay.connections)
        await overlay.evaluate("window.notReloaded = true")

        relay.silence()
        await post_events(node.port, room, [comment("during", "sent into the silence")])
        # Only a new connection can bring it: the page must notice the dead link by itself. Its clock
        # jumps past DEAD_AFTER_MS, which fires the ping timer once, as it would after the silence.
        await overlay.clock.fast_forward(DEAD_AFTER_MS + 1000)
        await expect(overlay.locator("#comments .comment-text")).to_have_text(
            ["before the silence", "sent into the silence"], timeout=DEAD_LINK_WAIT_MS)
        assert len(relay.connections) > connections
        # Resumed in the same page, never reloaded (a reload would drop this mark; the fake clock's
        # `performance` has no navigation entries to count).
        assert await overlay.evaluate("window.notReloaded") is True
    finally:
        await relay.stop()
    assert b.errors.messages == []
