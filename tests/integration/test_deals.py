"""Flash deals end to end on a real node and Redis: console API, claims, holds, payment, fan-out."""

from __future__ import annotations

import asyncio

from tests.support import RoomClient, api, claim, create_deal, deal_body, post_events, token, ws_url


async def deals_of(port: int, room: str) -> dict[str, dict]:
    status, body = await api(port, "GET", f"/api/rooms/{room}/deals", token("assistant", room))
    assert status == 200
    return {d["id"]: d for d in body["deals"]}


def order(event_id: str, claim_id: str | None, status: str, qty: int = 1, product: str = "p1",
          user: str = "u1") -> dict:
    o = {"id": event_id, "type": "order", "user": {"id": user}, "order_id": "o-" + event_id,
         "product_id": product, "qty": qty, "amount": 99.0 * qty, "status": status}
    if claim_id:
        o["claim_id"] = claim_id
    return o


def assert_invariant(deal: dict) -> None:
    assert deal["left"] + deal["held"] + deal["sold"] == deal["stock"], deal
    assert min(deal["left"], deal["held"], deal["sold"]) >= 0, deal


async def test_create_answers_201_with_the_deal_and_lists_it(node, room):
    deal = await create_deal(node.port, room)
    assert deal["state"] == "live" and deal["left"] == 10 and deal["stock"] == 10
    assert deal["ends_at"] - deal["starts_at"] == 120_000
    assert (await deals_of(node.port, room))[deal["id"]]["product"]["name"] == "Silk scarf"


async def test_create_refuses_bad_specs_and_wrong_roles(node, room):
    path = f"/api/rooms/{room}/deals"
    assistant = token("assistant", room, "amy")
    status, body = await api(node.port, "POST", path, assistant, deal_body(deal_price=5.0))
    assert (status, body["error"]) == (400, "confirm_price")
    assert (await api(node.port, "POST", path, assistant, deal_body(deal_price=5.0, confirm=True)))[0] == 201
    assert (await api(node.port, "POST", path, assistant, deal_body(stock=0)))[0] == 400
    assert (await api(node.port, "POST", path, token("host", room), deal_body()))[0] == 403
    assert (await api(node.port, "POST", path, token("viewer", room, "v"), deal_body()))[0] == 403
    assert (await api(node.port, "POST", path, "nope", deal_body()))[0] == 401


async def test_claims_follow_the_contract_rules(node, room):
    deal = await create_deal(node.port, room, stock=3, limit_per_user=2)
    d = deal["id"]
    status, first = await claim(node.port, room, d, "lin", 1, "a")
    assert status == 200 and first["ok"] and first["claim"]["deal"] == d and first["claim"]["qty"] == 1
    assert first["claim"]["expires_at"] > deal["starts_at"]
    assert await claim(node.port, room, d, "lin", 1, "a") == (200, first)  # same key: same answer
    assert await claim(node.port, room, d, "lin", 2, "b") == (409, {"ok": False, "reason": "limit_reached"})
    assert await claim(node.port, room, d, "mei", 0, "c2") == (409, {"ok": False, "reason": "invalid_qty"})
    assert await claim(node.port, room, d, "mei", "2", "c3") == (409, {"ok": False, "reason": "invalid_qty"})
    assert (await claim(node.port, room, d, "mei", 1, "d"))[0] == 200
    # No partial claims: two units asked, one left.
    assert await claim(node.port, room, d, "bo", 2, "e") == (409, {"ok": False, "reason": "sold_out"})
    assert (await claim(node.port, room, d, "bo", 1, "e2"))[0] == 200
    assert await claim(node.port, room, d, "zed", 1, "f") == (409, {"ok": False, "reason": "sold_out"})
    status, body = await claim(node.port, room, "nosuchdeal", "bo", 1, "f")
    assert (status, body["error"]) == (404, "no_such_deal")
    state = (await deals_of(node.port, room))[d]
    assert (state["state"], state["left"], state["held"], state["buyers"]) == ("sold_out", 0, 3, 3)
    assert state["rejections"]["limit_reached"] == 1


async def test_claims_need_a_viewer_with_a_user(node, room):
    deal = await create_deal(node.port, room)
    path = f"/api/rooms/{room}/deals/{deal['id']}/claims"
    assert (await api(node.port, "POST", path, token("viewer", room), {"qty": 1, "key": "k"}))[0] == 403
    assert (await api(node.port, "POST", path, token("overlay", room), {"qty": 1, "key": "k"}))[0] == 403
    assert (await api(node.port, "POST", path, token("viewer", room, "u"), {"qty": 1}))[0] == 400


async def test_scheduled_deals_are_not_live_until_started_and_stop_ends_them(node, room):
    deal = await create_deal(node.port, room, start_at=None, countdown_s=60)
    d = deal["id"]
    assert deal["state"] == "scheduled"
    assert await claim(node.port, room, d, "u1") == (409, {"ok": False, "reason": "not_live"})
    assistant = token("assistant", room, "amy")
    status, body = await api(node.port, "POST", f"/api/rooms/{room}/deals/{d}/start", assistant)
    assert status == 200 and body["deal"]["state"] == "live"
    assert (await claim(node.port, room, d, "u1", key="k2"))[0] == 200
    status, body = await api(node.port, "POST", f"/api/rooms/{room}/deals/{d}/stop", assistant)
    assert status == 200 and body["deal"]["state"] == "stopped"
    assert await claim(node.port, room, d, "u2", key="k3") == (409, {"ok": False, "reason": "ended"})
    status, body = await api(node.port, "POST", f"/api/rooms/{room}/deals/{d}/restock", assistant, {"add": 1})
    assert (status, body["error"]) == (409, "deal_closed")
    assert (await api(node.port, "POST", f"/api/rooms/{room}/deals/nope/stop", assistant))[1]["error"] == \
        "no_such_deal"


async def test_restock_brings_a_sold_out_deal_back_live(node, room):
    deal = await create_deal(node.port, room, stock=1)
    d = deal["id"]
    assert (await claim(node.port, room, d, "u1"))[0] == 200
    assert (await deals_of(node.port, room))[d]["state"] == "sold_out"
    assistant = token("assistant", room, "amy")
    status, body = await api(node.port, "POST", f"/api/rooms/{room}/deals/{d}/restock", assistant, {"add": 4})
    assert status == 200 and body["deal"]["state"] == "live" and body["deal"]["stock"] == 5
    assert_invariant(body["deal"])
    assert (await api(node.port, "POST", f"/api/rooms/{room}/deals/{d}/restock", assistant, {"add": 0}))[0] \
        == 400


async def test_paid_orders_sell_held_units_and_cancels_return_them_exactly_once(node, room):
    deal = await create_deal(node.port, room, stock=5, limit_per_user=2)
    d = deal["id"]
    _, a = await claim(node.port, room, d, "u1", 2, "a")
    _, b = await claim(node.port, room, d, "u2", 1, "b")
    await post_events(node.port, room, [order("pay-a", a["claim"]["id"], "paid", 2)])
    await post_events(node.port, room, [order("pay-a2", a["claim"]["id"], "paid", 2)])  # paid twice
    await post_events(node.port, room, [order("cancel-b", b["claim"]["id"], "cancelled")])
    await post_events(node.port, room, [order("cancel-b", b["claim"]["id"], "cancelled")])  # retried
    state = (await deals_of(node.port, room))[d]
    assert (state["left"], state["held"], state["sold"], state["gmv"]) == (3, 0, 2, 198.0)
    assert_invariant(state)
    # u2's unit came back to their limit too: they may claim two again.
    assert (await claim(node.port, room, d, "u2", 2, "c"))[0] == 200


async def test_refund_after_payment_returns_units(node, room):
    deal = await create_deal(node.port, room, stock=2)
    _, a = await claim(node.port, room, deal["id"], "u1", 1, "a")
    await post_events(node.port, room, [order("p", a["claim"]["id"], "paid")])
    await post_events(node.port, room, [order("r", a["claim"]["id"], "refunded")])
    state = (await deals_of(node.port, room))[deal["id"]]
    assert (state["left"], state["sold"], state["gmv"]) == (2, 0, 0.0)


async def test_holds_expire_and_return_units_exactly_once_with_two_nodes(make_node, room):
    a, b = await make_node(hold_s=0.3), await make_node(hold_s=0.3)
    deal = await create_deal(a.port, room, stock=20, limit_per_user=1)
    results = await asyncio.gather(*(claim((a if i % 2 else b).port, room, deal["id"], f"u{i}", 1, "k")
                                     for i in range(12)))
    assert all(r[0] == 200 for r in results)
    for _ in range(100):
        state = (await deals_of(a.port, room))[deal["id"]]
        if state["held"] == 0:
            break
        await asyncio.sleep(0.1)
    assert (state["left"], state["held"], state["released"]) == (20, 0, 12)
    # a payment arriving after expiry re-sells the units if they are still there
    await post_events(a.port, room, [order("late", results[0][1]["claim"]["id"], "paid")])
    state = (await deals_of(a.port, room))[deal["id"]]
    assert (state["left"], state["sold"]) == (19, 1)
    assert_invariant(state)


async def test_external_orders_for_the_deal_product_count_as_sold(node, room):
    deal = await create_deal(node.port, room, stock=3)
    await post_events(node.port, room, [order("ext1", None, "paid", 2)])
    await post_events(node.port, room, [order("ext1", None, "paid", 2)])  # retried: counted once
    await post_events(node.port, room, [order("ext2", None, "paid", 1, product="other")])
    state = (await deals_of(node.port, room))[deal["id"]]
    assert (state["left"], state["sold"]) == (1, 2)


async def test_deal_changes_reach_every_socket_as_deal_maps(make_node, room):
    a, b = await make_node(), await make_node()
    sockets = [await RoomClient.connect(ws_url(n.port, room)) for n in (a, b)]
    for s in sockets:
        await s.recv()
    deal = await create_deal(a.port, room, stock=2)
    for s in sockets:
        frame = await s.until(lambda f: any(d["id"] == deal["id"] for d in f.get("deals", [])))
        assert frame["type"] == "batch"
    await claim(b.port, room, deal["id"], "u1", 2, "k")
    for s in sockets:
        await s.until(lambda f: any(d["id"] == deal["id"] and d["state"] == "sold_out" and d["left"] == 0
                                    for d in f.get("deals", [])))
        await s.close()


async def test_stock_counts_reach_sockets_a_few_times_a_second_and_sold_out_at_once(node, room):
    """Claims trickling in one by one change `left` each time, but a frame carrying nothing else waits
    for the state tick (200 ms): a socket gets a handful of such frames per second, not one per claim.
    The deal's new state (sold out) is not held back: it is the next frame, showing left 0."""
    stock = 30
    deal = await create_deal(node.port, room, stock=stock, limit_per_user=1)
    watcher = await RoomClient.connect(ws_url(node.port, room))
    await watcher.recv()
    await watcher.until(lambda f: any(d["id"] == deal["id"] for d in f.get("deals", [])))
    updates: list[int] = []
    started = asyncio.get_running_loop().time()

    async def watch() -> None:
        while True:
            frame = await watcher.recv()
            for d in frame.get("deals", []):
                if d["id"] == deal["id"]:
                    updates.append(d["left"])
                    if d["state"] == "sold_out":
                        return

    watching = asyncio.create_task(watch())
    for n in range(stock):
        status, _ = await claim(node.port, room, deal["id"], f"u{n}", 1, "k")
        assert status == 200
        await asyncio.sleep(0.03)
    await asyncio.wait_for(watching, 10)
    elapsed = asyncio.get_running_loop().time() - started
    assert updates[-1] == 0
    assert len(updates) <= elapsed / 0.2 + 3, (len(updates), elapsed)  # one per claim without the tick
    await watcher.close()


async def test_claims_over_the_socket_answer_the_claimer(node, room):
    deal = await create_deal(node.port, room, stock=2, limit_per_user=1)
    viewer = await RoomClient.connect(ws_url(node.port, room, tok=token("viewer", room, "lin")))
    await viewer.recv()
    await viewer.send({"type": "claim", "deal": deal["id"], "qty": 1, "req": "r1"})
    result = await viewer.until(lambda f: f["type"] == "claim_result")
    assert result["req"] == "r1" and result["ok"] and result["claim"]["qty"] == 1
    await viewer.send({"type": "claim", "deal": deal["id"], "qty": 1, "req": "r1"})
    again = await viewer.until(lambda f: f["type"] == "claim_result")
    assert again == result
    await viewer.send({"type": "claim", "deal": deal["id"], "qty": 1, "req": "r2"})
    sold = await viewer.until(lambda f: f["type"] == "claim_result")
    assert (sold["ok"], sold["reason"]) == (False, "limit_reached")
    await viewer.send({"type": "claim", "deal": deal["id"], "qty": 1})
    assert (await viewer.until(lambda f: f["type"] == "error"))["error"] == "bad_field"
    anon = await RoomClient.connect(ws_url(node.port, room, tok=token("viewer", room)))
    await anon.recv()
    await anon.send({"type": "claim", "deal": deal["id"], "qty": 1, "req": "x"})
    assert (await anon.until(lambda f: f["type"] == "error"))["error"] == "forbidden"
    await viewer.close()
    await anon.close()


async def test_comment_with_an_armed_keyword_claims_one_unit_once(node, room):
    deal = await create_deal(node.port, room, stock=5, limit_per_user=3)
    assistant = token("assistant", room, "amy")
    status, body = await api(node.port, "POST", f"/api/rooms/{room}/deals/{deal['id']}/keyword", assistant,
                             {"keyword": "抢"})
    assert status == 200 and body["deal"]["keyword"] == "抢"
    comment = {"id": "cm1", "type": "comment", "user": {"id": "fan1", "name": "Fan"}, "text": "我要抢!"}
    await post_events(node.port, room, [comment])
    await post_events(node.port, room, [comment])  # the same comment again claims nothing more
    await post_events(node.port, room, [dict(comment, id="cm2", text="just looking")])
    state = (await deals_of(node.port, room))[deal["id"]]
    assert (state["held"], state["buyers"]) == (1, 1)
    speaker = await RoomClient.connect(ws_url(node.port, room, tok=token("viewer", room, "fan2")))
    await speaker.recv()
    await speaker.send({"type": "comment", "text": "抢抢抢", "req": "c1"})
    result = await speaker.until(lambda f: f["type"] == "claim_result")
    assert result["ok"] and result["req"] == "comment:c1"
    await speaker.close()


async def test_pinned_product_card_reaches_sockets_and_snapshots(node, room):
    viewer = await RoomClient.connect(ws_url(node.port, room))
    await viewer.recv()
    assistant = token("assistant", room, "amy")
    status, body = await api(node.port, "POST", f"/api/rooms/{room}/pin", assistant,
                             {"product": {"id": "p9", "name": "<b>Tea</b>", "price": 39}})
    assert status == 200 and body["pinned"]["name"] == "<b>Tea</b>"
    frame = await viewer.until(lambda f: "pinned" in f)
    assert frame["pinned"]["id"] == "p9"
    late = await RoomClient.connect(ws_url(node.port, room))
    assert (await late.recv())["pinned"]["name"] == "<b>Tea</b>"
    await api(node.port, "DELETE", f"/api/rooms/{room}/pin", assistant)
    assert (await viewer.until(lambda f: "pinned" in f))["pinned"] is None
    assert (await api(node.port, "POST", f"/api/rooms/{room}/pin", token("host", room), {"product": {}}))[0] \
        == 403
    await viewer.close()
    await late.close()


async def test_audit_log_records_every_console_push(node, room):
    deal = await create_deal(node.port, room)
    assistant = token("assistant", room, "amy")
    await api(node.port, "POST", f"/api/rooms/{room}/deals/{deal['id']}/restock", assistant, {"add": 2})
    await api(node.port, "POST", f"/api/rooms/{room}/deals/{deal['id']}/stop", assistant)
    status, body = await api(node.port, "GET", f"/api/rooms/{room}/audit", assistant)
    assert status == 200
    ops = [(e["op"], e["by"]) for e in body["entries"] if e["op"] in ("create", "restock", "stop")]
    assert ops == [("stop", "amy"), ("restock", "amy"), ("create", "amy")]
    assert (await api(node.port, "GET", f"/api/rooms/{room}/audit", token("viewer", room, "v")))[0] == 403


async def test_the_same_key_gets_its_first_answer_on_another_node_after_sell_out(make_node, room):
    a, b = await make_node(), await make_node()
    watcher = await RoomClient.connect(ws_url(b.port, room))  # so node b learns the deal's state
    await watcher.recv()
    deal = await create_deal(a.port, room, stock=1)
    status, won = await claim(a.port, room, deal["id"], "lin", 1, "tap-1")
    assert status == 200 and won["ok"]
    await watcher.until(lambda f: any(d["state"] == "sold_out" for d in f.get("deals", [])))
    # Node a "died" before its reply arrived; the viewer retries the same key on node b.
    assert await claim(b.port, room, deal["id"], "lin", 1, "tap-1") == (200, won)
    refused = await claim(b.port, room, deal["id"], "mei", 1, "tap-1")
    assert refused == (409, {"ok": False, "reason": "sold_out"})
    await watcher.close()


async def test_a_retried_restock_script_adds_stock_once(node, room):
    from livecart.store.keys import RoomKeys

    deal = await create_deal(node.port, room, stock=2)
    keys = RoomKeys(room)
    args = [keys.prefix, keys.channel, "PUBLISH", "amy", "restock", 3, "same-op-id"]
    for _ in range(2):  # what redis-py's retry does when the first reply was lost
        await node.deal_store._control(keys=[keys.deal(deal["id"])], args=args)
    assert (await deals_of(node.port, room))[deal["id"]]["stock"] == 5


async def test_a_user_flooding_claims_is_rate_limited_and_a_retried_key_gets_its_answer(make_node, room):
    node = await make_node(claim_rate=1, claim_burst=3)
    deal = await create_deal(node.port, room, stock=100, limit_per_user=100)
    statuses = [(await claim(node.port, room, deal["id"], "bot", key=f"k{n}"))[0] for n in range(6)]
    assert statuses[:3] == [200, 200, 200] and 429 in statuses[3:]
    # The same key again is not a new claim: it gets its first answer, whatever the rate.
    status, body = await claim(node.port, room, deal["id"], "bot", key="k0")
    assert status == 200 and body["ok"]
    # Other users are not slowed by the flooder.
    assert (await claim(node.port, room, deal["id"], "person", key="k0"))[0] == 200
    client = await RoomClient.connect(ws_url(node.port, room, tok=token("viewer", room, "bot2")))
    await client.recv()
    for n in range(5):
        await client.send({"type": "claim", "deal": deal["id"], "qty": 1, "req": f"s{n}"})
    replies = [await client.reply() for _ in range(5)]
    limited = [r for r in replies if r["type"] == "error"]
    assert limited and all(r["error"] == "rate_limited" and r["retry_after"] > 0 for r in limited)
    await client.close()
