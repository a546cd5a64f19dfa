"""CONTRACT "What each role sees", per role and per way in: the first frame, a live batch, a resume from
history, GET …/state and GET …/deals. Viewer and overlay tokens are in page URLs and anybody can hold a
viewer socket: buyers' order data and the shop's numbers must never reach them."""

from __future__ import annotations

import orjson
import pytest

from tests.support import RoomClient, api, claim, comment, create_deal, post_events, token, ws_url

SECRETS = ("ORD-SECRET", "CLAIM-SECRET", "buyer-secret", '"gmv"', '"gmv_minor"', '"refunds"', '"attempts"',
           '"rejections"', '"amount_minor"',
           '"amount"', '"order_id"', '"claim_id"', '"status"', '"paid"', "1234.5")


def order(event_id: str, status: str) -> dict[str, object]:
    return {"id": f"ORD-SECRET-{event_id}", "type": "order", "user": {"id": "buyer-secret", "name": "Lin"},
            "order_id": "ORD-SECRET", "product_id": "p1", "qty": 1, "amount": 1234.5, "status": status,
            "claim_id": "CLAIM-SECRET"}


def leaks(frame: object) -> list[str]:
    text = orjson.dumps(frame).decode()
    return [secret for secret in SECRETS if secret in text]


@pytest.mark.parametrize("role", ["viewer", "overlay", "host", "assistant"])
async def test_each_role_sees_what_it_may_everywhere(node, room, role):
    deal = await create_deal(node.port, room)
    assert (await claim(node.port, room, deal["id"], "someone"))[0] == 200
    await post_events(node.port, room, [order("placed", "placed"), order("paid", "paid")])
    tok = token(role, room, "watcher" if role == "viewer" else None)
    public = role in ("viewer", "overlay")

    def check(frame: object) -> None:
        if public:
            assert leaks(frame) == [], frame
        else:
            assert leaks(frame), frame  # staff see it all (so the check above can fail)

    client = await RoomClient.connect(ws_url(node.port, room, tok))
    snap = await client.recv()
    assert [e["type"] for e in snap["recent"]] == ["order", "order"]
    check(snap)
    if public:
        paid = snap["recent"][1]
        assert paid == {"type": "order", "offset": 2, "ts": paid["ts"], "ticker": True,
                        "user": {"name": "Lin"}, "product_id": "p1", "qty": 1}
    await post_events(node.port, room, [order("refunded", "refunded")])
    batch = await client.until(lambda f: f["type"] == "batch" and f["events"])
    check(batch)
    await client.close()

    resumed = await RoomClient.connect(ws_url(node.port, room, tok, since=0, epoch=snap["epoch"]))
    frames = [await resumed.recv(), await resumed.recv()]
    assert [f["type"] for f in frames] == ["recovered", "batch"] and len(frames[1]["events"]) == 3
    for frame in frames:
        check(frame)
    await resumed.close()

    status, state = await api(node.port, "GET", f"/api/rooms/{room}/state", tok)
    assert status == 200 and state["type"] == "snapshot"
    check(state)
    status, listing = await api(node.port, "GET", f"/api/rooms/{room}/deals", tok)
    assert status == 200 and [d["id"] for d in listing["deals"]] == [deal["id"]]
    if public:
        assert leaks(listing) == []
    else:
        assert "attempts" in listing["deals"][0] and "gmv" in listing["deals"][0]


async def test_a_change_only_staff_see_reaches_only_staff(node, room):
    """A deal's funnel moving (attempts, refusals after a sell-out) is a frame for host and assistant
    sockets alone: to viewers and overlays it was a frame with nothing new for them, to every one of
    them (in a rush of 8,000, two more full fan-outs in the second after "sold out")."""
    deal = await create_deal(node.port, room)
    viewer = await RoomClient.connect(ws_url(node.port, room, token("viewer", room, "v1")))
    staff = await RoomClient.connect(ws_url(node.port, room, token("assistant", room, "amy")))
    await viewer.until(lambda f: f["type"] == "snapshot")
    await staff.until(lambda f: f["type"] == "snapshot")
    hub_room = node.hub.rooms[room]
    fields = dict(hub_room.deals[deal["id"]])
    fields["attempts"] = str(int(fields.get("attempts", 0)) + 7)
    node.hub.apply_deal(hub_room, fields)  # what a re-read of the deal after refusals brings
    moved = await staff.until(lambda f: f["type"] == "batch" and any(
        d["id"] == deal["id"] and d.get("attempts") == int(fields["attempts"]) for d in f.get("deals", [])))
    assert not moved["events"]
    # Then something viewers see: it is the viewer's next frame, nothing before it.
    await post_events(node.port, room, [comment("after-funnel")])
    nxt = await viewer.recv()
    assert nxt["type"] == "batch" and [e["id"] for e in nxt["events"]] == ["after-funnel"], nxt
    await viewer.close()
    await staff.close()
