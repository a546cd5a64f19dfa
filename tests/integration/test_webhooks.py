"""Shop webhooks through a real node: Shopify's documented payloads signed in the test, the generic
mapping-file webhook, and the sources list every node's console reads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import websockets

from livecart.webhook_signature import sign
from tests.support import api, claim, comment, create_deal, post_events, token

FIXTURES = Path(__file__).parent.parent / "fixtures" / "shopify"
SECRET = "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"
VARIANT = "808950810"  # the fixture's line item variant: the deal's product id


def live_order(name: str) -> dict[str, Any]:
    """A payload from Shopify's documentation, made a live order (the samples are marked test orders)."""
    payload = json.loads((FIXTURES / name).read_text())
    payload["test"] = False
    for transaction in payload.get("transactions", []):
        transaction["test"] = False
    return payload


def order_body(name: str, claim_id: str | None = None) -> bytes:
    payload = live_order(name)
    if claim_id is not None:
        payload["note_attributes"].append({"name": "livecart_claim", "value": claim_id})
    # Indented and spaced as Shopify sends it: the signature is over these exact bytes.
    return json.dumps(payload, indent=2).encode()


async def deliver(port: int, room: str, topic: str, body: bytes, webhook_id: str, *,
                  secret: str = SECRET, hmac_header: str | None = None,
                  path: str = "shopify", headers: dict[str, str] | None = None) -> tuple[int, Any]:
    sent = {"Content-Type": "application/json", "X-Shopify-Topic": topic, "X-Shopify-Webhook-Id": webhook_id,
            "X-Shopify-Shop-Domain": "jsmith.myshopify.com", "X-Shopify-API-Version": "2025-01",
            "X-Shopify-Hmac-Sha256": hmac_header if hmac_header is not None else sign(secret, body)}
    if headers is not None:
        sent = headers
    async with aiohttp.ClientSession() as session, session.post(
            f"http://127.0.0.1:{port}/api/rooms/{room}/webhooks/{path}", data=body, headers=sent) as resp:
        return resp.status, await resp.json()


async def set_up_shop(port: int, room: str) -> str:
    assistant = token("assistant", room, "amy")
    assert (await api(port, "POST", f"/api/rooms/{room}/currency", assistant, {"currency": "USD"}))[0] == 200
    status, body = await api(port, "POST", f"/api/rooms/{room}/webhooks/shopify/secret", assistant,
                             {"secret": SECRET})
    assert status == 200, body
    return assistant


async def counters(port: int, room: str) -> dict[str, Any]:
    return (await api(port, "GET", f"/api/rooms/{room}/state", token("host", room)))[1]["counters"]


async def deal_of(port: int, room: str, deal_id: str) -> dict[str, Any]:
    deals = (await api(port, "GET", f"/api/rooms/{room}/deals", token("assistant", room)))[1]["deals"]
    return next(d for d in deals if d["id"] == deal_id)


async def sources(port: int, room: str) -> dict[str, dict[str, Any]]:
    status, body = await api(port, "GET", f"/api/rooms/{room}/sources", token("host", room))
    assert status == 200, body
    return {s["id"]: s for s in body["sources"]}


async def test_a_paid_shopify_order_settles_its_claim_once_and_a_refund_returns_the_unit(node, room):
    await set_up_shop(node.port, room)
    deal = await create_deal(node.port, room, product={"id": VARIANT, "name": "IPod Nano"}, stock=3,
                             price=199.0, deal_price=189.0)
    _, claimed = await claim(node.port, room, deal["id"], "viewer-1")
    claim_id = claimed["claim"]["id"]

    paid = order_body("orders_paid.json", claim_id)
    status, answer = await deliver(node.port, room, "orders/paid", paid, "wh-paid-1")
    assert status == 200, answer
    assert (answer["accepted"], answer["duplicates"], answer["rejected"]) == (1, 0, [])
    assert answer["event_id"] == "shopify:wh-paid-1"
    sold = await deal_of(node.port, room, deal["id"])
    assert (sold["left"], sold["held"], sold["sold"]) == (2, 0, 1)
    assert (await counters(node.port, room))["gmv"] == 403.0

    # Shopify retries a delivery it thinks failed, with the same webhook id: nothing counts twice.
    status, again = await deliver(node.port, room, "orders/paid", paid, "wh-paid-1")
    assert status == 200 and (again["accepted"], again["duplicates"]) == (0, 1)
    assert (await counters(node.port, room))["gmv"] == 403.0
    assert (await deal_of(node.port, room, deal["id"]))["sold"] == 1

    # The refund's payload does not name the claim: the node remembered the order's.
    status, refunded = await deliver(node.port, room, "refunds/create", order_body("refunds_create.json"),
                                     "wh-refund-1")
    assert status == 200 and refunded["accepted"] == 1, refunded
    back = await deal_of(node.port, room, deal["id"])
    assert (back["left"], back["held"], back["sold"]) == (3, 0, 0)
    room_counters = await counters(node.port, room)
    assert (room_counters["gmv"], room_counters["refunds"], room_counters["orders"]) == (204.0, 1, 1)

    shop = (await sources(node.port, room))["shopify:jsmith.myshopify.com"]
    assert (shop["via"], shop["deliveries"], shop["accepted"], shop["duplicates"]) == ("webhook", 3, 2, 1)
    assert shop["last_at"] >= shop["first_at"] > 0


async def test_a_cancelled_order_returns_the_held_unit_matched_by_a_discount_code(node, room):
    await set_up_shop(node.port, room)
    deal = await create_deal(node.port, room, product={"id": VARIANT, "name": "IPod Nano"}, stock=2)
    _, claimed = await claim(node.port, room, deal["id"], "viewer-2")
    payload = live_order("orders_cancelled.json")
    payload["discount_codes"] = [{"code": "LC-" + claimed["claim"]["id"], "amount": "10.00",
                                  "type": "fixed_amount"}]
    status, answer = await deliver(node.port, room, "orders/cancelled", json.dumps(payload).encode(), "wh-c1")
    assert status == 200 and answer["accepted"] == 1, answer
    state = await deal_of(node.port, room, deal["id"])
    assert (state["left"], state["held"], state["sold"]) == (2, 0, 0)


async def test_a_wrong_or_missing_signature_is_401_with_the_reason_and_stores_nothing(node, room):
    await set_up_shop(node.port, room)
    body = order_body("orders_paid.json")
    cases = [(sign("another-secret-0123456789", body), "does not match"), ("", "is missing"),
             ("!!!", "is not a base64")]
    for header, reason in cases:
        status, answer = await deliver(node.port, room, "orders/paid", body, "wh-forged", hmac_header=header)
        assert status == 401, answer
        assert answer["error"] == "bad_signature" and reason in answer["detail"]
    # Signed over other bytes (the same JSON re-encoded compactly): refused too.
    compact = orjson.dumps(json.loads(body))
    status, answer = await deliver(node.port, room, "orders/paid", compact, "wh-forged",
                                   hmac_header=sign(SECRET, body))
    assert status == 401
    assert (await counters(node.port, room))["orders"] == 0
    assert "shopify:jsmith.myshopify.com" not in await sources(node.port, room)
    async with aiohttp.ClientSession() as session, \
            session.get(f"http://127.0.0.1:{node.port}/metrics") as resp:
        metrics = await resp.text()
    assert 'livecart_webhooks_total{outcome="bad_signature",shop="shopify"} 4.0' in metrics
    # The genuine delivery with that id afterwards is not mistaken for a replay.
    status, answer = await deliver(node.port, room, "orders/paid", body, "wh-forged")
    assert status == 200 and answer["accepted"] == 1


async def test_a_room_without_a_secret_refuses_every_delivery(node, room):
    body = order_body("orders_paid.json")
    status, answer = await deliver(node.port, room, "orders/paid", body, "wh-1")
    assert status == 401 and answer["error"] == "no_secret"
    assert "webhooks/shopify/secret" in answer["detail"]
    # Set, then removed: refused again.
    assistant = await set_up_shop(node.port, room)
    assert (await api(node.port, "DELETE", f"/api/rooms/{room}/webhooks/shopify/secret", assistant))[0] == 200
    status, answer = await deliver(node.port, room, "orders/paid", body, "wh-2")
    assert status == 401 and answer["error"] == "no_secret"


async def test_an_unknown_topic_is_a_clear_200_counted_once_as_unmapped(node, room):
    await set_up_shop(node.port, room)
    body = order_body("orders_paid.json")
    for _ in range(2):  # the second is Shopify retrying the same delivery
        status, answer = await deliver(node.port, room, "orders/create", body, "wh-create-1")
        assert status == 200, answer
        assert answer["accepted"] == 0 and answer["unmapped"]["reason"] == "unknown_topic"
        assert "orders/paid" in answer["unmapped"]["detail"]
    shop = (await sources(node.port, room))["shopify:jsmith.myshopify.com"]
    assert (shop["unmapped"], shop["accepted"], shop["deliveries"]) == (1, 0, 2)
    assert (await counters(node.port, room))["orders"] == 0


async def test_shopifys_test_notification_is_not_counted_unless_rehearsing(node, room):
    await set_up_shop(node.port, room)
    sample = (FIXTURES / "orders_paid.json").read_bytes()  # the documented sample: "test": true
    status, answer = await deliver(node.port, room, "orders/paid", sample, "wh-test-1")
    assert status == 200 and answer["unmapped"]["reason"] == "test_order"
    assert (await counters(node.port, room))["orders"] == 0
    status, answer = await deliver(node.port, room, "orders/paid", sample, "wh-test-2",
                                   path="shopify?test_orders=count")
    assert status == 200 and answer["accepted"] == 1
    assert (await counters(node.port, room))["orders"] == 1


async def test_an_oversized_or_malformed_body_is_refused(node, room):
    await set_up_shop(node.port, room)
    big = b'{"id": 1, "note": "' + b"x" * (300 * 1024) + b'"}'
    status, answer = await deliver(node.port, room, "orders/paid", big, "wh-big")
    assert status == 413 and answer["error"] == "too_large"
    for bad in (b"[1, 2]", b"not json", b""):
        status, answer = await deliver(node.port, room, "orders/paid", bad, "wh-bad")
        assert status == 400 and answer["error"] in ("bad_body", "bad_encoding"), (bad, answer)
    status, answer = await deliver(node.port, room, "orders/paid", b"{}", "x" * 201)
    assert status == 400 and answer["error"] == "missing_webhook_id"


async def test_an_order_in_another_currency_is_rejected_with_the_reason(node, room):
    await set_up_shop(node.port, room)
    payload = live_order("orders_paid.json")
    payload["currency"] = "EUR"
    status, answer = await deliver(node.port, room, "orders/paid", json.dumps(payload).encode(), "wh-eur")
    assert status == 200 and answer["accepted"] == 0
    assert answer["rejected"][0]["error"] == "currency_mismatch"
    assert (await sources(node.port, room))["shopify:jsmith.myshopify.com"]["rejected"] == 1


async def test_the_secret_is_set_by_assistants_and_never_read_back(node, room):
    assistant = await set_up_shop(node.port, room)
    status, settings = await api(node.port, "GET", f"/api/rooms/{room}/webhooks", assistant)
    assert status == 200
    shopify = settings["shops"]["shopify"]
    assert shopify["secret"]["hint"] == "…" + SECRET[-4:] and shopify["secret"]["by"] == "amy"
    assert shopify["url"] == f"/api/rooms/{room}/webhooks/shopify"
    assert SECRET not in json.dumps(settings) and settings["shops"]["orders"]["secret"] is None
    for role in ("host", "viewer", "overlay", "ingest"):
        got, _ = await api(node.port, "POST", f"/api/rooms/{room}/webhooks/shopify/secret",
                           token(role, room, "u"), {"secret": "x" * 32})
        assert got == 403, role
        assert (await api(node.port, "GET", f"/api/rooms/{room}/webhooks", token(role, room, "u")))[0] == 403
    for bad in ({"secret": "short"}, {"secret": " " + SECRET}, {"secret": 5}, {}, ["s"]):
        got, answer = await api(node.port, "POST", f"/api/rooms/{room}/webhooks/shopify/secret", assistant,
                                bad)
        assert got == 400 and answer["error"] in ("bad_secret", "bad_body"), bad
    got, answer = await api(node.port, "POST", f"/api/rooms/{room}/webhooks/tiktok/secret", assistant,
                            {"secret": "x" * 32})
    assert got == 404 and answer["error"] == "no_such_shop"
    # The audit log says who set it, and when; never what it is.
    entries = (await api(node.port, "GET", f"/api/rooms/{room}/audit", assistant))[1]["entries"]
    [entry] = [e for e in entries if e["op"] == "webhook_secret"]
    assert (entry["shop"], entry["by"]) == ("shopify", "amy") and int(entry["at"]) > 0
    assert SECRET not in json.dumps(entries)


WOO_MAPPING = {
    "signature": {"header": "X-WC-Webhook-Signature", "encoding": "base64"},
    "fields": {"order_id": "id", "status": "status", "amount": "total", "currency": "currency",
               "product_id": "line_items.0.product_id", "qty": "line_items.0.quantity",
               "claim_id": "meta_data[key=livecart_claim].value", "user_id": "customer_id",
               "user_name": "billing.first_name"},
    "statuses": {"processing": "paid", "completed": "paid", "cancelled": "cancelled", "refunded": "refunded"},
}


def woo_order(claim_id: str, status: str = "processing") -> bytes:
    return json.dumps({
        "id": 52, "parent_id": 0, "status": status, "currency": "USD", "total": "29.35", "customer_id": 7,
        "billing": {"first_name": "Test", "last_name": "Test", "email": "test@example.com"},
        "line_items": [{"id": 1, "name": "Woo Single #1", "product_id": 93, "quantity": 1, "total": "29.35"}],
        "meta_data": [{"id": 10, "key": "livecart_claim", "value": claim_id}]}).encode()


async def test_the_generic_webhook_maps_any_shop_through_its_mapping_file(node, room):
    assistant = token("assistant", room, "amy")
    usd = {"currency": "USD"}
    assert (await api(node.port, "POST", f"/api/rooms/{room}/currency", assistant, usd))[0] == 200
    secret = "woo-secret-0123456789abcdef"
    body = woo_order("nope")
    headers = {"Content-Type": "application/json", "X-WC-Webhook-Signature": sign(secret, body)}
    status, answer = await deliver(node.port, room, "", body, "", path="orders", headers=headers)
    assert status == 409 and answer["error"] == "no_mapping"

    status, answer = await api(node.port, "POST", f"/api/rooms/{room}/webhooks/orders/mapping", assistant,
                               {**WOO_MAPPING, "statuses": {"done": "shipped"}})
    assert status == 400 and answer["error"] == "bad_mapping"
    status, settings = await api(node.port, "POST", f"/api/rooms/{room}/webhooks/orders/mapping", assistant,
                                 WOO_MAPPING)
    assert status == 200 and settings["shops"]["orders"]["mapping"]["fields"] == WOO_MAPPING["fields"]
    status, answer = await deliver(node.port, room, "", body, "", path="orders", headers=headers)
    assert status == 401 and answer["error"] == "no_secret"
    await api(node.port, "POST", f"/api/rooms/{room}/webhooks/orders/secret", assistant, {"secret": secret})

    deal = await create_deal(node.port, room, product={"id": "93", "name": "Woo Single"}, stock=2)
    _, claimed = await claim(node.port, room, deal["id"], "viewer-3")
    body = woo_order(claimed["claim"]["id"])
    headers = {"Content-Type": "application/json", "X-WC-Webhook-Signature": sign(secret, body)}
    for expected in ((1, 0), (0, 1)):  # delivered twice: counted once
        status, answer = await deliver(node.port, room, "", body, "", path="orders", headers=headers)
        assert status == 200 and (answer["accepted"], answer["duplicates"]) == expected, answer
    assert (await deal_of(node.port, room, deal["id"]))["sold"] == 1
    assert (await counters(node.port, room))["gmv"] == 29.35

    on_hold = woo_order(claimed["claim"]["id"], "on-hold")
    status, answer = await deliver(node.port, room, "", on_hold, "", path="orders",
                                   headers={"X-WC-Webhook-Signature": sign(secret, on_hold)})
    assert status == 200 and answer["unmapped"]["reason"] == "unknown_status"
    status, answer = await deliver(node.port, room, "", body, "", path="orders",
                                   headers={"X-WC-Webhook-Signature": sign(SECRET, body)})
    assert status == 401 and answer["error"] == "bad_signature"
    shop = (await sources(node.port, room))["orders:webhook"]
    assert (shop["accepted"], shop["duplicates"], shop["unmapped"]) == (1, 1, 1)


async def test_every_ingest_client_is_a_source_seen_from_every_node(make_node, room):
    a, b = await make_node(), await make_node()
    async with aiohttp.ClientSession() as session:
        async with session.post(f"http://127.0.0.1:{a.port}/api/rooms/{room}/events",
                                data=orjson.dumps([comment("s1"), comment("s1"), {"id": "bad"}]),
                                headers={"Authorization": f"Bearer {token('ingest', room)}",
                                         "X-Livecart-Source": "tiktok:@streamer"}) as resp:
            assert resp.status == 200
        # Posing as a shop's webhook, or a malformed name: the events count, under the token's identity.
        for posing in ("shopify:jsmith.myshopify.com", "tiktok:with space"):
            async with session.post(f"http://127.0.0.1:{a.port}/api/rooms/{room}/events",
                                    data=orjson.dumps([comment("s0" + posing[0])]),
                                    headers={"Authorization": f"Bearer {token('ingest', room, 'poser')}",
                                             "X-Livecart-Source": posing}) as resp:
                assert resp.status == 200 and (await resp.json())["accepted"] == 1
    await post_events(a.port, room, [comment("s2")], tok=token("ingest", room, "erp-sync"))
    await post_events(a.port, room, [comment("s3")])
    url = f"ws://127.0.0.1:{a.port}/ws/ingest/{room}?token={token('ingest', room)}&source=bilibili:21452505"
    async with websockets.connect(url) as ws:
        await ws.send(orjson.dumps({"type": "events", "req": "q", "events": [comment("s4")]}).decode())
        assert orjson.loads(await ws.recv())["accepted"] == 1

    await a.source_log.flush()  # ingest deliveries are written once a second (source_log.py): now
    seen = await sources(b.port, room)  # the other node's console
    assert set(seen) == {"tiktok:@streamer", "erp-sync", "ingest", "bilibili:21452505", "poser"}
    assert seen["poser"]["accepted"] == 2
    tiktok = seen["tiktok:@streamer"]
    assert (tiktok["via"], tiktok["accepted"], tiktok["duplicates"], tiktok["rejected"]) == ("http", 1, 1, 1)
    assert seen["bilibili:21452505"]["via"] == "socket"
    status, listed = await api(b.port, "GET", f"/api/rooms/{room}/sources", token("host", room))
    assert [s["id"] for s in listed["sources"]][0] == "bilibili:21452505"  # the latest delivery first
    for role in ("viewer", "overlay", "ingest"):
        assert (await api(b.port, "GET", f"/api/rooms/{room}/sources", token(role, room, "u")))[0] == 403


async def test_the_checkout_link_is_set_by_staff_and_read_by_viewers(node, room):
    assistant = token("assistant", room, "amy")
    viewer = token("viewer", room, "v1")
    assert await api(node.port, "GET", f"/api/rooms/{room}/checkout", viewer) == (200, {"url": None})
    link = "https://jsmith.myshopify.com/cart/{product}:{qty}?attributes[livecart_claim]={claim}"
    assert await api(node.port, "POST", f"/api/rooms/{room}/checkout", assistant, {"url": link}) \
        == (200, {"url": link})
    assert await api(node.port, "GET", f"/api/rooms/{room}/checkout", viewer) == (200, {"url": link})
    status, answer = await api(node.port, "POST", f"/api/rooms/{room}/checkout", assistant,
                               {"url": "javascript:alert(1)//{claim}"})
    assert status == 400 and answer["error"] == "bad_checkout_url"
    assert (await api(node.port, "POST", f"/api/rooms/{room}/checkout", viewer, {"url": link}))[0] == 403
