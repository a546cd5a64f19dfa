"""Test support: real processes and real clients (no mocks)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import msgpack
import orjson
import websockets

from livecart import auth

SECRET = "test-secret"
WAIT = float(os.environ.get("LIVECART_TESTS_TIMEOUT_FACTOR", "1")) * 5.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisProcess:
    """A real redis-server on a free loopback port, with AOF so restarts keep data."""

    def __init__(self, data_dir: Path, port: int | None = None, appendonly: bool = True) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.appendonly = appendonly
        self.proc: subprocess.Popen[bytes] | None = None
        self.extra_args: list[str] = []

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.data_dir),
                "--save", "", "--daemonize", "no", "--loglevel", "warning"]
        if self.appendonly:
            args += ["--appendonly", "yes", "--appendfsync", "always"]
        args += self.extra_args
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(64).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.02)
        self.kill()  # not left running for a later test to trip over
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
            self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


def cluster_port() -> int:
    """A free port for a cluster node: its bus listens on port + 10000, so redis-server refuses a port
    over 55535, and free_port() gives one up to 60999 about a fifth of the time (a flaky start)."""
    while True:
        port = free_port()
        if port <= 55535:
            return port


class RedisCluster:
    """A real 3-primary Redis Cluster on loopback (no replicas), made with `redis-cli --cluster create`."""

    def __init__(self, data_dir: Path, size: int = 3) -> None:
        self.servers = [RedisProcess(data_dir / f"shard{i}", port=cluster_port(), appendonly=False)
                        for i in range(size)]

    @property
    def url(self) -> str:
        return f"redis+cluster://127.0.0.1:{self.servers[0].port}"

    def start(self) -> None:
        """Starts the shards and joins them. If that fails, stops every shard it started: a shard left
        running would fail whichever test happens to collect its Popen (ResourceWarning)."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        for server in self.servers:
            # The bus port defaults to port + 10,000, which may be taken or past 65535: pick a free one.
            server.extra_args = ["--cluster-enabled", "yes", "--cluster-node-timeout", "2000",
                                 "--cluster-port", str(free_port()),
                                 "--cluster-config-file", str(server.data_dir / "nodes.conf")]
            server.start()
        # `--cluster create` polls once a second until the shards have met; on a busy machine that took
        # over 5 s. Deadlines here only turn a broken cluster into a failure instead of a hang.
        subprocess.run(["redis-cli", "--cluster", "create", *(f"127.0.0.1:{s.port}" for s in self.servers),
                        "--cluster-replicas", "0", "--cluster-yes"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=6 * WAIT)
        deadline = time.monotonic() + 6 * WAIT
        while time.monotonic() < deadline:  # every node must agree that all slots are served
            states = [subprocess.run(["redis-cli", "-p", str(s.port), "cluster", "info"], capture_output=True,
                                     text=True, timeout=WAIT).stdout for s in self.servers]
            if all("cluster_state:ok" in state for state in states):
                return
            time.sleep(0.1)
        raise RuntimeError("the cluster did not reach cluster_state:ok")

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


def token(role: str, room: str, user: str | None = None, ttl: float = 3600) -> str:
    """A token; `ttl` <= 0 gives one that expired that many seconds ago (minted in the past: issue()
    refuses a ttl that is not positive)."""
    if ttl <= 0:
        return auth.issue(SECRET, role=role, room=room, user=user, ttl_s=1, now=time.time() + ttl - 1)
    return auth.issue(SECRET, role=role, room=room, user=user, ttl_s=ttl)


def comment(event_id: str, text: str = "hello", user: str = "u1") -> dict[str, Any]:
    return {"id": event_id, "type": "comment", "user": {"id": user, "name": user.title()}, "text": text}


async def post_events(port: int, room: str, events: Any, tok: str | None = None, body: bytes | None = None,
                      content_type: str = "application/json") -> tuple[int, Any, Any]:
    tok = tok if tok is not None else token("ingest", room)
    data = io.BytesIO(body if body is not None else orjson.dumps(events))
    async with aiohttp.ClientSession() as session, session.post(
        f"http://127.0.0.1:{port}/api/rooms/{room}/events", data=data,
        headers={"Authorization": f"Bearer {tok}", "Content-Type": content_type},
    ) as resp:
        raw = await resp.read()
        try:
            parsed = orjson.loads(raw)
        except orjson.JSONDecodeError:
            parsed = raw
        return resp.status, parsed, resp.headers


def ws_url(port: int, room: str, tok: str | None = None, **query: Any) -> str:
    tok = tok if tok is not None else token("viewer", room, user="watcher")
    extra = "".join(f"&{k}={v}" for k, v in query.items() if v is not None)
    return f"ws://127.0.0.1:{port}/ws/rooms/{room}?token={tok}{extra}"


class RoomClient:
    """A room socket driven by the `websockets` library: a second websocket implementation on the
    other end catches framing and close-code bugs that a matching pair would hide."""

    def __init__(self, ws: Any, fmt: str = "json") -> None:
        self.ws = ws
        self.fmt = fmt
        self.offset = 0
        self.epoch = ""
        self.events: list[dict[str, Any]] = []
        self.frames: list[dict[str, Any]] = []

    @classmethod
    async def connect(cls, url: str, fmt: str = "json", **kwargs: Any) -> RoomClient:
        ws = await websockets.connect(url, max_size=2**24, **kwargs)
        return cls(ws, fmt)

    async def recv(self, timeout: float = WAIT) -> dict[str, Any]:
        raw = await asyncio.wait_for(self.ws.recv(), timeout)
        frame = orjson.loads(raw) if isinstance(raw, str) else msgpack.unpackb(raw, raw=False)
        self.frames.append(frame)
        if frame["type"] == "snapshot":
            self.offset, self.epoch = frame["offset"], frame["epoch"]
        elif frame["type"] == "recovered":
            self.epoch = frame["epoch"]  # our offset stays: the events after it follow
        if frame["type"] == "batch":
            for event in frame["events"]:
                self.events.append(event)
                self.offset = event["offset"]
        return frame

    async def until(self, predicate: Any, timeout: float = WAIT) -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise TimeoutError("condition not met")
            frame = await self.recv(remaining)
            if predicate(frame):
                return frame

    async def reply(self, timeout: float = WAIT) -> dict[str, Any]:
        """The next frame that is not a room batch: the answer to what this client sent (a batch, e.g.
        with a new viewer count from the presence loop, may arrive at any moment)."""
        return await self.until(lambda f: f["type"] != "batch", timeout)

    async def events_until(self, offset: int, timeout: float = WAIT) -> list[dict[str, Any]]:
        if self.offset < offset:
            await self.until(lambda _f: self.offset >= offset, timeout)
        return self.events

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(orjson.dumps(message).decode() if self.fmt == "json" else msgpack.packb(message))

    async def close(self) -> None:
        await self.ws.close()


async def api(port: int, method: str, path: str, tok: str, body: Any = None) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.request(
        method, f"http://127.0.0.1:{port}{path}", data=None if body is None else orjson.dumps(body),
        headers={"Authorization": f"Bearer {tok}", "Content-Type": "application/json"},
    ) as resp:
        return resp.status, await resp.json()


def deal_body(**overrides: Any) -> dict[str, Any]:
    body = {"product": {"id": "p1", "name": "Silk scarf", "image_url": "https://img.example/p1.png"},
            "price": 199.0, "deal_price": 99.0, "stock": 10, "limit_per_user": 2, "duration_s": 120,
            "start_at": None}
    body.update(overrides)
    return body


async def create_deal(port: int, room: str, **overrides: Any) -> dict[str, Any]:
    status, body = await api(port, "POST", f"/api/rooms/{room}/deals", token("assistant", room, "amy"),
                             deal_body(**overrides))
    assert status == 201, body
    return body["deal"]


async def claim(port: int, room: str, deal: str, user: str, qty: Any = 1, key: str = "k1") -> tuple[int, Any]:
    return await api(port, "POST", f"/api/rooms/{room}/deals/{deal}/claims", token("viewer", room, user),
                     {"qty": qty, "key": key})


@dataclass
class ToolRun:
    code: int
    path: Path
    result: dict[str, Any]
    stdout: str
    stderr: str


class LoadTool:
    """`livecart-loadtest` as users run it: a subprocess with LIVECART_SECRET, against a real node."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.runs = 0

    async def start(self, scenario: str, port: int, *args: str,
                    drain_s: float = 10.0) -> tuple[asyncio.subprocess.Process, Path]:
        self.runs += 1
        out = self.tmp_path / f"{scenario}-{self.runs}.json"
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "loadtest", scenario, "--url", f"http://127.0.0.1:{port}",
            "--json", str(out), "--drain", str(drain_s), *args,
            env=dict(os.environ, LIVECART_SECRET=SECRET),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        return proc, out

    async def finish(self, proc: asyncio.subprocess.Process, out: Path,
                     timeout_s: float = 24 * WAIT) -> ToolRun:
        stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout_s)
        assert proc.returncode in (0, 1), stderr.decode()
        return ToolRun(proc.returncode, out, json.loads(out.read_text()), stdout.decode(), stderr.decode())

    async def run(self, scenario: str, port: int, *args: str) -> ToolRun:
        return await self.finish(*await self.start(scenario, port, *args))


DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


def start_nginx(workdir: Path, backends: list[int]) -> tuple[int, subprocess.Popen[bytes]]:
    """Debian's nginx running deploy/nginx.conf (the file compose mounts, as it is) on a free loopback
    port, in front of `backends`; with its own includes, pid file and logs under `workdir`."""
    port = free_port()
    shutil.copy(DEPLOY / "nginx.conf", workdir / "nginx.conf")
    (workdir / "livecart-nodes.conf").write_text(
        "".join(f"server 127.0.0.1:{p} max_fails=1 fail_timeout=2s;\n" for p in backends))
    (workdir / "livecart-listen.conf").write_text(f"listen 127.0.0.1:{port};\n")
    (workdir / "logs").mkdir(exist_ok=True)
    proc = subprocess.Popen(["nginx", "-p", str(workdir), "-c", str(workdir / "nginx.conf"), "-g",
                             f"daemon off; pid {workdir}/nginx.pid; error_log {workdir}/error.log;"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return port, proc


async def close_stream(writer: asyncio.StreamWriter) -> None:
    """Close a raw test connection and wait until it is closed: a transport still closing when the
    test's event loop closes is reported as a leak (conftest.LeakCheckingLoop), and CI saw exactly that."""
    writer.close()
    with contextlib.suppress(ConnectionError, OSError):
        await writer.wait_closed()


async def until(condition: Callable[[], bool], timeout_s: float = 3 * WAIT) -> None:
    """Wait until `condition()` holds (a node's in-process state, polled every 20 ms)."""
    for _ in range(int(timeout_s / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("not within the timeout")


async def until_listening(port: int) -> None:
    for _ in range(200):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            await close_stream(writer)
            return
        except OSError:
            await asyncio.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")
