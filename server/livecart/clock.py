"""The shared clock: every node reads time as Redis tells it, so countdowns agree across nodes.

Deal windows and hold expiry are decided inside Lua with Redis's TIME. Frames carry `now` from this
node's estimate of that clock (local time plus an offset measured against TIME, half a round trip
corrected), so a client computing `deal.ends_at - (frame.now + elapsed)` gets the same countdown on
every node even when the machines' clocks disagree.
"""

from __future__ import annotations

import time

__all__ = ["Clock"]


class Clock:
    __slots__ = ("offset_ms",)

    def __init__(self) -> None:
        self.offset_ms = 0

    def now_ms(self) -> int:
        return int(time.time() * 1000) + self.offset_ms

    def observe(self, reference_ms: int, sent_ms: int, received_ms: int) -> None:
        """Record the reference clock's reading taken between local `sent_ms` and `received_ms`."""
        self.offset_ms = reference_ms - (sent_ms + received_ms) // 2
