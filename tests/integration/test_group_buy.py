"""Group buys (拼团) end to end: tiers in the DEAL map, the price dropping as buyers join, every buyer
charged the final tier, bad tier lists refused with a clear 4xx, a goal unlocking the next tier."""

from __future__ import annotations

import aiohttp

from tests.integration.test_goals import until
from tests.support import api, claim, create_deal, deal_body, post_events, token

TIERS = [{"buyers": 2, "price": 89}, {"buyers": 3, "price": 79}]


async def deal_of(port: int, room: str, deal_id: str, role: str = "assistant") -> dict:
    status, body = await api(port, "GET", f"/api/rooms/{room}/deals", token(role, room, "v"))
    assert status == 200
    return next(d for d in body["deals"] if d["id"] == deal_id)


def paid(event_id: str, claim_id: str, user: str) -> dict:
    return {"id": event_id, "type": "order", "user": {"id": user}, "order_id": "o-" + event_id,
            "product_id": "p1", "qty": 1, "amount": 99.0, "status": "paid", "claim_id": claim_id}


async def test_the_price_drops_as_buyers_join_and_every_buyer_pays_the_final_tier(node, room):
    deal = await create_deal(node.port, room, tiers=TIERS, stock=10)
    assert deal["tier"] == 0 and deal["deal_price"] == 99.0
    assert deal["tiers"] == [{"buyers": 0, "price": 99.0, "price_minor": 9900},
                             {"buyers": 2, "price": 89.0, "price_minor": 8900},
                             {"buyers": 3, "price": 79.0, "price_minor": 7900}]
    d = deal["id"]
    first = (await claim(node.port, room, d, "ann"))[1]["claim"]["id"]
    # Ann pays at once, at ¥99: she is owed the difference when the price drops.
    await post_events(node.port, room, [paid("e1", first, "ann")])
    assert (await deal_of(node.port, room, d))["gmv_minor"] == 9900
    await claim(node.port, room, d, "bo")
    got = await deal_of(node.port, room, d)
    assert (got["tier"], got["deal_price"], got["gmv_minor"], got["rebate_minor"]) == (1, 89.0, 8900, 1000)
    await claim(node.port, room, d, "bo", key="k2")  # the same buyer again: still two buyers
    assert (await deal_of(node.port, room, d))["tier"] == 1
    third = (await claim(node.port, room, d, "cy"))[1]["claim"]["id"]
    got = await deal_of(node.port, room, d)
    assert (got["tier"], got["deal_price"], got["rebate_minor"]) == (2, 79.0, 2000)
    # Cy's held claim is paid at the final tier.
    await post_events(node.port, room, [paid("e2", third, "cy")])
    got = await deal_of(node.port, room, d)
    assert got["gmv_minor"] == 2 * 7900 and got["left"] + got["held"] + got["sold"] == got["stock"]
    # Viewers see the tiers and the tier, not the rebate (the shop's money).
    public = await deal_of(node.port, room, d, "viewer")
    assert public["tier"] == 2 and len(public["tiers"]) == 3 and "rebate" not in public
    ops = [e for e in (await api(node.port, "GET", f"/api/rooms/{room}/audit", token("assistant", room)))[1]
           ["entries"] if e["op"] == "tier"]
    assert [(e["tier"], e["price_minor"], e["by"]) for e in reversed(ops)] == [("1", "8900", "buyers"),
                                                                                ("2", "7900", "buyers")]


async def test_a_goal_unlocks_the_next_tier(node, room):
    deal = await create_deal(node.port, room, tiers=TIERS)
    body = {"metric": "likes", "target": 5, "action": {"type": "next_tier", "deal": deal["id"]}}
    status, body = await api(node.port, "POST", f"/api/rooms/{room}/goals", token("assistant", room), body)
    assert status == 201, body
    await post_events(node.port, room, [{"id": "l1", "type": "like", "user": {"id": "u"}, "count": 5}])

    async def dropped() -> bool:
        return (await deal_of(node.port, room, deal["id"]))["tier"] == 1

    await until(dropped)
    assert (await deal_of(node.port, room, deal["id"]))["deal_price"] == 89.0


async def test_bad_tier_lists_get_a_clear_400(node, room):
    path, tok = f"/api/rooms/{room}/deals", token("assistant", room, "amy")
    cases = [
        ([{"buyers": 50, "price": 89}, {"buyers": 50, "price": 79}], "bad_tiers", "thresholds must increase"),
        ([{"buyers": 50, "price": 89}, {"buyers": 20, "price": 79}], "bad_tiers", "thresholds must increase"),
        ([{"buyers": 50, "price": 89}, {"buyers": 200, "price": 89}], "bad_tiers", "prices must decrease"),
        ([{"buyers": 50, "price": 99}], "bad_tiers", "prices must decrease"),
        ([{"buyers": 50, "price": 120}], "bad_tiers", "prices must decrease"),
        ([{"buyers": 0, "price": 89}], "bad_tiers", "buyers must be an integer"),
        ([{"buyers": 5, "price": 0.001}], "bad_tiers", "whole minor units"),
        ([{"buyers": 5, "price": "89"}], "bad_tiers", "price must be a number"),
        ([{"buyers": True, "price": 89}], "bad_tiers", "buyers must be an integer"),
        ([], "bad_tiers", "list"),
        ({"buyers": 5, "price": 89}, "bad_tiers", "list"),
        ([[5, 89]], "bad_tiers", "object"),
        ([{"buyers": i + 1, "price": 90 - i} for i in range(11)], "bad_tiers", "list"),
        ([{"buyers": 5, "price": 9}], "confirm_price", "confirm"),
    ]
    for tiers, error, words in cases:
        status, body = await api(node.port, "POST", path, tok, deal_body(tiers=tiers))
        assert (status, body["error"]) == (400, error), (tiers, body)
        assert words in body["detail"], body
    assert (await api(node.port, "GET", path, tok))[1]["deals"] == []
    status, body = await api(node.port, "POST", path, tok, deal_body(tiers=[{"buyers": 5, "price": 9}],
                                                                      confirm=True))
    assert status == 201 and body["deal"]["tiers"][1]["price"] == 9.0


async def test_the_report_lists_goals_and_each_group_buys_tier_timeline(node, room):
    deal = await create_deal(node.port, room, tiers=TIERS)
    tok = token("assistant", room, "amy")
    goal = {"metric": "deal_buyers", "deal": deal["id"], "target": 1, "label": "first buyer",
            "action": {"type": "announce", "text": "We have a buyer!"}}
    status, body = await api(node.port, "POST", f"/api/rooms/{room}/goals", tok, goal)
    assert status == 201
    for user in ("ann", "bo", "cy"):
        await claim(node.port, room, deal["id"], user)

    async def fired() -> bool:
        goals = (await api(node.port, "GET", f"/api/rooms/{room}/goals", tok))[1]["goals"]
        return goals[0]["state"] == "fired"

    await until(fired)
    status, report = await api(node.port, "GET", f"/api/rooms/{room}/report?format=json", tok)
    assert status == 200
    [goal] = report["goals"]
    assert (goal["label"], goal["state"], goal["result"], goal["action"]) == (
        "first buyer", "fired", "announced", "announce: We have a buyer!")
    assert goal["fired_at"] >= goal["created_at"]
    timeline = report["tier_timeline"]
    assert [(r["tier"], r["price"], r["buyers"], r["by"]) for r in timeline] == [
        (0, 99.0, 0, "open"), (1, 89.0, 2, "buyers"), (2, 79.0, 3, "buyers")]
    async with aiohttp.ClientSession() as session, session.get(
            f"http://127.0.0.1:{node.port}/api/rooms/{room}/report",
            headers={"Authorization": f"Bearer {tok}"}) as resp:
        page = await resp.text()
    assert "<h2>Goals</h2>" in page and "first buyer" in page and "tier timeline" in page
    async with aiohttp.ClientSession() as session, session.get(
            f"http://127.0.0.1:{node.port}/api/rooms/{room}/report?format=csv&table=tier_timeline",
            headers={"Authorization": f"Bearer {tok}"}) as resp:
        rows = (await resp.text()).splitlines()
    assert rows[0].startswith("deal,product,changed_at,tier,price") and len(rows) == 4
