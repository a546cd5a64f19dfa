"""The slow-consumer policy: events are written up to the bound, state waits above high water."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from livecart.outbound import Decision, FrameKind, always_write, decide

HW, MAX = 1000, 10_000


@pytest.mark.parametrize(("kind", "size", "buffered", "expected"), [
    (FrameKind.EVENTS, 100, 0, Decision.WRITE),
    (FrameKind.EVENTS, 100, 5000, Decision.WRITE),  # above high water, still within the bound
    (FrameKind.EVENTS, 100, 9950, Decision.CLOSE),  # would pass the bound
    (FrameKind.STATE, 100, 0, Decision.WRITE),
    (FrameKind.STATE, 100, 1001, Decision.HOLD),  # superseded by the next state frame anyway
    (FrameKind.STATE, 100, 9950, Decision.HOLD),
    (FrameKind.STATE, 100, 10_001, Decision.CLOSE),  # already past the bound
    (FrameKind.EVENTS, 20_000, 0, Decision.CLOSE),  # a single frame larger than the bound
])
def test_decide(kind, size, buffered, expected):
    assert decide(kind, size, buffered, high_water=HW, max_bytes=MAX) is expected


@given(kind=st.sampled_from(FrameKind), size=st.integers(0, 20_000), buffered=st.integers(0, 20_000),
       high_water=st.integers(0, 20_000), max_bytes=st.integers(0, 20_000))
def test_a_write_under_always_write_is_what_decide_answers(kind, size, buffered, high_water, max_bytes):
    """The socket's shortcut (web/ws.py writes without asking under this bound) never disagrees."""
    if buffered + size <= always_write(high_water=high_water, max_bytes=max_bytes):
        assert decide(kind, size, buffered, high_water=high_water, max_bytes=max_bytes) is Decision.WRITE
