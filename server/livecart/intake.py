"""How much client input one pass of the event loop reads before the rest waits for the next (`Intake`).

A flash-deal rush is thousands of sockets sending claims at the same instant. uvloop reads every ready
socket in one poll phase before any callback of that pass runs, and writes nothing until the phase
ends: a node that parsed whatever arrived would read and queue the whole burst (seconds of work) before
the first claim went to Redis, and every answer would then leave at the end of the burst, together.
With an intake, a pass reads at most `max_messages` messages or `max_s` seconds of input; later input
waits, in arrival order, for the passes after it, and between two passes the claims already read go to
Redis and the answers already back are written. Answers flow while the burst is still being read.

Pure: the caller (web/listener.py) owns the clock, the waiting input and the sockets.
"""

from __future__ import annotations

__all__ = ["DEFAULT_MAX_MESSAGES", "DEFAULT_MAX_S", "Intake"]

DEFAULT_MAX_MESSAGES = 128  # about as many claims as one claim.lua call takes in a few milliseconds
DEFAULT_MAX_S = 0.003


class Intake:
    """The input budget of one loop pass, by count and by time.

    Calling contract: call `admits(now)` before reading a chunk of input; if it returns True, read it and
    call `took(messages, now)` with the number of messages it held; if False, keep the chunk (and anything
    behind it) for a later pass. Call `next_pass()` at the start of each pass that has input waiting or
    that took some (the caller schedules it: `took` returns True when this pass has just begun, which is
    when to schedule it). The first chunk of a pass is always admitted, however large, so input never
    waits forever. Never raises.
    """

    __slots__ = ("max_messages", "max_s", "started", "taken")

    def __init__(self, max_messages: int = DEFAULT_MAX_MESSAGES, max_s: float = DEFAULT_MAX_S) -> None:
        self.max_messages = max_messages
        self.max_s = max_s
        self.taken = 0
        self.started: float | None = None  # when this pass took its first chunk

    def admits(self, now: float) -> bool:
        started = self.started
        return started is None or (self.taken < self.max_messages and now - started < self.max_s)

    def took(self, messages: int, now: float) -> bool:
        """Count a chunk read in this pass; True when it is the pass's first (schedule `next_pass`)."""
        self.taken += messages
        if self.started is None:
            self.started = now
            return True
        return False

    def next_pass(self) -> None:
        self.taken = 0
        self.started = None
