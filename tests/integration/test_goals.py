"""Goals end to end on real nodes and Redis: the console API, firing once, actions, bars on sockets,
hostile input, two nodes racing for the same threshold."""

from __future__ import annotations

import asyncio

from tests.support import RoomClient, api, create_deal, post_events, token, ws_url


def likes(event_id: str, count: int, user: str = "u1") -> dict:
    return {"id": event_id, "type": "like", "user": {"id": user}, "count": count}


async def make_goal(port: int, room: str, body: dict, status: int = 201) -> dict:
    got, answer = await api(port, "POST", f"/api/rooms/{room}/goals", token("assistant", room, "amy"), body)
    assert got == status, answer
    return answer.get("goal", answer)


async def goals_of(port: int, room: str, role: str = "assistant") -> dict[str, dict]:
    status, body = await api(port, "GET", f"/api/rooms/{room}/goals", token(role, room, "v"))
    assert status == 200, body
    return {g["id"]: g for g in body["goals"]}


async def audit_of(port: int, room: str) -> list[dict]:
    status, body = await api(port, "GET", f"/api/rooms/{room}/audit", token("assistant", room))
    assert status == 200
    return body["entries"]


async def until(predicate, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not met"
        await asyncio.sleep(0.05)


async def test_a_like_goal_starts_a_scheduled_deal_once(node, room):
    now = (await api(node.port, "GET", f"/api/rooms/{room}/deals", token("assistant", room)))[1]["now"]
    deal = await create_deal(node.port, room, start_at=now + 600_000)
    assert deal["state"] == "scheduled"
    goal = await make_goal(node.port, room, {"metric": "likes", "target": 100, "label": "100 likes",
                                             "action": {"type": "start_deal", "deal": deal["id"]}})
    assert goal["state"] == "armed" and goal["base"] == 0 and goal["target"] == 100
    await post_events(node.port, room, [likes("l1", 60)])
    await asyncio.sleep(0.2)
    assert (await goals_of(node.port, room))[goal["id"]]["state"] == "armed"
    await post_events(node.port, room, [likes("l2", 50), likes("l3", 50)])

    async def fired() -> bool:
        return (await goals_of(node.port, room))[goal["id"]]["state"] == "fired"

    await until(fired)
    got = (await goals_of(node.port, room))[goal["id"]]
    assert got["result"] == {"ok": True, "detail": "started"} and got["fired_value"] >= 100
    deals = (await api(node.port, "GET", f"/api/rooms/{room}/deals", token("assistant", room)))[1]["deals"]
    assert deals[0]["state"] == "live"
    entries = await audit_of(node.port, room)
    assert [e["op"] for e in entries].count("goal_fired") == 1
    assert any(e["op"] == "start" and e["by"] == "goal:" + goal["id"] for e in entries)
    # Editing or cancelling a fired goal is refused: it fired, once.
    path = f"/api/rooms/{room}/goals/{goal['id']}"
    assert (await api(node.port, "POST", path, token("assistant", room), {"target": 500}))[1]["error"] \
        == "goal_closed"
    assert (await api(node.port, "DELETE", path, token("assistant", room)))[0] == 409


async def test_a_target_already_reached_fires_in_the_create_call(node, room):
    await post_events(node.port, room, [likes("l1", 30)])
    goal = await make_goal(node.port, room, {"metric": "likes", "target": 10,
                                             "action": {"type": "announce", "text": "Thanks for 10 likes!"}})
    assert goal["state"] == "fired" and goal["result"]["detail"] == "announced"
    state = (await api(node.port, "GET", f"/api/rooms/{room}/state", token("viewer", room, "v")))[1]
    assert state["announcement"]["text"] == "Thanks for 10 likes!"
    assert [g["id"] for g in state["goals"]] == [goal["id"]]


async def test_goals_can_be_edited_and_cancelled_before_they_fire(node, room):
    goal = await make_goal(node.port, room, {"metric": "shares", "target": 5})
    path = f"/api/rooms/{room}/goals/{goal['id']}"
    status, body = await api(node.port, "POST", path, token("assistant", room), {"target": 3, "label": "3!"})
    assert status == 200 and body["goal"]["target"] == 3 and body["goal"]["label"] == "3!"
    status, body = await api(node.port, "DELETE", path, token("assistant", room))
    assert status == 200 and body["goal"]["state"] == "cancelled"
    assert (await api(node.port, "DELETE", path, token("assistant", room)))[0] == 200  # again: no change
    await post_events(node.port, room, [{"id": f"s{i}", "type": "share", "user": {"id": f"u{i}"}}
                                        for i in range(4)])
    await asyncio.sleep(1.5)  # the sweep has run: a cancelled goal never fires
    assert (await goals_of(node.port, room))[goal["id"]]["state"] == "cancelled"
    state = (await api(node.port, "GET", f"/api/rooms/{room}/state", token("overlay", room)))[1]
    assert state["goals"] == []


async def test_a_restock_goal_on_a_deals_claims(node, room):
    deal = await create_deal(node.port, room, stock=3, limit_per_user=1)
    goal = await make_goal(node.port, room, {"metric": "deal_claimed", "deal": deal["id"], "target": 3,
                                             "action": {"type": "restock", "deal": deal["id"], "add": 5}})
    for user in ("a", "b", "c"):
        status, _ = await api(node.port, "POST", f"/api/rooms/{room}/deals/{deal['id']}/claims",
                              token("viewer", room, user), {"qty": 1, "key": "k"})
        assert status == 200

    async def restocked() -> bool:
        _, body = await api(node.port, "GET", f"/api/rooms/{room}/deals", token("assistant", room))
        return body["deals"][0]["stock"] == 8

    await until(restocked)
    assert (await goals_of(node.port, room))[goal["id"]]["result"]["detail"] == "restocked 5"


async def test_bad_goal_input_gets_a_clear_4xx_and_changes_nothing(node, room):
    deal = await create_deal(node.port, room)
    cases = [
        ({"metric": "hearts", "target": 5}, 400, "bad_field"),
        ({"metric": "likes", "target": 0}, 400, "bad_field"),
        ({"metric": "likes", "target": True}, 400, "bad_field"),
        ({"metric": "likes", "target": 1.5}, 400, "bad_field"),
        ({"metric": "gmv", "target": 0.001}, 400, "bad_field"),
        ({"metric": "deal_sold", "target": 5}, 400, "bad_field"),
        ({"metric": "deal_sold", "deal": "../meta", "target": 5}, 400, "bad_field"),
        ({"metric": "deal_sold", "deal": "0123456789ab", "target": 5}, 404, "no_such_deal"),
        ({"metric": "likes", "target": 5, "action": {"type": "explode"}}, 400, "bad_field"),
        ({"metric": "likes", "target": 5, "action": "start_deal"}, 400, "bad_field"),
        ({"metric": "likes", "target": 5, "action": {"type": "restock", "deal": deal["id"], "add": 0}},
         400, "bad_field"),
        ({"metric": "likes", "target": 5, "action": {"type": "next_tier", "deal": deal["id"]}},
         409, "no_tiers"),
        ({"metric": "likes", "target": 5, "action": {"type": "announce", "text": ""}}, 400, "bad_field"),
        ({"metric": "likes", "target": 5, "label": "x" * 61}, 400, "bad_field"),
        ([1, 2], 400, "bad_body"),
    ]
    for body, status, error in cases:
        answer = await make_goal(node.port, room, body, status)
        assert answer["error"] == error, (body, answer)
    assert await goals_of(node.port, room) == {}
    tok = token("assistant", room)
    assert (await api(node.port, "POST", f"/api/rooms/{room}/goals/nope", tok, {"target": 3}))[0] == 404
    assert (await api(node.port, "DELETE", f"/api/rooms/{room}/goals/0123456789ab", tok))[1]["error"] \
        == "no_such_goal"
    assert (await api(node.port, "POST", f"/api/rooms/{room}/goals", token("viewer", room, "v"),
                      {"metric": "likes", "target": 5}))[0] == 403
    assert (await api(node.port, "POST", f"/api/rooms/{room}/goals", token("overlay", room),
                      {"metric": "likes", "target": 5}))[0] == 403


async def test_at_most_twenty_armed_goals(node, room):
    for n in range(20):
        await make_goal(node.port, room, {"metric": "likes", "target": 1000 + n})
    answer = await make_goal(node.port, room, {"metric": "likes", "target": 5000}, 409)
    assert answer["error"] == "too_many_goals"


async def test_viewers_see_gmv_goals_without_numbers(node, room):
    goal = await make_goal(node.port, room, {"metric": "gmv", "target": 500.5, "label": "GMV"})
    assert goal["target"] == 500.5 and goal["target_minor"] == 50050
    public = (await goals_of(node.port, room, "viewer"))[goal["id"]]
    assert "target" not in public and "target_minor" not in public and public["label"] == "GMV"
    state = (await api(node.port, "GET", f"/api/rooms/{room}/state", token("overlay", room)))[1]
    assert "target" not in state["goals"][0]


async def test_sockets_get_the_goal_list_as_it_changes(node, room):
    client = await RoomClient.connect(ws_url(node.port, room, token("overlay", room)))
    try:
        first = await client.recv()
        assert first["type"] == "snapshot" and first.get("goals") is None
        goal = await make_goal(node.port, room, {"metric": "likes", "target": 50})
        frame = await client.until(lambda f: f["type"] == "batch" and f.get("goals"))
        assert frame["goals"][0]["id"] == goal["id"] and frame["goals"][0]["state"] == "armed"
        await post_events(node.port, room, [likes("l1", 50)])
        frame = await client.until(lambda f: f["type"] == "batch" and f.get("goals")
                                   and f["goals"][0]["state"] == "fired")
        assert frame["goals"][0]["fired_value"] == 50
    finally:
        await client.close()


async def test_two_nodes_seeing_the_same_threshold_fire_the_goal_once(make_node, room):
    """Both nodes hold sockets of the room, so both see every like and both ask goal.lua to fire."""
    a, b = await make_node(), await make_node()
    clients = [await RoomClient.connect(ws_url(n.port, room, token("overlay", room))) for n in (a, b)]
    try:
        for c in clients:
            await c.recv()
        deal = await create_deal(a.port, room, stock=5)
        goals = [await make_goal(a.port, room, {"metric": "likes", "target": 10 * (n + 1),
                                               "action": {"type": "restock", "deal": deal["id"], "add": 1}})
                 for n in range(5)]
        for c in clients:
            await c.until(lambda f: f["type"] == "batch" and f.get("goals") and len(f["goals"]) == 5)
        # The likes go in through both nodes at once, in small steps, so both see each threshold.
        await asyncio.gather(*(post_events(n.port, room, [likes(f"{n.port}-{i}", 1, f"u{i}")])
                               for i in range(30) for n in (a, b)))

        async def all_fired() -> bool:
            return all(g["state"] == "fired" for g in (await goals_of(a.port, room)).values())

        await until(all_fired)
        assert a.goal_watch.checks + b.goal_watch.checks >= 2
        deals = (await api(a.port, "GET", f"/api/rooms/{room}/deals", token("assistant", room)))[1]["deals"]
        assert deals[0]["stock"] == 5 + 5  # each goal restocked once
        fired = [e for e in await audit_of(a.port, room) if e["op"] == "goal_fired"]
        assert sorted(e["goal"] for e in fired) == sorted(g["id"] for g in goals)
    finally:
        for c in clients:
            await c.close()


async def test_a_room_nobody_watches_still_fires_its_goal(node, room):
    goal = await make_goal(node.port, room, {"metric": "follows", "target": 2})
    await post_events(node.port, room, [{"id": f"f{i}", "type": "follow", "user": {"id": f"u{i}"}}
                                        for i in range(2)])

    async def fired() -> bool:
        return (await goals_of(node.port, room))[goal["id"]]["state"] == "fired"

    await until(fired)
    assert node.goal_watch.checks == 0  # no socket here: the once-a-second sweep fired it
