"""`livecart serve` as users run it: embedded redis-server, SIGTERM, restart with the same data dir."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import aiohttp
import pytest
import websockets

from tests.support import SECRET, WAIT, RoomClient, comment, free_port, post_events, ws_url


async def start_serve(data_dir: Path, port: int, *extra: str) -> asyncio.subprocess.Process:
    # Warnings as errors, as some operators run: a node must still stop on SIGTERM (see cli.serve).
    env = dict(os.environ, LIVECART_SECRET=SECRET, PYTHONWARNINGS="error")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "livecart", "serve", "--port", str(port), "--data-dir", str(data_dir),
        "--print-urls", *extra, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, env=env)
    assert proc.stdout is not None
    lines = []
    while True:
        line = (await asyncio.wait_for(proc.stdout.readline(), 3 * WAIT)).decode()
        assert line, "serve exited early"
        lines.append(line)
        if line.startswith("  host:"):
            break
    text = "".join(lines)
    assert "console: http://" in text and "overlay: http://" in text and "/host?room=" in text
    return proc


async def stop_serve(proc: asyncio.subprocess.Process) -> int:
    proc.send_signal(signal.SIGTERM)
    code = await asyncio.wait_for(proc.wait(), 10)
    await drain(proc)
    return code


async def drain(proc: asyncio.subprocess.Process) -> None:
    assert proc.stdout is not None
    await proc.stdout.read()  # reading to EOF closes the pipe's transport


def redis_children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid and "redis" in stat:
                    out.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                pass
    return out


async def test_serve_runs_on_embedded_redis_and_sigterm_closes_sockets_with_1001(tmp_path):
    port = free_port()
    proc = await start_serve(tmp_path / "data", port)
    room = "shutdown-room"
    client = await RoomClient.connect(ws_url(port, room))
    await client.recv()
    assert (await post_events(port, room, [comment("kept")]))[0] == 200
    await client.events_until(1)
    children = redis_children(proc.pid)
    assert len(children) == 1
    assert await stop_serve(proc) == 0
    with pytest.raises(websockets.ConnectionClosed):
        while True:
            await client.recv()
    assert client.ws.close_code == 1001 and "resume" in client.ws.close_reason
    await asyncio.sleep(0.2)
    assert not Path(f"/proc/{children[0]}").exists(), "the embedded redis-server outlived the node"

    # Restart on the same data dir: history, counters and the epoch survive.
    proc = await start_serve(tmp_path / "data", port)
    try:
        again = await RoomClient.connect(ws_url(port, room, since=0, epoch=client.epoch))
        again.offset = 0
        assert (await again.recv())["type"] == "recovered"
        assert [e["id"] for e in await again.events_until(1)] == ["kept"]
        await again.close()
    finally:
        assert await stop_serve(proc) == 0


async def test_serve_restarts_its_redis_server_if_it_dies(tmp_path):
    port = free_port()
    # One process: the restart count is a metric of the process that runs the redis-server (with
    # several workers, the supervisor, on its metrics port: test_workers.py covers that case).
    proc = await start_serve(tmp_path / "data", port, "--workers", "1")
    try:
        [child] = redis_children(proc.pid)
        os.kill(child, signal.SIGKILL)
        deadline = asyncio.get_running_loop().time() + 3 * WAIT
        async with aiohttp.ClientSession() as http:
            while True:
                async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                    if resp.status == 200 and redis_children(proc.pid) not in ([], [child]):
                        break
                assert asyncio.get_running_loop().time() < deadline
                await asyncio.sleep(0.1)
        assert (await post_events(port, "after-crash", [comment("x")]))[0] == 200
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/metrics") as resp:
            assert "livecart_embedded_redis_restarts 1.0" in await resp.text()
    finally:
        assert await stop_serve(proc) == 0


async def test_a_killed_node_takes_its_redis_server_with_it(tmp_path):
    port = free_port()
    proc = await start_serve(tmp_path / "data", port)
    [child] = redis_children(proc.pid)
    proc.kill()
    await proc.wait()
    await drain(proc)
    for _ in range(100):
        if not Path(f"/proc/{child}").exists() or "Z" in Path(f"/proc/{child}/stat").read_text().split()[2]:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("redis-server outlived its SIGKILLed node")
    # and a new node on the same data dir starts cleanly
    proc = await start_serve(tmp_path / "data", port)
    assert await stop_serve(proc) == 0


async def test_a_restart_keeps_deals_and_holds(tmp_path):
    from tests.support import api, claim, create_deal, token

    port = free_port()
    proc = await start_serve(tmp_path / "data", port)
    room = "restart-deals"
    deal = await create_deal(port, room, stock=5)
    status, held = await claim(port, room, deal["id"], "lin", 2, "k")
    assert status == 200
    assert await stop_serve(proc) == 0

    proc = await start_serve(tmp_path / "data", port)
    try:
        _, body = await api(port, "GET", f"/api/rooms/{room}/deals", token("host", room))
        [after] = body["deals"]
        assert (after["left"], after["held"], after["sold"], after["state"]) == (3, 2, 0, "live")
        assert await claim(port, room, deal["id"], "lin", 2, "k") == (200, held)  # the same answer
        order = {"id": "pay", "type": "order", "user": {"id": "lin"}, "order_id": "o1", "product_id": "p1",
                 "qty": 2, "amount": 198.0, "status": "paid", "claim_id": held["claim"]["id"]}
        assert (await post_events(port, room, [order]))[0] == 200
        _, body = await api(port, "GET", f"/api/rooms/{room}/deals", token("host", room))
        assert (body["deals"][0]["held"], body["deals"][0]["sold"]) == (0, 2)
    finally:
        assert await stop_serve(proc) == 0
