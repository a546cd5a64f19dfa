"""The pure rules of goals and group-buy tiers: console input, progress, who sees what."""

from __future__ import annotations

import hypothesis.strategies as st
import pytest
from hypothesis import given

from livecart.errors import BadRequest
from livecart.goal_report import goal_rows
from livecart.goals import goal_view, goals_view, metric_value, parse_changes, parse_goal, reached
from livecart.lucky_bag import commitment
from livecart.tiers import parse_tiers, stored_tiers, tier_for, tiers_to_wire

DEAL = "0123456789ab"


def test_a_goal_spec_is_validated_into_what_goal_lua_reads():
    assert parse_goal({"metric": "likes", "target": 100, "label": "100!"}) == {
        "metric": "likes", "target": 100, "label": "100!", "action": {"type": "none"}}
    assert parse_goal({"metric": "gmv", "target": 12.34}, "CNY") == {
        "metric": "gmv", "target": 1234, "scale": 100, "action": {"type": "none"}}
    assert parse_goal({"metric": "gmv", "target": 1500}, "JPY")["target"] == 1500
    spec = parse_goal({"metric": "deal_claimed", "deal": DEAL, "target": 3,
                       "action": {"type": "restock", "deal": DEAL, "add": 5, "extra": "ignored"}})
    assert spec["deal"] == DEAL and spec["action"] == {"type": "restock", "deal": DEAL, "add": 5}


@pytest.mark.parametrize("body", [
    None, [], {"metric": "likes"}, {"metric": "likes", "target": -1}, {"metric": "likes", "target": 10**13},
    {"metric": "gmv", "target": 12.345}, {"metric": "JPY", "target": 1}, {"metric": "deal_sold", "target": 1},
    {"metric": "deal_sold", "deal": "DEAL", "target": 1}, {"metric": "likes", "target": 1, "label": "  "},
    {"metric": "likes", "target": 1, "action": {"type": "start_deal"}},
    {"metric": "likes", "target": 1, "action": {"type": "announce", "text": "x" * 281}},
])
def test_bad_goal_specs_are_400(body):
    with pytest.raises(BadRequest):
        parse_goal(body, "CNY")


def test_an_edit_needs_something_to_change():
    assert parse_changes({"label": None}, "likes") == {"label": ""}
    assert parse_changes({"target": 9.5}, "gmv", "USD") == {"target": 950}
    with pytest.raises(BadRequest):
        parse_changes({}, "likes")


def test_progress_is_read_from_the_numbers_a_node_already_has():
    counters = {"likes": 90, "gmv_minor": 5000}
    deals = {DEAL: {"sold": "2", "held": "3", "buyers": "4"}}
    assert metric_value({"metric": "likes"}, counters, deals) == 90
    assert metric_value({"metric": "gmv"}, counters, deals) == 5000
    assert metric_value({"metric": "deal_claimed", "deal": DEAL}, counters, deals) == 5
    assert metric_value({"metric": "deal_buyers", "deal": "other"}, counters, deals) is None
    armed = {"state": "armed", "metric": "likes", "target": 100}
    assert not reached([armed], counters, deals)
    assert reached([armed], {"likes": 100}, deals)
    assert not reached([dict(armed, state="fired")], {"likes": 100}, deals)
    gmv = {"state": "armed", "metric": "gmv", "target": 50.0, "target_minor": 5000}
    assert reached([gmv], counters, deals)
    assert not reached(None, counters, deals)


def test_the_public_never_sees_a_gmv_goals_numbers():
    goal = {"id": "g", "metric": "gmv", "target": 50.0, "target_minor": 5000, "base": 0, "base_minor": 0,
            "label": "GMV", "state": "armed"}
    assert goal_view(goal, public=True) == {"id": "g", "metric": "gmv", "label": "GMV", "state": "armed"}
    assert goal_view(goal, public=False) == goal
    likes = {"id": "l", "metric": "likes", "target": 5}
    assert goals_view([goal, likes], public=True)[1] == likes


@st.composite
def good_tiers(draw):
    n = draw(st.integers(1, 10))
    buyers = sorted(draw(st.sets(st.integers(1, 10_000), min_size=n, max_size=n)))
    prices = sorted(draw(st.sets(st.integers(1200, 9899), min_size=n, max_size=n)), reverse=True)
    return [{"buyers": b, "price": p / 100} for b, p in zip(buyers, prices, strict=True)]


@given(good_tiers())
def test_increasing_thresholds_with_decreasing_prices_are_accepted(tiers):
    parsed = parse_tiers(tiers, price=12000, deal_price=9900, floor=0.1, confirmed=False, currency="CNY")
    assert [b for b, _ in parsed] == [t["buyers"] for t in tiers]
    stored = stored_tiers(9900, parsed)
    assert stored[0] == [0, 9900]
    assert [t["price"] for t in tiers_to_wire(stored, "CNY")][1:] == [t["price"] for t in tiers]


@given(good_tiers(), st.data())
def test_a_tier_list_out_of_order_is_refused(tiers, data):
    if len(tiers) < 2:
        return
    i = data.draw(st.integers(1, len(tiers) - 1))
    swapped = list(tiers)
    swapped[i - 1], swapped[i] = swapped[i], swapped[i - 1]
    with pytest.raises(BadRequest) as refused:
        parse_tiers(swapped, price=12000, deal_price=9900, floor=0.1, confirmed=False, currency="CNY")
    assert refused.value.code == "bad_tiers" and f"tier {i + 1}:" in str(refused.value)  # 1-based


def test_a_tier_under_the_floor_needs_confirmation():
    with pytest.raises(BadRequest) as refused:
        parse_tiers([{"buyers": 5, "price": 11}], price=12000, deal_price=9900, floor=0.1, confirmed=False,
                    currency="CNY")
    assert refused.value.code == "confirm_price"
    assert parse_tiers([{"buyers": 5, "price": 11}], price=12000, deal_price=9900, floor=0.1, confirmed=True,
                       currency="CNY") == ((5, 1100),)


@given(st.lists(st.integers(1, 100), min_size=1, max_size=5, unique=True).map(sorted),
       st.integers(0, 200), st.integers(0, 8))
def test_the_tier_is_the_last_threshold_reached_or_the_boost(thresholds, buyers, boost):
    tiers = [[0, 1000]] + [[t, 900 - i] for i, t in enumerate(thresholds)]
    tier = tier_for(tiers, buyers, boost)
    assert 0 <= tier < len(tiers)
    assert tier >= min(boost, len(tiers) - 1)
    assert buyers >= tiers[tier][0] or tier <= boost
    if tier + 1 < len(tiers) and tier >= boost:
        assert buyers < tiers[tier + 1][0]


BAG = {"product": {"id": "p9", "name": " Mystery box "}, "winners": 3, "keyword": "ＬＵＣＫＹ  Bag",
       "rules": {"follows": True}, "duration_s": 90.5, "claim_s": 60}


def test_an_open_bag_action_is_the_bag_form_checked_by_lucky_bag_with_a_fresh_committed_seed():
    action = parse_goal({"metric": "likes", "target": 10, "action": {"type": "open_bag", **BAG}})["action"]
    seed = action.pop("seed")
    assert action == {"type": "open_bag", "product": {"id": "p9", "name": "Mystery box", "image_url": ""},
                      "winners": 3, "keyword": "lucky bag", "rules": {"follows": True, "present": True},
                      "duration_s": 90.5, "claim_s": 60, "commitment": commitment(seed)}
    assert len(seed) == 64 and int(seed, 16) >= 0
    again = parse_changes({"action": {"type": "open_bag", **BAG}}, "likes")["action"]
    assert again["seed"] != seed and again["commitment"] == commitment(again["seed"])


@pytest.mark.parametrize("change", [
    {"winners": 0}, {"winners": 1001}, {"keyword": "   "}, {"duration_s": 10}, {"duration_s": 3600},
    {"claim_s": 5}, {"product": None}, {"product": {"id": "p"}}, {"rules": {"present": "yes"}},
    {"product": {"name": "x", "image_url": "javascript:alert(1)"}},
])
def test_a_bad_bag_in_an_open_bag_action_is_400_when_the_goal_is_made(change):
    with pytest.raises(BadRequest) as raised:
        parse_goal({"metric": "likes", "target": 10, "action": {"type": "open_bag", **BAG, **change}})
    assert raised.value.code == "bad_field"


def test_the_report_names_the_bag_a_goal_opened_and_never_a_seed():
    action = parse_goal({"metric": "likes", "target": 10, "action": {"type": "open_bag", **BAG}})["action"]
    seed = action.pop("seed")  # goal.lua keeps it out of the stored goal
    [row] = goal_rows([{"id": "g1", "metric": "likes", "target": 10, "state": "fired", "action": action,
                        "result": {"ok": True, "detail": "opened", "bag": "g1"}}])
    assert row["action"] == "open_bag: Mystery box ×3" and row["result"] == "opened g1" and row["ok"]
    assert seed not in str(row)
