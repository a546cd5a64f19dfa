"""The production topology without Docker: Debian's nginx runs deploy/nginx.conf (the file compose
mounts) in front of two nodes on one redis-server, all on loopback. Sockets and ingest go through the
balancer; one node stops mid-stream and its viewers resume through the balancer on the other one with
no gap and no duplicate. Through the balancer, nodes see each client's own address (clients on
127.0.0.2 and 127.0.0.3) and apply their per-IP limits to it."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import orjson
import pytest
import websockets

from tests.support import WAIT, RoomClient, comment, post_events, start_nginx, until_listening, ws_url

VIEWERS = 12


@pytest.fixture
def nginx(tmp_path: Path):
    started: list[subprocess.Popen[bytes]] = []

    def start(backends: list[int]) -> int:
        port, proc = start_nginx(tmp_path, backends)
        started.append(proc)
        return port

    yield start
    for proc in started:
        proc.terminate()
        proc.wait(10)


async def test_two_nodes_behind_nginx_balance_sockets_and_survive_one_stopping(make_node, nginx, room):
    a, b = await make_node(), await make_node()
    port = nginx([a.port, b.port])
    await until_listening(port)
    clients = [await RoomClient.connect(ws_url(port, room)) for _ in range(VIEWERS)]
    for c in clients:
        assert (await c.recv())["type"] == "snapshot"
    # least_conn spreads new sockets over both nodes
    assert len(a.listener.sockets) > 0 and len(b.listener.sockets) > 0
    assert len(a.listener.sockets) + len(b.listener.sockets) == VIEWERS
    status, _, _ = await post_events(port, room, [comment(f"e{n}") for n in range(10)])
    assert status == 200
    for c in clients:
        await c.events_until(10)

    on_a = len(a.listener.sockets)
    await a.stop()  # closes its sockets 1001: "going away, resume elsewhere"
    moved = 0
    for i, c in enumerate(clients):
        try:
            while True:  # (room frames may still arrive before the close)
                await c.recv(timeout=0.5)
        except TimeoutError:
            continue  # still open: it is on node b
        except websockets.ConnectionClosed:
            pass
        assert c.ws.close_code == 1001
        resumed = await RoomClient.connect(ws_url(port, room, since=c.offset, epoch=c.epoch))
        resumed.offset, resumed.events = c.offset, c.events
        assert (await resumed.recv())["type"] == "recovered"
        clients[i] = resumed
        moved += 1
    assert moved == on_a
    status, _, _ = await post_events(port, room, [comment(f"f{n}") for n in range(10)])
    assert status == 200
    for c in clients:  # nothing lost, nothing twice, in order, for every viewer
        events = await c.events_until(20)
        assert [e["offset"] for e in events] == list(range(1, 21))
        await c.close()


async def test_behind_nginx_nodes_see_each_clients_address_and_limit_it(make_node, nginx, room):
    a_ip, b_ip = "127.0.0.2", "127.0.0.3"
    # nginx reaches the nodes from 127.0.0.1: that is the trusted proxy. Nothing is exempt here.
    nodes = [await make_node(trusted_proxies="127.0.0.1", ip_limit_exempt="none", ip_max_connections=2)
             for _ in range(2)]
    port = nginx([n.port for n in nodes])
    await until_listening(port)

    async def connect(source: str) -> RoomClient:
        # Each client claims to be the other one: nginx appends the real address, which is what counts.
        spoof = {"X-Forwarded-For": b_ip if source == a_ip else a_ip}
        client = await RoomClient.connect(ws_url(port, room), local_addr=(source, 0),
                                          additional_headers=spoof)
        assert (await client.recv())["type"] == "snapshot"
        return client

    def counted(ip: str) -> list[int]:
        return [n.admission.sockets[ip] for n in nodes]

    a_clients = [await connect(a_ip) for _ in range(4)]  # least_conn: two on each node, its limit there
    assert counted(a_ip) == [2, 2] and counted(b_ip) == [0, 0]
    with pytest.raises(websockets.InvalidStatus) as refused:
        await connect(a_ip)
    assert refused.value.response.status_code == 429  # nginx passes the node's refusal through
    assert orjson.loads(refused.value.response.body)["error"] == "too_many_connections"
    assert int(refused.value.response.headers["Retry-After"]) >= 1
    b_clients = [await connect(b_ip) for _ in range(2)]  # another address is not affected
    assert sorted(counted(b_ip)) == [1, 1] and counted(a_ip) == [2, 2]
    assert {ws.client for n in nodes for ws in n.listener.sockets} == {a_ip, b_ip}  # never nginx's own

    for client in a_clients:
        await client.close()
    for _ in range(int(WAIT * 50)):  # the nodes see the closes (a bound on failure, not a speed check)
        if counted(a_ip) == [0, 0]:
            break
        await asyncio.sleep(0.02)
    assert counted(a_ip) == [0, 0] and sorted(counted(b_ip)) == [1, 1]
    again = await connect(a_ip)
    assert sorted(counted(a_ip)) == [0, 1]
    for client in (again, *b_clients):
        await client.close()
