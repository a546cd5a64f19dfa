"""What a mapping makes of one platform event: room events, notices for staff, a viewer count, and how
it went (for the bridge's metrics). Pure: no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Mapped", "Notice", "Outcome", "clip", "money"]

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


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit]
