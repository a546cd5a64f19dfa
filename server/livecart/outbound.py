"""What to do with one outbound frame for one socket, given how far behind that socket is.

The socket's transport write buffer *is* its outbound queue (no per-socket queue object or task): the
kernel and the event loop hold what the client has not read yet, and `buffered` is its size.

- EVENTS frames (room events, each with an offset) must arrive: they are written while the socket is
  within `max_bytes`; past it the socket is closed with 1013 and resumes from its last offset.
- STATE frames (counters, viewers online, deal numbers: latest-value) are written while the socket is
  below `high_water`; above it they are HELD in one slot per socket, a newer one replacing the older, and
  written when the socket drains (or just before the next EVENTS frame, keeping order).
Memory per socket is therefore bounded by max_bytes plus one state frame.
"""

from __future__ import annotations

from enum import Enum

__all__ = ["Decision", "FrameKind", "always_write", "decide"]


class FrameKind(Enum):
    EVENTS = "events"
    STATE = "state"


class Decision(Enum):
    WRITE = "write"
    HOLD = "hold"
    CLOSE = "close"


def decide(kind: FrameKind, size: int, buffered: int, *, high_water: int, max_bytes: int) -> Decision:
    if buffered + size > max_bytes:
        return Decision.HOLD if kind is FrameKind.STATE and buffered <= max_bytes else Decision.CLOSE
    if kind is FrameKind.STATE and buffered > high_water:
        return Decision.HOLD
    return Decision.WRITE


def always_write(*, high_water: int, max_bytes: int) -> int:
    """A bound under which `decide` answers WRITE for any kind: a frame that leaves the socket's buffer
    at or below it is written without asking (web/ws.py does so for every fan-out write that finds
    nothing held)."""
    return min(high_water, max_bytes)
