"""The pure rules of invite attribution (livecart/invites.py): codes, refs, goals, settings, the board."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from livecart.errors import BadRequest
from livecart.invites import (
    CODE_LENGTH,
    InviteGoal,
    InviteModel,
    board_to_wire,
    check_ref,
    invite_code,
    parse_coupons,
    parse_settings,
    rewards_due,
)

users = st.text(min_size=1, max_size=40)


@given(users, users)
def test_a_code_is_the_same_on_every_node_and_differs_per_user(a, b):
    code = invite_code("s3cret", "room1", a)
    assert code == invite_code("s3cret", "room1", a) and check_ref(code) == code
    assert len(code) == CODE_LENGTH
    if a != b:
        assert code != invite_code("s3cret", "room1", b)


def test_a_code_depends_on_the_room_and_the_secret():
    code = invite_code("s3cret", "room1", "ann")
    assert code != invite_code("s3cret", "room2", "ann")
    assert code != invite_code("another", "room1", "ann")
    # The length prefix keeps (room, user) pairs apart: "a" + "bc" is not "ab" + "c".
    assert invite_code("s", "a", "bc") != invite_code("s", "ab", "c")


@pytest.mark.parametrize("raw", ["", "a" * 15, "a" * 17, "A" * 16, "abcdefghijklmn01", "aaaaaaaaaaaaaaa ",
                                 "aaaaaaaaaaaaaaaa\n", None, 7, ["aaaaaaaaaaaaaaaa"], {"ref": 1}])
def test_a_malformed_ref_is_bad_ref(raw):
    with pytest.raises(BadRequest) as caught:
        check_ref(raw)
    assert caught.value.code == "bad_ref"


@given(st.integers(0, 10_000), st.integers(1, 50), st.integers(1, 20), st.integers(0, 25))
def test_rewards_due_never_pass_the_cap_nor_go_negative(joins, target, cap, given_):
    due = rewards_due(joins, InviteGoal(target, "coupon", cap), given_)
    assert due >= 0
    assert given_ + due <= max(cap, given_)
    assert given_ + due == max(given_, min(joins // target, cap))


def test_no_goal_means_no_rewards():
    assert rewards_due(100, None, 0) == 0


def test_settings_parse_the_overlay_and_the_goal():
    assert parse_settings({}) == (None, None, False)
    assert parse_settings({"overlay": True}) == (True, None, False)
    assert parse_settings({"goal": None}) == (None, None, True)
    assert parse_settings({"goal": {"target": 3, "reward": "claim_slot", "cap": 2}}) == (
        None, InviteGoal(3, "claim_slot", 2), True)


@pytest.mark.parametrize("body", [
    {"overlay": 1}, {"goal": "3"}, {"goal": {"target": 3, "reward": "coupon"}},
    {"goal": {"target": 1001, "reward": "coupon", "cap": 1}},
    {"goal": {"target": 1, "reward": "coupon", "cap": 101}},
    {"goal": {"target": -1, "reward": "coupon", "cap": 1}}, {"other": 1},
])
def test_bad_settings_are_bad_field(body):
    with pytest.raises(BadRequest) as caught:
        parse_settings(body)
    assert caught.value.code == "bad_field"


def test_coupon_uploads_are_checked_whole():
    assert parse_coupons({"codes": ["A-1", "b_2"]}) == ["A-1", "b_2"]
    for bad in ({"codes": []}, {"codes": ["<b>"]}, {"codes": ["a", "a"]}, {}, {"codes": ["x" * 65]},
                {"codes": ["ok"] + [None]}):
        with pytest.raises(BadRequest):
            parse_coupons(bad)


def test_the_board_shows_money_in_the_rooms_currency():
    board = {"seq": 4, "overlay": True, "funnel": {"opens": "5", "joins": 2, "buyers": 1, "gmv_minor": 12345},
             "top": [{"user": "ann", "joins": 2, "buyers": 1, "gmv_minor": 12345}]}
    assert board_to_wire(board, "CNY") == {
        "seq": 4, "overlay": True, "funnel": {"opens": 5, "joins": 2, "buyers": 1, "gmv": 123.45},
        "top": [{"user": "ann", "joins": 2, "buyers": 1, "gmv": 123.45}]}
    assert board_to_wire(board, "JPY")["funnel"]["gmv"] == 12345
    # Lua's cjson writes an empty list as {}.
    assert board_to_wire({"seq": 1, "funnel": {}, "top": {}}, "CNY")["top"] == []


def test_the_model_credits_first_touch_once_and_never_self():
    model = InviteModel(codes={"c-ann": "ann", "c-bo": "bo"})
    assert model.open("c-ann", "ann") == "self"
    assert model.open("nope", "cy") == "unknown"
    assert model.open("c-ann", "cy") == "joined"
    assert model.open("c-bo", "cy") == "already"
    assert model.open(None, "di") == "direct"
    assert model.open("c-ann", "di") == "already"
    assert model.open("c-ann", None) == "opened"
    assert (model.joins, model.opens) == ({"ann": 1}, 4)
