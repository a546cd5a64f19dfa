"""One room as this node sees it: its sockets, its batch for the next tick, and its latest state.

Plain data with no I/O. The hub (hub.py) owns the timers, Redis and the sockets.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from livecart.audience import Audience, deal_view
from livecart.batch import Batch, RoomBatch
from livecart.deals import DealState, deal_state, deal_to_wire, next_transition
from livecart.errors import CloseCode
from livecart.events import counters_to_wire
from livecart.money import LEGACY_CURRENCY
from livecart.outbound import FrameKind
from livecart.protocol import Format
from livecart.store.values import ROOM_FIELDS, Snapshot

__all__ = ["Peer", "Room", "RoomsHere", "snapshot_frame"]

OPEN_STATES = (DealState.SCHEDULED, DealState.LIVE, DealState.SOLD_OUT)
CLOSED_STATES = (DealState.SOLD_OUT, DealState.ENDED, DealState.STOPPED)  # sent to every socket at once
RECENTLY_CLOSED_MS = 60_000


class Peer(Protocol):
    """What the hub needs of a socket (implemented by web.ws.WebSocket)."""

    fmt: Format
    role: str
    wire: int  # audience.wire_of(role, fmt): which shared encoding of a batch this socket gets
    floor: int  # the highest room offset this socket has been sent
    seen: int  # the room's fan-out log (Room.log) has been written to this socket up to here
    parked: list[Batch] | None  # batches flushed while the socket was joining
    stats: bool  # asked for the once-a-second live stats frame (host and assistant sockets)
    issued_at: float  # when its token was issued (unix s): a revocation closes older ones of its role
    user: str | None  # its token's user, and the token's id (jti): revocable by either
    token_id: str

    def send_frame(self, data: bytes, kind: FrameKind) -> None: ...

    def close(self, code: CloseCode, reason: str) -> None: ...


def _seen_differently(old: dict[str, str], wire: dict[str, Any], now_ms: int) -> bool:
    """Whether viewers see `wire` differently from the deal's `old` fields (its rate aside: the caller
    has compared that)."""
    before = deal_to_wire(old, now_ms)
    before["claims_per_s"] = wire["claims_per_s"]
    return deal_view(before, Audience.PUBLIC) != deal_view(wire, Audience.PUBLIC)


class Room:
    __slots__ = ("batch", "busy", "claim_rates", "counters", "deal_closed", "deals", "done_seq", "epoch",
                 "flush_at", "flush_handle", "joining", "last_turn", "log", "log_start", "name",
                 "next_recoveries", "next_snapshot", "online", "overlays", "overlays_here", "peers",
                 "reading", "ready", "round", "round_started", "sent_states", "stage", "state_changed",
                 "state_round_started", "transition_handle", "urgent", "viewers")

    def __init__(self, name: str) -> None:
        self.name = name
        # Insertion-ordered (a dict, not a set): a socket stays in the same slice of the hub's rounds from
        # one round to the next, so the rounds' stagger holds (a set's order changes as it grows).
        self.peers: dict[Peer, None] = {}
        self.viewers = 0  # viewer sockets on this node
        self.overlays_here = 0  # overlay sockets on this node (the console shows whether one is connected)
        self.epoch = ""
        self.batch = RoomBatch(0)
        self.online = 0  # viewer sockets across nodes
        self.overlays = 0  # overlay sockets across nodes
        self.counters: dict[str, Any] = {}  # latest, as clients see them
        self.deals: dict[str, dict[str, str]] = {}  # stored fields, latest seen
        self.sent_states: dict[str, DealState] = {}  # the state each deal had when last sent
        self.claim_rates: dict[str, tuple[int, int, float]] = {}  # deal -> (since ms, claims then, rate)
        # pinned card, highlighted comment, announcement, and the room's currency (set by load)
        self.stage: dict[str, Any] = dict.fromkeys(ROOM_FIELDS)
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.joining: set[Peer] = set()  # peers still getting their first frames (`parked` is a list)
        # The fan-out (hub.py): batches flushed and not yet written to every socket, the round of turns
        # writing them (hub.Round), and when turns and rounds were.
        self.log: list[Batch] = []
        self.log_start = 0  # the sequence number of log[0]; a socket's `seen` counts in these
        self.done_seq = 0  # every socket has had the log up to here (the start of the last round done)
        self.round: Any = None  # the round going (hub.Round), or None when every socket is up to date
        self.flush_handle: asyncio.TimerHandle | asyncio.Handle | None = None  # the next turn
        self.flush_at = 0.0  # when flush_handle runs (loop time)
        self.transition_handle: asyncio.TimerHandle | None = None
        self.last_turn = 0.0  # loop time of the last turn
        self.round_started = 0.0  # ... and of the last round's first slice
        self.state_round_started = 0.0  # the last round for a deal's new state (at most one per base tick)
        self.busy = False  # the last frame carried many events: the next one may wait longer
        # Not yet in a round: something more than moving numbers (events, a deal's new state, a pin): it
        # goes at the room's tick, not the slower one of counter-only frames (batch.tick_for).
        self.urgent = False
        self.state_changed = False  # a deal's state changed since the last frame: it goes at the base tick
        self.deal_closed = False  # ... to sold out, ended or stopped: it goes to every socket in one pass
        self.next_snapshot: asyncio.Future[Any] | None = None  # see RoomHub._shared_snapshot
        self.next_recoveries: dict[tuple[int, str], asyncio.Future[Any]] = {}  # RoomHub._shared_recovery
        # The first-frame reads in flight, by what they read (None: the snapshot; (offset, epoch): a
        # history): the next read of the same thing starts when this one ends (RoomHub._read_after).
        self.reading: dict[Any, asyncio.Future[Any]] = {}

    def load(self, snap: Snapshot, now_ms: int) -> None:
        """Start from a snapshot; its deals count as sent (every joiner's first frame carries them)."""
        self.epoch, self.batch = snap.epoch, RoomBatch(snap.offset)
        self.deals = {d["id"]: d for d in snap.deals}
        self.sent_states = {i: deal_state(f, now_ms) for i, f in self.deals.items()}
        self.stage = dict(snap.stage)
        self.counters = counters_to_wire(snap.counters, self.currency)

    @property
    def log_end(self) -> int:
        return self.log_start + len(self.log)

    @property
    def currency(self) -> str:
        return str(self.stage.get("currency") or LEGACY_CURRENCY)

    def complete_state(self, batch: Batch, now_ms: int) -> None:
        """Fill a state-only batch with every latest value: counters, presence, open deals, the stage."""
        batch.counters = dict(self.counters, online=self.online, overlays=self.overlays)
        changed = {d["id"] for d in batch.deals}
        batch.deals += [self.deal_wire(i, now_ms) for i in self.current_deal_ids(now_ms) if i not in changed]
        for name, value in self.stage.items():
            batch.fields.setdefault(name, value)

    def update_deal(self, fields: dict[str, str], now_ms: int) -> bool:
        """Record a deal's fields; queue it for the next tick if anything a client sees changed."""
        deal_id = fields["id"]
        old = self.deals.get(deal_id)
        self.deals[deal_id] = fields
        state = deal_state(fields, now_ms)
        # A closed deal sells nothing: its rate is 0 in the frame that closes it (deal_wire), and the
        # measure falling to 0 a second later is no news for anybody.
        rate_changed = state not in CLOSED_STATES and self._measure_claim_rate(
            deal_id, int(fields.get("claims", 0)), now_ms)
        if old == fields and self.sent_states.get(deal_id) is state and not rate_changed:
            return False
        # Only staff see a deal's funnel (attempts, refusals, paid: audience.PRIVATE_DEAL_FIELDS). When
        # nothing else changed, the frame is for them alone: after a sell-out, refusals go on changing
        # those counts, and each time it was a frame to every viewer with nothing new for them (in a rush
        # of 8,000, two more full fan-outs of ~0.12 s in the second after "sold out").
        new_state = self._note_state(deal_id, state)
        wire = self.deal_wire(deal_id, now_ms)
        public = new_state or rate_changed or old is None or _seen_differently(old, wire, now_ms)
        self.batch.set_deal(wire, public=public)
        return True

    def _note_state(self, deal_id: str, state: DealState) -> bool:
        """Record the state the next frame sends for a deal; True when it is new (scheduled, live, sold
        out, ...): that frame goes at the base tick, and in one pass when the deal closed (hub.py)."""
        if self.sent_states.get(deal_id) is state:
            return False
        self.urgent = self.state_changed = True
        self.deal_closed = self.deal_closed or state in CLOSED_STATES
        self.sent_states[deal_id] = state
        return True

    def _measure_claim_rate(self, deal_id: str, claims: int, now_ms: int) -> bool:
        """Successful claims per second over the last second or more; True when the figure changed."""
        t0, c0, rate = self.claim_rates.get(deal_id, (now_ms, claims, 0.0))
        if now_ms - t0 >= 1000:
            new_rate = round((claims - c0) * 1000 / (now_ms - t0), 1)
            self.claim_rates[deal_id] = (now_ms, claims, new_rate)
            return new_rate != rate
        self.claim_rates.setdefault(deal_id, (t0, c0, rate))
        return False

    def deal_wire(self, deal_id: str, now_ms: int) -> dict[str, Any]:
        wire = deal_to_wire(self.deals[deal_id], now_ms)
        closed = DealState(wire["state"]) in CLOSED_STATES  # deal_to_wire has worked out the state
        wire["claims_per_s"] = 0.0 if closed else self.claim_rates.get(deal_id, (0, 0, 0.0))[2]
        return wire

    def retime_deals(self, now_ms: int) -> bool:
        """Queue every deal whose state the clock alone has changed since it was last sent."""
        changed = False
        for fields in self.deals.values():
            if self._note_state(fields["id"], deal_state(fields, now_ms)):
                self.batch.set_deal(self.deal_wire(fields["id"], now_ms))
                changed = True
        return changed

    def next_transition(self, now_ms: int) -> int | None:
        times = [t for f in self.deals.values() if (t := next_transition(f, now_ms)) is not None]
        return min(times) if times else None

    def open_deal_ids(self, now_ms: int) -> list[str]:
        return [i for i, f in self.deals.items() if deal_state(f, now_ms) in OPEN_STATES]

    def current_deal_ids(self, now_ms: int) -> list[str]:
        """Open deals, and deals that closed within the last minute (so a socket that missed the
        frame saying so still learns it from the next full-state frame)."""
        def closed_at(f: dict[str, str]) -> int:
            return int(f.get("stopped_at") or f["ends_at"])

        return [i for i, f in self.deals.items()
                if deal_state(f, now_ms) in OPEN_STATES or now_ms - closed_at(f) < RECENTLY_CLOSED_MS]

    def deals_wire(self, now_ms: int) -> list[dict[str, Any]]:
        return [self.deal_wire(i, now_ms) for i in self.deals]


class RoomsHere(Protocol):
    """What the hub's companions (presence.py, deal_timers.py) need of it (implemented by hub.RoomHub)."""

    rooms: dict[str, Room]  # this node's rooms with sockets, by name

    def schedule_flush(self, room: Room, urgent: bool = True) -> None:
        """Send the room's batch at its next tick (`urgent=False`: at the slower state tick)."""

    def apply_deal(self, room: Room, fields: dict[str, str]) -> None:
        """Record a deal's stored fields; a change a client sees goes out with the next batch."""


def snapshot_frame(snap: Snapshot, online: int, now_ms: int, overlays: int = 0) -> dict[str, Any]:
    """The first frame of a fresh socket, and the body of GET /api/rooms/{room}/state."""
    currency = snap.stage.get("currency") or LEGACY_CURRENCY
    counters = dict(counters_to_wire(snap.counters, currency), online=online, overlays=overlays)
    return {"type": "snapshot", "offset": snap.offset, "epoch": snap.epoch, "recovered": False,
            "now": now_ms, "deals": [deal_to_wire(d, now_ms) for d in snap.deals], "counters": counters,
            **snap.stage, "currency": currency, "recent": snap.recent}
