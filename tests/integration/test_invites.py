"""Invite attribution end to end: codes, share links, joins, invited buyers' GMV, invite goals, the live
board on staff (and, when set, overlay) sockets, hostile input, and two nodes racing."""

from __future__ import annotations

import asyncio
import random

import aiohttp
import orjson
import pytest

from livecart.invites import invite_code
from tests.conftest import SECRET
from tests.support import RoomClient, api, claim, create_deal, post_events, token, ws_url


async def code_of(port: int, room: str, user: str) -> dict:
    status, body = await api(port, "GET", f"/api/rooms/{room}/invites/me", token("viewer", room, user))
    assert status == 200, body
    return body


async def arrive(port: int, room: str, user: str | None, ref: str | None) -> tuple[int, dict]:
    return await api(port, "POST", f"/api/rooms/{room}/invites/open", token("viewer", room, user),
                     {} if ref is None else {"ref": ref})


async def board(port: int, room: str) -> dict:
    status, body = await api(port, "GET", f"/api/rooms/{room}/invites", token("host", room))
    assert status == 200, body
    return body


def order(event_id: str, user: str, order_id: str, amount: float, status: str = "paid") -> dict:
    return {"id": event_id, "type": "order", "user": {"id": user, "name": user},
            "order_id": order_id, "product_id": "p1", "qty": 1, "amount": amount, "status": status}


async def test_a_viewers_link_credits_them_once_per_invited_friend(node, room):
    mine = await code_of(node.port, room, "ann")
    assert mine["code"] == invite_code(SECRET, room, "ann")
    assert mine["link"] == f"/viewer?room={room}&ref={mine['code']}"
    assert (mine["joins"], mine["goal"], mine["invited_by"]) == (0, None, None)

    status, got = await arrive(node.port, room, "bo", mine["code"])
    assert (status, got) == (200, {"answer": "joined", "attributed": True, "inviter": "ann"})
    again = await arrive(node.port, room, "bo", mine["code"])
    assert again == (200, {"answer": "already", "attributed": False, "inviter": "ann"})
    # First touch: bo's later link from cy does not move the credit.
    cy = await code_of(node.port, room, "cy")
    assert (await arrive(node.port, room, "bo", cy["code"]))[1]["inviter"] == "ann"
    # A viewer without a user id counts as a link opened, credits nobody.
    assert (await arrive(node.port, room, None, mine["code"]))[1]["answer"] == "opened"
    # Arrived directly first: a link afterwards credits nobody.
    assert (await arrive(node.port, room, "di", None))[1]["answer"] == "direct"
    assert (await arrive(node.port, room, "di", mine["code"]))[1] == {
        "answer": "already", "attributed": False, "inviter": None}

    assert (await code_of(node.port, room, "ann"))["joins"] == 1
    assert (await code_of(node.port, room, "bo"))["invited_by"] == "ann"
    b = await board(node.port, room)
    assert b["funnel"] == {"opens": 5, "joins": 1, "buyers": 0, "gmv": 0}
    assert b["top"] == [{"user": "ann", "joins": 1, "buyers": 0, "gmv": 0}]


@pytest.mark.parametrize(("body", "status", "error"), [
    ({"ref": "short"}, 400, "bad_ref"),
    ({"ref": "A" * 16}, 400, "bad_ref"),  # upper case is not a code
    ({"ref": "abcdefghijklmno1"}, 400, "bad_ref"),  # 1 is not base32
    ({"ref": "aaaaaaaaaaaaaaaa\n"}, 400, "bad_ref"),
    ({"ref": 12345}, 400, "bad_ref"),
    ({"ref": ["x"]}, 400, "bad_ref"),
    ({"ref": "a" * 10_000}, 400, "bad_ref"),
    ({"ref": "aaaaaaaaaaaaaaaa", "user": "zed"}, 400, "bad_field"),  # no one names the invitee but the token
    (["aaaaaaaaaaaaaaaa"], 400, "bad_body"),
    ({"ref": "aaaaaaaaaaaaaaaa"}, 404, "no_such_invite"),  # well formed, nobody's
])
async def test_bad_refs_get_a_clear_answer_and_count_nothing(node, room, body, status, error):
    mine = await code_of(node.port, room, "ann")
    got, reply = await api(node.port, "POST", f"/api/rooms/{room}/invites/open", token("viewer", room, "bo"),
                           body)
    assert (got, reply["error"]) == (status, error)
    # Nothing was counted, and bo is still free to be credited by the real link.
    assert (await board(node.port, room))["funnel"]["opens"] == 0
    assert (await arrive(node.port, room, "bo", mine["code"]))[1]["answer"] == "joined"


async def test_a_self_invite_is_refused_and_counts_nothing(node, room):
    mine = await code_of(node.port, room, "ann")
    status, reply = await arrive(node.port, room, "ann", mine["code"])
    assert (status, reply["error"]) == (409, "self_invite")
    assert (await board(node.port, room))["funnel"] == {"opens": 0, "joins": 0, "buyers": 0, "gmv": 0}
    # ann's own first touch is still open: a friend's link credits the friend.
    bo = await code_of(node.port, room, "bo")
    assert (await arrive(node.port, room, "ann", bo["code"]))[1]["inviter"] == "bo"


async def test_codes_are_per_room_and_a_code_of_another_room_is_unknown(node, room):
    other = room + "-b"
    theirs = await code_of(node.port, other, "ann")
    assert theirs["code"] != (await code_of(node.port, room, "ann"))["code"]
    status, reply = await arrive(node.port, room, "bo", theirs["code"])
    assert (status, reply["error"]) == (404, "no_such_invite")


@pytest.mark.parametrize(("role", "user", "method", "path", "status"), [
    ("viewer", None, "GET", "me", 403),  # a code needs a user
    ("host", "h", "GET", "me", 403),
    ("host", "h", "POST", "open", 403),  # staff do not arrive through links
    ("overlay", None, "POST", "open", 403),
    ("viewer", "bo", "GET", "", 403),  # the board is for the people running the show
    ("viewer", "bo", "POST", "settings", 403),
    ("host", "h", "POST", "coupons", 403),
])
async def test_each_invite_route_refuses_the_wrong_roles(node, room, role, user, method, path, status):
    url = f"/api/rooms/{room}/invites" + (f"/{path}" if path else "")
    got, reply = await api(node.port, method, url, token(role, room, user), {} if method == "POST" else None)
    assert (got, reply["error"]) == (status, "forbidden")


async def test_invited_buyers_gmv_counts_each_order_once_and_refunds_take_it_back(node, room):
    mine = await code_of(node.port, room, "ann")
    await arrive(node.port, room, "bo", mine["code"])
    events = [order("e1", "bo", "o1", 99.5), order("e2", "bo", "o2", 10), order("e3", "zed", "o3", 500),
              order("e4", "bo", "o1", 99.5)]  # o1 paid twice under another event id: once
    assert (await post_events(node.port, room, events))[0] == 200
    await post_events(node.port, room, events)  # a retried batch: duplicates, nothing more
    b = await board(node.port, room)
    assert b["funnel"] == {"opens": 1, "joins": 1, "buyers": 1, "gmv": 109.5}
    assert b["top"] == [{"user": "ann", "joins": 1, "buyers": 1, "gmv": 109.5}]
    await post_events(node.port, room, [order("e5", "bo", "o2", 10, "refunded"),
                                         order("e6", "bo", "o2", 10, "refunded")])
    assert (await board(node.port, room))["funnel"]["gmv"] == 99.5


async def test_coupon_goal_gives_one_coupon_per_target_up_to_the_cap(node, room):
    assistant = token("assistant", room, "amy")
    status, b = await api(node.port, "POST", f"/api/rooms/{room}/invites/settings", assistant,
                          {"goal": {"target": 2, "reward": "coupon", "cap": 2}})
    assert status == 200 and b["goal"] == {"target": 2, "reward": "coupon", "cap": 2}
    assert (await api(node.port, "POST", f"/api/rooms/{room}/invites/coupons", assistant,
                      {"codes": ["C-1"]}))[1] == {"added": 1, "coupons_left": 1}
    ann = (await code_of(node.port, room, "ann"))["code"]
    for friend in ("f1", "f2", "f3", "f4", "f5", "f6"):
        await arrive(node.port, room, friend, ann)
    mine = await code_of(node.port, room, "ann")
    # 6 joins earn 3, the cap is 2, and the pool had one coupon: the second waits for an upload.
    assert (mine["joins"], mine["rewards"], mine["coupons"], mine["next_at"]) == (6, 1, ["C-1"], 4)
    await api(node.port, "POST", f"/api/rooms/{room}/invites/coupons", assistant, {"codes": ["C-2", "C-3"]})
    mine = await code_of(node.port, room, "ann")
    assert (mine["rewards"], mine["coupons"], mine["next_at"]) == (2, ["C-1", "C-2"], None)
    assert (await board(node.port, room))["coupons_left"] == 1
    audit = (await api(node.port, "GET", f"/api/rooms/{room}/audit", assistant))[1]["entries"]
    rewards = [e for e in audit if e.get("op") == "invite_reward"]
    assert sorted(e["value"] for e in rewards) == ["C-1", "C-2"]


async def test_claim_slot_goal_counts_slots_per_viewer(node, room):
    assistant = token("assistant", room, "amy")
    await api(node.port, "POST", f"/api/rooms/{room}/invites/settings", assistant,
              {"goal": {"target": 3, "reward": "claim_slot", "cap": 1}})
    ann = (await code_of(node.port, room, "ann"))["code"]
    for friend in ("f1", "f2"):
        await arrive(node.port, room, friend, ann)
    assert (await code_of(node.port, room, "ann"))["claim_slots"] == 0
    for friend in ("f3", "f4", "f5", "f6"):
        await arrive(node.port, room, friend, ann)
    mine = await code_of(node.port, room, "ann")
    assert (mine["joins"], mine["claim_slots"], mine["rewards"]) == (6, 1, 1)


@pytest.mark.parametrize("body", [
    {"goal": {"target": 0, "reward": "coupon", "cap": 1}},
    {"goal": {"target": 3, "reward": "cash", "cap": 1}},
    {"goal": {"target": 3, "reward": "coupon", "cap": 0}},
    {"goal": {"target": 3.5, "reward": "coupon", "cap": 1}},
    {"goal": {"target": True, "reward": "coupon", "cap": 1}},
    {"goal": {"target": 3, "reward": "coupon", "cap": 1, "extra": 1}},
    {"goal": [3]},
    {"overlay": "yes"},
    {"colour": "red"},
])
async def test_bad_settings_are_refused_and_change_nothing(node, room, body):
    assistant = token("assistant", room, "amy")
    await api(node.port, "POST", f"/api/rooms/{room}/invites/settings", assistant,
              {"goal": {"target": 2, "reward": "coupon", "cap": 1}})
    status, reply = await api(node.port, "POST", f"/api/rooms/{room}/invites/settings", assistant, body)
    assert (status, reply["error"]) == (400, "bad_field")
    assert (await board(node.port, room))["goal"] == {"target": 2, "reward": "coupon", "cap": 1}


@pytest.mark.parametrize("codes", [[], ["has space"], ["x" * 65], [1], ["a", "a"], "C-1", None])
async def test_bad_coupon_uploads_are_refused(node, room, codes):
    status, reply = await api(node.port, "POST", f"/api/rooms/{room}/invites/coupons",
                              token("assistant", room, "amy"), {"codes": codes})
    assert (status, reply["error"]) == (400, "bad_field")
    assert (await board(node.port, room))["coupons_left"] == 0


async def test_the_board_reaches_staff_sockets_and_overlays_only_when_set(node, room):
    host = await RoomClient.connect(ws_url(node.port, room, token("host", room)))
    overlay = await RoomClient.connect(ws_url(node.port, room, token("overlay", room)))
    viewer = await RoomClient.connect(ws_url(node.port, room, token("viewer", room, "zed")))
    for client in (host, overlay, viewer):
        assert (await client.recv())["type"] == "snapshot"
    ann = (await code_of(node.port, room, "ann"))["code"]
    await arrive(node.port, room, "bo", ann)
    frame = await host.until(lambda f: f["type"] == "invites")
    assert frame["invites"]["top"] == [{"user": "ann", "joins": 1, "buyers": 0, "gmv": 0}]
    assert frame["invites"]["overlay"] is False

    await api(node.port, "POST", f"/api/rooms/{room}/invites/settings", token("assistant", room, "amy"),
              {"overlay": True})
    await arrive(node.port, room, "cy", ann)
    seen = await overlay.until(lambda f: f["type"] == "invites" and f["invites"]["funnel"]["joins"] == 2)
    assert seen["invites"]["overlay"] is True and seen["invites"]["top"] == [{"user": "ann", "joins": 2}]
    assert "gmv" not in seen["invites"]["funnel"]  # an overlay never sees money
    # The viewer saw none of it: everything it got before a fresh frame after the board is a batch.
    await post_events(node.port, room, [{"id": "c1", "type": "comment", "user": {"id": "u", "name": "U"},
                                         "text": "hi"}])
    await viewer.until(lambda f: f["type"] == "batch" and f.get("events"))
    assert all(f["type"] in ("snapshot", "batch") for f in viewer.frames)
    for client in (host, overlay, viewer):
        await client.close()


async def test_two_nodes_racing_credit_each_friend_once(make_node, room):
    a, b = await make_node(), await make_node()
    inviters = ["ann", "bo", "cy"]
    codes = {u: (await code_of(a.port, room, u))["code"] for u in inviters}
    friends = [f"f{i}" for i in range(40)]
    # Every friend arrives through every inviter's link at once, half on each node: one credit each.
    calls = [arrive(node.port, room, friend, codes[inviter])
             for friend in friends for inviter in inviters for node in (a, b)]
    answers = await asyncio.gather(*calls)
    joined = [reply for status, reply in answers if reply["answer"] == "joined"]
    assert all(status == 200 for status, _ in answers)
    assert len(joined) == len(friends)
    b_board = await board(b.port, room)
    assert b_board["funnel"]["joins"] == len(friends)
    assert sum(row["joins"] for row in b_board["top"]) == len(friends)
    credited = {f: (await code_of(a.port, room, f))["invited_by"] for f in friends}
    assert set(credited.values()) <= set(inviters) and None not in credited.values()


async def test_an_overlay_reads_who_invited_how_many_only_while_shown_and_never_money(node, room):
    overlay = token("overlay", room)
    ann = (await code_of(node.port, room, "ann"))["code"]
    await arrive(node.port, room, "bo", ann)
    status, reply = await api(node.port, "GET", f"/api/rooms/{room}/invites", overlay)
    assert status == 200 and reply["overlay"] is False and reply["top"] == []
    await api(node.port, "POST", f"/api/rooms/{room}/invites/settings", token("assistant", room, "amy"),
              {"overlay": True, "goal": {"target": 2, "reward": "coupon", "cap": 1}})
    status, reply = await api(node.port, "GET", f"/api/rooms/{room}/invites", overlay)
    assert status == 200 and set(reply) == {"seq", "overlay", "funnel", "top"}  # no goal, no coupon pool
    assert reply["funnel"] == {"opens": 1, "joins": 1} and reply["top"] == [{"user": "ann", "joins": 1}]


async def test_the_report_has_the_invite_funnel_and_the_top_inviters(node, room):
    ann = (await code_of(node.port, room, "ann"))["code"]
    await arrive(node.port, room, None, ann)
    for friend in ("bo", "cy"):
        await arrive(node.port, room, friend, ann)
    await post_events(node.port, room, [order("e1", "bo", "o1", 25.5)])
    status, report = await api(node.port, "GET", f"/api/rooms/{room}/report?format=json", token("host", room))
    assert status == 200
    assert [(r["step"], r["count"]) for r in report["invite_funnel"]] == [
        ("links_opened", 3), ("joins", 2), ("buyers", 1)]
    assert report["invite_gmv"] == 25.5
    assert report["inviters"] == [{"rank": 1, "user": "ann", "joins": 2, "buyers": 1, "gmv": 25.5}]


async def test_a_claim_slot_lets_its_viewer_claim_one_over_the_limit_of_the_next_deal_only(node, room):
    assistant = token("assistant", room, "amy")
    await api(node.port, "POST", f"/api/rooms/{room}/invites/settings", assistant,
              {"goal": {"target": 1, "reward": "claim_slot", "cap": 1}})
    ann = (await code_of(node.port, room, "ann"))["code"]
    await arrive(node.port, room, "bo", ann)
    assert (await code_of(node.port, room, "ann"))["claim_slots"] == 1
    deal = await create_deal(node.port, room, stock=10, limit_per_user=1)
    assert (await claim(node.port, room, deal["id"], "ann", key="k1"))[1]["ok"]
    assert (await claim(node.port, room, deal["id"], "bo", key="k1"))[1]["ok"]
    # ann's slot takes her over the limit once; bo has none.
    assert (await claim(node.port, room, deal["id"], "ann", key="k2"))[1]["ok"]
    assert (await claim(node.port, room, deal["id"], "bo", key="k2"))[1]["reason"] == "limit_reached"
    assert (await claim(node.port, room, deal["id"], "ann", key="k3"))[1]["reason"] == "limit_reached"
    assert (await code_of(node.port, room, "ann"))["claim_slots"] == 0  # used on this deal
    # The slot stays with the deal it was used on: the next deal is back to the limit.
    other = await create_deal(node.port, room, stock=10, limit_per_user=1)
    assert (await claim(node.port, room, other["id"], "ann", key="k1"))[1]["ok"]
    assert (await claim(node.port, room, other["id"], "ann", key="k2"))[1]["reason"] == "limit_reached"
    _, deals = await api(node.port, "GET", f"/api/rooms/{room}/deals", token("host", room))
    first = next(d for d in deals["deals"] if d["id"] == deal["id"])
    assert (first["left"], first["held"]) == (7, 3)


async def test_a_claim_slot_is_not_spent_on_a_claim_refused_as_sold_out(node, room):
    await api(node.port, "POST", f"/api/rooms/{room}/invites/settings", token("assistant", room, "amy"),
              {"goal": {"target": 1, "reward": "claim_slot", "cap": 1}})
    await arrive(node.port, room, "bo", (await code_of(node.port, room, "ann"))["code"])
    deal = await create_deal(node.port, room, stock=1, limit_per_user=1)
    assert (await claim(node.port, room, deal["id"], "ann", key="k1"))[1]["ok"]
    assert (await claim(node.port, room, deal["id"], "ann", key="k2"))[1]["reason"] == "sold_out"
    assert (await code_of(node.port, room, "ann"))["claim_slots"] == 1


@pytest.mark.parametrize("top", ["0", "201", "abc", "-1", "1e3", ""])
async def test_a_bad_top_is_refused(node, room, top):
    status, reply = await api(node.port, "GET", f"/api/rooms/{room}/invites?top={top}", token("host", room))
    assert (status, reply["error"]) == (400, "bad_field")


async def test_random_and_mutated_bodies_at_every_invite_write_never_answer_5xx_nor_miscount(node, room):
    rnd = random.Random(18)
    ann = (await code_of(node.port, room, "ann"))["code"]
    amy = token("assistant", room, "amy")
    goal = {"goal": {"target": 2, "reward": "coupon", "cap": 1}}
    writes = [("/invites/open", token("viewer", room, "bo"), {"ref": ann}),
              ("/invites/settings", amy, goal), ("/invites/coupons", amy, {"codes": ["C-1"]})]
    async with aiohttp.ClientSession() as session:
        for path, tok, valid in writes:
            raw = orjson.dumps(valid)
            url = f"http://127.0.0.1:{node.port}/api/rooms/{room}{path}"
            for _ in range(60):
                data = bytearray(raw)
                for _ in range(rnd.randint(1, 4)):
                    data[rnd.randrange(len(data))] = rnd.randrange(256)
                kind = rnd.choice(["application/json", "application/msgpack"])
                headers = {"Authorization": f"Bearer {tok}", "Content-Type": kind}
                async with session.post(url, data=bytes(data), headers=headers) as resp:
                    assert resp.status < 500
                    if resp.status != 200:
                        assert "error" in await resp.json()
    after = await board(node.port, room)
    # A mutation may leave a body valid (a byte replaced by itself): then bo joined through ann's link,
    # once. No mutation of a code is anyone else's.
    assert after["funnel"]["joins"] <= 1 and all(row["user"] == "ann" for row in after["top"])
