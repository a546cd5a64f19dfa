"""Per-tick batching for one room: events in offset order, counters and deals coalesced.

Calling contract (pure; the hub owns timers, Redis and sockets):
- `add_events(events)` with events carrying `offset`, in any order, duplicates allowed. Events behind
  `next_offset` are dropped as duplicates; events past a hole are held back.
- After any `add_events`, call `missing()`: a `(first, last)` offset range the hub must fetch from history
  (pub/sub is at-most-once; a hole means a message was lost) and feed back with `add_events`.
- `set_counters`, `set_deal`, `set_online`, `set_overlays` record latest values; only the last value per
  tick is sent.
- `flush(now_ms)` returns the `Batch` to send this tick, or None when nothing changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Batch", "RoomBatch", "merged", "tick_for"]

SOCKETS_PER_BASE_TICK = 2000
BUSY_EVENTS = 8
MAX_STATE_S = 1.0  # a big room's state tick grows with it up to this: the numbers still move every second


def tick_for(base_s: float, sockets: int, cap_s: float, busy: bool = False, *,
             state_only: bool = False, state_s: float = 0.0) -> float:
    """Seconds between two frames to a socket of a room (hub.py spreads the room's sockets over it).
    Each frame costs one write (a syscall) per socket, so a room of N sockets waits base × N / 2000, and
    twice that while it is busy (its last frame carried BUSY_EVENTS or more: a storm, where fewer,
    fuller frames cost far less), never less than base, never more than cap: latency grows a little
    instead of the node falling behind.

    A frame with nothing in it but moving numbers (stock left during a rush, viewers online) waits at
    least `state_s`: a person reads "only 37 left" a few times a second at most, while every frame
    costs the node one write per socket and each viewer's phone a wake-up. In a rush of 2,000 sockets
    at a 50 ms tick those frames were most of the node's CPU. Events, deal state changes (live, sold
    out, ended) and pins are never held back by it. In a bigger room that wait grows like the tick,
    state_s × sockets / 2000 up to MAX_STATE_S (8,000 sockets: 0.8 s), so that these frames cost the
    node the same number of writes a second whatever the room's size: in a rush of 8,000 they were a
    third of the node's CPU while the claims waited behind them.

    (A deal's new state, live, sold out or ended, does not wait for it: hub.py sends it to every socket
    at the base tick whatever the room's size.)"""
    tick = max(base_s, base_s * sockets / SOCKETS_PER_BASE_TICK)
    tick = min(cap_s, 2 * tick if busy else tick)
    if not state_only:
        return tick
    return max(tick, state_s, min(MAX_STATE_S, state_s * sockets / SOCKETS_PER_BASE_TICK))


@dataclass(slots=True)
class Batch:
    events: list[dict[str, Any]]
    offset: int  # the room offset after this batch
    counters: dict[str, Any] | None = None
    deals: list[dict[str, Any]] = field(default_factory=list)
    fields: dict[str, Any] = field(default_factory=dict)
    staff_only: bool = False  # nothing in it that viewers and overlays see (RoomBatch.set_deal)

    @property
    def has_state(self) -> bool:
        return self.counters is not None or bool(self.deals) or bool(self.fields)

    @property
    def first_offset(self) -> int:
        return self.offset - len(self.events) + 1

    def frame(self, now_ms: int, events: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """The wire map; `events` overrides the event list (for a socket that already has some)."""
        out: dict[str, Any] = {"type": "batch", "offset": self.offset, "now": now_ms,
                               "events": self.events if events is None else events}
        if self.counters is not None:
            out["counters"] = self.counters
        if self.deals:
            out["deals"] = self.deals
        out.update(self.fields)
        return out


def merged(batches: Sequence[Batch]) -> Batch:
    """One batch carrying what consecutive `batches` (oldest first) carry: every event in order, and the
    latest value of each counter, deal and field; staff-only when each of them is. For a socket that has
    had none of them (hub.py writes a socket once per round, whatever the round's turns flushed). The
    batches are left as they are; one batch is its own merge."""
    last = batches[-1]
    if len(batches) == 1:
        return last
    events: list[dict[str, Any]] = []
    counters: dict[str, Any] | None = None
    deals: dict[str, dict[str, Any]] = {}
    fields: dict[str, Any] = {}
    for batch in batches:
        events += batch.events
        if batch.counters is not None:  # a batch may carry some counters only (presence: `online`)
            counters = batch.counters if counters is None else {**counters, **batch.counters}
        for deal in batch.deals:
            deals[deal["id"]] = deal
        fields.update(batch.fields)
    return Batch(events, last.offset, counters, list(deals.values()), fields,
                 all(batch.staff_only for batch in batches))


class RoomBatch:
    def __init__(self, offset: int) -> None:
        self.next_offset = offset + 1
        self._ready: list[dict[str, Any]] = []
        self._ahead: dict[int, dict[str, Any]] = {}
        self._counters: dict[str, Any] | None = None
        self._presence: dict[str, int] = {}  # "online" (viewers), "overlays": totals across nodes
        self._deals: dict[str, dict[str, Any]] = {}
        self._fields: dict[str, Any] = {}
        self._public_deals = False  # a deal set since the last flush changed what viewers see of it
        self.duplicates = 0

    def add_events(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            offset = event["offset"]
            if offset < self.next_offset or offset in self._ahead:
                self.duplicates += 1
            elif offset == self.next_offset:
                self._ready.append(event)
                self.next_offset += 1
            else:
                self._ahead[offset] = event
        while self._ahead and self.next_offset in self._ahead:
            self._ready.append(self._ahead.pop(self.next_offset))
            self.next_offset += 1

    @property
    def newest(self) -> int:
        """The highest offset this batch has been given (in order or ahead of a hole)."""
        return max(self.next_offset - 1, max(self._ahead, default=0))

    def missing(self) -> tuple[int, int] | None:
        if not self._ahead:
            return None
        return self.next_offset, min(self._ahead) - 1

    def set_counters(self, counters: dict[str, Any]) -> None:
        self._counters = counters

    def set_online(self, online: int) -> None:
        self._presence["online"] = online

    def set_overlays(self, overlays: int) -> None:
        self._presence["overlays"] = overlays

    def set_deal(self, deal: dict[str, Any], public: bool = True) -> None:
        """`public=False`: only what staff see of the deal changed. A batch of nothing but such deals
        is `staff_only` (hub.py writes it to host and assistant sockets alone)."""
        self._deals[deal["id"]] = deal
        self._public_deals = self._public_deals or public

    def set_field(self, name: str, value: Any) -> None:
        """Another latest-value part of the room (e.g. the pinned product card) under `name`."""
        self._fields[name] = value

    def flush(self) -> Batch | None:
        if not (self._ready or self._counters is not None or self._presence or self._deals or self._fields):
            return None
        counters = self._counters
        if self._presence:
            counters = dict(counters or {}, **self._presence)
        staff_only = not (self._ready or counters is not None or self._fields or self._public_deals)
        batch = Batch(events=self._ready, offset=self.next_offset - 1, counters=counters,
                      deals=list(self._deals.values()), fields=self._fields, staff_only=staff_only)
        self._ready, self._counters, self._presence, self._deals, self._fields = [], None, {}, {}, {}
        self._public_deals = False
        return batch
