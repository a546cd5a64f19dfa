"""Hostile viewers during a rush, all at once, against two nodes (issue 14): claims on deal ids that name
other keys of the deal (`<id>:ops`, `<id>:external`, ...) over sockets and HTTP, user ids with the
separators the old composite keys joined on, a viewer reading every frame for buyers' data, an ingest
token sending more events than a request may hold, a leaked viewer token revoked mid-rush.

Each gets what the contract promises it, and the usual end check holds: stock exact, every honest
claimer answered exactly as the rules say, no event lost.

tests/integration/test_hostile_claims.py, test_what_each_role_sees.py, test_ingest.py, test_revocation.py
check each on its own; this is "the honest answers do not change while all of them happen"."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import orjson
import websockets

from livecart import auth
from tests.reliability.fleet import Follower, Publisher, wait_followers
from tests.support import SECRET, WAIT, api, comment, create_deal, post_events, token, ws_url

STOCK = 25
HONEST = 60  # more claimers than units: some must hear sold_out
# Honest users whose ids hold the characters the old keys joined on: "a\nb" + "c" met "a" + "b\nc".
ODD_USERS = ["a\nb", "a", "x:y", "x", "名字:1", "v:3:zz"]
PRIVATE = ('"order_id"', '"amount"', '"amount_minor"', '"claim_id"', '"status"', '"gmv"', '"gmv_minor"',
           '"refunds"', '"attempts"',
           '"rejections"', "ORDER-SECRET", "buyer-secret")


async def claim_once(port: int, room: str, user: str, deal: str, req: str, go: asyncio.Event,
                     ready: list[None]) -> list[dict[str, Any]]:
    """One viewer socket, one claim when `go` is set; every answer frame naming `req`."""
    async with websockets.connect(ws_url(port, room, tok=token("viewer", room, user)), max_size=2**24,
                                  open_timeout=6 * WAIT) as ws:
        while orjson.loads(await ws.recv())["type"] != "snapshot":
            pass
        ready.append(None)
        await go.wait()
        await ws.send(orjson.dumps({"type": "claim", "deal": deal, "qty": 1, "req": req}).decode())
        answers: list[dict[str, Any]] = []
        while not answers:
            frame = orjson.loads(await asyncio.wait_for(ws.recv(), 6 * WAIT))
            if frame.get("req") == req and frame["type"] in ("claim_result", "error"):
                answers.append(frame)
        # Anything more for this req would be a second answer: give it half a second to show up (room
        # batches keep coming meanwhile, so the wait is for the whole half second, not per frame).
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(0.5):
                while True:
                    frame = orjson.loads(await ws.recv())
                    if frame.get("req") == req and frame["type"] in ("claim_result", "error"):
                        answers.append(frame)
        return answers


async def poison(port: int, room: str, user: str, ids: list[str], go: asyncio.Event) -> list[dict[str, Any]]:
    """A hostile viewer: claims on every id in `ids`, as fast as it can, from the start of the rush."""
    async with websockets.connect(ws_url(port, room, tok=token("viewer", room, user)), max_size=2**24) as ws:
        while orjson.loads(await ws.recv())["type"] != "snapshot":
            pass
        await go.wait()
        for i, deal in enumerate(ids):
            await ws.send(orjson.dumps({"type": "claim", "deal": deal, "qty": 1, "req": f"p{i}"}).decode())
        answers: dict[str, dict[str, Any]] = {}
        while len(answers) < len(ids):
            frame = orjson.loads(await asyncio.wait_for(ws.recv(), 6 * WAIT))
            if str(frame.get("req", "")).startswith("p"):
                answers[frame["req"]] = frame
        return list(answers.values())


async def watch_for_leaks(port: int, room: str, frames: list[str], stop: asyncio.Event) -> None:
    """A viewer that keeps every frame it is sent, to look for buyers' data in them afterwards."""
    url = ws_url(port, room, tok=token("viewer", room, "snoop"))
    async with websockets.connect(url, max_size=2**24) as ws:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                frames.append(str(await asyncio.wait_for(ws.recv(), 0.2)))


async def test_hostile_viewers_change_no_honest_answer_during_a_rush(make_node, room):
    nodes = [await make_node(), await make_node()]
    ports = [n.port for n in nodes]
    amy = token("assistant", room, "amy")
    deal = (await create_deal(ports[0], room, stock=STOCK - 1, limit_per_user=1, duration_s=600))["id"]
    followers = [Follower(ports, room, start=i) for i in range(4)]
    await wait_followers(followers)
    # Give the deal every key a deal can have: :ops (a set) by a restock, :external (a set) by a paid
    # platform order sold from its stock, :users and :keys by the claims.
    assert (await api(ports[0], "POST", f"/api/rooms/{room}/deals/{deal}/restock", amy, {"add": 2}))[0] == 200
    external = {"id": "ext-1", "type": "order", "user": {"id": "buyer-secret", "name": "Lin"},
                "order_id": "ORDER-SECRET-0", "product_id": "p1", "qty": 1, "amount": 99.0, "status": "paid"}
    assert (await post_events(ports[1], room, [external]))[0] == 200
    units = STOCK  # STOCK - 1 + 2 - 1
    publisher = Publisher(ports, room, interval_s=0.02, per_batch=3, strict=True)
    stop_watch = asyncio.Event()
    seen: list[str] = []
    watcher = asyncio.create_task(watch_for_leaks(ports[1], room, seen, stop_watch))

    go = asyncio.Event()
    ready: list[None] = []
    users = ODD_USERS + [f"u{i}" for i in range(HONEST - len(ODD_USERS))]
    reqs = {user: ("b\nc" if user == "a" else "c" if user == "a\nb" else "r1") for user in users}
    honest = [asyncio.create_task(claim_once(ports[i % 2], room, user, deal, reqs[user], go, ready))
              for i, user in enumerate(users)]
    bad_ids = [f"{deal}:{s}" for s in ("ops", "external", "users", "keys", "claimids")] + \
        ["", deal.upper(), deal + "0", "x" * 70, "../" + deal]
    hostile = [asyncio.create_task(poison(ports[i % 2], room, f"evil{i}", bad_ids, go)) for i in range(6)]
    leaked = token("viewer", room, "leaker")
    leaked_socket = await websockets.connect(ws_url(ports[0], room, tok=leaked))
    async with asyncio.timeout(12 * WAIT):
        # Until every claimer has its snapshot: a count of appends to `ready`, not one event to wait for.
        while len(ready) < len(users):  # noqa: ASYNC110  # polls a list the claimer tasks fill
            await asyncio.sleep(0.02)

    go.set()  # the rush: honest and hostile claims in the same loop passes, on both nodes
    http_hostile = [api(ports[i % 2], "POST", f"/api/rooms/{room}/deals/{bad}/claims",
                        token("viewer", room, f"evil-http{i}"), {"qty": 1, "key": "k"})
                    for i, bad in enumerate(bad_ids[:5])]
    flood = [comment(f"flood-{i}", user="spammer") for i in range(501)]
    flooded, *http_answers = await asyncio.gather(post_events(ports[1], room, flood), *http_hostile)
    revoked = await api(ports[1], "POST", f"/api/rooms/{room}/tokens/revoke", amy,
                        {"jti": auth.verify(SECRET, leaked).token_id})
    # Paid orders for some of the claims, while viewers watch: buyers' data must not reach them.
    answers = await asyncio.gather(*honest)
    paid = [a[0]["claim"]["id"] for a in answers if a[0].get("ok")][:5]
    orders = [{"id": f"pay-{i}", "type": "order", "user": {"id": "buyer-secret", "name": "Lin"},
               "order_id": f"ORDER-SECRET-{i + 1}", "product_id": "p1", "qty": 1, "amount": 99.0,
               "status": "paid", "claim_id": claim_id} for i, claim_id in enumerate(paid)]
    assert (await post_events(ports[0], room, orders))[0] == 200
    poisoned = await asyncio.gather(*hostile)
    await publisher.more(30, "events after the rush")
    await publisher.stop()

    # Every honest claimer: exactly one answer, a claim_result, as the rules say (one unit each, first
    # come first served): exactly `units` of them got a unit, everyone else sold_out.
    assert all(len(a) == 1 and a[0]["type"] == "claim_result" for a in answers), answers
    ok = [a[0] for a in answers if a[0]["ok"]]
    assert len(ok) == units
    assert all(a[0]["reason"] == "sold_out" for a in answers if not a[0]["ok"])
    assert len({a["claim"]["id"] for a in ok}) == units
    by_user = dict(zip(users, (a[0] for a in answers), strict=True))
    if by_user["a\nb"]["ok"] and by_user["a"]["ok"]:  # both may have lost the race, never to each other
        assert by_user["a\nb"]["claim"]["id"] != by_user["a"]["claim"]["id"]
    # Stock exact: every unit in exactly one place, the claimed ones held or sold.
    _, listing = await api(ports[1], "GET", f"/api/rooms/{room}/deals", amy)
    state = listing["deals"][0]
    assert (state["left"], state["held"] + state["sold"], state["stock"]) == (0, units + 1, STOCK + 1)
    # The hostile ones got what the contract says, and only that.
    for answers_of_one in poisoned:
        assert sorted(a["error"] for a in answers_of_one) == ["no_such_deal"] * len(bad_ids), answers_of_one
    assert all((s, b["error"]) == (404, "no_such_deal") for s, b in http_answers), http_answers
    assert (flooded[0], flooded[1]["error"]) == (413, "too_many_events")
    assert revoked[0] == 200
    with contextlib.suppress(websockets.ConnectionClosed):
        while True:
            await asyncio.wait_for(leaked_socket.recv(), 6 * WAIT)
    assert leaked_socket.close_code == 4001
    # No event lost, none twice, and no buyer's data in any viewer frame.
    for f in followers:
        await f.reach(len(publisher.ids) + 1 + len(orders), 6 * WAIT)
        assert f.resets == 0 and f.offsets == list(range(1, len(f.offsets) + 1))
        assert set(publisher.ids) <= set(f.ids) and "flood-0" not in f.ids
    stop_watch.set()
    await watcher
    assert seen and not [p for p in PRIVATE if any(p in frame for frame in seen)]
    await asyncio.gather(*(f.stop() for f in followers))


