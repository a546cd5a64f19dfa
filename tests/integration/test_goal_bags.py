"""A goal whose action opens a lucky bag (issue 18.1's "open a lucky bag"): the bag opens once, in the
goal's own goal.lua call, with a seed chosen when the goal was made and shown to nobody before the draw;
it then runs as a console bag does."""

from __future__ import annotations

import asyncio

import orjson
import redis.asyncio as aioredis

from livecart.goals import new_goal_id, parse_goal
from livecart.lucky_bag import commitment, verify
from livecart.store.bag_store import BAGS_DUE
from livecart.store.goal_store import GoalStore
from livecart.store.keys import RoomKeys
from tests.integration.test_goals import audit_of, goals_of, likes, make_goal, until
from tests.integration.test_lucky_bags import bag_body, create_bag, draw, entries, record
from tests.support import RoomClient, api, post_events, token, ws_url


def open_bag_goal(target: int = 100, **bag) -> dict:
    return {"metric": "likes", "target": target, "label": "bag at 100 likes",
            "action": {"type": "open_bag", **bag_body(**bag)}}


async def stored_seed(redis_url: str, room: str, goal_id: str) -> str | None:
    client = aioredis.Redis.from_url(redis_url)
    try:
        raw = await client.hget(RoomKeys(room).goal_seeds, goal_id)
    finally:
        await client.aclose()
    return raw.decode() if raw else None


async def everything_shown(port: int, room: str) -> bytes:
    """What every audience can read about the room before the draw: goal lists, room state, audit log,
    bags and the report."""
    shown = [await goals_of(port, room, role) for role in ("assistant", "host", "viewer", "overlay")]
    for role in ("assistant", "viewer", "overlay"):
        shown.append((await api(port, "GET", f"/api/rooms/{room}/state", token(role, room, "v")))[1])
    shown.append(await audit_of(port, room))
    shown.append((await api(port, "GET", f"/api/rooms/{room}/bags", token("assistant", room)))[1])
    report = f"/api/rooms/{room}/report?format=json"
    shown.append((await api(port, "GET", report, token("assistant", room)))[1])
    return orjson.dumps(shown)


async def test_a_likes_goal_opens_a_bag_that_entries_join_and_whose_draw_verifies(node, room, redis_server):
    overlay = await RoomClient.connect(ws_url(node.port, room, token("overlay", room)))
    await overlay.recv()
    goal = await make_goal(node.port, room, open_bag_goal(winners=2))
    seed = await stored_seed(redis_server.url, room, goal["id"])
    assert seed is not None and goal["action"]["commitment"] == commitment(seed)
    assert goal["action"]["keyword"] == "福袋" and "seed" not in goal["action"]
    assert seed.encode() not in await everything_shown(node.port, room)

    await post_events(node.port, room, [likes("l1", 60), likes("l2", 50)])

    async def fired() -> bool:
        return (await goals_of(node.port, room))[goal["id"]]["state"] == "fired"

    await until(fired)
    got = (await goals_of(node.port, room))[goal["id"]]
    assert got["result"] == {"ok": True, "detail": "opened", "bag": goal["id"]}
    # The bag is the room's, as a console bag: on the stage, due for its timer, taking entries.
    frame = await overlay.until(lambda f: isinstance(f.get("bag"), dict) and f["bag"]["state"] == "open")
    bag = frame["bag"]
    assert bag["id"] == goal["id"] and bag["opened_by"] == "goal:" + goal["id"]
    assert bag["commitment"] == commitment(seed) and "seed" not in bag
    assert bag["prize"]["winners"] == 2 and bag["ends_at"] - bag["opens_at"] == 60_000
    client = aioredis.Redis.from_url(redis_server.url)
    assert await client.zscore(BAGS_DUE, room) == bag["ends_at"]
    await client.aclose()
    assert await stored_seed(redis_server.url, room, goal["id"]) is None  # the bag holds it now
    assert seed.encode() not in await everything_shown(node.port, room)
    ops = [e["op"] for e in await audit_of(node.port, room)]
    assert ops.count("goal_fired") == 1 and ops.count("bag_create") == 1

    users = [f"u{i:02d}" for i in range(12)]

    async def taking_entries() -> bool:  # the node's bag timers learn of it from lc:bags-due (~0.1 s)
        return await node.bags.open_bag(room) is not None

    await until(taking_entries)
    await post_events(node.port, room, entries(users))
    await overlay.until(lambda f: isinstance(f.get("bag"), dict) and f["bag"]["entrants"] == 12)
    drawn = await draw(node.port, room, bag["id"])
    assert drawn["seed"] == seed and len(drawn["winners"]) == 2
    rec = await record(node.port, room, bag["id"])
    assert verify(rec) == [] and rec["entrants"] == users and rec["seed"] == seed
    await overlay.close()


async def test_two_nodes_racing_over_the_threshold_open_one_bag(make_node, room):
    a, b = await make_node(), await make_node()
    clients = [await RoomClient.connect(ws_url(n.port, room, token("overlay", room))) for n in (a, b)]
    try:
        for c in clients:
            await c.recv()
        goal = await make_goal(a.port, room, open_bag_goal(target=20))
        for c in clients:
            await c.until(lambda f: f["type"] == "batch" and f.get("goals"))
        await asyncio.gather(*(post_events(n.port, room, [likes(f"{n.port}-{i}", 1, f"u{i}")])
                               for i in range(20) for n in (a, b)))

        async def fired() -> bool:
            return (await goals_of(b.port, room))[goal["id"]]["state"] == "fired"

        await until(fired)
        bags = (await api(a.port, "GET", f"/api/rooms/{room}/bags", token("assistant", room)))[1]["bags"]
        assert [x["id"] for x in bags] == [goal["id"]]
        ops = [e["op"] for e in await audit_of(a.port, room)]
        assert ops.count("goal_fired") == 1 and ops.count("bag_create") == 1
    finally:
        for c in clients:
            await c.close()


async def test_many_checks_at_once_fire_the_goal_and_open_the_bag_once(redis_server, room):
    """goal.lua `check` from eight connections at once, the threshold already crossed."""
    clients = [aioredis.Redis.from_url(redis_server.url) for _ in range(8)]
    stores = [GoalStore(c) for c in clients]
    try:
        goal_id = new_goal_id()
        await stores[0].create(room, goal_id, parse_goal(open_bag_goal(target=5)), "test", 0)
        await clients[0].hset(RoomKeys(room).counters, "likes", 5)
        results = await asyncio.gather(*(s.check(room, f"node{n}") for n, s in enumerate(stores)))
        assert sorted(fired for _, fired in results) == [[]] * 7 + [[goal_id]]
        prefix = RoomKeys(room).prefix
        assert await clients[0].zrange(prefix + "bags", 0, -1) == [goal_id.encode()]
        assert await clients[0].hget(RoomKeys(room).meta, "bag_open") == goal_id.encode()
    finally:
        for c in clients:
            await c.aclose()


async def test_a_bag_already_running_makes_the_action_fire_once_with_ok_false(node, room, redis_server):
    running = await create_bag(node.port, room)
    goal = await make_goal(node.port, room, open_bag_goal(target=5))
    await post_events(node.port, room, [likes("l1", 5)])

    async def fired() -> bool:
        return (await goals_of(node.port, room))[goal["id"]]["state"] == "fired"

    await until(fired)
    got = (await goals_of(node.port, room))[goal["id"]]
    assert got["result"] == {"ok": False, "detail": "bag_open", "bag": running["id"]}
    bags = (await api(node.port, "GET", f"/api/rooms/{room}/bags", token("assistant", room)))[1]["bags"]
    assert [x["id"] for x in bags] == [running["id"]] and bags[0]["state"] == "open"
    fired_entries = [e for e in await audit_of(node.port, room) if e["op"] == "goal_fired"]
    assert len(fired_entries) == 1 and fired_entries[0]["ok"] == "0"
    assert await stored_seed(redis_server.url, room, goal["id"]) is None


async def test_a_bad_bag_is_a_400_when_the_goal_is_made_and_edits_and_cancels_keep_the_seed_right(
        node, room, redis_server):
    for bad in (open_bag_goal(duration_s=5), open_bag_goal(keyword=" "), open_bag_goal(winners=0),
                {"metric": "likes", "target": 5, "action": {"type": "open_bag"}}):
        answer = await make_goal(node.port, room, bad, 400)
        assert answer["error"] == "bad_field" and answer["detail"]
    assert await goals_of(node.port, room) == {}
    goal = await make_goal(node.port, room, {"metric": "likes", "target": 50})
    path, tok = f"/api/rooms/{room}/goals/{goal['id']}", token("assistant", room)
    status, answer = await api(node.port, "POST", path, tok, {"action": {"type": "open_bag", **bag_body()}})
    assert status == 200, answer
    first = await stored_seed(redis_server.url, room, goal["id"])
    assert first is not None and answer["goal"]["action"]["commitment"] == commitment(first)
    # A refused edit changes nothing; a new bag gets a new seed; another action drops it.
    bad = {"action": {"type": "open_bag", **bag_body(winners=-1)}}
    status, _ = await api(node.port, "POST", path, tok, bad)
    assert status == 400 and await stored_seed(redis_server.url, room, goal["id"]) == first
    status, answer = await api(node.port, "POST", path, tok, {"action": {"type": "open_bag", **bag_body()}})
    second = await stored_seed(redis_server.url, room, goal["id"])
    assert status == 200 and second not in (None, first)
    assert answer["goal"]["action"]["commitment"] == commitment(second)
    status, _ = await api(node.port, "POST", path, tok, {"action": {"type": "none"}})
    assert status == 200 and await stored_seed(redis_server.url, room, goal["id"]) is None
    await api(node.port, "POST", path, tok, {"action": {"type": "open_bag", **bag_body()}})
    status, _ = await api(node.port, "DELETE", path, tok)
    assert status == 200 and await stored_seed(redis_server.url, room, goal["id"]) is None
