"""What the store answers: plain value types, no I/O.

The Redis adapters (redis_store.py, deal_store.py, stats_store.py) build these; pure modules (room.py,
first_frames.py) and the web layer read them without importing an adapter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from livecart.protocol import load_json

__all__ = ["ROOM_FIELDS", "STAGE", "AppendResult", "ClaimAnswer", "CurrencyChanged", "Cursor",
           "DirectorInputs", "Gap", "History", "LoggedEvent", "Snapshot"]

# What the console puts on screen for the whole room, each a latest-value map or None: the pinned product
# card, a highlighted comment, an announcement, and the room's goals (a list, written by goal.lua). Kept
# in the room's meta hash, published as a StageChanged (store/channel.py).
# Room interactions keep their latest-value maps the same way: "bag", the room's current lucky bag (its
# BAG map, written by bag.lua), "poll", the current POLL map, and "wall", the approved buyer shows
# {"shows": [...]} (written and published by poll.lua and show.lua).
STAGE: tuple[str, ...] = ("pinned", "highlight", "announcement", "goals", "bag", "poll", "wall")
# Latest-value fields of a room's state: the stage, and its currency (a plain ISO code in meta, published
# as a channel.StageChanged too; a room that never set one shows the node's default_currency).
ROOM_FIELDS = (*STAGE, "currency")

LoggedEvent = tuple[dict[str, Any], int]  # (event, receipt ms)


class CurrencyChanged(Exception):
    """The room's currency is not the one the money was validated in (a node's cache was stale, or the
    first money pinned another node's default): validate again in `currency`."""

    def __init__(self, currency: str) -> None:
        super().__init__(currency)
        self.currency = currency


@dataclass(frozen=True, slots=True)
class AppendResult:
    epoch: str
    offsets: list[int | None]  # per input event: its offset, or None for a duplicate

    @property
    def accepted(self) -> int:
        return sum(1 for o in self.offsets if o is not None)


@dataclass(frozen=True, slots=True)
class Snapshot:
    epoch: str
    offset: int
    counters: dict[str, int]
    recent: list[dict[str, Any]]
    deals: list[dict[str, str]]  # stored fields of the newest deals (deals.deal_to_wire makes DEAL maps)
    # ROOM_FIELDS name -> its value: STAGE parts (None: unset), e.g. "pinned": the pinned product card, and
    # "currency" (always set)
    stage: dict[str, Any]


@dataclass(frozen=True, slots=True)
class History:
    epoch: str
    offset: int
    counters: dict[str, int]
    events: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Gap:
    """History no longer reaches back (or the epoch changed): the client needs a fresh snapshot."""

    epoch: str
    offset: int


@dataclass(frozen=True, slots=True)
class ClaimAnswer:
    status: str  # ok | rejected | again (a repeated key: `reply` is the first answer)
    reply: bytes  # the answer as JSON, as stored for the key: sockets get it spliced into their frame

    def parsed(self) -> dict[str, Any]:
        return load_json(self.reply)  # type: ignore[no-any-return]  # JSON Any: the claim answer map


@dataclass(frozen=True, slots=True)
class Cursor:
    """How far the room log has been folded into stats ("epoch:offset", "" before the first fold), and
    the deals' claim and rejection totals at that fold (None before the first)."""

    at: str
    claims: int | None
    rejections: int | None

    @property
    def epoch(self) -> str:
        return self.at.partition(":")[0]

    @property
    def offset(self) -> int:
        return int(self.at.partition(":")[2] or 0)


@dataclass(frozen=True, slots=True)
class DirectorInputs:
    """What a director step reads of a room (StatsStore.director_inputs): the fold cursor, the room's
    epoch and the logged events after the cursor, its newest deals, counters, viewer sockets online
    across nodes, and the questions hosts marked answered."""

    cursor: Cursor
    epoch: str
    logged: list[LoggedEvent]
    deals: list[dict[str, str]]
    counters: dict[str, int]
    online: int
    answered: dict[str, int]
