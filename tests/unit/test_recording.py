"""Recording files and the replay schedule (timing scaled, events batched per 50 ms slot)."""

from __future__ import annotations

import pytest

from livecart.recording import parse, schedule


def ev(n: int, ts: int) -> dict[str, object]:
    return {"offset": n, "id": f"e{n}", "type": "like", "user": {"id": "u"}, "ts": ts, "count": 1}


def test_schedule_scales_the_gaps_between_events_and_drops_offset_and_ts():
    plan = schedule([ev(1, 10_000), ev(2, 10_020), ev(3, 12_000), ev(4, 30_000)], speed=10)
    assert [(at, [e["id"] for e in batch]) for at, batch in plan] == [
        (0.0, ["e1", "e2"]), (0.2, ["e3"]), (2.0, ["e4"])]
    assert all("offset" not in e and "ts" not in e for _at, batch in plan for e in batch)


def test_schedule_at_normal_speed_keeps_the_timing():
    assert [at for at, _ in schedule([ev(1, 0), ev(2, 1_000), ev(3, 1_049)], 1)] == [0.0, 1.0]


def test_a_bad_speed_or_line_is_refused():
    with pytest.raises(ValueError):
        schedule([ev(1, 0)], 0)
    with pytest.raises(ValueError, match="line 2"):
        parse(['{"t": 1, "event": {"id": "a"}}', "not json"])
    assert parse(['{"t": 1, "event": {"id": "a"}}', "", "  "]) == [{"id": "a"}]
