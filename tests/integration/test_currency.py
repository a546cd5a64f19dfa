"""A room's currency (issue 14.8): set by an assistant while the room has no money, then fixed; money at
the edges (events, deal create) has its decimals; the state and DEAL maps say which currency it is."""

from __future__ import annotations

from typing import Any

from livecart.store.keys import RoomKeys
from tests.support import RoomClient, api, create_deal, deal_body, post_events, token, ws_url


def order(event_id: str, amount: Any, status: str = "paid") -> dict[str, Any]:
    return {"id": event_id, "type": "order", "user": {"id": "u1"}, "order_id": "o-" + event_id,
            "product_id": "p1", "qty": 1, "amount": amount, "status": status}


async def set_currency(port: int, room: str, body: Any) -> tuple[int, Any]:
    return await api(port, "POST", f"/api/rooms/{room}/currency", token("assistant", room, "amy"), body)


async def test_a_room_starts_in_the_nodes_default_and_an_assistant_sets_it(make_node, room):
    node = await make_node(default_currency="EUR")
    amy = token("assistant", room, "amy")
    assert await api(node.port, "GET", f"/api/rooms/{room}/currency", amy) == (
        200, {"currency": "EUR", "exponent": 2})
    assert await set_currency(node.port, room, {"currency": "JPY"}) == (
        200, {"currency": "JPY", "exponent": 0})
    assert await api(node.port, "GET", f"/api/rooms/{room}/currency", amy) == (
        200, {"currency": "JPY", "exponent": 0})
    # Only the console may: a viewer's or a host's token cannot.
    status, _ = await api(node.port, "POST", f"/api/rooms/{room}/currency", token("host", room),
                          {"currency": "USD"})
    assert status == 403


async def test_codes_that_are_not_known_iso_currencies_are_refused(node, room):
    for bad in ("usd", "US", "DOLLAR", "XYZ", 840, None):
        status, body = await set_currency(node.port, room, {"currency": bad})
        assert (status, body["error"]) == (400, "bad_currency"), bad
    assert (await set_currency(node.port, room, ["USD"]))[0] == 400


async def test_once_the_room_has_money_its_currency_is_fixed(node, room):
    assert (await set_currency(node.port, room, {"currency": "USD"}))[0] == 200
    status, _, _ = await post_events(node.port, room, [order("e1", 19.99)])
    assert status == 200
    status, body = await set_currency(node.port, room, {"currency": "JPY"})
    assert (status, body["error"]) == (409, "currency_locked") and "USD" in body["detail"]
    # Setting the one it has is no change: a console that retries is not refused.
    assert await set_currency(node.port, room, {"currency": "USD"}) == (
        200, {"currency": "USD", "exponent": 2})


async def test_a_deal_or_a_gift_value_is_money_too(node, room):
    other = room + "-g"
    await create_deal(node.port, room)
    assert (await set_currency(node.port, room, {"currency": "USD"}))[1]["error"] == "currency_locked"
    gift = {"id": "g1", "type": "gift", "user": {"id": "u1"}, "gift": "rose", "count": 1, "value": 1}
    assert (await post_events(node.port, other, [gift]))[0] == 200
    assert (await set_currency(node.port, other, {"currency": "USD"}))[1]["error"] == "currency_locked"
    # Comments and likes are not money.
    third = room + "-c"
    like = {"id": "l1", "type": "like", "user": {"id": "u1"}, "count": 3}
    assert (await post_events(node.port, third, [like]))[0] == 200
    assert (await set_currency(node.port, third, {"currency": "USD"}))[0] == 200


async def test_events_have_the_decimals_of_the_rooms_currency(node, room):
    await set_currency(node.port, room, {"currency": "JPY"})
    status, body, _ = await post_events(node.port, room, [order("e1", 1500), order("e2", 12.5)])
    assert status == 200 and body["accepted"] == 1
    assert body["rejected"][0]["index"] == 1 and "JPY" in body["rejected"][0]["detail"]
    counters = await node.store.client.hgetall(RoomKeys(room).counters)
    assert int(counters[b"gmv_cents"]) == 1500  # yen, not 150000 "cents"


async def test_deal_prices_have_the_decimals_of_the_rooms_currency(node, room):
    await set_currency(node.port, room, {"currency": "KWD"})
    deal = await create_deal(node.port, room, price=10.5, deal_price=7.125)
    assert (deal["currency"], deal["deal_price"], deal["deal_price_minor"]) == ("KWD", 7.125, 7125)
    other = room + "-j"
    await set_currency(node.port, other, {"currency": "JPY"})
    status, body = await api(node.port, "POST", f"/api/rooms/{other}/deals", token("assistant", other, "amy"),
                             deal_body(price=1990, deal_price=990.5))
    assert status == 400 and "JPY" in body["detail"]


async def test_another_nodes_stale_currency_never_counts_money_in_the_wrong_unit(make_node, room):
    a, b = await make_node(), await make_node()
    # Node b learns the room's currency (the default, CNY) and caches it.
    assert (await post_events(b.port, room, [order("e0", 5, status="placed")]))[0] == 200
    assert (await set_currency(a.port, room, {"currency": "JPY"}))[0] == 200
    # b still thinks CNY: 12.5 would pass as 1250 fen. The append sees the room is in yen: judged again.
    status, body, _ = await post_events(b.port, room, [order("e1", 12.5), order("e2", 300)])
    assert status == 200 and body["accepted"] == 1 and "JPY" in body["rejected"][0]["detail"]
    counters = await b.store.client.hgetall(RoomKeys(room).counters)
    assert int(counters[b"gmv_cents"]) == 300


async def test_the_state_and_sockets_carry_the_currency(node, room):
    amy = token("assistant", room, "amy")
    status, state = await api(node.port, "GET", f"/api/rooms/{room}/state", amy)
    assert status == 200 and state["currency"] == "CNY"
    client = await RoomClient.connect(ws_url(node.port, room))
    try:
        first = await client.recv()
        assert first["type"] == "snapshot" and first["currency"] == "CNY"
        await set_currency(node.port, room, {"currency": "USD"})
        frame = await client.until(lambda f: f.get("currency") == "USD")
        assert frame["type"] == "batch"
    finally:
        await client.close()
