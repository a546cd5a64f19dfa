"""This node's rooms: who is connected where, and the tick that fans room updates out to them.

Its companions run beside it, each its own component: presence.py (viewer counts across nodes),
deal_timers.py (clock-driven deal states, the once-a-second deal re-read, hold release) and
clock_sync.py (the shared clock). They see the hub through room.RoomsHere.

One Redis subscriber (store/subscriber.py, chosen by the composition root) feeds every room with
room channel messages (store/channel.py); each room collects events in a pure `RoomBatch`. The fan-out
goes in rounds of turns: a turn flushes the batch into the room's log (`Room.log`) and writes one slice
of `fanout_slice` sockets, each the one frame of everything in the log it has not had (`peer.seen`),
encoded once per slice and wire format. No per-socket task, queue or await.

Why rounds: a write costs ~10 µs of the kernel's, so one frame to 8,000 sockets took ~0.1 s, and an event
that had just missed a tick waited the tick and then that ~0.1 s for the last socket. In a round, turns
are paced so that each socket gets at most a frame per tick, as before, but the slices are staggered
over the tick: an event waits at most a tick for any socket, plus one slice of writes. A quiet room's
news, and a deal's new state, go to every socket at once instead (slice after slice, in consecutive
loop passes), and a deal that closed in one pass: every viewer is waiting for "sold out".

Joining, without gap or duplicate: the socket is registered first (flushed batches are parked on it),
then it gets its snapshot or its history since an offset, then the parked batches are replayed, each
event filtered by the offset the socket already has (`peer.floor`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from livecart.audience import WIRES, audience_of, view
from livecart.auth import STAFF_ROLES, is_revoked
from livecart.batch import BUSY_EVENTS, Batch, merged, tick_for
from livecart.clock import Clock
from livecart.errors import CloseCode, StoreUnavailable
from livecart.events import counters_to_wire
from livecart.first_frames import SharedRecovery, SharedSnapshot
from livecart.invites import board_to_wire, public_board
from livecart.metrics import Metrics
from livecart.outbound import FrameKind
from livecart.protocol import Format, encode_frame
from livecart.room import Peer, Room, snapshot_frame
from livecart.shutdown import cancel_and_wait
from livecart.store import channel
from livecart.store.channel import (
    BagWon,
    BuyerPrompt,
    CuePosted,
    DealChanged,
    InviteBoard,
    LiveStats,
    RoomEvents,
    ShowChanged,
    StageChanged,
    TokensRevoked,
    UndecodableMessage,
)
from livecart.store.redis_store import RedisStore
from livecart.store.subscriber import SubscriberFactory
from livecart.store.values import Gap

__all__ = ["RoomHub", "SharedSnapshot"]

log = logging.getLogger("livecart.hub")
FILL_GIVE_UP_S = 2.0
STOP_GRACE_S = 2.0
# Sockets written per turn (one pass of the event loop). A write costs ~10-15 µs (nearly all of it the
# kernel's), so a room of 8,000 took ~120 ms in one go, during which the node read nothing: the next
# events, claims and Redis replies waited for the whole frame. 400 is ~6 ms a pass. A claim needs two
# passes (to Redis, then its answer), so the slice bounds a rush's first answer: with 8,000 sockets it
# was 59-103 ms at 1,000 and 31-45 ms at 400 (8 interleaved runs), while S3's p99 and CPU per delivery
# stayed within the runs' spread (4 interleaved runs each way): the extra passes cost little.
FANOUT_SLICE = 400
NO_OFFSET = 1 << 62  # above any offset a room reaches


@dataclass(slots=True)
class Outgoing:
    """What the sockets that have had the log up to the same place get: one merged batch, its frame,
    encoded once per wire (audience.WIRES number), and what the fan-out reads of it per socket."""

    batch: Batch
    frame: dict[str, Any]
    kind: FrameKind
    offset: int
    partial_from: int  # a socket whose floor is this or more has some of its events already
    events: int
    staff_only: bool
    encoded: dict[int, bytes] = field(default_factory=dict)

    @classmethod
    def of(cls, batch: Batch, now_ms: int) -> Outgoing:
        events = len(batch.events)
        return cls(batch, batch.frame(now_ms), FrameKind.EVENTS if events else FrameKind.STATE, batch.offset,
                   batch.first_offset if events else NO_OFFSET, events, batch.staff_only)


@dataclass(slots=True)
class Round:
    """One pass over a room's sockets, a slice per turn: each socket gets what it has not had yet."""

    peers: list[Peer]  # the room's sockets when it started (one who joins later is up to date)
    start_seq: int  # the log's end when it started: once it is done, every socket has had up to here
    burst: bool  # slices in consecutive loop passes (a quiet room's news, a deal's new state), not paced
    whole: bool  # every slice in one pass (a deal closed)
    urgent: bool  # it carries more than moving numbers: paced by the room's tick, not the state tick
    next: int = 0  # where in `peers` the next slice starts
    seconds: float = 0.0  # time spent writing so far


class RoomHub:
    def __init__(self, store: RedisStore, subscribe: SubscriberFactory, *, clock: Clock, tick_ms: int,
                 max_tick_ms: int, metrics: Metrics, state_tick_ms: int = 0,
                 revocation_check_s: float = 2.0, fanout_slice: int = FANOUT_SLICE) -> None:
        self.store = store
        self.clock = clock
        self.tick = tick_ms / 1000
        self.max_tick = max(tick_ms, max_tick_ms) / 1000
        self.state_tick = state_tick_ms / 1000
        self.revocation_check_s = revocation_check_s
        self.fanout_slice = max(1, fanout_slice)
        self.metrics = metrics
        self.rooms: dict[str, Room] = {}
        # Told of every revocation (web/revocation.py keeps the cut-offs the node checks tokens with).
        self.on_revoked: Callable[[str, str, float], None] | None = None
        # Told when a room's last socket here left (presence.py reports count 0), and when a room's deals
        # changed (deal_timers.py re-arms the room's clock-driven deal states).
        self.on_room_closed: Callable[[Room], Awaitable[None]] | None = None
        self.on_deals_changed: Callable[[Room], None] | None = None
        # Told when a room's counters or a deal changed here (goal_watch.py: has a goal been reached?).
        self.on_numbers: Callable[[Room], None] | None = None
        self.subscriber = subscribe(self._on_message, self._on_subscribed)
        self._loop = asyncio.get_running_loop()
        self._tasks: set[asyncio.Task[Any]] = set()

    # --- lifecycle -------------------------------------------------------------------------------

    async def run(self) -> None:
        """The subscriber loop and the revocation loop; cancel to stop."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self.subscriber.run(), name="subscriber")
            group.create_task(self._revocation_loop(), name="revocations")

    # --- joining and leaving ---------------------------------------------------------------------

    async def join(self, peer: Peer, room_name: str, since: int | None, epoch: str | None) -> None:
        """Register `peer` and send it its first frames. Raises StoreUnavailable (peer not added)."""
        room = self.rooms.get(room_name)
        if room is None:
            room = self.rooms[room_name] = Room(room_name)
            self._spawn(self._open_room(room))
        peer.parked = []
        room.peers[peer] = None
        room.joining.add(peer)
        if peer.role == "viewer":
            room.viewers += 1
        elif peer.role == "overlay":
            room.overlays_here += 1
        self.metrics.connections.inc()
        try:
            await asyncio.shield(room.ready)
            await self._send_start(peer, room, since, epoch)
        except BaseException:
            self.leave(peer, room_name)
            raise
        room.joining.discard(peer)
        parked, peer.parked = peer.parked, None
        peer.seen = room.log_end  # the parked batches are everything flushed since it registered
        for batch in parked or ():
            self._deliver_one(peer, batch)

    def leave(self, peer: Peer, room_name: str) -> None:
        room = self.rooms.get(room_name)
        if room is None or peer not in room.peers:
            return
        room.peers.pop(peer, None)
        room.joining.discard(peer)
        self.metrics.connections.dec()
        if peer.role == "viewer":
            room.viewers -= 1
        elif peer.role == "overlay":
            room.overlays_here -= 1
        if not room.peers:
            del self.rooms[room_name]
            if room.flush_handle:
                room.flush_handle.cancel()
            room.round = None
            self.subscriber.want(room_name, False)
            self._spawn(self.subscriber.sync(room_name))
            if self.on_room_closed is not None:
                self._spawn(self.on_room_closed(room))

    async def _open_room(self, room: Room) -> None:
        try:
            self.subscriber.want(room.name, True)
            await self.subscriber.sync(room.name)
            snap = await self.store.snapshot(room.name, recent=0)
        except StoreUnavailable as exc:
            room.ready.set_exception(exc)
            room.ready.exception()  # mark retrieved: joiners re-raise it themselves
            self.rooms.pop(room.name, None)
            return
        room.load(snap, self.clock.now_ms())
        with contextlib.suppress(StoreUnavailable):  # known from the first frame, not 0 until presence runs
            room.online = await self.store.online(room.name, self.clock.now_ms())
            room.overlays = await self.store.online(room.name, self.clock.now_ms(), role="overlay")
        self._deals_changed(room)
        room.ready.set_result(None)
        await self._fill(room)

    async def _send_start(self, peer: Peer, room: Room, since: int | None, epoch: str | None) -> None:
        if since is not None and epoch is not None:
            recovery = await self._shared_recovery(room, since, epoch)
            if recovery is not None:
                peer.floor = recovery.floor
                for frame in recovery.frames(peer.fmt, audience_of(peer.role)):
                    peer.send_frame(frame, FrameKind.EVENTS)
                self.metrics.resumes.labels("recovered").inc()
                return
            self.metrics.resumes.labels("snapshot").inc()
        shared = await self._shared_snapshot(room)
        peer.floor = shared.snap.offset
        peer.send_frame(shared.frame(peer.fmt, audience_of(peer.role)), FrameKind.EVENTS)

    def _shared_recovery(self, room: Room, since: int, epoch: str) -> asyncio.Future[SharedRecovery | None]:
        """One history read (and one encode per format) for every socket resuming from the same
        (offset, epoch) that joined before the read started: after a node drops, thousands resume from
        the same few offsets. None: history no longer reaches back (or another epoch)."""
        key = (since, epoch)
        future = room.next_recoveries.get(key)
        if future is None:
            future = room.next_recoveries[key] = self._loop.create_future()
            self._spawn(self._read_recovery(room, key, future))
        return future

    async def _read_recovery(self, room: Room, key: tuple[int, str],
                             future: asyncio.Future[SharedRecovery | None]) -> None:
        await self._read_after(room, key, future)
        room.next_recoveries.pop(key, None)  # whoever resumes from now on needs a read after them
        try:
            history = await self.store.history(room.name, *key)
        except StoreUnavailable as exc:
            future.set_exception(exc)
            future.exception()  # retrieved here; each waiter re-raises it
            return
        if isinstance(history, Gap):
            future.set_result(None)
            return
        now = self.clock.now_ms()
        # Deals and the stage are state, not events: a resumed socket gets them current.
        counters = dict(counters_to_wire(history.counters, room.currency), online=room.online,
                        overlays=room.overlays)
        future.set_result(SharedRecovery(key[0], history, now, counters, room.deals_wire(now), room.stage))

    def _shared_snapshot(self, room: Room) -> asyncio.Future[SharedSnapshot]:
        """One snapshot read (and one encode per format) for every socket that joined before it
        started: a reconnect storm of thousands costs a handful of reads, not thousands."""
        if room.next_snapshot is None:
            future: asyncio.Future[SharedSnapshot] = self._loop.create_future()
            room.next_snapshot = future
            self._spawn(self._read_snapshot(room, future))
        return room.next_snapshot

    async def _read_after(self, room: Room, what: Any, future: asyncio.Future[Any]) -> None:
        """Wait until the read of `what` in flight, if any, has ended; `future`'s read is next.

        One read of each kind at a time per room: sockets that join while one is in flight share the
        next, which starts when it ends. Without this, a steady stream of joiners (a connect storm)
        started a read, and encoded its frames, for nearly every socket: each joiner arrived after the
        last read had started."""
        previous = room.reading.get(what)
        room.reading[what] = future

        def ended(done: asyncio.Future[Any]) -> None:
            if room.reading.get(what) is done:
                del room.reading[what]

        future.add_done_callback(ended)
        if previous is not None and not previous.done():
            await asyncio.wait((previous,))

    async def _read_snapshot(self, room: Room, future: asyncio.Future[SharedSnapshot]) -> None:
        await self._read_after(room, None, future)
        room.next_snapshot = None  # whoever joins from now on needs a read that starts after them
        try:
            snap = await self.store.snapshot(room.name)
        except StoreUnavailable as exc:
            future.set_exception(exc)
            future.exception()  # retrieved here; each waiter re-raises it
            return
        future.set_result(SharedSnapshot(snap, snapshot_frame(snap, room.online, self.clock.now_ms(),
                                                                         room.overlays)))

    # --- from Redis --------------------------------------------------------------------------------

    def _on_message(self, room_name: str, data: bytes) -> None:
        room = self.rooms.get(room_name)
        if room is None:
            return
        try:
            message = channel.decode(data)
        except UndecodableMessage:
            log.error("undecodable message on room %s", room_name, extra={"room": room_name})
            return
        if not room.ready.done() or room.ready.exception() is not None:
            if isinstance(message, TokensRevoked):  # joining sockets are peers already
                self._on_revoked(room, message)
            return  # the room's first _fill reads whatever this was
        match message:
            case RoomEvents():
                self._on_events(room, message)
            case DealChanged(fields):
                self.apply_deal(room, fields)
            case StageChanged(name, value):
                room.stage[name] = value
                room.batch.set_field(name, value)
                self.schedule_flush(room)
            case CuePosted(cue):
                self._to_staff(room, "cue", cue)
            case LiveStats(stats):
                self._to_staff(room, "stats", stats)
            case TokensRevoked():
                self._on_revoked(room, message)
            case BagWon(user, frame):
                self._to_user(room, user, frame)
            case ShowChanged(show):
                self._to_staff(room, "show", show)
            case BuyerPrompt(user, prompt):
                self._to_user(room, user, {"type": "show_prompt", **prompt}, viewers_only=True)
            case InviteBoard(board):
                self._to_invite_board(room, board)

    def _on_events(self, room: Room, message: RoomEvents) -> None:
        self.metrics.events_in.inc(len(message.events))
        if message.epoch != room.epoch:
            self._spawn(self._reset(room))
            return
        self._take_events(room, message.events, message.counters)
        if room.batch.missing():
            self._spawn(self._fill(room))

    def _take_events(self, room: Room, events: list[dict[str, Any]], counters: dict[str, int] | None) -> None:
        """Events for the room's sockets, from pub/sub or history, with the room's counters as of them
        (None: keep the counters the room has, which are newer)."""
        room.batch.add_events(events)
        if counters is not None:
            room.counters = counters_to_wire(counters, room.currency)
            room.batch.set_counters(room.counters)
        self.schedule_flush(room)
        if self.on_numbers is not None:
            self.on_numbers(room)

    def _on_revoked(self, room: Room, revoked: TokensRevoked) -> None:
        if self.on_revoked is not None:
            self.on_revoked(room.name, revoked.field, revoked.before)
        self._close_revoked(room, {revoked.field: revoked.before})

    def _close_revoked(self, room: Room, cutoffs: dict[str, float]) -> None:
        for peer in list(room.peers):
            if is_revoked(cutoffs, peer.role, peer.user, peer.token_id, peer.issued_at):
                peer.close(CloseCode.UNAUTHORIZED, "token revoked")

    async def _revocation_loop(self) -> None:
        """Every revocation_check_s, reread the revocations of every room with sockets here and close
        the sockets they name. The published message closes them at once; this is for the message a
        node missed (pub/sub is at-most-once), which would otherwise leave a revoked socket open until
        its token expired."""
        while True:
            await asyncio.sleep(self.revocation_check_s)
            rooms = list(self.rooms.values())
            for start in range(0, len(rooms), 500):  # one round trip per 500 rooms
                chunk = rooms[start : start + 500]
                try:
                    found = await self.store.revocations_of([room.name for room in chunk])
                except StoreUnavailable:
                    break
                for room, cutoffs in zip(chunk, found, strict=True):
                    if cutoffs:
                        self._close_revoked(room, cutoffs)

    def _to_staff(self, room: Room, kind: str, body: dict[str, Any]) -> None:
        """Cues and live stats go to host and assistant sockets only, never into the shared batch (which
        every viewer and overlay gets): a direct frame, encoded once per format. Stats only to sockets
        that asked for them. Not to a socket still joining (its first frame must be the snapshot);
        GET …/cues has what it missed. Not STATE kind: a held state slot keeps only the newest frame,
        and this one must not replace a batch."""
        frame = {"type": kind, kind: body}
        encoded: dict[Format, bytes] = {}
        for peer in room.peers:
            if peer.role in STAFF_ROLES and peer.parked is None and (kind != "stats" or peer.stats):
                data = encoded.get(peer.fmt) or encoded.setdefault(peer.fmt, encode_frame(frame, peer.fmt))
                peer.send_frame(data, FrameKind.EVENTS)

    def _to_user(self, room: Room, user: str, frame: dict[str, Any], *, viewers_only: bool = False) -> None:
        """A frame for one user's own sockets on this node: a lucky bag's `won` whatever their role, a
        buyer's show prompt to their viewer sockets only (`viewers_only`)."""
        for peer in room.peers:
            if peer.user == user and peer.parked is None and (not viewers_only or peer.role == "viewer"):
                peer.send_frame(encode_frame(frame, peer.fmt), FrameKind.EVENTS)
    def _to_invite_board(self, room: Room, board: dict[str, Any]) -> None:
        """The top inviters go to host and assistant sockets, and, without money, to overlays while the
        console shows them there; never to viewers (their own progress is GET …/invites/me). A direct
        frame like a cue's, for the same reasons (_to_staff); encoded once per audience and format."""
        staff = board_to_wire(board, room.currency)
        frames = {True: {"type": "invites", "invites": staff},
                  False: {"type": "invites", "invites": public_board(staff)}}
        encoded: dict[tuple[bool, Format], bytes] = {}
        for peer in room.peers:
            is_staff = peer.role in STAFF_ROLES
            if peer.parked is None and (is_staff or (staff["overlay"] and peer.role == "overlay")):
                key = (is_staff, peer.fmt)
                data = encoded.get(key) or encoded.setdefault(key, encode_frame(frames[is_staff], peer.fmt))
                peer.send_frame(data, FrameKind.EVENTS)

    def apply_deal(self, room: Room, fields: dict[str, str]) -> None:
        """A deal's stored fields, from the channel or a re-read (deal_timers.py)."""
        if room.update_deal(fields, self.clock.now_ms()):  # marks the room urgent for a new state
            self.schedule_flush(room, urgent=False)
            if self.on_numbers is not None:
                self.on_numbers(room)
            self._deals_changed(room)

    def _deals_changed(self, room: Room) -> None:
        if self.on_deals_changed is not None:
            self.on_deals_changed(room)

    def _on_subscribed(self, room_name: str) -> None:
        room = self.rooms.get(room_name)
        if room is not None and room.ready.done() and room.ready.exception() is None:
            self._spawn(self._fill(room))

    async def _fill(self, room: Room) -> None:
        """Read from history whatever pub/sub did not bring: after (re)subscribing or on a hole."""
        delay = 0.05
        while True:
            try:
                history = await self.store.history(room.name, room.batch.next_offset - 1, room.epoch)
                break
            except StoreUnavailable:
                if self.rooms.get(room.name) is not room or delay > FILL_GIVE_UP_S:
                    return  # gone, or Redis is down: the subscriber's reconnect triggers another fill
                await asyncio.sleep(delay)
                delay *= 2
        if isinstance(history, Gap):
            if history.epoch != room.epoch or history.offset >= room.batch.next_offset:
                await self._reset(room)
            return
        if history.events:
            # The counters as of the read go too, unless pub/sub brought later ones meanwhile: events
            # that came only this way (published before this node's subscription was in place, or
            # while it was reconnecting) left them as they were before those events.
            newer = history.offset > room.batch.newest
            self._take_events(room, history.events, history.counters if newer else None)

    async def _reset(self, room: Room) -> None:
        """The room's history was lost or outran us: everyone starts again from a snapshot."""
        try:
            snap = await self.store.snapshot(room.name)
        except StoreUnavailable:
            return
        if snap.epoch == room.epoch and snap.offset < room.batch.next_offset:
            return
        log.warning("room %s reset: epoch %s -> %s", room.name, room.epoch, snap.epoch,
                    extra={"room": room.name})
        room.load(snap, self.clock.now_ms())
        # The log holds batches of the room's old history: nobody gets them now.
        room.log_start, room.log = room.log_end, []
        room.done_seq = room.log_end
        shared = SharedSnapshot(snap, snapshot_frame(snap, room.online, self.clock.now_ms(), room.overlays))
        for peer in list(room.peers):
            peer.seen = room.log_end
            if peer.parked is not None:
                continue  # still joining: its own start frame comes after this
            data = shared.frame(peer.fmt, audience_of(peer.role))
            peer.floor = snap.offset
            peer.send_frame(data, FrameKind.EVENTS)

    # --- the fan-out -------------------------------------------------------------------------------

    def schedule_flush(self, room: Room, urgent: bool = True) -> None:
        """Something new for the room's sockets: counter-only changes (`urgent=False`, unless something
        urgent is queued too) may go at the slower state tick. Brings the room's next turn forward when
        it is due sooner; a round going carries the news with its next turns."""
        room.urgent = room.urgent or urgent
        now = self._loop.time()
        current = room.round
        if room.state_changed:  # a deal's new state: a round to every socket, at most one per base tick
            at = max(now, room.state_round_started + self.tick)
        elif current is not None:
            at = room.last_turn if current.burst else self._next_turn(room, current)
        else:  # a quiet room's news goes now, unless its last round started less than a tick ago
            at = max(now, room.round_started + self._period(room, urgent=room.urgent))
        self._turn_at(room, at)

    def _turn_at(self, room: Room, at: float) -> None:
        if room.flush_handle is not None:
            if room.flush_at <= at:
                return
            room.flush_handle.cancel()
        # (Not handle.when(): uvloop answers a call_at in the past with a plain Handle, which has none.)
        room.flush_at = at
        room.flush_handle = self._loop.call_at(at, self._flush, room)

    def _period(self, room: Room, *, urgent: bool) -> float:
        """How often a socket of the room may get a frame (batch.tick_for)."""
        return tick_for(self.tick, len(room.peers), self.max_tick, room.busy, state_only=not urgent,
                        state_s=self.state_tick)

    def _next_turn(self, room: Room, current: Round) -> float:
        """When a paced round's next turn is due: its slices spread over the room's period, and its first
        no sooner than a period after the previous round's first, so that a socket gets at most a frame
        per period. (Right after a round in one burst, the next waits: in a rush, the stock counts that
        came while "live" went out to 8,000 sockets otherwise went out to all of them at once after it.)"""
        slices = max(1, -(-len(current.peers) // self.fanout_slice))
        period = self._period(room, urgent=current.urgent or room.urgent)
        at = room.last_turn + period / slices
        return at if current.next else max(at, room.round_started + period)

    def _flush(self, room: Room) -> None:
        """One turn: flush the batch into the log, and write the round's next slice (a new round when
        none is going, or when a deal's state changed)."""
        room.flush_handle = None
        now = room.last_turn = self._loop.time()
        batch = room.batch.flush()
        if batch is not None:
            self._append(room, batch)
        current = room.round
        if room.state_changed:
            # A deal went live, sold out or ended: a new round to every socket now, the one going (if
            # any) given up (its sockets are in this one). Sold out goes in one pass: in a rush, slices
            # interleaved with the claims being answered made it reach the last of 8,000 sockets
            # 0.15-0.75 s after the first, where in one go it takes the ~0.1 s of its writes. Live goes
            # in slices, so the first claims are answered while it is still going out (8,000 sockets, 4
            # interleaved runs each way: first answer 151-216 -> 51-82 ms).
            current = self._start_round(room, burst=True, whole=room.deal_closed)
            room.state_changed = room.deal_closed = False
            room.state_round_started = now
        elif current is None:
            if room.log_end == room.done_seq:
                return  # nothing new for anybody
            current = self._start_round(room, burst=True, whole=False)  # a quiet room's news: now
        self._write(room, current)
        if current.next < len(current.peers):
            self._turn_at(room, now if current.burst else self._next_turn(room, current))
            return
        # The round is done: every socket has had the log up to where it started (or up to a reset of
        # the room since, which put everyone there).
        room.round = None
        room.done_seq = max(room.done_seq, current.start_seq)
        del room.log[:room.done_seq - room.log_start]
        room.log_start = room.done_seq
        self.metrics.tick_seconds.observe(current.seconds)
        if room.log_end > room.done_seq:  # news came during the round: the next round, paced
            current = self._start_round(room, burst=False, whole=False)
            self._turn_at(room, self._next_turn(room, current))

    def _start_round(self, room: Room, *, burst: bool, whole: bool) -> Round:
        room.round = current = Round(list(room.peers), room.log_end, burst, whole, room.urgent)
        room.urgent = False
        return current

    def _append(self, room: Room, batch: Batch) -> None:
        """A flushed batch into the log, and to the sockets still joining (replayed when they have their
        first frame)."""
        if not batch.events:
            # A state-only frame may be held back for a slow socket and replaced by the next one
            # (outbound.py), so it carries the whole room state, not just what changed this tick.
            room.complete_state(batch, self.clock.now_ms())
        room.log.append(batch)
        for peer in room.joining:
            if peer.parked is not None and (not batch.staff_only or peer.role in STAFF_ROLES):
                peer.parked.append(batch)

    def _write(self, room: Room, current: Round) -> None:
        """Write the round's next slice (every socket left, when it is `whole`): to each socket, one frame
        of the log from where it is (`peer.seen`). A socket that joins meanwhile is not in the round:
        its first frame, read from Redis after it registered, already holds what was flushed before."""
        started = time.perf_counter()
        peers, start = current.peers, current.next
        if not start:
            room.round_started = room.last_turn
        end = current.next = len(peers) if current.whole else start + self.fanout_slice
        self._deliver(room, peers[start:end] if start or end < len(peers) else peers)
        current.seconds += time.perf_counter() - started

    def _deliver(self, room: Room, peers: Sequence[Peer]) -> None:
        """Encode what each socket has not had once per place in the log and wire (audience.py: what
        each role sees) and write the same bytes to every live socket with that place and wire."""
        log, log_start, log_end = room.log, room.log_start, room.log_end
        shared: dict[int, Outgoing] = {}  # by the place in the log a socket has had up to
        now_ms = 0
        sent = written = events = 0
        for peer in peers:
            seen = peer.seen
            if seen >= log_end or peer.parked is not None:
                continue  # up to date, or still joining (it gets the parked batches then)
            peer.seen = log_end
            out = shared.get(seen)
            if out is None:
                now_ms = now_ms or self.clock.now_ms()
                out = shared[seen] = Outgoing.of(merged(log[max(0, seen - log_start):]), now_ms)
                room.busy = out.events >= BUSY_EVENTS
            if out.staff_only and peer.role not in STAFF_ROLES:
                continue  # nothing viewers and overlays see (a deal's funnel moved)
            if peer.floor >= out.partial_from:
                self._deliver_one(peer, out.batch)  # it already has part of this batch
                continue
            data = out.encoded.get(peer.wire)
            if data is None:
                audience, fmt = WIRES[peer.wire]
                data = out.encoded[peer.wire] = encode_frame(view(out.frame, audience), fmt)
                self.metrics.encodes.inc()
            # Never lower: a socket that resumed may have read history further than this node's
            # batches have got (Redis is ahead of pub/sub), and a state-only batch at an older offset
            # must not make the next batch resend events it already has.
            if out.offset > peer.floor:
                peer.floor = out.offset
            peer.send_frame(data, out.kind)
            sent += 1
            written += len(data)
            events += out.events
        self.metrics.frames_out.inc(sent)
        self.metrics.events_out.inc(events)
        self.metrics.bytes_out.inc(written)

    def _deliver_one(self, peer: Peer, batch: Batch) -> None:
        events = [e for e in batch.events if e["offset"] > peer.floor]
        if not events and not batch.has_state:
            return
        peer.floor = max(peer.floor, batch.offset)
        kind = FrameKind.EVENTS if events else FrameKind.STATE
        frame = view(batch.frame(self.clock.now_ms(), events), audience_of(peer.role))
        peer.send_frame(encode_frame(frame, peer.fmt), kind)

    # --- helpers -----------------------------------------------------------------------------------

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("room task failed", exc_info=task.exception())

    async def stop(self) -> None:
        """Cancel the room tasks and give them STOP_GRACE_S to finish: a task stuck in a client
        library's cleanup must not keep the node from exiting (nor swallow our own cancellation)."""
        await cancel_and_wait(list(self._tasks), STOP_GRACE_S)
