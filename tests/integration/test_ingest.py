"""POST /api/rooms/{room}/events and the ingest websocket, against a real node and Redis."""

from __future__ import annotations

import asyncio

import msgpack
import orjson
import websockets

from tests.support import api, comment, post_events, token


async def test_ingest_accepts_valid_events_and_rejects_each_bad_one_by_index(node, room):
    status, body, _ = await post_events(node.port, room, [
        comment("e1"),
        {"id": "e2", "type": "like", "user": {"id": "u2", "name": "Mei"}, "count": 3},
        {"id": "e3", "type": "teleport", "user": {"id": "u"}},
        {"id": "e4", "type": "comment", "user": {"id": "u"}, "text": "x" * 4097},
        "not an object",
        {"id": "e6", "type": "order", "user": {"id": "u"}, "order_id": "o1", "product_id": "p1", "qty": 1,
         "amount": 9.9, "status": "paid"},
    ])
    assert status == 200
    assert body["accepted"] == 3 and body["duplicates"] == 0
    assert [(r["index"], r["error"]) for r in body["rejected"]] == [
        (2, "bad_type"), (3, "bad_field"), (4, "not_an_object")]
    assert "text" in body["rejected"][1]["detail"]


async def test_ingest_is_idempotent_by_event_id_within_and_across_bodies(node, room):
    status, body, _ = await post_events(node.port, room, [comment("same"), comment("same"), comment("other")])
    assert (status, body["accepted"], body["duplicates"]) == (200, 2, 1)
    status, body, _ = await post_events(node.port, room, [comment("same"), comment("third")])
    assert (body["accepted"], body["duplicates"]) == (1, 1)
    snap = await node.store.snapshot(room)
    assert snap.offset == 3 and snap.counters["comments"] == 3


async def test_rejected_events_do_not_record_their_id(node, room):
    await post_events(node.port, room, [{"id": "late", "type": "comment", "user": {"id": "u"}}])  # no text
    _, body, _ = await post_events(node.port, room, [comment("late")])
    assert body["accepted"] == 1


async def test_ingest_takes_msgpack_bodies(node, room):
    body = msgpack.packb([comment("m1"), comment("m2")])
    status, answer, _ = await post_events(node.port, room, None, body=body,
                                          content_type="application/msgpack")
    assert (status, answer["accepted"]) == (200, 2)


async def test_ingest_refuses_bad_bodies_with_a_reason(node, room):
    assert (await post_events(node.port, room, None, body=b'{"id": 1}'))[:2] == (
        400, {"error": "not_an_array", "detail": "the body must be an array of events", "temporary": False})
    status, body, _ = await post_events(node.port, room, None, body=b"\xff\x00garbage")
    assert status == 400 and body["error"] == "bad_encoding"
    status, body, _ = await post_events(node.port, room, None, body=b"[" + b'"x",' * 400_000 + b'"x"]')
    assert status == 413 and body["error"] == "too_large"


async def test_ingest_needs_an_ingest_token_for_the_room(node, room):
    assert (await post_events(node.port, room, [comment("a")], tok=""))[0] == 401
    assert (await post_events(node.port, room, [comment("a")], tok="a.b.c"))[0] == 401
    expired = token("ingest", room, ttl=-1)
    status, body, _ = await post_events(node.port, room, [comment("a")], tok=expired)
    assert (status, body["detail"]) == (401, "token expired")
    assert (await post_events(node.port, room, [comment("a")], tok=token("viewer", room, "u")))[0] == 403
    assert (await post_events(node.port, room, [comment("a")], tok=token("ingest", "elsewhere")))[0] == 403
    assert (await post_events(node.port, room, [comment("a")], tok=token("ingest", "*")))[0] == 200
    assert (await post_events(node.port, "bad room!", [comment("a")], tok=token("ingest", "*")))[0] == 400


async def test_ingest_rate_limit_answers_429_with_retry_after(make_node, room):
    limited = await make_node(ingest_rate=1, ingest_burst=2, ingest_max_events=2)
    statuses = [(await post_events(limited.port, room, [comment(f"r{i}")])) for i in range(4)]
    assert [s[0] for s in statuses] == [200, 200, 429, 429]
    assert int(statuses[2][2]["Retry-After"]) >= 1
    assert statuses[2][1]["error"] == "rate_limited"


async def test_a_1000_event_burst_gets_contiguous_offsets(node, room):
    bodies = [[comment(f"b{i}-{j}") for j in range(50)] for i in range(20)]
    results = await asyncio.gather(*(post_events(node.port, room, b) for b in bodies))
    assert all(r[0] == 200 and r[1]["accepted"] == 50 for r in results)
    history = await node.store.history(room, 0, (await node.store.snapshot(room)).epoch)
    assert [e["offset"] for e in history.events] == list(range(1, 1001))
    assert sorted(e["id"] for e in history.events) == sorted(e["id"] for b in bodies for e in b)


async def test_ingest_websocket_acknowledges_each_batch_in_order(node, room):
    url = f"ws://127.0.0.1:{node.port}/ws/ingest/{room}?token={token('ingest', room)}"
    async with websockets.connect(url) as ws:
        for i in range(5):
            await ws.send(orjson.dumps({"type": "events", "req": f"q{i}",
                                        "events": [comment(f"w{i}"), comment("w0")]}).decode())
        acks = [orjson.loads(await ws.recv()) for _ in range(5)]
        assert [a["req"] for a in acks] == ["q0", "q1", "q2", "q3", "q4"]
        assert [(a["accepted"], a["duplicates"]) for a in acks] == [(1, 1)] + [(1, 1)] * 4
        await ws.send(orjson.dumps({"type": "events", "req": "bad", "events": {"no": "array"}}).decode())
        assert orjson.loads(await ws.recv())["error"] == "not_an_array"
        await ws.send(b"\x81\x01")  # msgpack garbage
        assert orjson.loads(await ws.recv())["error"] == "bad_encoding"


async def test_ingest_websocket_rate_limits_name_the_batch_and_do_not_disconnect(make_node, room):
    node = await make_node(ingest_rate=0.01, ingest_burst=1, ingest_max_events=1)
    url = f"ws://127.0.0.1:{node.port}/ws/ingest/{room}?token={token('ingest', room)}"
    async with websockets.connect(url) as ws:
        for i in range(25):  # more than the 20 strikes that close a misbehaving socket
            batch = {"type": "events", "req": f"q{i}", "events": [comment(f"x{i}")]}
            await ws.send(orjson.dumps(batch).decode())
        replies = [orjson.loads(await ws.recv()) for _ in range(25)]
        limited = [r for r in replies if r.get("error") == "rate_limited"]
        assert len(limited) == 24 and {r["req"] for r in limited} == {f"q{i}" for i in range(1, 25)}
        assert all(r["retry_after"] > 0 for r in limited)
        await ws.send(orjson.dumps({"type": "ping"}).decode())  # still open
        assert orjson.loads(await ws.recv())["error"] == "unknown_type"


async def test_ingest_websocket_refuses_other_roles_before_upgrade(node, room):
    url = f"ws://127.0.0.1:{node.port}/ws/ingest/{room}?token={token('viewer', room, 'u')}"
    try:
        await websockets.connect(url)
    except websockets.InvalidStatus as exc:
        assert exc.response.status_code == 403
    else:
        raise AssertionError("upgrade should be refused")


async def test_more_events_than_the_cap_is_413_and_changes_nothing(make_node, room):
    node = await make_node(ingest_max_events=3)
    status, body, _ = await post_events(node.port, room, [comment(f"c{i}") for i in range(4)])
    assert (status, body["error"]) == (413, "too_many_events") and "3" in body["detail"]
    assert (await node.store.snapshot(room)).offset == 0
    assert (await post_events(node.port, room, [comment(f"c{i}") for i in range(3)]))[0] == 200
    url = f"ws://127.0.0.1:{node.port}/ws/ingest/{room}?token={token('ingest', room)}"
    async with websockets.connect(url) as ws:
        await ws.send(orjson.dumps({"type": "events", "req": "big",
                                    "events": [comment(f"w{i}") for i in range(4)]}).decode())
        reply = orjson.loads(await ws.recv())
        assert (reply["req"], reply["error"]) == ("big", "too_many_events")
    assert (await node.store.snapshot(room)).offset == 3


async def test_the_ingest_rate_counts_events_not_requests(make_node, room):
    node = await make_node(ingest_rate=0.01, ingest_burst=10, ingest_max_events=10)
    assert (await post_events(node.port, room, [comment(f"a{i}") for i in range(8)]))[0] == 200
    status, body, headers = await post_events(node.port, room, [comment(f"b{i}") for i in range(3)])
    assert (status, body["error"]) == (429, "rate_limited") and int(headers["Retry-After"]) >= 1
    assert (await post_events(node.port, room, [comment("c0"), comment("c1")]))[0] == 200


def _order(event_id: str, order_id: str, status: str, amount: float) -> dict:
    return {"id": event_id, "type": "order", "user": {"id": "u"}, "order_id": order_id, "product_id": "p",
            "qty": 1, "amount": amount, "status": status}


async def test_orders_count_once_per_order_and_status_and_refunds_only_against_a_payment(node, room):
    await post_events(node.port, room, [
        _order("e1", "o1", "paid", 10.0),
        _order("e2", "o1", "paid", 10.0),  # the platform sent the payment twice, under two event ids
        _order("e3", "o2", "refunded", 99.99),  # never paid here: once made room GMV negative
        _order("e4", "o3", "paid", 5.0),
        _order("e5", "o3", "refunded", 7.0),  # more than was paid: only the payment comes off
        _order("e6", "o3", "refunded", 5.0),  # refunded twice
    ])
    counters = (await node.store.snapshot(room)).counters
    assert (counters.get("orders"), counters.get("refunds"), counters.get("gmv_cents")) == (2, 1, 1000)
    status, state = await api(node.port, "GET", f"/api/rooms/{room}/state", token("host", room))
    assert status == 200 and state["counters"]["gmv"] == 10.0
    counted = {e["id"]: e.get("counted", True) for e in state["recent"]}
    assert counted == {"e1": True, "e2": False, "e3": False, "e4": True, "e5": True, "e6": False}
    assert next(e for e in state["recent"] if e["id"] == "e5")["counted_cents"] == 500
