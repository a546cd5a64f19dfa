"""`livecart serve --workers 2` as users run it: two node processes on one port (SO_REUSEPORT), one
embedded redis-server, a supervisor that restarts a dead worker and drains them all on SIGTERM.

Which worker holds a socket is read from /proc (the process whose descriptor is the server end of the
connection), and `/healthz` names the node that answered: nothing in the server is there for the test.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import sys
from pathlib import Path

import aiohttp
import pytest
import websockets

from livecart.supervisor import reserve_port
from tests.support import SECRET, WAIT, RoomClient, comment, free_port, post_events, ws_url

SOCKETS = 16  # all on one worker by chance: 2 × 2^-16


class Serve:
    def __init__(self, proc: asyncio.subprocess.Process, port: int, printed: str) -> None:
        self.proc = proc
        self.port = port
        self.printed = printed

    @classmethod
    async def start(cls, data_dir: Path, *extra: str) -> Serve:
        env = dict(os.environ, LIVECART_SECRET=SECRET, PYTHONWARNINGS="error")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "livecart", "serve", "--workers", "2", "--port", "0",
            "--data-dir", str(data_dir), "--print-urls", *extra,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, env=env)
        assert proc.stdout is not None
        lines = []
        while not lines or not lines[-1].startswith("  host:"):
            line = (await asyncio.wait_for(proc.stdout.readline(), 4 * WAIT)).decode()
            assert line, "serve exited early"
            lines.append(line)
        found = re.search(r"serving on http://127\.0\.0\.1:(\d+) .*2 workers", lines[0])
        assert found, lines[0]
        return cls(proc, int(found.group(1)), "".join(lines))

    async def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(self.proc.wait(), 12)
        assert self.proc.stdout is not None
        self.printed += (await self.proc.stdout.read()).decode()
        return code

    def children(self, marker: bytes) -> list[int]:
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                    if ppid == self.proc.pid and marker in (entry / "cmdline").read_bytes():
                        found.append(int(entry.name))
                except (OSError, IndexError, ValueError):
                    pass
        return sorted(found)

    def workers(self) -> list[int]:
        return self.children(b"--worker")

    def redis(self) -> list[int]:
        return self.children(b"redis-server")

    def owner(self, client: RoomClient) -> int | None:
        """The worker whose descriptor is the server end of `client`'s connection."""
        client_port = client.ws.local_address[1]
        inodes = set()
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            for row in Path(table).read_text().splitlines()[1:]:
                cols = row.split()
                local, remote = (int(a.rsplit(":", 1)[1], 16) for a in cols[1:3])
                if (local, remote) == (self.port, client_port):
                    inodes.add(f"socket:[{cols[9]}]")
        for pid in self.workers():
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                try:
                    if os.readlink(fd) in inodes:
                        return pid
                except OSError:
                    pass
        return None

    async def healthz_nodes(self, times: int) -> set[str]:
        """The node ids answering `times` fresh connections (each may land on either worker)."""
        nodes = set()
        for _ in range(times):
            try:
                async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http, \
                        http.get(f"http://127.0.0.1:{self.port}/healthz") as resp:
                    if resp.status == 200:
                        nodes.add((await resp.json())["node"])
            except aiohttp.ClientError:
                pass  # a connection the kernel had queued for a worker that was just killed
        return nodes


def free_ports(count: int = 3) -> int:
    """The first of `count` free ports in a row (worker k answers /metrics on metrics_port + k, the
    supervisor on metrics_port + workers)."""
    while True:
        port = free_port()
        try:
            for k in range(1, count):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port + k))
            return port
        except OSError:
            continue


async def probe(port: int, path: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}{path}") as resp:
        return resp.status, await resp.text()


def gauge(metrics: str, name: str) -> float:
    found = re.search(rf"^{name} (\S+)$", metrics, re.MULTILINE)
    assert found, name
    return float(found.group(1))


async def connect_all(port: int, room: str, count: int = SOCKETS) -> list[RoomClient]:
    clients = [await RoomClient.connect(ws_url(port, room)) for _ in range(count)]
    for client in clients:
        assert (await client.recv())["type"] == "snapshot"
    return clients


async def test_two_workers_share_the_port_and_a_room_reaches_sockets_on_both(tmp_path):
    metrics_port = free_ports()
    serve = await Serve.start(tmp_path / "data", "--metrics-port", str(metrics_port))
    workers = serve.workers()
    assert len(workers) == 2 and len(serve.redis()) == 1  # one redis-server for both
    [redis_pid] = serve.redis()
    room = "both-workers"
    clients = await connect_all(serve.port, room)
    owners = [serve.owner(c) for c in clients]
    assert set(owners) == set(workers), owners  # the kernel spread the sockets over both
    nodes = await serve.healthz_nodes(SOCKETS)
    assert len(nodes) == 2 and all(n.endswith(("-0", "-1")) for n in nodes), nodes

    # Each worker answers /metrics and /healthz on a port of its own, and nothing else there.
    probed = [await probe(metrics_port + k, "/metrics") for k in (0, 1)]
    assert [status for status, _ in probed] == [200, 200]
    per_worker = [gauge(text, "livecart_connections") for _, text in probed]
    assert sum(per_worker) == SOCKETS and all(per_worker), per_worker
    assert {json.loads((await probe(metrics_port + k, "/healthz"))[1])["node"] for k in (0, 1)} == nodes
    assert (await probe(metrics_port, f"/api/rooms/{room}/state"))[0] == 404
    status, supervisor = await probe(metrics_port + 2, "/metrics")  # the supervisor's own, after them
    assert status == 200 and gauge(supervisor, "livecart_workers") == 2

    assert (await post_events(serve.port, room, [comment("to-all")]))[0] == 200
    for client in clients:
        assert [e["id"] for e in await client.events_until(1)] == ["to-all"]

    assert await serve.stop() == 0
    for client in clients:  # every worker drained its sockets with "going away"
        with pytest.raises(websockets.ConnectionClosed):
            while True:
                await client.recv()
        assert client.ws.close_code == 1001
    assert serve.printed.count("livecart serving on") == 1 and serve.printed.count("  console:") == 1
    await asyncio.sleep(0.2)
    for pid in (*workers, redis_pid):
        assert not Path(f"/proc/{pid}").exists(), f"pid {pid} outlived the supervisor"


async def test_a_killed_worker_is_restarted_and_the_port_keeps_serving(tmp_path):
    metrics_port = free_ports()
    serve = await Serve.start(tmp_path / "data", "--metrics-port", str(metrics_port))
    try:
        victim, survivor = serve.workers()
        os.kill(victim, signal.SIGKILL)
        # The survivor takes every new connection at once: the dead worker's queue left the group.
        room = "after-kill"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 3 * WAIT
        while len(serve.workers()) < 2 or victim in serve.workers():
            assert (await serve.healthz_nodes(3)), "the port stopped serving"
            assert loop.time() < deadline, "the worker was not restarted"
            await asyncio.sleep(0.1)
        [restarted] = set(serve.workers()) - {survivor}
        # Once the new worker listens, sockets land on it again, and room events reach them.
        while True:
            clients = await connect_all(serve.port, room, 4)
            if restarted in {serve.owner(c) for c in clients}:
                break
            for client in clients:
                await client.close()
            assert loop.time() < deadline, "the restarted worker takes no connections"
            await asyncio.sleep(0.1)
        assert (await post_events(serve.port, room, [comment("after")]))[0] == 200
        for client in clients:
            assert [e["id"] for e in await client.events_until(1)] == ["after"]
            await client.close()
        _, supervisor = await probe(metrics_port + 2, "/metrics")
        assert gauge(supervisor, "livecart_worker_restarts") == 1
        assert gauge(supervisor, "livecart_workers") == 2
    finally:
        assert await serve.stop() == 0


async def test_workers_ride_out_their_embedded_redis_restarting(tmp_path):
    metrics_port = free_ports()
    serve = await Serve.start(tmp_path / "data", "--metrics-port", str(metrics_port))
    try:
        [redis_pid] = serve.redis()
        os.kill(redis_pid, signal.SIGKILL)  # the supervisor starts it again; both workers reconnect
        deadline = asyncio.get_running_loop().time() + 3 * WAIT
        while len(await serve.healthz_nodes(SOCKETS)) < 2 or serve.redis() in ([], [redis_pid]):
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.1)
        assert (await post_events(serve.port, "after-redis", [comment("x")]))[0] == 200
        _, supervisor = await probe(metrics_port + 2, "/metrics")  # the process that runs redis-server
        assert gauge(supervisor, "livecart_embedded_redis_restarts") == 1
    finally:
        assert await serve.stop() == 0


async def test_the_port_is_reserved_for_the_workers_and_refused_when_taken():
    held = reserve_port("127.0.0.1", 0)
    port = held.getsockname()[1]
    try:
        worker = socket.socket()
        worker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        worker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        worker.bind(("127.0.0.1", port))  # a worker joins the reserved port
        worker.listen()
        with pytest.raises(OSError):  # while it listens, a second serve on the port fails as before
            reserve_port("127.0.0.1", port).close()
        worker.close()
    finally:
        held.close()


async def test_a_worker_that_cannot_start_stops_the_serve_with_status_1(tmp_path):
    with socket.socket() as taken:  # the workers' metrics port is taken: a setting to fix, not a crash
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        env = dict(os.environ, LIVECART_SECRET=SECRET, PYTHONWARNINGS="error")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "livecart", "serve", "--workers", "2", "--port", "0",
            "--data-dir", str(tmp_path / "data"), "--metrics-port", str(taken.getsockname()[1]),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env)
        try:
            out, err = await asyncio.wait_for(proc.communicate(), 6 * WAIT)
        except TimeoutError:
            proc.kill()  # say what it printed, and leave no process behind for the next test
            out, err = await proc.communicate()
            raise AssertionError(f"the serve did not stop; it printed {out!r} {err[-3000:]!r}") from None
    assert proc.returncode == 1
    assert b"did not start" in err and b"serving on" not in out
    await asyncio.sleep(0.2)
    assert not mentioning(str(tmp_path)), "a worker or redis-server outlived the failed serve"


def mentioning(text: str) -> list[int]:
    """Live processes whose command line mentions `text` (workers name the data dir, redis its socket)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and text.encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            pass
    return found
