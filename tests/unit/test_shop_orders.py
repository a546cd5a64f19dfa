"""Shop webhooks as order events: Shopify's documented payloads (tests/fixtures/shopify), a generic
mapping file, and the checkout link template."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from livecart.errors import BadRequest
from livecart.events import validate_event
from livecart.shop_orders import (
    Mapped,
    Unmapped,
    check_checkout_url,
    claim_of_order,
    event_id,
    parse_mapping,
    read_path,
    shopify_order,
)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "shopify"


def fixture(name, live=True):
    """A payload from Shopify's documentation. Those samples are test orders (`"test": true`); `live`
    makes it the same order paid for real."""
    payload = json.loads((FIXTURES / name).read_text())
    if live:
        payload["test"] = False
        for transaction in payload.get("transactions", []):
            transaction["test"] = False
    return payload


def with_claim_attribute(order, claim):
    attributes = [*order["note_attributes"], {"name": "livecart_claim", "value": claim}]
    return {**order, "note_attributes": attributes}


def test_orders_paid_becomes_a_paid_order_event_named_by_the_webhook_id():
    order = with_claim_attribute(fixture("orders_paid.json"), "c0ffee12")
    mapped = shopify_order("orders/paid", order, "b54557e4-8a5f-4f0d-9d7e-2e6e9b5b0f31")
    assert isinstance(mapped, Mapped)
    event = validate_event(mapped.event, 1, "USD")
    assert event["id"] == "shopify:b54557e4-8a5f-4f0d-9d7e-2e6e9b5b0f31"
    assert event["type"] == "order" and event["status"] == "paid"
    assert event["order_id"] == "820982911946154508"
    assert event["product_id"] == "808950810"  # the variant id: what a cart link names
    assert event["qty"] == 1
    assert event["amount_minor"] == 40300  # total_price "403.00", exactly
    assert event.get("claim_id") == "c0ffee12"
    assert mapped.currency == "USD"


def test_the_buyer_shows_as_a_first_name_and_an_initial_never_an_email():
    mapped = shopify_order("orders/paid", fixture("orders_paid.json"), "w1")
    assert isinstance(mapped, Mapped)
    assert mapped.event["user"] == {"id": "shopify:115310627314723954", "name": "John S."}
    assert "@" not in json.dumps(mapped.event)


def test_orders_cancelled_is_a_cancelled_order():
    order = with_claim_attribute(fixture("orders_cancelled.json"), "c1")
    mapped = shopify_order("orders/cancelled", order, "w2")
    assert isinstance(mapped, Mapped)
    assert validate_event(mapped.event, 1, "USD")["status"] == "cancelled"
    assert mapped.claim_id == "c1"


def test_refunds_create_is_a_refund_of_its_order_for_the_money_paid_back():
    mapped = shopify_order("refunds/create", fixture("refunds_create.json"), "w3")
    assert isinstance(mapped, Mapped)
    event = validate_event(mapped.event, 1, "USD")
    assert event["status"] == "refunded"
    assert event["order_id"] == "820982911946154508"
    assert event["amount_minor"] == 19900
    assert event["product_id"] == "808950810"
    assert "claim_id" not in event  # a refund does not say: the webhook remembers the order's claim
    assert mapped.with_claim("c9").event["claim_id"] == "c9"
    assert mapped.with_claim(None) is mapped


def test_a_refund_without_money_moved_counts_its_lines_subtotal():
    refund = {**fixture("refunds_create.json"), "transactions": []}
    mapped = shopify_order("refunds/create", refund, "w4")
    assert isinstance(mapped, Mapped)
    assert validate_event(mapped.event, 1, "USD")["amount_minor"] == 19900


@pytest.mark.parametrize("topic", ["orders/create", "products/update", "", None, "ORDERS/PAID"])
def test_an_unknown_topic_is_unmapped_with_a_reason(topic):
    outcome = shopify_order(topic, fixture("orders_paid.json"), "w5")
    assert isinstance(outcome, Unmapped)
    assert outcome.reason == "unknown_topic"
    assert "orders/paid" in outcome.detail


def test_a_payload_without_its_fields_is_refused_by_event_validation_naming_the_field():
    mapped = shopify_order("orders/paid", {"id": 5, "line_items": []}, "w6")
    assert isinstance(mapped, Mapped)
    with pytest.raises(BadRequest, match="product_id"):
        validate_event(mapped.event, 1, "USD")
    junk = shopify_order("orders/paid", {**fixture("orders_paid.json"), "total_price": "lots"}, "w7")
    assert isinstance(junk, Mapped)
    with pytest.raises(BadRequest, match="amount"):
        validate_event(junk.event, 1, "USD")


@pytest.mark.parametrize(("order", "claim"), [
    ({"note_attributes": [{"name": "livecart_claim", "value": "abc1"}]}, "abc1"),
    ({"discount_codes": [{"code": "LC-abc2", "amount": "0.00", "type": "fixed_amount"}]}, "abc2"),
    ({"discount_codes": [{"code": "lc-abc3", "amount": "0.00", "type": "fixed_amount"}]}, "abc3"),
    ({"discount_codes": [{"code": "TENOFF", "amount": "10.00", "type": "fixed_amount"}]}, None),
    ({"note_attributes": [{"name": "gift wrap", "value": "no"}], "discount_codes": []}, None),
    ({"note_attributes": "junk", "discount_codes": [None, 5]}, None),
    ({"note_attributes": [{"name": "livecart_claim", "value": "x" * 500}]}, None),
])
def test_the_claim_comes_from_a_note_attribute_or_an_lc_discount_code(order, claim):
    assert claim_of_order(order) == claim


WOO_MAPPING = {
    "signature": {"header": "X-WC-Webhook-Signature", "encoding": "base64"},
    "fields": {"order_id": "id", "status": "status", "amount": "total", "currency": "currency",
               "product_id": "line_items.0.product_id", "qty": "line_items.0.quantity",
               "claim_id": "meta_data[key=livecart_claim].value", "user_id": "customer_id",
               "user_name": "billing.first_name"},
    "statuses": {"processing": "paid", "completed": "paid", "cancelled": "cancelled", "refunded": "refunded"},
}
WOO_ORDER = {"id": 52, "status": "processing", "currency": "EUR", "total": "29.35", "customer_id": 7,
             "billing": {"first_name": "Test", "email": "test@example.com"},
             "line_items": [{"id": 1, "product_id": 93, "quantity": 2, "total": "29.35"}],
             "meta_data": [{"id": 9, "key": "_other", "value": "x"}, {"id": 10, "key": "livecart_claim",
                                                                       "value": "beef01"}]}


def test_a_mapping_file_maps_a_woocommerce_order():
    mapping = parse_mapping(WOO_MAPPING)
    mapped = mapping.order(WOO_ORDER)
    assert isinstance(mapped, Mapped)
    event = validate_event(mapped.event, 1, "EUR")
    assert event["id"] == "orders:52:paid"  # a second delivery of the same status is a duplicate
    assert (event["order_id"], event["product_id"], event["qty"]) == ("52", "93", 2)
    assert event["amount_minor"] == 2935
    assert event["claim_id"] == "beef01"
    assert event["user"] == {"id": "shop:7", "name": "Test"}
    assert mapped.currency == "EUR"
    assert mapping.signature_header == "X-WC-Webhook-Signature"


def test_a_status_the_mapping_does_not_name_is_unmapped():
    outcome = parse_mapping(WOO_MAPPING).order({**WOO_ORDER, "status": "on-hold"})
    assert isinstance(outcome, Unmapped) and outcome.reason == "unknown_status"
    assert "on-hold" in outcome.detail


def test_read_path_follows_keys_indexes_and_selections_and_never_raises():
    doc = {"a": [{"k": "x", "v": 1}, {"k": "y", "v": 2}], "b": {"c": None}}
    path = parse_mapping({**WOO_MAPPING, "fields": {**WOO_MAPPING["fields"], "qty": "a[k=y].v"}}).paths["qty"]
    assert read_path(doc, path) == 2
    for text in ("a.1.v", "a.5.v", "b.c.d", "a.x", "b[k=y].v"):
        p = parse_mapping({**WOO_MAPPING, "fields": {**WOO_MAPPING["fields"], "qty": text}}).paths["qty"]
        read_path(doc, p)  # a value or None, whatever the document holds
    assert read_path(doc, parse_mapping({**WOO_MAPPING, "fields": {**WOO_MAPPING["fields"],
                                                                     "qty": "a.1.v"}}).paths["qty"]) == 2


@pytest.mark.parametrize(("change", "reason"), [
    ({"fields": {"order_id": "id"}}, "must name status, amount, product_id"),
    ({"fields": {**WOO_MAPPING["fields"], "colour": "x"}}, "unknown order fields: colour"),
    ({"statuses": {"done": "shipped"}}, "must be one of"),
    ({"statuses": {}}, "statuses must map"),
    ({"signature": {"header": "Bad Header!", "encoding": "hex"}}, "header name"),
    ({"signature": {"header": "X-Sig", "encoding": "base32"}}, "encoding"),
    ({"fields": {**WOO_MAPPING["fields"], "qty": "a..b"}}, "is not a key"),
    ({"extra": 1}, "unknown keys"),
])
def test_a_bad_mapping_file_is_refused_naming_what_is_wrong(change, reason):
    with pytest.raises(BadRequest, match=reason) as refused:
        parse_mapping({**WOO_MAPPING, **change})
    assert refused.value.code == "bad_mapping"


def test_the_mapping_defaults_to_livecarts_own_signature_header():
    mapping = parse_mapping({"fields": WOO_MAPPING["fields"], "statuses": {"paid": "paid"}})
    assert (mapping.signature_header, mapping.signature_encoding) == ("X-Livecart-Hmac-Sha256", "base64")


@pytest.mark.parametrize("url", [
    "https://shop.myshopify.com/cart/{product}:{qty}?attributes[livecart_claim]={claim}",
    "https://shop.example/checkout?discount=LC-{claim}&deal={deal}",
    "http://localhost:8080/cart?claim={claim}",
])
def test_a_checkout_link_names_the_claim(url):
    assert check_checkout_url(url) == url


@pytest.mark.parametrize(("url", "reason"), [
    ("https://shop.example/cart", "must pass {claim}"),
    ("http://shop.example/cart?c={claim}", "https://"),
    ("javascript:alert(1)//{claim}", "https://"),
    ("https://shop.example/?c={claim}&u={user}", "unknown placeholders user"),
    ('https://shop.example/?c={claim}"><script>', "must not contain"),
    ("https://shop.example/" + "x" * 1000 + "{claim}", "1-1000"),
    (5, "1-1000"),
])
def test_a_bad_checkout_link_is_refused(url, reason):
    with pytest.raises(BadRequest, match=reason):
        check_checkout_url(url)


def test_a_long_delivery_id_still_makes_a_valid_event_id():
    long_id = "w" * 200
    mapped = shopify_order("orders/paid", fixture("orders_paid.json"), long_id)
    assert isinstance(mapped, Mapped)
    event = validate_event(mapped.event, 1, "USD")
    assert len(event["id"]) <= 200 and event["id"].startswith("shopify:#")
    again = shopify_order("orders/paid", fixture("orders_paid.json"), long_id)
    assert isinstance(again, Mapped) and again.event["id"] == event["id"]  # a replay is still a duplicate
    other = shopify_order("orders/paid", fixture("orders_paid.json"), "w" * 199 + "x")
    assert isinstance(other, Mapped) and other.event["id"] != event["id"]
    assert event_id("orders", "52:paid") == "orders:52:paid"


SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8)
ITEM_KEYS = st.sampled_from(["variant_id", "sku", "product_id", "quantity", "name", "value", "code", "id",
                             "amount", "kind", "status", "subtotal", "line_item", "key", "first_name"])
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(ITEM_KEYS, inner, max_size=4), max_leaves=10)
ORDER_KEYS = st.sampled_from(["id", "order_id", "total_price", "currency", "line_items", "note_attributes",
                              "discount_codes", "customer", "refund_line_items", "transactions", "status",
                              "total", "meta_data", "customer_id", "billing"])
PAYLOADS = st.dictionaries(ORDER_KEYS, JSON, max_size=6)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["orders/paid", "orders/cancelled", "refunds/create", "orders/create"]), PAYLOADS)
def test_any_shopify_payload_maps_to_an_event_or_unmapped_and_validation_decides(topic, payload):
    outcome = shopify_order(topic, payload, "w")
    assert isinstance(outcome, Mapped | Unmapped)
    if isinstance(outcome, Mapped):
        try:
            validate_event(outcome.event, 1, "USD")
        except BadRequest as refused:
            assert refused.status == 400


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(PAYLOADS)
def test_any_payload_through_a_mapping_file_maps_or_is_unmapped_never_raises(payload):
    outcome = parse_mapping(WOO_MAPPING).order(payload)
    assert isinstance(outcome, Mapped | Unmapped)
    if isinstance(outcome, Mapped):
        try:
            validate_event(outcome.event, 1, "USD")
        except BadRequest as refused:
            assert refused.status == 400


@pytest.mark.parametrize("junk", [True, 5, "text", {"name": "livecart_claim"}])
def test_lists_that_are_not_lists_are_read_as_empty(junk):
    order = {**fixture("orders_paid.json"), "note_attributes": junk, "discount_codes": junk}
    assert claim_of_order(order) is None
    refund = {**fixture("refunds_create.json"), "refund_line_items": junk, "transactions": junk}
    assert isinstance(shopify_order("refunds/create", refund, "w"), Mapped)


@pytest.mark.parametrize(("topic", "name"), [("orders/paid", "orders_paid.json"),
                                             ("orders/cancelled", "orders_cancelled.json"),
                                             ("refunds/create", "refunds_create.json")])
def test_shopifys_test_orders_are_unmapped_unless_counted_for_a_rehearsal(topic, name):
    sample = fixture(name, live=False)  # exactly the documented sample: "Send test notification" sends it
    outcome = shopify_order(topic, sample, "w")
    assert isinstance(outcome, Unmapped) and outcome.reason == "test_order"
    assert "test_orders=count" in outcome.detail
    assert isinstance(shopify_order(topic, sample, "w", count_tests=True), Mapped)
