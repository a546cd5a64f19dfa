"""CONTRACT "What each role sees", per role and per way in: the first frame, a live batch, a resume from
history, GET …/state and GET …/deals. Viewer and overlay tokens are in page URLs and anybody can hold a
viewer socket: buyers' order data and the shop's numbers must never reach them."""

from __future__ import annotations

import orjson
import pytest

from tests.support import RoomClient, api, claim, create_deal, post_events, token, ws_url

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
