"""Deal timers: what happens to deals because time passes, not because someone acted.

- A per-room timer pushes the clock-driven states, `scheduled → live` and `→ ended`, at the millisecond
  they happen (`watch`, re-armed whenever a room's deals change).
- Once a second (`run`): re-read the open deals of this node's rooms (all rooms in two pipelined round
  trips), so a lost pub/sub message delays a deal update by at most about a second and the rejection
  counts (which refusals do not publish) still reach clients; and release expired holds (expire.lua)
  in the rooms where this node made claims and in "orphan" rooms of `lc:hold-rooms` whose node stopped
  heartbeating, so every hold comes back even when its node died.
"""

from __future__ import annotations

import asyncio

from livecart.clock import Clock
from livecart.errors import StoreUnavailable
from livecart.room import Room, RoomsHere
from livecart.store.deal_store import DealStore

__all__ = ["DealTimers"]

REFRESH_S = 1.0


class DealTimers:
    def __init__(self, deal_store: DealStore, hub: RoomsHere, *, clock: Clock,
                 refresh_s: float = REFRESH_S) -> None:
        self.deal_store = deal_store
        self.hub = hub
        self.clock = clock
        self.refresh_s = refresh_s
        self.hold_rooms: set[str] = set()  # rooms where this node made claims that may still be held
        self._loop = asyncio.get_running_loop()

    def note_hold(self, room: str) -> None:
        """This node made a claim in `room`: look after its holds until none is left."""
        self.hold_rooms.add(room)

    # --- the clock-driven states of one room -------------------------------------------------------

    def watch(self, room: Room) -> None:
        """(Re)arm the room's timer for the next time a deal's state changes by the clock alone."""
        if room.transition_handle is not None:
            room.transition_handle.cancel()
            room.transition_handle = None
        now = self.clock.now_ms()
        at = room.next_transition(now)
        if at is not None:
            room.transition_handle = self._loop.call_later(max(0.0, (at - now) / 1000) + 0.001,
                                                           self._transition, room)

    def _transition(self, room: Room) -> None:
        room.transition_handle = None
        if room.retime_deals(self.clock.now_ms()):
            self.hub.schedule_flush(room)
        self.watch(room)

    # --- once a second -------------------------------------------------------------------------------

    async def run(self) -> None:
        """`refresh` every refresh_s; a Redis outage skips a round. Cancel to stop."""
        while True:
            await asyncio.sleep(self.refresh_s)
            try:
                await self.refresh()
            except StoreUnavailable:
                continue

    async def refresh(self) -> None:
        """One round: re-read every room's open deals, then release expired holds. Raises
        StoreUnavailable (the rest of the round is skipped)."""
        now = self.clock.now_ms()
        rooms = [(room, ids) for room in list(self.hub.rooms.values()) if (ids := room.open_deal_ids(now))]
        if rooms:
            # Two round trips for every room with open deals together, not two per room.
            await self.deal_store.expire_many([room.name for room, _ in rooms])
            found = await self.deal_store.get_many([(room.name, ids) for room, ids in rooms])
            for (room, _), deals in zip(rooms, found, strict=True):
                for fields in deals:
                    self.hub.apply_deal(room, fields)
        await self._release_holds()

    async def _release_holds(self) -> None:
        """Expire holds in the rooms this node claimed in, and in rooms whose claiming node stopped
        looking after them (it died): every hold comes back, whoever is left to notice."""
        now = self.clock.now_ms()
        await self.deal_store.register_hold_rooms(self.hold_rooms, now)
        for room in self.hold_rooms | set(await self.deal_store.orphan_hold_rooms(now)):
            await self.deal_store.expire(room)
            if not await self.deal_store.holds_left(room):
                self.hold_rooms.discard(room)
                await self.deal_store.forget_hold_room(room)
