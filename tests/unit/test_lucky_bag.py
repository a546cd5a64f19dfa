"""Lucky bag rules and the verifiable draw, without Redis."""

from __future__ import annotations

import hashlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from livecart.errors import BadRequest
from livecart.lucky_bag import (
    ALGORITHM,
    commitment,
    draw_record,
    draw_round,
    keyword_in,
    normalize,
    parse_spec,
    ranking,
    ticket,
    verify,
)

SEED = "5" * 64
seeds = st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)
user_ids = st.text(min_size=1, max_size=12)
entrant_lists = st.lists(user_ids, max_size=40)


def body(**overrides):
    b = {"product": {"id": "p1", "name": "Mystery box"}, "winners": 3, "keyword": "LUCKY",
         "duration_s": 60}
    b.update(overrides)
    return b


# --- the spec --------------------------------------------------------------------------------------

def test_a_valid_spec_normalizes_the_keyword_and_keeps_times_in_ms():
    spec = parse_spec(body(keyword="  ＬＵＣＫＹ  Bag ", claim_s=30, rules={"follows": True}))
    assert (spec.keyword, spec.duration_ms, spec.claim_ms, spec.follows, spec.present) == (
        "lucky bag", 60_000, 30_000, True, True)


@pytest.mark.parametrize("overrides, field", [
    ({"duration_s": 29}, "duration_s"), ({"duration_s": 1801}, "duration_s"),
    ({"duration_s": float("nan")}, "duration_s"), ({"duration_s": True}, "duration_s"),
    ({"duration_s": "60"}, "duration_s"), ({"winners": 0}, "winners"), ({"winners": 1001}, "winners"),
    ({"winners": 2.5}, "winners"), ({"winners": True}, "winners"), ({"keyword": "   "}, "keyword"),
    ({"keyword": "x" * 33}, "keyword"), ({"keyword": 7}, "keyword"), ({"product": "box"}, "product"),
    ({"product": {"name": ""}}, "product.name"), ({"product": {"name": "a", "id": 5}}, "product.id"),
    ({"product": {"name": "a", "image_url": "javascript:alert(1)"}}, "image_url"),
    ({"claim_s": 5}, "claim_s"), ({"claim_s": 601}, "claim_s"), ({"rules": []}, "rules"),
    ({"rules": {"present": "yes"}}, "rules.present"),
])
def test_a_bad_spec_is_refused_naming_the_field(overrides, field):
    with pytest.raises(BadRequest) as caught:
        parse_spec(body(**overrides))
    assert caught.value.code == "bad_field" and field in caught.value.detail


def test_a_body_that_is_not_an_object_is_a_bad_body():
    with pytest.raises(BadRequest) as caught:
        parse_spec([1, 2])
    assert caught.value.code == "bad_body"


def test_keywords_match_inside_comments_whatever_their_width_and_case():
    assert keyword_in(normalize("福袋"), "我要福袋!!")
    assert keyword_in("lucky", "Ｌｕｃｋｙ me")
    assert not keyword_in("lucky", "luck y")
    assert not keyword_in("", "anything")


# --- the commitment and the draw -------------------------------------------------------------------

def test_the_commitment_is_the_sha256_of_the_seed_text():
    assert commitment(SEED) == hashlib.sha256(SEED.encode()).hexdigest()
    assert ticket(SEED, "ann") == hashlib.sha256(f"{SEED}:ann".encode()).hexdigest()


def test_the_ranking_orders_entrants_by_ticket():
    users = ["ann", "bo", "cy", "dee"]
    by_hash = sorted(users, key=lambda u: hashlib.sha256(f"{SEED}:{u}".encode()).hexdigest())
    assert ranking(SEED, users) == by_hash


@given(seeds, entrant_lists, st.integers(0, 10), st.data())
def test_same_inputs_give_the_same_winners_in_any_entry_order(seed, entrants, count, data):
    absent = data.draw(st.lists(st.sampled_from(entrants), max_size=5) if entrants else st.just([]))
    shuffled = data.draw(st.permutations(entrants))
    assert draw_round(seed, entrants, count, absent) == draw_round(seed, shuffled, count, absent)
    assert draw_round(seed, entrants, count, absent) == draw_round(seed, list(entrants), count, list(absent))


@given(seeds, entrant_lists, st.integers(0, 10), st.data())
def test_winners_are_present_entrants_without_duplicates(seed, entrants, count, data):
    absent = set(data.draw(st.lists(st.sampled_from(entrants), max_size=10) if entrants else st.just([])))
    winners = draw_round(seed, entrants, count, absent)
    assert set(winners) <= set(entrants) - absent
    assert len(winners) == len(set(winners)) == min(count, len(set(entrants) - absent))


@given(seeds, entrant_lists, st.integers(1, 5), st.data())
def test_a_redraw_takes_the_next_present_entrants_never_drawn_before(seed, entrants, count, data):
    first = draw_round(seed, entrants, count)
    unclaimed = data.draw(st.lists(st.sampled_from(first), unique=True) if first else st.just([]))
    absent = set(data.draw(st.lists(st.sampled_from(entrants), max_size=5) if entrants else st.just([])))
    second = draw_round(seed, entrants, len(unclaimed), absent, first)
    assert not set(second) & set(first) and not set(second) & absent
    # the same rule: the ranking with earlier winners and absent entrants skipped
    order = [u for u in ranking(seed, entrants) if u not in set(first) | absent]
    assert second == order[:len(unclaimed)]


def test_absent_entrants_are_skipped_in_ranking_order():
    users = [f"u{i}" for i in range(10)]
    order = ranking(SEED, users)
    assert draw_round(SEED, users, 2, absent={order[0]}) == order[1:3]


# --- the published record --------------------------------------------------------------------------

def stored(entrants, rounds, winners_count=2, state="claiming"):
    fields = {"id": "b" * 12, "state": state, "winners": str(winners_count), "seed": SEED,
              "commitment": commitment(SEED), "round": str(len(rounds)), "keyword": "lucky",
              "present": "1", "opens_at": "1", "ends_at": "2", "closed_at": "2"}
    statuses = {}
    for number, (absent, won, expired) in enumerate(rounds, start=1):
        fields[f"absent:{number}"] = json.dumps(absent)
        fields[f"round:{number}"] = json.dumps(won)
        for user in won:
            statuses[user] = f"expired:{number}" if user in expired else f"claimed:{number}:5"
    return fields, statuses


def test_a_record_of_a_draw_and_a_redraw_verifies():
    users = [f"u{i}" for i in range(20)]
    first = draw_round(SEED, users, 2, ["u3"])
    second = draw_round(SEED, users, 1, [], first)
    fields, statuses = stored(users, [(["u3"], first, [first[0]]), ([], second, [])])
    record = draw_record("room", fields, users, statuses)
    assert record["algorithm"] == ALGORITHM and record["entrants"] == sorted(users)
    assert record["rounds"][0]["unclaimed"] == [first[0]]
    assert verify(record) == []


def test_verify_finds_a_swapped_winner_a_wrong_seed_and_an_unsorted_list():
    users = [f"u{i}" for i in range(20)]
    first = draw_round(SEED, users, 2)
    fields, statuses = stored(users, [([], first, [])])
    record = draw_record("room", fields, users, statuses)
    other = next(u for u in users if u not in first)
    assert "round 1" in verify(dict(record, rounds=[dict(record["rounds"][0], winners=[other, first[1]])]))[0]
    assert "commitment" in verify(dict(record, seed="6" * 64))[0]
    assert any("sorted" in p for p in verify(dict(record, entrants=list(reversed(record["entrants"])))))
    assert verify({"seed": 1})[0].startswith("not a draw record")


def test_an_open_bag_record_hides_the_seed():
    fields, statuses = stored(["a"], [], state="open")
    assert draw_record("room", fields, ["a"], statuses)["seed"] is None
