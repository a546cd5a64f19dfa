"""What a mapping makes of one platform event: room events, notices for staff, a viewer count, and how
it went (for the bridge's metrics). Pure: no I/O."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["MAX_COUNT", "Mapped", "Notice", "Outcome", "clip", "event_id", "money", "quantity"]

Outcome = Literal["mapped", "pending", "dropped", "unmapped"]
"""mapped: became room events, notices or a viewer count; pending: held for later (a gift streak not yet
ended); dropped: understood but carries nothing for the room (or lacks what an event needs);
unmapped: a type this bridge does not map."""


@dataclass(frozen=True, slots=True)
class Notice:
    """A message for staff: `POST /api/rooms/{room}/source-cues` (docs/protocol.md)."""

    id: str
    kind: str  # stream_ended | stream_paused | stream_resumed | super_chat | source_down | source_up
    priority: str
    text: str
    data: dict[str, str | int | float] = field(default_factory=dict)

    def to_wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "priority": self.priority,
            "text": self.text,
            "data": self.data,
        }


@dataclass(slots=True)
class Mapped:
    kind: str  # the platform's name for the event type (a metrics label)
    outcome: Outcome
    events: list[dict[str, Any]] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    viewers: int | None = None
    reason: str = ""  # why it was dropped


def money(amount: float, exponent: int) -> float:
    """`amount` rounded to whole minor units of a currency with `exponent` decimals (ingest refuses a
    fraction of a minor unit: a rate times a count must be rounded here)."""
    return round(amount, exponent) if exponent else float(round(amount))


MAX_COUNT = 1_000_000  # ingest's bound on a like's or a gift's count
MAX_ID = 200  # ingest's bound on an event id


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit]


def quantity(raw: object) -> int:
    """A platform's count as ingest takes it: 1 to MAX_COUNT (a missing or zero count is one)."""
    try:
        count = int(raw) if isinstance(raw, int | float | str) else 0
    except (ValueError, OverflowError):  # "abc", inf
        count = 0
    return min(max(1, count), MAX_COUNT)


def event_id(*parts: object) -> str:
    """`a:b:c` from a platform's identifiers; past ingest's 200 characters (the platform's ids are
    strangers' input too), the prefix and a digest of the rest, still the same on every bridge."""
    joined = ":".join(str(p) for p in parts)
    if len(joined) <= MAX_ID:
        return joined
    return f"{parts[0]}:{parts[1]}:h:{hashlib.sha1(joined.encode()).hexdigest()}"
