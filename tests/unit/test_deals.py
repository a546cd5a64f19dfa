"""Deal rules without Redis: guard rails, the state machine, claim decisions, the DEAL map."""

from __future__ import annotations

import pytest

from livecart.deals import (
    DealState,
    RejectReason,
    check_claim,
    deal_state,
    deal_to_wire,
    is_deal_id,
    new_deal_id,
    next_transition,
    parse_spec,
)
from livecart.errors import BadRequest

NOW = 1_800_000_000_000


def body(**overrides):
    b = {"product": {"id": "p1", "name": "Scarf"}, "price": 100, "deal_price": 59.9, "stock": 5,
         "limit_per_user": 1, "duration_s": 60, "start_at": None}
    b.update(overrides)
    return b


def fields(**overrides):
    f = {"id": "d1", "status": "open", "starts_at": NOW, "ends_at": NOW + 60_000, "left": 5, "stock": 5,
         "held": 0, "sold": 0, "limit_per_user": 2, "price_cents": 10000, "deal_price_cents": 5990,
         "product_id": "p1", "product_name": "Scarf"}
    f.update(overrides)
    return {k: str(v) for k, v in f.items()}


def test_a_valid_spec_keeps_money_in_cents_and_times_in_ms():
    spec = parse_spec(body(), NOW)
    assert (spec.price_cents, spec.deal_price_cents, spec.starts_at, spec.ends_at) == (
        10000, 5990, NOW, NOW + 60_000)


@pytest.mark.parametrize(("overrides", "code"), [
    ({"deal_price": 100}, "bad_price"),
    ({"deal_price": 120}, "bad_price"),
    ({"deal_price": 0}, "bad_field"),
    ({"deal_price": 9.99}, "confirm_price"),
    ({"stock": 0}, "bad_field"),
    ({"limit_per_user": 0}, "bad_field"),
    ({"duration_s": 59}, "bad_field"),
    ({"duration_s": 1201}, "bad_field"),
    ({"countdown_s": 5}, "bad_field"),
    ({"countdown_s": 30, "start_at": NOW}, "bad_field"),
    ({"product": "scarf"}, "bad_field"),
    ({"price": float("nan")}, "bad_field"),
    ({"stock": True}, "bad_field"),
])
def test_guard_rails_refuse_with_a_reason(overrides, code):
    with pytest.raises(BadRequest) as info:
        parse_spec(body(**overrides), NOW)
    assert info.value.code == code


def test_a_fat_finger_price_passes_only_with_confirm():
    assert parse_spec(body(deal_price=9.99, confirm=True), NOW).deal_price_cents == 999


def test_countdown_schedules_the_start():
    assert parse_spec(body(countdown_s=30), NOW).starts_at == NOW + 30_000


@pytest.mark.parametrize(("overrides", "at", "state"), [
    ({}, NOW - 1, DealState.SCHEDULED),
    ({}, NOW, DealState.LIVE),
    ({"left": 0}, NOW + 1, DealState.SOLD_OUT),
    ({}, NOW + 60_000, DealState.ENDED),
    ({"left": 0}, NOW + 60_000, DealState.ENDED),
    ({"status": "stopped"}, NOW + 1, DealState.STOPPED),
    ({"status": "stopped"}, NOW + 90_000, DealState.STOPPED),
])
def test_state_follows_the_clock_and_the_stock(overrides, at, state):
    assert deal_state(fields(**overrides), at) is state


@pytest.mark.parametrize(("overrides", "user_count", "qty", "at", "reason"), [
    ({}, 0, 1, NOW, None),
    ({}, 0, 0, NOW, RejectReason.INVALID_QTY),
    ({}, 0, "1", NOW, RejectReason.INVALID_QTY),
    ({}, 0, 1, NOW - 1, RejectReason.NOT_LIVE),
    ({}, 0, 1, NOW + 60_000, RejectReason.ENDED),
    ({"status": "stopped"}, 0, 1, NOW, RejectReason.ENDED),
    ({}, 2, 1, NOW, RejectReason.LIMIT_REACHED),
    ({"left": 1}, 0, 2, NOW, RejectReason.SOLD_OUT),
    ({"left": 0}, 0, 1, NOW, RejectReason.SOLD_OUT),
])
def test_check_claim_gives_the_contract_reasons(overrides, user_count, qty, at, reason):
    assert check_claim(fields(**overrides), user_count, qty, at) is reason


def test_next_transition_is_start_then_end_then_nothing():
    assert next_transition(fields(), NOW - 5) == NOW
    assert next_transition(fields(), NOW) == NOW + 60_000
    assert next_transition(fields(), NOW + 60_000) is None
    assert next_transition(fields(status="stopped"), NOW) is None


def test_deal_to_wire_has_the_contract_fields():
    wire = deal_to_wire(fields(held=1, sold=2, left=2, gmv_cents=11980, rej_sold_out=3), NOW)
    for name in ("id", "state", "stock", "left", "held", "sold", "buyers", "limit_per_user", "price",
                 "deal_price", "starts_at", "ends_at"):
        assert name in wire
    assert wire["left"] + wire["held"] + wire["sold"] == wire["stock"]
    assert (wire["price"], wire["deal_price"], wire["gmv"]) == (100.0, 59.9, 119.8)
    assert wire["rejections"]["sold_out"] == 3 and wire["state"] == "live"


def test_only_ids_of_the_shape_the_server_makes_are_deal_ids():
    made = new_deal_id()
    assert is_deal_id(made) and len(made) == 12
    # Other keys of a real deal, and anything else: never part of a Redis key name.
    for other in (made + ":ops", made + ":external", made.upper(), made[:-1], made + "0", "", "x" * 12,
                  made[:11] + "\n", None, 12, ["a"]):
        assert not is_deal_id(other), other


@pytest.mark.parametrize("price", [0.001, 0.125, 0.004])
def test_a_deal_price_with_a_fraction_of_a_cent_is_refused(price):
    # A deal_price of 0.001 once became 0: a free deal.
    with pytest.raises(BadRequest, match="whole minor units of CNY"):
        parse_spec(body(deal_price=price, confirm=True), NOW)


def test_deal_prices_follow_the_rooms_currency():
    spec = parse_spec(body(price=1500, deal_price=990), NOW, currency="JPY")
    assert (spec.price_cents, spec.deal_price_cents, spec.currency) == (1500, 990, "JPY")
    with pytest.raises(BadRequest, match="whole minor units of JPY"):
        parse_spec(body(price=1500, deal_price=99.5), NOW, currency="JPY")
    assert parse_spec(body(price=10, deal_price=5.125), NOW, currency="KWD").deal_price_cents == 5125


def test_a_deal_map_carries_its_currency_and_its_decimals():
    wire = deal_to_wire(fields(price_cents=1500, deal_price_cents=990, currency="JPY"), NOW)
    assert (wire["currency"], wire["price"], wire["deal_price"], wire["price_minor"]) == (
        "JPY", 1500, 990, 1500)
    # A deal stored before rooms had a currency was priced in cents.
    assert deal_to_wire(fields(), NOW)["currency"] == "CNY"
