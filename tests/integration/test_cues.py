"""Cues end to end: manual and rule cues reach host and assistant sockets on every node, never a viewer
or an overlay; acks; the director runs each room on exactly one node."""

from __future__ import annotations

import asyncio

import aiohttp

from livecart.cues import Cue
from livecart.node import Node
from tests.conftest import node_settings
from tests.support import (
    WAIT,
    RoomClient,
    api,
    claim,
    comment,
    create_deal,
    post_events,
    token,
    until,
    ws_url,
)


async def staff_and_audience(port: int, room: str) -> dict[str, RoomClient]:
    clients = {
        "host": await RoomClient.connect(ws_url(port, room, token("host", room, "hana"))),
        "assistant": await RoomClient.connect(ws_url(port, room, token("assistant", room, "amy"))),
        "viewer": await RoomClient.connect(ws_url(port, room, token("viewer", room, "vic"))),
        "overlay": await RoomClient.connect(ws_url(port, room, token("overlay", room))),
    }
    for c in clients.values():
        assert (await c.recv())["type"] == "snapshot"
    return clients


async def assert_audience_saw_no_cue(clients: dict[str, RoomClient], port: int, room: str,
                                     marker: str) -> None:
    """A marker event sent after the cues: once a viewer and an overlay have it, every frame sent to them
    before it is in their `frames`, and none of those may be a cue or mention one."""
    await post_events(port, room, [comment(marker)])
    for role in ("viewer", "overlay"):
        c = clients[role]
        await c.until(lambda f: any(e["id"] == marker for e in f.get("events", [])))
        assert all(f["type"] not in ("cue", "stats") and "cues" not in f for f in c.frames), role
        assert "cue" not in repr(c.frames), role


async def test_a_manual_cue_reaches_host_and_assistant_only(node, room):
    clients = await staff_and_audience(node.port, room)
    status, body = await api(node.port, "POST", f"/api/rooms/{room}/cues", token("assistant", room, "amy"),
                             {"text": "40 people asked about sizes", "priority": "high"})
    assert status == 201, body
    cue = body["cue"]
    assert (cue["kind"], cue["priority"], cue["text"]) == ("manual", "high", "40 people asked about sizes")
    assert {"id", "kind", "priority", "text", "created_at"} <= cue.keys()
    for role in ("host", "assistant"):
        frame = await clients[role].until(lambda f: f["type"] == "cue")
        assert frame["cue"]["id"] == cue["id"] and frame["cue"]["text"] == cue["text"]
    await assert_audience_saw_no_cue(clients, node.port, room, "after-manual")
    for c in clients.values():
        await c.close()


async def test_cues_are_not_readable_by_viewers_or_overlays(node, room):
    await api(node.port, "POST", f"/api/rooms/{room}/cues", token("assistant", room, "amy"), {"text": "hi"})
    for role in ("viewer", "overlay", "ingest"):
        status, body = await api(node.port, "GET", f"/api/rooms/{room}/cues", token(role, room, "x"))
        assert status == 403 and body["error"] == "forbidden", role
    status, state = await api(node.port, "GET", f"/api/rooms/{room}/state", token("viewer", room, "v"))
    assert status == 200 and "cue" not in repr(state)
    status, listed = await api(node.port, "GET", f"/api/rooms/{room}/cues", token("host", room, "hana"))
    assert status == 200 and [c["text"] for c in listed["cues"]] == ["hi"]


async def test_bad_manual_cues_get_clear_400s(node, room):
    tok = token("assistant", room, "amy")
    for body, code in (({"text": ""}, "bad_field"), ({"text": "x", "priority": "urgent"}, "bad_field"),
                       ([1], "bad_body"), ({"text": "x" * 501}, "bad_field")):
        status, answer = await api(node.port, "POST", f"/api/rooms/{room}/cues", tok, body)
        assert (status, answer["error"]) == (400, code), body
        assert answer["detail"]
    status, answer = await api(node.port, "POST", f"/api/rooms/{room}/cues", token("host", room, "h"),
                               {"text": "hosts only ack"})
    assert status == 403


async def test_low_stock_cue_reaches_hosts_on_another_node(make_node, room):
    a, b = await make_node(), await make_node()
    clients = await staff_and_audience(b.port, room)
    deal = await create_deal(a.port, room, stock=10, limit_per_user=2)
    for i in range(4):
        assert (await claim(a.port, room, deal["id"], f"u{i}", qty=2, key=f"k{i}"))[0] == 200
    assert (await claim(a.port, room, deal["id"], "u9", qty=1))[0] == 200  # left 1: 10 %
    for role in ("host", "assistant"):
        frame = await clients[role].until(lambda f: f["type"] == "cue" and f["cue"]["kind"] == "low_stock")
        assert frame["cue"]["data"]["deal"] == deal["id"] and frame["cue"]["data"]["left"] == 1
    await assert_audience_saw_no_cue(clients, a.port, room, "after-low-stock")
    status, listed = await api(a.port, "GET", f"/api/rooms/{room}/cues", token("host", room, "hana"))
    assert [c["kind"] for c in listed["cues"]].count("low_stock") == 1
    for c in clients.values():
        await c.close()


async def test_a_host_acks_a_cue_over_http_and_over_its_socket(node, room):
    host = await RoomClient.connect(ws_url(node.port, room, token("host", room, "hana")))
    await host.recv()
    made = []
    for text in ("one", "two"):
        made.append((await api(node.port, "POST", f"/api/rooms/{room}/cues", token("assistant", room, "amy"),
                               {"text": text}))[1]["cue"])
    status, body = await api(node.port, "POST", f"/api/rooms/{room}/cues/{made[0]['id']}/ack",
                             token("host", room, "hana"))
    assert status == 200 and body["cue"]["acked_by"] == "hana" and body["cue"]["acked_at"]
    await host.until(lambda f: f["type"] == "cue" and f["cue"]["id"] == made[0]["id"]
                     and f["cue"]["acked_at"] is not None)
    await host.send({"type": "ack", "cue": made[1]["id"], "req": "a1"})
    reply = await host.until(lambda f: f["type"] == "ack_result")
    assert reply["req"] == "a1" and reply["cue"]["acked_by"] == "hana"
    await host.send({"type": "ack", "cue": "nope", "req": "a2"})
    error = await host.until(lambda f: f["type"] == "error")
    assert error["error"] == "no_such_cue" and error["req"] == "a2"
    status, body = await api(node.port, "POST", f"/api/rooms/{room}/cues/nope/ack", token("host", room))
    assert (status, body["error"]) == (404, "no_such_cue")
    listed = (await api(node.port, "GET", f"/api/rooms/{room}/cues", token("assistant", room, "amy")))[1]
    assert all(c["acked_at"] for c in listed["cues"])
    await host.close()


async def test_a_viewer_socket_may_not_ack(node, room):
    viewer = await RoomClient.connect(ws_url(node.port, room, token("viewer", room, "vic")))
    await viewer.recv()
    await viewer.send({"type": "ack", "cue": "x", "req": "r"})
    error = await viewer.until(lambda f: f["type"] == "error")
    assert error["error"] == "forbidden"
    await viewer.close()


async def test_a_director_pass_longer_than_a_lease_keeps_its_rooms(own_redis, make_node, room):
    """A pass that outlasts the 3 s lease (slow steps: many rooms with news, a takeover's cold steps)
    renews its leases as it goes: another node, trying every 0.2 s, never takes and steps a room
    the first one runs."""
    a = await make_node(own_redis.url)
    rooms = [f"{room}-{i}" for i in range(8)]
    step = a.director.step

    async def slow_step(name: str) -> None:  # the real step, 0.45 s later: a pass of 8 is ~3.6 s
        await asyncio.sleep(0.45)
        await step(name)

    a.director.step = slow_step
    for name in rooms:
        await post_events(a.port, name, [comment(f"c-{name}")])
    await until(lambda: bool(a.director.steps.get(rooms[0])))  # a's first pass has leased all eight
    b = await make_node(own_redis.url, director_step_s=0.2)
    await until(lambda: all(a.director.steps.get(name) for name in rooms))
    await asyncio.sleep(0.5)  # b's next tries
    assert {name: b.director.steps.get(name, 0) for name in rooms} == dict.fromkeys(rooms, 0)


async def test_the_director_runs_a_room_on_exactly_one_node(own_redis, make_node, room):
    # Its own Redis: on the shared one, every room earlier tests left active is stepped by these two
    # nodes too, and a pass over hundreds of them can outlast the room's 3 s lease, which then (rightly)
    # goes to the other node: both stepped it once (CI, 7 Dec).
    a, b = await make_node(own_redis.url), await make_node(own_redis.url)
    hosts = [await RoomClient.connect(ws_url(n.port, room, token("host", room, "hana"), stats=1))
             for n in (a, b)]
    quiet = await RoomClient.connect(ws_url(b.port, room, token("host", room, "hana")))  # no ?stats=1
    for h in [*hosts, quiet]:
        await h.recv()
    await post_events(a.port, room, [comment("c1")])
    for h in hosts:  # live stats frames come from whichever node directs the room
        frame = await h.until(lambda f: f["type"] == "stats")
        assert frame["stats"]["last_min"]["comments"] >= 0 and "viewers" in frame["stats"]
        await h.until(lambda f: f["type"] == "stats")
    steps = [n.director.steps.get(room, 0) for n in (a, b)]
    assert sorted(s > 0 for s in steps) == [False, True], steps
    # A host socket that did not ask for stats gets cues but no stats frames.
    await api(a.port, "POST", f"/api/rooms/{room}/cues", token("assistant", room, "amy"), {"text": "now"})
    await quiet.until(lambda f: f["type"] == "cue")
    assert "stats" not in [f["type"] for f in quiet.frames]
    for h in [*hosts, quiet]:
        await h.close()


async def test_a_node_takes_over_a_room_whose_director_stopped_without_repeating_its_cues(
        own_redis, make_node, room, tmp_path):
    # Its own Redis: on the shared one the second node's director also walks every live room other tests
    # left (one step each per second), and on a busy machine its steps here came too slowly.
    first = Node(node_settings(own_redis.url, tmp_path / "first"))
    await first.start()
    try:
        host = await RoomClient.connect(ws_url(first.port, room, token("host", room, "hana")))
        await host.recv()
        deal = await create_deal(first.port, room, stock=10, limit_per_user=10)
        assert (await claim(first.port, room, deal["id"], "u1", qty=9))[0] == 200
        await host.until(lambda f: f["type"] == "cue" and f["cue"]["kind"] == "low_stock")
        assert first.director.steps.get(room, 0) > 0
        second = await make_node(own_redis.url)
        watcher = await RoomClient.connect(ws_url(second.port, room, token("assistant", room, "amy"),
                                                  stats=1))
        await watcher.recv()
        await host.close()
    finally:
        await first.stop()
    # The lease lapses; the second node directs the room from now on (its stats frames show it).
    await watcher.until(lambda f: f["type"] == "stats" and second.director.steps.get(room, 0) >= 3,
                        timeout=3 * WAIT)
    status, listed = await api(second.port, "GET", f"/api/rooms/{room}/cues", token("host", room))
    kinds = [c["kind"] for c in listed["cues"]]
    assert kinds.count("low_stock") == 1 and kinds.count("stock_level") == 1, kinds
    assert not [f for f in watcher.frames if f["type"] == "cue" and f["cue"]["kind"] in ("low_stock",
                                                                                         "stock_level")]
    await watcher.close()


async def test_the_store_refuses_a_rule_key_within_its_cooldown(node, room):
    cue = Cue(id="a1", kind="low_stock", priority="high", text="x", created_at=1000, expires_at=2000,
              key="low_stock:d1", cooldown_ms=30_000)
    twin = Cue(id="a2", kind="low_stock", priority="high", text="x", created_at=1000, expires_at=2000,
               key="low_stock:d1", cooldown_ms=30_000)
    assert [c.id for c in await node.cue_store.emit(room, [cue], 10_000)] == ["a1"]
    assert await node.cue_store.emit(room, [twin], 39_999) == []
    assert [c.id for c in await node.cue_store.emit(room, [twin], 40_000)] == ["a2"]


async def test_low_stock_comes_even_when_one_claim_takes_the_whole_stock(own_redis, make_node, room):
    # Its own Redis: the node-wide gauges below must count this room alone, whatever ran before.
    node = await make_node(own_redis.url)
    host = await RoomClient.connect(ws_url(node.port, room, token("host", room, "hana")))
    await host.recv()
    deal = await create_deal(node.port, room, stock=10, limit_per_user=10)
    assert (await claim(node.port, room, deal["id"], "whale", qty=10))[0] == 200
    frame = await host.until(lambda f: f["type"] == "cue" and f["cue"]["kind"] == "low_stock")
    assert frame["cue"]["data"] == {"deal": deal["id"], "product": "Silk scarf", "left": 0, "stock": 10}
    # The director sets its room gauge after the step that emitted the cue has finished, which may be a
    # moment after the cue reached the host: read until it has (the host stays, so the room is active).
    deadline = asyncio.get_running_loop().time() + WAIT
    async with aiohttp.ClientSession() as session:
        while True:
            async with session.get(f"http://127.0.0.1:{node.port}/metrics") as r:
                text = await r.text()
            if "livecart_directed_rooms 1.0" in text or asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.1)
    await host.close()
    assert 'livecart_cues_total{kind="low_stock"} 1.0' in text and "livecart_directed_rooms 1.0" in text
