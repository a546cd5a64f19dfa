"""Lucky bags end to end: real nodes, a real Redis, real sockets."""

from __future__ import annotations

import asyncio
import contextlib

import aiohttp
import orjson
import pytest
import redis.asyncio as aioredis

from livecart import cli
from livecart.lucky_bag import commitment, parse_spec, verify
from livecart.store.bag_store import BAGS_DUE, BagStore, Freeze
from livecart.store.channel import BagWon, StageChanged
from livecart.store.keys import RoomKeys
from tests.integration.test_channel import Published
from tests.support import RoomClient, api, comment, post_events, token, ws_url


def bag_body(**overrides):
    body = {"product": {"id": "p9", "name": "Mystery box"}, "winners": 2, "keyword": "福袋",
            "duration_s": 60, "claim_s": 60}
    body.update(overrides)
    return body


async def create_bag(port, room, **overrides):
    status, answer = await api(port, "POST", f"/api/rooms/{room}/bags", token("assistant", room),
                               bag_body(**overrides))
    assert status == 201, answer
    return answer["bag"]


async def draw(port, room, bag_id):
    status, answer = await api(port, "POST", f"/api/rooms/{room}/bags/{bag_id}/draw",
                               token("assistant", room))
    assert status == 200, answer
    return answer["bag"]


async def record(port, room, bag_id):
    status, answer = await api(port, "GET", f"/api/rooms/{room}/bags/{bag_id}/record", token("viewer", room))
    assert status == 200, answer
    return answer


def entries(users, text="我要福袋", prefix="e"):
    return [comment(f"{prefix}{u}", text, user=u) for u in users]


async def bag_frame(client, predicate):
    """The next frame whose `bag` field satisfies `predicate` (snapshot or batch)."""
    frame = await client.until(lambda f: isinstance(f.get("bag"), dict) and predicate(f["bag"]))
    return frame["bag"]


async def test_keyword_comments_enter_once_and_the_overlay_sees_the_count(node, room):
    overlay = await RoomClient.connect(ws_url(node.port, room, token("overlay", room)))
    await overlay.recv()
    bag = await create_bag(node.port, room)
    assert bag["state"] == "open" and bag["entrants"] == 0 and "seed" not in bag
    assert len(bag["commitment"]) == 64
    users = [f"u{i}" for i in range(30)]
    await post_events(node.port, room, entries(users) + entries(users[:10], "福袋 again", "again")
                      + [comment("plain", "hello", user="u99")])
    seen = await bag_frame(overlay, lambda b: b["entrants"] == 30)
    assert seen["id"] == bag["id"]
    status, state = await api(node.port, "GET", f"/api/rooms/{room}/state", token("viewer", room))
    assert status == 200 and state["bag"]["entrants"] == 30
    await overlay.close()


async def test_the_draw_reveals_the_seed_and_its_record_verifies(node, room):
    bag = await create_bag(node.port, room, winners=3)
    users = [f"u{i:02d}" for i in range(40)]
    await post_events(node.port, room, entries(users))
    # Two entrants leave before the draw: they are skipped.
    await post_events(node.port, room, [{"id": "l1", "type": "leave", "user": {"id": "u01", "name": "x"}},
                                        {"id": "l2", "type": "leave", "user": {"id": "u02", "name": "x"}}])
    drawn = await draw(node.port, room, bag["id"])
    assert drawn["state"] == "claiming" and len(drawn["winners"]) == 3
    rec = await record(node.port, room, bag["id"])
    assert verify(rec) == []
    assert rec["entrants"] == users and rec["rounds"][0]["absent"] == ["u01", "u02"]
    assert {w["user"] for w in drawn["winners"]} == set(rec["rounds"][0]["winners"])
    assert {"u01", "u02"}.isdisjoint(rec["rounds"][0]["winners"])


async def test_a_winner_gets_won_on_their_socket_and_claims_the_prize(node, room):
    bag = await create_bag(node.port, room, winners=1)
    viewer = await RoomClient.connect(ws_url(node.port, room, token("viewer", room, user="lin")))
    await viewer.recv()
    await viewer.send({"type": "comment", "text": "福袋!", "req": "c1"})
    entry = await viewer.until(lambda f: f["type"] == "bag_entry")
    assert entry == {"type": "bag_entry", "req": "c1", "bag": bag["id"], "result": "entered", "entrants": 1}
    await viewer.send({"type": "comment", "text": "福袋 福袋", "req": "c2"})
    assert (await viewer.until(lambda f: f["type"] == "bag_entry"))["result"] == "again"
    await draw(node.port, room, bag["id"])
    won = await viewer.until(lambda f: f["type"] == "won")
    assert won["bag"] == bag["id"] and won["user"] == "lin" and won["claim_until"] > 0
    await viewer.send({"type": "bag_claim", "bag": bag["id"], "req": "k"})
    result = await viewer.until(lambda f: f["type"] == "bag_claim_result")
    assert result["ok"] and result["bag"]["state"] == "done"
    assert result["bag"]["winners"] == [{"user": "lin", "name": "lin", "state": "claimed", "round": 1}]
    # Claiming again answers the same; another viewer is not a winner.
    status, again = await api(node.port, "POST", f"/api/rooms/{room}/bags/{bag['id']}/claim",
                              token("viewer", room, user="lin"))
    assert status == 200 and again["ok"]
    status, other = await api(node.port, "POST", f"/api/rooms/{room}/bags/{bag['id']}/claim",
                              token("viewer", room, user="bo"))
    assert (status, other) == (409, {"ok": False, "reason": "not_a_winner"})
    await viewer.close()


async def test_unclaimed_prizes_are_redrawn_from_the_remaining_entrants(node, room, redis_server):
    bag = await create_bag(node.port, room, winners=2)
    users = [f"u{i:02d}" for i in range(12)]
    await post_events(node.port, room, entries(users))
    first = await draw(node.port, room, bag["id"])
    claimer = first["winners"][0]["user"]
    status, _ = await api(node.port, "POST", f"/api/rooms/{room}/bags/{bag['id']}/claim",
                          token("viewer", room, user=claimer))
    assert status == 200
    overlay = await RoomClient.connect(ws_url(node.port, room, token("overlay", room)))
    await overlay.recv()
    client = aioredis.Redis.from_url(redis_server.url)
    await client.hset(RoomKeys(room).prefix + f"bag:{bag['id']}", "claim_until", 1)  # the window closes
    await client.zadd(BAGS_DUE, {room: 1})
    await client.aclose()
    second = await bag_frame(overlay, lambda b: b["round"] == 2 and b["state"] == "claiming")
    assert [w["state"] for w in second["winners"] if w["round"] == 1] in (["claimed", "expired"],
                                                                          ["expired", "claimed"])
    new = [w["user"] for w in second["winners"] if w["round"] == 2]
    assert len(new) == 1 and new[0] not in {w["user"] for w in first["winners"]}
    rec = await record(node.port, room, bag["id"])
    assert len(rec["rounds"]) == 2 and verify(rec) == []
    await overlay.close()


async def test_two_nodes_racing_draw_once_and_agree_on_the_winners(make_node, room, redis_server):
    a, b = await make_node(), await make_node()
    watchers = [await RoomClient.connect(ws_url(n.port, room, token("overlay", room))) for n in (a, b)]
    for w in watchers:
        await w.recv()
    bag = await create_bag(a.port, room, winners=5)
    await b.bags.step()  # node b's timer pass (every 100 ms) learns of the bag opened on node a
    assert room in b.bags.in_progress
    await post_events(b.port, room, entries([f"u{i}" for i in range(200)]))
    # Both nodes' timers see the bag fall due at once, and both consoles press "draw" at the same moment.
    client = aioredis.Redis.from_url(redis_server.url)
    try:
        await client.hset(RoomKeys(room).prefix + f"bag:{bag['id']}", "ends_at", 1)
        await client.zadd(BAGS_DUE, {room: 1})
        answers = await asyncio.gather(*(api(n.port, "POST", f"/api/rooms/{room}/bags/{bag['id']}/draw",
                                             token("assistant", room)) for n in (a, b, a, b)))
        assert all(status in (200, 409) for status, _ in answers)
        seen = [await bag_frame(w, lambda x: x["state"] == "claiming") for w in watchers]
        assert seen[0]["winners"] == seen[1]["winners"] and len(seen[0]["winners"]) == 5
        ledger = await client.xrange(RoomKeys(room).ledger)
        draws = [e for _, e in ledger if e.get(b"op") == b"bag_draw"]
        # Per room: on the suite's shared Redis the nodes' timers also draw bags other tests left due.
        assert len(draws) == 1 and a.bags.draws[room] + b.bags.draws[room] == 1
    finally:
        await client.aclose()
    assert verify(await record(b.port, room, bag["id"])) == []
    for w in watchers:
        await w.close()


async def test_the_follow_rule_admits_only_followers(node, room):
    await create_bag(node.port, room, rules={"follows": True})
    viewer = await RoomClient.connect(ws_url(node.port, room, token("viewer", room, user="fan")))
    await viewer.recv()
    await viewer.send({"type": "comment", "text": "福袋", "req": "a"})
    assert (await viewer.until(lambda f: f["type"] == "bag_entry"))["result"] == "not_following"
    await post_events(node.port, room, [{"id": "f1", "type": "follow", "user": {"id": "fan", "name": "Fan"}}])
    await viewer.send({"type": "comment", "text": "福袋", "req": "b"})
    assert (await viewer.until(lambda f: f["type"] == "bag_entry"))["result"] == "entered"
    await viewer.close()


async def test_muted_users_do_not_enter(node, room):
    bag = await create_bag(node.port, room)
    status, _ = await api(node.port, "POST", f"/api/rooms/{room}/mutes", token("assistant", room),
                          {"user": "troll"})
    assert status == 200
    await post_events(node.port, room, entries(["troll", "ann"]))
    viewer = await RoomClient.connect(ws_url(node.port, room, token("viewer", room, user="troll")))
    await viewer.recv()
    await viewer.send({"type": "comment", "text": "福袋", "req": "a"})
    assert (await viewer.until(lambda f: f["type"] == "bag_entry"))["result"] == "muted"
    await viewer.close()
    drawn = await draw(node.port, room, bag["id"])
    assert drawn["entrants"] == 1
    assert (await record(node.port, room, bag["id"]))["entrants"] == ["ann"]


async def test_a_cancelled_bag_draws_nothing_and_frees_the_room(node, room):
    bag = await create_bag(node.port, room)
    status, answer = await api(node.port, "POST", f"/api/rooms/{room}/bags/{bag['id']}/cancel",
                               token("assistant", room))
    assert status == 200 and answer["bag"]["state"] == "cancelled" and answer["bag"]["seed"]
    status, answer = await api(node.port, "POST", f"/api/rooms/{room}/bags/{bag['id']}/draw",
                               token("assistant", room))
    assert (status, answer["error"]) == (409, "not_open")
    await create_bag(node.port, room)


@pytest.mark.parametrize("role, user, method, path, body, status, error", [
    ("assistant", None, "POST", "/bags", bag_body(duration_s=10), 400, "bad_field"),
    ("assistant", None, "POST", "/bags", bag_body(keyword=""), 400, "bad_field"),
    ("assistant", None, "POST", "/bags", [1], 400, "bad_body"),
    ("viewer", "v", "POST", "/bags", bag_body(), 403, "forbidden"),
    ("host", None, "POST", "/bags", bag_body(), 403, "forbidden"),
    ("assistant", None, "POST", "/bags/zzzz/draw", None, 404, "no_such_bag"),
    ("assistant", None, "POST", "/bags/0123456789ab/draw", None, 404, "no_such_bag"),
    ("assistant", None, "POST", "/bags/0123456789ab/explode", None, 404, "no_such_operation"),
    ("viewer", None, "POST", "/bags/0123456789ab/claim", None, 403, "forbidden"),
    ("viewer", "v", "POST", "/bags/0123456789ab/claim", None, 404, "no_such_bag"),
    ("viewer", "v", "GET", "/bags/../record", None, 404, None),
])
async def test_bad_requests_get_a_clear_4xx(node, room, role, user, method, path, body, status, error):
    got, answer = await api(node.port, method, f"/api/rooms/{room}{path}", token(role, room, user=user), body)
    assert got == status
    if error:
        assert answer["error"] == error and answer["detail"]


async def test_a_second_bag_while_one_runs_and_a_record_before_the_draw_are_conflicts(node, room):
    bag = await create_bag(node.port, room)
    status, answer = await api(node.port, "POST", f"/api/rooms/{room}/bags", token("assistant", room),
                               bag_body())
    assert (status, answer["error"]) == (409, "bag_open")
    status, answer = await api(node.port, "GET", f"/api/rooms/{room}/bags/{bag['id']}/record",
                               token("viewer", room))
    assert (status, answer["error"]) == (409, "not_drawn")


async def test_hostile_bag_claim_frames_get_an_error_frame(node, room):
    viewer = await RoomClient.connect(ws_url(node.port, room, token("viewer", room, user="x")))
    await viewer.recv()
    for bad in ({"type": "bag_claim"}, {"type": "bag_claim", "bag": 5}, {"type": "bag_claim", "bag": "../x"}):
        await viewer.send(bad)
        assert (await viewer.until(lambda f: f["type"] == "error"))["error"] == "bad_field"
    await viewer.send({"type": "bag_claim", "bag": "0123456789ab", "req": "r"})
    frame = await viewer.until(lambda f: f["type"] in ("error", "bag_claim_result"))
    assert frame["type"] == "error" and frame["error"] == "no_such_bag"
    watcher = await RoomClient.connect(ws_url(node.port, room, token("viewer", room)))
    await watcher.recv()
    await watcher.send({"type": "bag_claim", "bag": "0123456789ab"})
    assert (await watcher.until(lambda f: f["type"] == "error"))["error"] == "forbidden"
    await viewer.close()
    await watcher.close()


async def test_the_report_and_verify_draw_recompute_the_winners(node, room, tmp_path, capsys):
    bag = await create_bag(node.port, room, winners=2)
    users = [f"u{i:02d}" for i in range(10)]
    # The order carries its own time inside the bag's window: the bag opens on Redis's clock and an event
    # without `ts` is stamped on the node's, and those two may differ by a few ms on a busy machine.
    await post_events(node.port, room, entries(users) + [
        {"id": "o1", "type": "order", "user": {"id": "u03", "name": "U3"}, "order_id": "A1",
         "product_id": "p1", "qty": 1, "amount": 10, "status": "paid", "ts": bag["opens_at"] + 1},
        {"id": "o2", "type": "order", "user": {"id": "zz", "name": "Z"}, "order_id": "A2",
         "product_id": "p1", "qty": 1, "amount": 10, "status": "paid"}])
    drawn = await draw(node.port, room, bag["id"])
    status, data = await api(node.port, "GET", f"/api/rooms/{room}/report?format=json", token("host", room))
    assert status == 200
    [row] = data["lucky_bags"]
    assert (row["entrants"], row["bought_during_bag"], row["verified"]) == (10, 1, "yes")
    assert row["seed"] == drawn["seed"] and row["commitment"] == bag["commitment"]
    assert all(f"{w['name']} (pending)" in row["winners"] for w in drawn["winners"])
    rec = await record(node.port, room, bag["id"])
    path = tmp_path / "draw.json"
    path.write_bytes(orjson.dumps(rec))
    assert cli.main(["verify-draw", str(path)]) == 0
    assert ", ".join(rec["rounds"][0]["winners"]) in capsys.readouterr().out
    other = next(u for u in users if u not in rec["rounds"][0]["winners"])
    rec["rounds"][0]["winners"][0] = other
    path.write_bytes(orjson.dumps(rec))
    assert cli.main(["verify-draw", str(path)]) == 1
    assert "round 1" in capsys.readouterr().err
    path.write_bytes(b"[1, 2")
    assert cli.main(["verify-draw", str(path)]) == 1


async def test_the_host_gets_a_cue_to_announce_the_winners_and_viewers_do_not(node, room):
    host = await RoomClient.connect(ws_url(node.port, room, token("host", room)))
    viewer = await RoomClient.connect(ws_url(node.port, room, token("viewer", room, user="ann")))
    for c in (host, viewer):
        await c.recv()
    bag = await create_bag(node.port, room, winners=1)
    await post_events(node.port, room, entries(["ann"]))
    await draw(node.port, room, bag["id"])
    cue = (await host.until(lambda f: f["type"] == "cue"))["cue"]
    assert cue["kind"] == "lucky_bag" and cue["priority"] == "high" and "Ann" in cue["texts"]["en"]
    await viewer.until(lambda f: f["type"] == "won")
    assert not any(f["type"] == "cue" or "cues" in f for f in viewer.frames)
    await host.close()
    await viewer.close()


async def test_bag_lua_publishes_what_the_channel_decoder_reads(redis_server, room):
    """bag.lua is a room channel producer: its `stage` (bag) and `won` messages decode (store/channel.py)."""
    client = aioredis.Redis.from_url(redis_server.url)
    store = BagStore(client)
    async with contextlib.aclosing(client), Published(client, room) as published:
        spec = parse_spec(bag_body(winners=1))
        await store.create(room, "0123456789ab", spec, "5" * 64, commitment("5" * 64), "tester")
        opened = await published.next()
        assert isinstance(opened, StageChanged) and opened.name == "bag" and opened.value["state"] == "open"
        await store.enter(room, [("ann", "Ann")])
        await store.tick(room)  # publishes a count the entry's throttle (100 ms) held back, if it did
        entered = await published.next()
        assert isinstance(entered, StageChanged) and entered.value["entrants"] == 1
        frozen = await store.freeze(room, "0123456789ab", now=True)
        assert isinstance(frozen, Freeze) and frozen.entrants == ["ann"] and frozen.count == 1
        assert (await published.next()).value["state"] == "drawing"
        await store.commit(room, "0123456789ab", frozen.round, ["ann"])
        drawn, won = await published.next(), await published.next()
        assert isinstance(drawn, StageChanged) and drawn.value["winners"][0]["name"] == "Ann"
        assert isinstance(won, BagWon) and won.user == "ann" and won.frame["claim_until"] > 0


async def test_an_entrant_whose_socket_closed_is_skipped_and_one_back_is_not(node, room, redis_server):
    bag = await create_bag(node.port, room, winners=3)
    away = RoomKeys(room).prefix + f"bag:{bag['id']}:away"
    client = aioredis.Redis.from_url(redis_server.url)
    async with contextlib.aclosing(client):
        for user in ("mei", "bo"):
            viewer = await RoomClient.connect(ws_url(node.port, room, token("viewer", room, user=user)))
            await viewer.recv()
            await viewer.send({"type": "comment", "text": "福袋", "req": "x"})
            assert (await viewer.until(lambda f: f["type"] == "bag_entry"))["result"] == "entered"
            await viewer.close()
        async def absent(count: int) -> None:  # presence signals reach Redis just after the socket event
            for _ in range(1000):
                if await client.scard(away) == count:
                    return
                await asyncio.sleep(0.01)

        await absent(2)
        back = await RoomClient.connect(ws_url(node.port, room, token("viewer", room, user="bo")))
        await back.recv()
        await absent(1)
        await post_events(node.port, room, entries(["ann"]))
        drawn = await draw(node.port, room, bag["id"])
        rec = await record(node.port, room, bag["id"])
        assert rec["rounds"][0]["absent"] == ["mei"]
        assert sorted(w["user"] for w in drawn["winners"]) == ["ann", "bo"] and verify(rec) == []
        await back.close()


async def test_a_create_retried_with_its_idempotency_key_opens_one_bag(node, room):
    headers = {"Authorization": f"Bearer {token('assistant', room)}", "Idempotency-Key": "open-bag-1"}
    answers = []
    async with aiohttp.ClientSession() as session:
        for _ in range(2):
            async with session.post(f"http://127.0.0.1:{node.port}/api/rooms/{room}/bags",
                                    data=orjson.dumps(bag_body()), headers=headers) as resp:
                answers.append((resp.status, await resp.json()))
    assert answers[0] == answers[1] and answers[0][0] == 201
    status, listing = await api(node.port, "GET", f"/api/rooms/{room}/bags", token("viewer", room))
    assert [b["id"] for b in listing["bags"]] == [answers[0][1]["bag"]["id"]]


async def test_a_bag_opened_while_the_timer_reads_the_due_rooms_takes_entries_at_once(node, room):
    """The timer pass reads lc:bags-due; a bag opened on this node after that read began, and before
    its answer landed, was dropped from the rooms taking entries until the next pass, and the entries
    sent meanwhile were skipped. Here the read is held (a real read, answered late) until the bag is
    open."""
    bags = node.bags
    read_due, opened = bags.store.due_rooms, asyncio.Event()

    async def answered_after_the_open(limit):
        rooms = await read_due(limit)  # read before the bag exists
        await opened.wait()
        return rooms

    bags.store.due_rooms = answered_after_the_open
    try:
        step = asyncio.create_task(bags.step())
        await asyncio.sleep(0.05)  # the read is done, its answer held
        bag = await create_bag(node.port, room)
        opened.set()
        await step
    finally:
        bags.store.due_rooms = read_due
    assert room in bags.in_progress
    overlay = await RoomClient.connect(ws_url(node.port, room, token("overlay", room)))
    await overlay.recv()
    await post_events(node.port, room, entries(["u1", "u2"]))
    seen = await bag_frame(overlay, lambda b: b["entrants"] == 2)  # skipped entries: it never comes
    assert seen["id"] == bag["id"]
    await overlay.close()
