"""What the fault tests share: nodes as real processes, clients that resume like docs/protocol.md §11
says, and a publisher that retries until every event it sends is stored.

Every fault test ends the same way ("nothing lost"): each `Follower` has received exactly the room's
offsets 1..N, in order, once each, across all its connections, and their event ids are exactly the
ones the `Publisher` got a 200 for.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import sys
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import websockets

from tests.support import SECRET, WAIT, comment, free_port, post_events, token, ws_url

TERMINAL_CLOSES = {1002, 1003, 1007, 1008, 1009, 4001}


class NodeProcess:
    """`livecart serve --redis-url URL` in its own process: the only way to SIGKILL a node.

    `clock_shift_s` moves the process's wall clock (time.time) by that much, as if the machine's clock
    were wrong: Redis and the other nodes are untouched."""

    def __init__(self, redis_url: str, data_dir: Path, port: int | None = None, clock_shift_s: float = 0.0,
                 env: dict[str, str] | None = None) -> None:
        self.redis_url = redis_url
        self.data_dir = data_dir
        self.port = port or free_port()
        self.clock_shift_s = clock_shift_s
        self.env = env or {}
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> NodeProcess:
        env = dict(os.environ, LIVECART_SECRET=SECRET, **self.env)
        # One process, as a node is: SIGKILL must kill the node itself, not a supervisor whose workers
        # then stop gracefully, and the clock shift below must reach the process that serves.
        args = ["serve", "--workers", "1", "--port", str(self.port), "--redis-url", self.redis_url,
                "--data-dir", str(self.data_dir)]
        if self.clock_shift_s:
            boot = ("import sys, time; real = time.time; "
                    f"time.time = lambda: real() + {self.clock_shift_s!r}; "
                    "from livecart.cli import main; sys.exit(main(sys.argv[1:]))")
            command = [sys.executable, "-c", boot, *args]
        else:
            command = [sys.executable, "-m", "livecart", *args]
        self.proc = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.PIPE,
                                                         stderr=asyncio.subprocess.DEVNULL, env=env)
        assert self.proc.stdout is not None
        while True:  # serve says so once it listens
            line = (await asyncio.wait_for(self.proc.stdout.readline(), 6 * WAIT)).decode()
            assert line, "livecart serve exited early"
            if line.startswith("livecart serving on"):
                return self

    async def kill(self) -> None:
        """SIGKILL: no close frames, no flushing, sockets just drop."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self._reap()

    async def terminate(self) -> int:
        """SIGTERM: the graceful stop (1001 "going away, resume elsewhere"); its exit code."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return await self._reap()

    async def _reap(self) -> int:
        assert self.proc is not None
        proc, self.proc = self.proc, None
        code = await asyncio.wait_for(proc.wait(), 15)
        assert proc.stdout is not None
        await proc.stdout.read()  # to EOF: closes the pipe's transport
        return code

    async def close(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            await self.kill()


class Follower:
    """A viewer socket that never gives up: on any resumable close or failed connect it waits a jittered,
    capped exponential backoff and resumes with since/epoch on the next port. It records every event
    offset it is sent, duplicates included, so a test can check that the concatenation over all its
    connections is exactly 1..N."""

    def __init__(self, ports: list[int], room: str, start: int = 0, base_s: float = 0.05,
                 cap_s: float = 1.0) -> None:
        self.ports = ports  # shared and mutable: a test may swap a restarted node's port in
        self.room = room
        self.turn = start
        self.base_s, self.cap_s = base_s, cap_s
        self.token = token("viewer", room, user=f"follower{start}")
        self.epoch: str | None = None
        self.last = 0
        self.offsets: list[int] = []
        self.ids: list[str] = []
        self.first_frames: Counter[str] = Counter()  # snapshot / recovered, per connection
        self.resets = 0  # snapshots after the first: the room's history was lost (never expected here)
        self.closes: list[int | None] = []
        self.connected = asyncio.Event()  # set while a socket is open and has had its first frame
        self.ws: Any = None
        self.log: list[tuple[Any, ...]] = []  # (port, frame type, offsets/since): shown when a check fails
        self._stopping = False
        self.task = asyncio.create_task(self._run())

    @property
    def port(self) -> int:
        return self.ports[self.turn % len(self.ports)]

    async def _run(self) -> None:
        attempt = 0
        while not self._stopping:
            query = {"since": self.last, "epoch": self.epoch} if self.epoch is not None else {}
            try:
                async with websockets.connect(ws_url(self.port, self.room, tok=self.token, **query),
                                              max_size=2**24, open_timeout=3 * WAIT, close_timeout=1) as ws:
                    self.ws = ws
                    self.log.append((self.port, "open", query))
                    async for raw in ws:
                        self._frame(orjson.loads(raw))
                        attempt = 0
                self.closes.append(ws.close_code)
                assert ws.close_code not in TERMINAL_CLOSES, (ws.close_code, ws.close_reason)
            except (OSError, TimeoutError, websockets.ConnectionClosed, websockets.InvalidHandshake) as exc:
                self.closes.append(None)
                self.log.append((self.port, "failed", repr(exc)))
            finally:
                self.ws = None
                self.connected.clear()
            if self._stopping:
                return
            self.turn += 1  # any node that shares the Redis will do
            delay = random.uniform(0, min(self.cap_s, self.base_s * 2**attempt))
            attempt += 1
            await asyncio.sleep(delay)

    def _frame(self, frame: dict[str, Any]) -> None:
        kind = frame["type"]
        self.log.append((kind, frame.get("offset"), [e["offset"] for e in frame.get("events", ())]))
        if kind == "snapshot":
            if self.epoch is not None:
                self.resets += 1
            self.epoch, self.last = frame["epoch"], frame["offset"]
            self.first_frames[kind] += 1
            self.connected.set()
        elif kind == "recovered":
            assert frame["epoch"] == self.epoch, "epoch changed on recovery"
            self.first_frames[kind] += 1
            self.connected.set()
        elif kind == "batch":
            for event in frame["events"]:
                self.offsets.append(event["offset"])
                # A viewer sees an order without its id (audience.py): name it by its offset.
                self.ids.append(event.get("id", f"#{event['offset']}"))
                self.last = max(self.last, event["offset"])

    async def reach(self, offset: int, timeout: float) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while self.last < offset:
            if self.task.done():
                self.task.result()  # raises what stopped it
                raise AssertionError("the follower stopped")
            assert asyncio.get_running_loop().time() < deadline, (
                f"follower {self.turn} stuck at {self.last} < {offset} (closes {self.closes[-5:]})")
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        self._stopping = True
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.ws.close(), 2)
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task

    def assert_complete(self, ids: set[str]) -> None:
        """Nothing lost, nothing twice: offsets 1..N in order over all connections, ids == `ids`."""
        assert self.resets == 0, "the room was reset: history lost"
        assert self.offsets == list(range(1, len(self.offsets) + 1)), (_first_break(self.offsets), self.log)
        assert len(self.ids) == len(ids) and set(self.ids) == ids


def _first_break(offsets: list[int]) -> str:
    for i, offset in enumerate(offsets):
        if offset != i + 1:
            around = offsets[max(0, i - 3) : i + 4]
            return f"offset {offset} at position {i} (expected {i + 1}; around: {around})"
    return "ok"


async def wait_followers(followers: list[Follower], timeout: float = 6 * WAIT) -> None:
    """Until every follower has its first frame (a snapshot at offset 0 when the room is new)."""
    await asyncio.wait_for(asyncio.gather(*(f.connected.wait() for f in followers)), timeout)


class Publisher:
    """Steady ingest: a batch of comments every `interval_s`, each batch retried (same ids: idempotent)
    on the next port until some node answers 200. `strict`: only 200 or 503 with Retry-After are fair
    answers (no 500, no dropped connection); otherwise a node that died mid-request may drop it."""

    def __init__(self, ports: list[int], room: str, interval_s: float = 0.02, per_batch: int = 3,
                 strict: bool = False, text: str = "hello",
                 throttle: Callable[[int], Awaitable[None]] | None = None) -> None:
        self.ports, self.room, self.text = ports, room, text
        self.throttle = throttle  # awaited with the count of stored events after each batch
        self.interval_s, self.per_batch, self.strict = interval_s, per_batch, strict
        self.ids: set[str] = set()  # every id a 200 answer covered: stored exactly once in the room
        self.statuses: Counter[int] = Counter()
        self.failures = 0  # requests a node never answered (it was down)
        self.turn = 0
        self.batches = 0
        self._stop = asyncio.Event()
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while not self._stop.is_set():
            batch = [comment(f"{self.room}-{self.batches}-{j}", self.text, user=f"fan{j}")
                     for j in range(self.per_batch)]
            self.batches += 1
            await self.deliver(batch)
            if self.throttle is not None:
                await self.throttle(len(self.ids))
            await asyncio.sleep(self.interval_s)

    async def deliver(self, batch: list[dict[str, Any]]) -> None:
        while True:
            port = self.ports[self.turn % len(self.ports)]
            try:
                status, body, headers = await asyncio.wait_for(post_events(port, self.room, batch), 3 * WAIT)
            except (aiohttp.ClientError, OSError, TimeoutError):
                assert not self.strict, "a live node dropped an ingest request"
                self.failures += 1
                self.turn += 1
                await asyncio.sleep(0.05)
                continue
            self.statuses[status] += 1
            if status == 200:
                assert body["accepted"] + body["duplicates"] == len(batch) and not body["rejected"], body
                self.ids.update(e["id"] for e in batch)
                return
            # While Redis is away: 503 with Retry-After, never a 500 (the contract's "never a silent drop").
            assert status == 503 and body["error"] == "unavailable", (status, body)
            assert int(headers["Retry-After"]) >= 1
            self.turn += 1
            await asyncio.sleep(0.1)  # sooner than Retry-After: this client is impatient on purpose

    async def more(self, n: int, what: str) -> None:
        """Until `n` more events have been stored."""
        target = len(self.ids) + n
        await eventually(lambda: len(self.ids) >= target, what)

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.wait_for(self.task, 6 * WAIT)


async def healthz(port: int) -> int | None:
    try:
        async with aiohttp.ClientSession() as http, http.get(
                f"http://127.0.0.1:{port}/healthz", timeout=aiohttp.ClientTimeout(total=WAIT)) as resp:
            return resp.status
    except (aiohttp.ClientError, OSError, TimeoutError):
        return None


async def wait_health(port: int, status: int, timeout: float = 3 * WAIT) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while await healthz(port) != status:
        assert asyncio.get_running_loop().time() < deadline, f"healthz of :{port} never became {status}"
        await asyncio.sleep(0.05)


async def eventually(condition: Callable[[], bool], what: str, timeout: float = 6 * WAIT) -> None:
    """Until `condition()` holds; a generous deadline only so that a bug fails instead of hanging."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, f"never: {what}"
        await asyncio.sleep(0.02)
