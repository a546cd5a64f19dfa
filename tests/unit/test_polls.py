"""Poll rules without Redis: the console's spec, votes read out of comments, the POLL map, results."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from livecart.errors import BadRequest
from livecart.polls import (
    choice_from_text,
    is_poll_id,
    new_poll_id,
    parse_option,
    parse_poll_spec,
    poll_state,
    poll_to_wire,
    results_over_time,
)

NOW = 1_800_000_000_000


def spec_body(**overrides):
    body = {"question": "Next colour?", "options": ["Red", {"label": "Blue", "keyword": "蓝色"}],
            "duration_s": 60}
    body.update(overrides)
    return body


def test_a_spec_keeps_labels_and_normalised_keywords():
    spec = parse_poll_spec(spec_body(options=[{"label": "Red", "keyword": "ＲＥＤ"}, "Blue", "Green"]))
    assert spec.labels == ("Red", "Blue", "Green")
    assert spec.keywords == ("red", "", "")
    assert spec.change_vote is False and spec.duration_s == 60


@pytest.mark.parametrize("bad", [
    {"options": ["only one"]},
    {"options": ["a", "b", "c", "d", "e"]},
    {"options": ["Red", "red"]},
    {"options": ["Red", 3]},
    {"options": [{"label": "  "}, "b"]},
    {"options": [{"label": "x", "keyword": "k"}, {"label": "y", "keyword": "K"}]},
    {"options": [{"label": "x", "keyword": "2"}, "y"]},
    {"options": [{"label": "x", "keyword": "B"}, "y"]},
    {"question": ""},
    {"question": "q" * 201},
    {"duration_s": 9},
    {"duration_s": 1801},
    {"duration_s": True},
    {"duration_s": 60.5},
    {"change_vote": "yes"},
])
def test_bad_specs_are_refused_with_the_field_named(bad):
    with pytest.raises(BadRequest) as refused:
        parse_poll_spec(spec_body(**bad))
    assert refused.value.code in ("bad_field", "bad_body")


def test_a_spec_that_is_not_an_object_is_refused():
    with pytest.raises(BadRequest):
        parse_poll_spec(["Red", "Blue"])


@pytest.mark.parametrize("text,expected", [
    ("1", 0), ("2", 1), ("3", 2), (" 2 ", 1), ("２", 1), ("2!", 1), ("2！！", 1), ("b", 1), ("B", 1),
    ("Ｂ", 1), ("c。", 2), ("a", 0), ("我要蓝色", 1), ("蓝色!", 1), ("RED please", 0),
])
def test_comments_that_vote(text, expected):
    assert choice_from_text(text, ("red", "蓝色", "")) == expected


@pytest.mark.parametrize("text", ["5", "e", "12", "1 and 2", "option 1", "red or 蓝色", "", "hello",
                                  "reddish"])
def test_comments_that_do_not_vote(text):
    assert choice_from_text(text, ("red", "蓝色", "")) is None


def test_numbers_and_letters_beyond_the_options_do_not_vote():
    assert choice_from_text("3", ("", "")) is None
    assert choice_from_text("c", ("", "")) is None
    assert choice_from_text("4", ("", "", "", "")) == 3


@given(st.text(max_size=40), st.lists(st.sampled_from(["", "red", "蓝", "go"]), min_size=2, max_size=4))
def test_any_text_votes_for_an_option_of_the_poll_or_nothing(text, keywords):
    choice = choice_from_text(text, keywords)
    assert choice is None or 0 <= choice < len(keywords)


@pytest.mark.parametrize("value,expected", [(0, 0), (2, 2), (3, None), (-1, None), (True, None),
                                            ("1", None), (1.0, None), (None, None)])
def test_a_vote_messages_option_is_an_index_of_the_poll(value, expected):
    assert parse_option(value, 3) == expected


def test_poll_ids_are_what_new_poll_id_makes():
    assert is_poll_id(new_poll_id())
    assert not is_poll_id("abc") and not is_poll_id("../deal:1") and not is_poll_id(12)


def test_a_poll_is_open_until_closes_at_or_closed_by_the_console():
    fields = {"closes_at": str(NOW + 1000)}
    assert poll_state(fields, NOW).value == "open"
    assert poll_state(fields, NOW + 1000).value == "closed"
    assert poll_state({**fields, "closed_at": str(NOW)}, NOW).value == "closed"


def test_the_poll_map_carries_votes_and_state():
    static = parse_poll_spec(spec_body()).static_wire("p" * 12, "ann")
    fields = {"static": json.dumps(static), "n": "2", "v0": "3", "v1": "1", "voters": "4",
              "opens_at": str(NOW), "closes_at": str(NOW + 60_000)}
    wire = poll_to_wire(fields, NOW)
    assert wire["state"] == "open" and wire["votes"] == [3, 1] and wire["voters"] == 4
    assert wire["closes_at"] == NOW + 60_000 and wire["closed_at"] is None
    assert wire["options"][1] == {"label": "Blue", "keyword": "蓝色"}
    assert poll_to_wire(fields, NOW + 60_000)["state"] == "closed"
    assert poll_to_wire({**fields, "closed_at": str(NOW + 5)}, NOW + 6)["closed_at"] == NOW + 5


def test_results_over_time_are_running_totals_per_step():
    moves = {"0:0": 2, "3:1": 1, "15:0": -1, "15:1": 1, "27:0": 1, "bogus": 5, "4:9": 1}
    rows = results_over_time(NOW, 2, moves, step_s=10)
    assert rows == [{"t": NOW + 10_000, "votes": [2, 1]}, {"t": NOW + 20_000, "votes": [1, 2]},
                    {"t": NOW + 30_000, "votes": [2, 2]}]


@given(st.lists(st.tuples(st.integers(0, 600), st.integers(0, 3)), max_size=50))
def test_the_last_row_of_the_results_is_the_final_tally(votes):
    moves: dict[str, int] = {}
    final = [0, 0, 0, 0]
    for second, option in votes:
        moves[f"{second}:{option}"] = moves.get(f"{second}:{option}", 0) + 1
        final[option] += 1
    rows = results_over_time(NOW, 4, moves)
    assert (rows[-1]["votes"] if rows else [0, 0, 0, 0]) == final
    assert [r["t"] for r in rows] == sorted(r["t"] for r in rows)
