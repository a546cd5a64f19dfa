"""The tool must see problems, not only pass: slow-consumer closes, and a node going away mid-run."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import sys
import time
from pathlib import Path

import aiohttp

from loadtest.audience import Audience
from tests.support import SECRET, WAIT, free_port


async def test_a_node_with_a_tiny_outbound_buffer_is_reported_for_slow_consumer_closes(make_node, loadtool):
    # Every batch of 3,000-character comments is bigger than the 4 KiB bound: each socket is closed
    # with 1013 on its first events, resumes, and is closed again.
    node = await make_node(outbound_max_bytes=4096, outbound_high_water=1024)
    run = await loadtool.run("viewers", node.port, "--clients", "10", "--rate", "10", "--duration", "2",
                             "--text-size", "3000", "--drain", "3")
    r = run.result
    assert run.code == 1 and r["verdict"] == "fail"
    assert r["sockets"]["slow_consumer_closes"] >= 10
    assert r["sockets"]["resumes"] >= 10  # it resumed each time, as a client should
    assert any("1013 slow consumer" in reason for reason in r["reasons"]), r["reasons"]
    assert any(reason.startswith("fan-out incomplete") for reason in r["reasons"]), r["reasons"]
    assert "FAIL" in run.stdout


async def start_serve(redis_url: str, port: int, data_dir: Path) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "livecart", "serve", "--workers", "1", "--redis-url", redis_url,
        "--port", str(port), "--data-dir", str(data_dir), env=dict(os.environ, LIVECART_SECRET=SECRET),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    assert proc.stdout is not None
    while not (await asyncio.wait_for(proc.stdout.readline(), 3 * WAIT)).startswith(b"livecart serving on"):
        pass
    return proc


async def stop_serve(proc: asyncio.subprocess.Process) -> None:
    proc.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(proc.wait(), 10) == 0
    assert proc.stdout is not None
    await proc.stdout.read()


async def open_sockets(port: int) -> int:
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/metrics") as resp:
        for line in (await resp.text()).splitlines():
            if line.startswith("livecart_connections "):
                return int(float(line.split()[1]))
    return 0


async def test_a_node_stopped_mid_run_is_reported_with_the_outage_and_every_socket_resumes(
        redis_server, loadtool, tmp_path):
    port = free_port()
    node = await start_serve(redis_server.url, port, tmp_path / "node")
    tool, out = await loadtool.start("viewers", port, "--clients", "10", "--rate", "20", "--duration", "6")
    try:
        deadline = asyncio.get_running_loop().time() + 6 * WAIT
        while await open_sockets(port) < 10:
            assert asyncio.get_running_loop().time() < deadline, "the tool never connected"
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # some events delivered before the stop
        await stop_serve(node)
        await asyncio.sleep(0.5)  # publishing hits a closed port meanwhile
        node = await start_serve(redis_server.url, port, tmp_path / "node")
        run = await loadtool.finish(tool, out)
    finally:
        if tool.returncode is None:
            tool.kill()
            await tool.wait()
        await stop_serve(node)
    r = run.result
    assert run.code == 1 and r["verdict"] == "fail"
    assert r["sockets"]["going_away_closes"] == 10
    assert r["sockets"]["resumes"] >= 10  # back with recovered frames, from their offsets
    assert (r["duplicates"], r["gaps"]) == (0, 0)
    assert r["deliveries"] == r["deliveries_expected"]  # nothing lost across the restart
    assert any("1001 going away" in reason for reason in r["reasons"]), r["reasons"]
    assert r["publisher"]["errors"] > 0 and any("ingest requests failed" in x for x in r["reasons"])


async def test_a_stall_of_a_workers_loop_is_reported_though_no_tick_fell_in_it():
    # A worker reports once a second how late its loop ran. A timer a second saw a stall only when it
    # fell on it: a 0.47 s garbage collection inside a claim rush, whose answers waited unread and
    # counted as the node's latency, was reported as 114 ms.
    ours, theirs = multiprocessing.Pipe()
    audience = Audience(theirs, {"seed": 1, "format": "json"})
    serving = asyncio.create_task(audience.serve())
    try:
        first = await asyncio.to_thread(ours.recv)  # a tick: the next is a second away
        assert first[0] == "tick"
        await asyncio.sleep(0.2)
        time.sleep(0.4)  # noqa: ASYNC251  # the point: the worker's loop stops, as in a collection, between ticks
        tick = await asyncio.wait_for(asyncio.to_thread(ours.recv), 3 * WAIT)
        assert tick[0] == "tick" and tick[1]["lag_ms"] >= 350, tick
    finally:
        audience.done.set()
        await asyncio.wait_for(serving, WAIT)
        ours.close()
