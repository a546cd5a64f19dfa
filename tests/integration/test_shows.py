"""Buyer shows end to end: the buyer's prompt after a paid order, posting (socket and HTTP), hostile
input, the console's review, the wall every socket sees, and the host's cue."""

from __future__ import annotations

import pytest

from tests.support import RoomClient, api, post_events, token, ws_url


def amy(room):
    return token("assistant", room, "amy")


def paid(order_id: str, user: str, name: str) -> dict:
    return {"id": f"o-{order_id}", "type": "order", "user": {"id": user, "name": name}, "order_id": order_id,
            "product_id": "p1", "qty": 1, "amount": 99, "status": "paid"}


async def buy(port, room, user="lin", name="Lin", order="1"):
    status, body, _ = await post_events(port, room, [paid(order, user, name)])
    assert status == 200 and body["accepted"] == 1, body


async def post_show(port, room, user, body):
    return await api(port, "POST", f"/api/rooms/{room}/shows", token("viewer", room, user), body)


async def review(port, room, show_id, decision):
    return await api(port, "POST", f"/api/rooms/{room}/shows/{show_id}/{decision}", amy(room))


async def test_a_paid_order_prompts_the_buyers_own_socket_only(node, room):
    buyer = await RoomClient.connect(ws_url(node.port, room, token("viewer", room, "lin")))
    other = await RoomClient.connect(ws_url(node.port, room, token("viewer", room, "max")))
    await buyer.recv()
    await other.recv()
    await buy(node.port, room)
    prompt = await buyer.until(lambda f: f["type"] == "show_prompt")
    assert prompt["product_id"] == "p1"
    # The other viewer sees the order's ticker, and no prompt.
    await other.until(lambda f: f["type"] == "batch" and any(e["type"] == "order" for e in f["events"]))
    assert not any(f["type"] == "show_prompt" for f in other.frames)
    await buyer.close()
    await other.close()


async def test_a_show_waits_for_approval_then_goes_on_the_wall_and_cues_the_host(node, room):
    await buy(node.port, room)
    overlay = await RoomClient.connect(ws_url(node.port, room, token("overlay", room)))
    host = await RoomClient.connect(ws_url(node.port, room, token("host", room, "hank")))
    assistant = await RoomClient.connect(ws_url(node.port, room, amy(room)))
    for c in (overlay, host, assistant):
        await c.recv()
    status, body = await post_show(node.port, room, "lin", {"text": "Fits perfectly <3",
                                                             "image_url": "https://img.example/lin.jpg"})
    assert status == 201 and body["show"]["state"] == "pending" and body["show"]["name"] == "Lin"
    show = body["show"]
    pending = await assistant.until(lambda f: f["type"] == "show")
    assert pending["show"]["id"] == show["id"] and pending["show"]["state"] == "pending"
    _, queue = await api(node.port, "GET", f"/api/rooms/{room}/shows?state=pending", amy(room))
    assert [s["id"] for s in queue["shows"]] == [show["id"]]
    status, approved = await review(node.port, room, show["id"], "approve")
    assert status == 200 and approved["show"]["state"] == "approved"
    frame = await overlay.until(lambda f: f["type"] == "batch" and (f.get("wall") or {}).get("shows"))
    assert frame["wall"]["shows"][0] == {"id": show["id"], "name": "Lin", "text": "Fits perfectly <3",
                                         "image_url": "https://img.example/lin.jpg",
                                         "at": approved["show"]["reviewed_at"]}
    cue = await host.until(lambda f: f["type"] == "cue" and f["cue"]["kind"] == "show")
    assert cue["cue"]["text"] == "Lin posted a show — thank them"
    # Approving again changes nothing; rejecting an approved show is refused.
    assert (await review(node.port, room, show["id"], "approve"))[0] == 200
    status, body = await review(node.port, room, show["id"], "reject")
    assert status == 409 and body["error"] == "already_reviewed"
    # Viewers never hear of pending shows.
    assert not any(f["type"] == "show" for f in overlay.frames)
    for c in (overlay, host, assistant):
        await c.close()


async def test_a_show_over_the_socket_is_answered_and_a_repeat_finds_the_first(node, room):
    await buy(node.port, room)
    viewer = await RoomClient.connect(ws_url(node.port, room, token("viewer", room, "lin")))
    await viewer.recv()
    await viewer.send({"type": "show", "text": "Love it", "req": "s1"})
    first = await viewer.until(lambda f: f["type"] == "show_result")
    await viewer.send({"type": "show", "text": "Love it", "req": "s1"})
    again = await viewer.until(lambda f: f["type"] == "show_result")
    assert first["ok"] and first["show"]["id"] == again["show"]["id"]
    await viewer.send({"type": "show", "text": "x", "image_url": "javascript:alert(1)", "req": "s2"})
    refused = await viewer.until(lambda f: f["type"] == "error")
    assert refused["error"] == "bad_image_url" and refused["req"] == "s2"
    await viewer.send({"type": "show", "text": "x" * 10_240, "req": "s3"})
    refused = await viewer.until(lambda f: f["type"] == "error")
    assert refused["error"] == "bad_field" and refused["req"] == "s3"
    await viewer.close()


@pytest.mark.parametrize("body,code", [
    ({"text": "nice", "image_url": "javascript:alert(document.cookie)"}, "bad_image_url"),
    ({"text": "nice", "image_url": "data:text/html;base64,PHNjcmlwdD4="}, "bad_image_url"),
    ({"text": "nice", "image_url": "//evil.example/x.png"}, "bad_image_url"),
    ({"text": "nice", "image_url": "https://u:p@evil.example/x.png"}, "bad_image_url"),
    ({"text": "x" * 10_240}, "bad_field"),
    ({"text": ""}, "bad_field"),
    ({"text": ["list"]}, "bad_field"),
    ([], "bad_body"),
])
async def test_hostile_shows_get_a_clear_4xx_and_store_nothing(node, room, body, code):
    await buy(node.port, room)
    status, answer = await post_show(node.port, room, "lin", body)
    assert status == 400 and answer["error"] == code and answer["detail"]
    _, queue = await api(node.port, "GET", f"/api/rooms/{room}/shows", amy(room))
    assert queue["shows"] == []


async def test_only_buyers_post_shows_and_only_assistants_review_them(node, room):
    status, body = await post_show(node.port, room, "stranger", {"text": "hi"})
    assert status == 403 and "buyer" in body["detail"]
    status, _ = await post_show(node.port, room, "", {"text": "hi"})
    assert status in (401, 403)
    await buy(node.port, room)
    for n in range(3):
        assert (await post_show(node.port, room, "lin", {"text": f"show {n}"}))[0] == 201
    status, body = await post_show(node.port, room, "lin", {"text": "one too many"})
    assert status == 409 and body["error"] == "limit_reached"
    _, queue = await api(node.port, "GET", f"/api/rooms/{room}/shows", amy(room))
    show_id = queue["shows"][0]["id"]
    for role in ("viewer", "overlay", "host"):
        status, _ = await api(node.port, "POST", f"/api/rooms/{room}/shows/{show_id}/approve",
                              token(role, room, "lin"))
        assert status == 403
    for role in ("viewer", "overlay"):
        status, _ = await api(node.port, "GET", f"/api/rooms/{room}/shows", token(role, room, "lin"))
        assert status == 403
    for bad in ("000000000000", "zzz"):
        status, body = await review(node.port, room, bad, "approve")
        assert status == 404 and body["error"] == "no_such_show"
    status, _ = await review(node.port, room, show_id, "publish")
    assert status == 404


async def test_the_report_counts_shows_posted_and_approved(node, room):
    await buy(node.port, room)
    ids = [(await post_show(node.port, room, "lin", {"text": f"s{n}"}))[1]["show"]["id"] for n in range(3)]
    await review(node.port, room, ids[0], "approve")
    await review(node.port, room, ids[1], "reject")
    _, report = await api(node.port, "GET", f"/api/rooms/{room}/interactions/report",
                          token("host", room, "h"))
    assert report["shows"] == {"posted": 3, "approved": 1, "rejected": 1, "pending": 1, "hidden": 0}
