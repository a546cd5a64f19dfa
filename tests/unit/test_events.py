"""Event validation: exact per-field errors, normalised output, counter deltas in cents."""

from __future__ import annotations

import typing

import pytest
from hypothesis import example, given

from livecart.errors import BadRequest
from livecart.events import (
    COUNTERS,
    EVENT_TYPES,
    LATEST_COUNTERS,
    Event,
    InvalidEvent,
    User,
    counter_deltas,
    counters_to_wire,
    logged_counter_deltas,
    order_clause,
    validate_event,
)
from tests.strategies import json_values, valid_events

NOW = 1_700_000_000_000


def test_a_comment_is_normalised_and_gets_the_receipt_time():
    event = validate_event({"id": "c1", "type": "comment", "user": {"id": "u1", "name": "Lin"},
                            "text": "想要", "extra": "dropped"}, NOW)
    assert event == {"id": "c1", "type": "comment", "user": {"id": "u1", "name": "Lin"}, "ts": NOW,
                     "text": "想要"}


def test_a_missing_user_name_defaults_to_the_user_id():
    assert validate_event({"id": "s", "type": "share", "user": {"id": "u9"}}, NOW)["user"]["name"] == "u9"


@pytest.mark.parametrize(("raw", "code", "field"), [
    ({"type": "comment", "user": {"id": "u"}, "text": "x"}, "missing_field", "id"),
    ({"id": "x" * 201, "type": "comment", "user": {"id": "u"}, "text": "x"}, "bad_field", "id"),
    ({"id": "a", "type": "dance", "user": {"id": "u"}}, "bad_type", "type"),
    ({"id": "a", "type": "comment", "text": "x"}, "missing_field", "user"),
    ({"id": "a", "type": "comment", "user": {"id": "u"}}, "missing_field", "text"),
    ({"id": "a", "type": "comment", "user": {"id": "u"}, "text": "x" * 4097}, "bad_field", "text"),
    ({"id": "a", "type": "like", "user": {"id": "u"}, "count": True}, "bad_field", "count"),
    ({"id": "a", "type": "like", "user": {"id": "u"}, "count": 0}, "bad_field", "count"),
    ({"id": "a", "type": "gift", "user": {"id": "u"}, "gift": "rose", "count": 1, "value": -1},
     "bad_field", "value"),
    ({"id": "a", "type": "order", "user": {"id": "u"}, "order_id": "o", "product_id": "p", "qty": 1,
      "amount": 1, "status": "shipped"}, "bad_field", "status"),
    ({"id": "a", "type": "share", "user": {"id": "u"}, "ts": "yesterday"}, "bad_field", "ts"),
    ({"id": "a", "type": "viewers", "platform": "tiktok"}, "missing_field", "count"),
    ({"id": "a", "type": "viewers", "platform": "tiktok", "count": -1}, "bad_field", "count"),
    ({"id": "a", "type": "viewers", "platform": "tiktok", "count": 10**9 + 1}, "bad_field", "count"),
    ({"id": "a", "type": "viewers", "platform": "tiktok", "count": 1.5}, "bad_field", "count"),
    ({"id": "a", "type": "viewers", "platform": "tiktok", "count": True}, "bad_field", "count"),
    ({"id": "a", "type": "viewers", "platform": "tiktok", "count": "12"}, "bad_field", "count"),
    ({"id": "a", "type": "viewers", "count": 5}, "missing_field", "platform"),
    ({"id": "a", "type": "viewers", "count": 5, "platform": ""}, "bad_field", "platform"),
    ({"id": "a", "type": "viewers", "count": 5, "platform": "TikTok"}, "bad_field", "platform"),
    ({"id": "a", "type": "viewers", "count": 5, "platform": "x" * 33}, "bad_field", "platform"),
    ({"id": "a", "type": "viewers", "count": 5, "platform": ["tiktok"]}, "bad_field", "platform"),
    ({"id": "a", "type": "viewers", "count": 5, "platform": "tiktok", "user": "tiktok"}, "missing_field",
     "user"),
])
def test_invalid_events_name_the_field(raw, code, field):
    with pytest.raises(InvalidEvent) as info:
        validate_event(raw, NOW)
    assert info.value.code == code and field in info.value.detail


def test_counter_deltas_keep_money_in_cents():
    order = validate_event({"id": "o", "type": "order", "user": {"id": "u"}, "order_id": "o 1",
                            "product_id": "p", "qty": 2, "amount": 19.99, "status": "paid"}, NOW)
    # Orders count by their order's state, in append.lua: the clause says what to count.
    assert counter_deltas(order) == {}
    assert order_clause(order) == "paid 1999 o 1"
    assert order_clause(dict(order, status="refunded")) == "refunded 1999 o 1"
    assert order_clause(dict(order, status="placed")) == ""
    gift = validate_event({"id": "g", "type": "gift", "user": {"id": "u"}, "gift": "rocket", "count": 3,
                          "value": 0.1}, NOW)
    assert counter_deltas(gift) == {"gifts": 3, "gifts_value_cents": 10}


def test_a_logged_order_moved_the_counters_as_append_lua_counted_it():
    paid = validate_event({"id": "o", "type": "order", "user": {"id": "u"}, "order_id": "o1",
                           "product_id": "p", "qty": 1, "amount": 19.99, "status": "paid"}, NOW)
    refunded = dict(paid, status="refunded")
    # The same moves as append.lua's count_order: paid adds an order and its GMV, a refund takes it back.
    assert logged_counter_deltas(paid) == {"orders": 1, "gmv_cents": 1999}
    assert logged_counter_deltas(refunded) == {"refunds": 1, "gmv_cents": -1999}
    assert logged_counter_deltas(dict(refunded, counted_cents=500)) == {"refunds": 1, "gmv_cents": -500}
    assert logged_counter_deltas(dict(paid, counted=False)) == {}
    assert logged_counter_deltas(dict(paid, status="placed")) == {}
    like = validate_event({"id": "l", "type": "like", "user": {"id": "u"}, "count": 4}, NOW)
    assert logged_counter_deltas(like) == counter_deltas(like) == {"likes": 4}


def test_a_gift_logged_before_minor_units_counts_its_value_in_cents():
    legacy = {"type": "gift", "count": 2, "value": 1.5}
    assert counter_deltas(legacy) == {"gifts": 2, "gifts_value_cents": 150}


def test_a_platform_viewer_count_is_nobody_s_and_sets_a_latest_value():
    event = validate_event({"id": "tiktok:viewers:@shop:1", "type": "viewers", "platform": "tiktok",
                            "count": 0}, NOW)  # 0 is a count: a stream nobody watches yet
    assert event == {"id": "tiktok:viewers:@shop:1", "type": "viewers",
                     "user": {"id": "tiktok", "name": "tiktok"}, "ts": NOW, "count": 0, "platform": "tiktok"}
    big = dict(event, count=10**9)
    assert validate_event(big, NOW)["count"] == 10**9
    assert counter_deltas(big) == logged_counter_deltas(big) == {"platform_viewers": 10**9}
    assert LATEST_COUNTERS <= set(COUNTERS) and "platform_viewers" in LATEST_COUNTERS
    assert counters_to_wire({})["platform_viewers"] == 0


def test_counters_on_the_wire_show_money_and_every_counter():
    wire = counters_to_wire({"gmv_cents": 123456, "likes": 3})
    assert wire["gmv"] == 1234.56 and wire["likes"] == 3 and wire["comments"] == 0
    assert wire["gmv_minor"] == 123456 and isinstance(wire["gmv_minor"], int)
    assert "gmv_cents" not in wire


@given(valid_events)
def test_every_valid_event_validates_and_is_idempotent(raw):
    event = validate_event(raw, NOW)
    assert validate_event(event, NOW) == event
    assert all(isinstance(v, int) for v in counter_deltas(event).values())


def _keys(typed_dict: type) -> tuple[set[str], set[str]]:
    """A TypedDict's (required, all) keys. Read from the hints: under `from __future__ import
    annotations`, Python 3.11's __required_keys__ counts a NotRequired key as required."""
    hints = typing.get_type_hints(typed_dict, include_extras=True)
    return {k for k, t in hints.items() if typing.get_origin(t) is not typing.NotRequired}, set(hints)


# Each kind's TypedDict, by the kinds its Literal `type` names.
TYPED = {kind: td for td in typing.get_args(Event)
         for kind in typing.get_args(typing.get_type_hints(td)["type"])}


def test_every_event_type_has_its_typed_dict():
    assert sorted(TYPED) == sorted(EVENT_TYPES)


@given(valid_events)
@example({"id": "o", "type": "order", "user": {"id": "u"}, "order_id": "o1", "product_id": "p", "qty": 1,
          "amount": 5, "status": "paid", "claim_id": "c1"})  # valid_events makes no claim_id
def test_a_validated_event_has_the_keys_its_type_declares(raw):
    # The types are static only: this keeps them honest about what validate_event really returns.
    event = validate_event(raw, NOW)
    required, declared = _keys(TYPED[event["type"]])
    assert required <= event.keys() <= declared
    assert event["user"].keys() == _keys(User)[1]


@given(json_values)
def test_any_value_is_an_event_or_a_bad_request(raw):
    try:
        validate_event(raw, NOW)
    except BadRequest:
        pass


@pytest.mark.parametrize("amount", [0.125, 0.001, 19.999, 0.0001])
def test_money_with_a_fraction_of_a_cent_is_refused_never_rounded(amount):
    # round(0.125, 2) was 0.12: a cent lost without a word.
    with pytest.raises(InvalidEvent, match="whole minor units of CNY"):
        validate_event({"id": "o", "type": "order", "user": {"id": "u"}, "order_id": "o1", "product_id": "p",
                        "qty": 1, "amount": amount, "status": "paid"}, NOW)


def test_money_computed_in_floating_point_is_whole_cents():
    event = validate_event({"id": "g", "type": "gift", "user": {"id": "u"}, "gift": "rocket", "count": 1,
                            "value": 0.1 + 0.2}, NOW)
    assert event["value"] == 0.3 and counter_deltas(event)["gifts_value_cents"] == 30
    assert event["value_minor"] == 30


@pytest.mark.parametrize(("currency", "amount", "minor"), [
    ("JPY", 1500, 1500), ("KRW", 39000, 39000), ("KWD", 1.234, 1234), ("USD", 19.99, 1999)])
def test_money_has_the_decimals_of_the_rooms_currency(currency, amount, minor):
    event = validate_event({"id": "o", "type": "order", "user": {"id": "u"}, "order_id": "o1",
                            "product_id": "p", "qty": 1, "amount": amount, "status": "paid"}, NOW, currency)
    assert (event["amount"], event["amount_minor"]) == (amount, minor)
    assert order_clause(event) == f"paid {minor} o1"


@pytest.mark.parametrize(("currency", "value"),
                         [("JPY", 12.5), ("KRW", 0.5), ("USD", 1.234), ("KWD", 0.0001)])
def test_money_finer_than_the_currencys_minor_unit_is_refused(currency, value):
    # A fixed "two decimals" let 12.5 yen through (1250 "cents" of a currency that has none).
    with pytest.raises(InvalidEvent, match=f"whole minor units of {currency}"):
        validate_event({"id": "g", "type": "gift", "user": {"id": "u"}, "gift": "rose", "count": 1,
                        "value": value}, NOW, currency)


def test_counters_show_money_in_the_rooms_decimals():
    assert counters_to_wire({"gmv_cents": 1500}, "JPY")["gmv"] == 1500
    assert counters_to_wire({"gmv_cents": 1234567}, "KWD")["gmv"] == 1234.567
