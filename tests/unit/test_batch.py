"""RoomBatch: per-tick batching, offsets exactly once and in order, latest-value state."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from livecart.batch import RoomBatch


def ev(offset: int) -> dict[str, object]:
    return {"offset": offset, "id": f"e{offset}"}


def test_flush_returns_none_when_nothing_changed():
    assert RoomBatch(10).flush() is None


def test_events_in_order_flush_as_one_batch_with_the_room_offset():
    batch = RoomBatch(10)
    batch.add_events([ev(11), ev(12)])
    batch.add_events([ev(13)])
    out = batch.flush()
    assert out is not None
    assert [e["offset"] for e in out.events] == [11, 12, 13]
    assert (out.first_offset, out.offset) == (11, 13)
    assert batch.flush() is None


def test_duplicates_and_old_events_are_dropped():
    batch = RoomBatch(10)
    batch.add_events([ev(9), ev(10), ev(11), ev(11)])
    assert [e["offset"] for e in batch.flush().events] == [11]
    batch.add_events([ev(11)])
    assert batch.flush() is None
    assert batch.duplicates == 4


def test_a_hole_holds_later_events_back_and_names_the_missing_range():
    batch = RoomBatch(0)
    batch.add_events([ev(1), ev(4), ev(5)])
    assert batch.missing() == (2, 3)
    assert [e["offset"] for e in batch.flush().events] == [1]
    batch.add_events([ev(2), ev(3)])
    assert batch.missing() is None
    assert [e["offset"] for e in batch.flush().events] == [2, 3, 4, 5]


def test_newest_is_the_highest_offset_given_in_order_or_ahead_of_a_hole():
    b = RoomBatch(offset=4)
    assert b.newest == 4  # nothing given yet: where the room was
    b.add_events([ev(5), ev(6)])
    assert b.newest == 6
    b.add_events([ev(9), ev(8)])  # ahead of the hole at 7
    assert b.newest == 9 and b.missing() == (7, 7)
    b.add_events([ev(7)])
    assert b.newest == 9 and b.missing() is None


def test_counters_and_deals_are_coalesced_to_their_latest_value():
    batch = RoomBatch(0)
    batch.set_counters({"likes": 1})
    batch.set_counters({"likes": 7})
    batch.set_deal({"id": "d1", "left": 9})
    batch.set_deal({"id": "d1", "left": 8})
    batch.set_deal({"id": "d2", "left": 1})
    batch.set_online(42)
    out = batch.flush()
    assert out.events == [] and out.counters == {"likes": 7, "online": 42}
    assert out.deals == [{"id": "d1", "left": 8}, {"id": "d2", "left": 1}]
    frame = out.frame(123)
    assert frame["type"] == "batch" and frame["now"] == 123 and frame["offset"] == 0


@given(st.lists(st.integers(min_value=1, max_value=60), max_size=200), st.randoms())
def test_any_arrival_order_with_duplicates_delivers_each_offset_once_in_order(offsets, rnd):
    present = sorted(set(offsets))
    contiguous = [o for i, o in enumerate(present, start=1) if o == i]
    arrivals = [ev(o) for o in offsets]
    rnd.shuffle(arrivals)
    batch = RoomBatch(0)
    delivered: list[int] = []
    for chunk_start in range(0, len(arrivals), 7):
        batch.add_events(arrivals[chunk_start:chunk_start + 7])
        out = batch.flush()
        if out is not None:
            delivered += [e["offset"] for e in out.events]
    assert delivered == contiguous


def test_the_tick_grows_with_room_size_and_busyness_within_its_bounds():
    from livecart.batch import tick_for

    assert tick_for(0.05, 10, 0.15) == 0.05
    assert tick_for(0.05, 2000, 0.15) == 0.05
    assert tick_for(0.05, 4000, 0.15) == 0.1
    assert tick_for(0.05, 8000, 0.15) == 0.15  # capped
    assert tick_for(0.05, 2000, 0.15, busy=True) == 0.1
    assert tick_for(0.05, 100, 0.05, busy=True) == 0.05  # the cap wins


def test_frames_of_moving_numbers_only_wait_for_the_state_tick():
    from livecart.batch import tick_for

    assert tick_for(0.05, 2000, 0.15, state_only=True, state_s=0.2) == 0.2
    assert tick_for(0.05, 2000, 0.15, state_only=False, state_s=0.2) == 0.05
    assert tick_for(0.05, 16000, 0.5, state_only=True, state_s=0.2) == 1.0  # a big room's tick is longer


def test_a_big_rooms_moving_numbers_wait_longer_up_to_a_second():
    """Their frames cost one write per socket: a room of N waits 0.2 s × N / 2000, at most 1 s."""
    from livecart.batch import tick_for

    assert tick_for(0.05, 1000, 0.15, state_only=True, state_s=0.2) == 0.2
    assert tick_for(0.05, 4000, 0.15, state_only=True, state_s=0.2) == pytest.approx(0.4)
    assert tick_for(0.05, 8000, 0.15, state_only=True, state_s=0.2) == pytest.approx(0.8)
    assert tick_for(0.05, 20000, 0.15, state_only=True, state_s=0.2) == 1.0
    assert tick_for(0.05, 8000, 0.15, state_only=True, state_s=2.0) == 2.0  # a longer setting stays longer
    assert tick_for(0.05, 8000, 0.15, state_only=False, state_s=0.2) == 0.15  # events do not wait for it


def test_merged_batches_carry_every_event_in_order_and_the_latest_of_everything_else():
    """What a socket gets when its turn comes after several flushes (hub.py's rounds)."""
    from livecart.batch import Batch, merged

    first = Batch(events=[{"offset": 4}, {"offset": 5}], offset=5, counters={"likes": 1, "online": 3},
                  deals=[{"id": "d1", "left": 9}, {"id": "d2", "left": 5}], fields={"pinned": "a"})
    state = Batch(events=[], offset=5, counters={"online": 4}, deals=[{"id": "d1", "left": 8}],
                  staff_only=True)
    last = Batch(events=[{"offset": 6}], offset=6, fields={"pinned": "b", "announcement": "hi"})
    out = merged([first, state, last])
    assert [e["offset"] for e in out.events] == [4, 5, 6]
    assert out.offset == 6 and out.first_offset == 4
    assert out.counters == {"likes": 1, "online": 4}
    assert out.deals == [{"id": "d1", "left": 8}, {"id": "d2", "left": 5}]
    assert out.fields == {"pinned": "b", "announcement": "hi"}
    assert not out.staff_only  # viewers see the events and the pin
    assert merged([state, state]).staff_only  # nothing but a deal's funnel: staff alone
    assert merged([state]) is state
    # The inputs are left as they were: the log keeps them for the sockets whose turn is still to come.
    assert first.counters == {"likes": 1, "online": 3} and first.fields == {"pinned": "a"}
    assert [d["left"] for d in first.deals] == [9, 5] and len(first.events) == 2
