"""The big-comments scenario of issue 13: one client that never reads, one fast reader, and `posts` ingest
requests of `comments` comments of `size` characters each into their room. Returns what the node's RSS
did (from /proc, so the node must be another process) and what the fast reader got."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import orjson
import websockets

from tests.support import WAIT, token


@dataclass
class Outcome:
    rss_start_mb: float
    rss_peak_mb: float
    comments_sent: int
    comments_read: int
    in_order: bool  # the fast reader's comments: consecutive offsets, ids in posting order, none twice
    slow_close: int | None  # the close code the never-reading client was sent (None: not read)
    slow_closes: float  # the node's livecart_slow_consumer_closes_total

    @property
    def growth_mb(self) -> float:
        return self.rss_peak_mb - self.rss_start_mb


def _status_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(field)


def _reset_peak(pid: int) -> None:
    # Writing 5 to clear_refs resets VmHWM to the current RSS (Linux ≥ 4.0): the peak is then the
    # scenario's, not start-up's.
    with contextlib.suppress(OSError):
        Path(f"/proc/{pid}/clear_refs").write_text("5")


async def _never_read(port: int, room: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=2**16)
    writer.write((f"GET /ws/rooms/{room}?token={token('viewer', room)} HTTP/1.1\r\nHost: x\r\n"
                  "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n").encode())
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT)
    assert head.startswith(b"HTTP/1.1 101"), head
    transport = writer.transport
    transport.pause_reading()  # from here on it reads nothing: the kernel buffers fill, then the node's
    return reader, writer


# How many posts the fast reader may be behind before the next is sent: 4 × 100 × 4 KB stays under the
# node's 4 MB outbound bound, so only the never-reading socket can reach it, however slowly this
# process gets to read (on a busy machine the unpaced poster ran ahead of its own reader until the
# node closed the *fast* socket 1013).
MAX_POSTS_AHEAD = 4


async def run_scenario(port: int, pid: int, *, posts: int = 240, comments: int = 100,
                       size: int = 4096, room: str = "big-comments", slow: bool = True) -> Outcome:
    async with contextlib.AsyncExitStack() as sockets:  # both sockets closed on every path: a leaked
        slow_socket = None                              # one fails a later test with a warning
        if slow:
            slow_socket = await _never_read(port, room)
            sockets.callback(slow_socket[1].close)
        fast = await sockets.enter_async_context(websockets.connect(
            f"ws://127.0.0.1:{port}/ws/rooms/{room}?token={token('viewer', room)}", max_size=None))
        return await _run(port, pid, posts, comments, size, room, slow_socket, fast)


async def _run(port: int, pid: int, posts: int, comments: int, size: int, room: str,
               slow_socket: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None,
               fast: websockets.ClientConnection) -> Outcome:
    first = orjson.loads(await fast.recv())
    assert first["type"] == "snapshot"
    offset = first["offset"]
    expected_ids = [f"p{p}-c{c}" for p in range(posts) for c in range(comments)]
    read_ids: list[str] = []
    in_order = True

    progress = asyncio.Event()  # set by the reader after each frame, and when it ends

    async def read_fast() -> None:
        nonlocal offset, in_order
        try:
            while len(read_ids) < len(expected_ids):
                frame = orjson.loads(await asyncio.wait_for(fast.recv(), 10 * WAIT))
                for event in frame.get("events", ()):
                    if event["offset"] != offset + 1:
                        in_order = False
                    offset = event["offset"]
                    if event["type"] == "comment":
                        read_ids.append(event["id"])
                progress.set()
        finally:
            progress.set()

    # Start from a settled node: its start-up work (jieba's dictionary, built off the event loop right
    # after start) is not what this measures. Settled: RSS still within 1 MB after half a second.
    previous = -10.0
    for _ in range(60):
        await asyncio.sleep(0.5)
        current = _status_mb(pid, "VmRSS")
        if abs(current - previous) < 1:
            break
        previous = current
    _reset_peak(pid)
    rss_start = _status_mb(pid, "VmRSS")
    reading = asyncio.ensure_future(read_fast())
    headers = {"Authorization": f"Bearer {token('ingest', room)}", "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as http:
        for p in range(posts):
            while len(read_ids) < (p - MAX_POSTS_AHEAD) * comments and not reading.done():
                progress.clear()
                await asyncio.wait_for(progress.wait(), 10 * WAIT)
            if reading.done():
                reading.result()  # the fast reader failed: say why, not a timeout later
            body = orjson.dumps([{"id": f"p{p}-c{c}", "type": "comment",
                                  "user": {"id": f"u{c}", "name": f"U{c}"},
                                  "text": (f"{p}/{c} " + "x" * size)[:size]} for c in range(comments)])
            async with http.post(f"http://127.0.0.1:{port}/api/rooms/{room}/events", data=body,
                                 headers=headers) as resp:
                assert resp.status == 200, await resp.text()
    await asyncio.wait_for(reading, 20 * WAIT)
    rss_peak = _status_mb(pid, "VmHWM")
    await fast.close()
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/metrics") as resp:
        metrics = await resp.text()
    slow_closes = sum(float(line.split()[-1]) for line in metrics.splitlines()
                      if line.startswith("livecart_slow_consumer_closes_total "))
    slow_close = None
    if slow_socket is not None:
        slow_reader, slow_writer = slow_socket
        with contextlib.suppress(Exception):
            slow_writer.transport.resume_reading()
            data = await asyncio.wait_for(slow_reader.read(), WAIT)
            # The last frame the node sent it is a close frame (0x88) with a 2-byte code.
            at = data.rfind(b"\x88")
            if at >= 0 and len(data) >= at + 4:
                slow_close = int.from_bytes(data[at + 2:at + 4], "big")
    return Outcome(rss_start, rss_peak, len(expected_ids), len(read_ids),
                   in_order and read_ids == expected_ids, slow_close, slow_closes)
