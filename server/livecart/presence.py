"""Presence: how many viewer and overlay sockets a room has across every node (`online`, `overlays`).

Each node reports its own counts per room every `presence_s` into Redis (presence.lua keeps each node's
count for 3 × presence_s, so a node that dies stops counting within about 6 s) and once more, with
count 0, when its last socket of a room leaves. Not on every join: in a join storm of N sockets a new
total sent on each join would cost N writes each time (N² in all). A total that changed reaches the
room's sockets with the next state tick. The periodic report of every room is one pipelined round trip
per 500 rooms (RedisStore.presence_many), not two awaited calls per room.
"""

from __future__ import annotations

import asyncio

from livecart.clock import Clock
from livecart.errors import StoreUnavailable
from livecart.room import Room, RoomsHere
from livecart.store.redis_store import RedisStore

__all__ = ["Presence"]


class Presence:
    def __init__(self, store: RedisStore, hub: RoomsHere, *, clock: Clock, node_id: str,
                 presence_s: float) -> None:
        self.store = store
        self.hub = hub
        self.clock = clock
        self.node_id = node_id
        self.presence_s = presence_s

    async def run(self) -> None:
        """Report every room of this node every presence_s; cancel to stop."""
        while True:
            await asyncio.sleep(self.presence_s)
            await self.report_all()

    async def report_all(self) -> None:
        """`report` every room of this node at once. A Redis outage skips the round."""
        rooms = list(self.hub.rooms.values())
        if not rooms:
            return
        counts = [(room.name, role, count) for room in rooms
                  for role, count in (("viewer", room.viewers), ("overlay", room.overlays_here))]
        now, ttl_ms = self.clock.now_ms(), int(self.presence_s * 3000)
        try:
            totals = await self.store.presence_many(counts, self.node_id, now, ttl_ms)
        except StoreUnavailable:
            return
        for i, room in enumerate(rooms):
            self._update(room, totals[2 * i], totals[2 * i + 1])

    async def room_closed(self, room: Room) -> None:
        """The room's last socket here left (the hub has already forgotten the room): report count 0,
        so this node leaves no ghost viewers behind for the rest of its entry's lifetime."""
        await self.report(room)

    async def report(self, room: Room) -> None:
        """Store this node's counts of `room`, and if the room is still here and its totals changed,
        put them in its next batch. A Redis outage skips the report: the next period tries again."""
        now, ttl_ms = self.clock.now_ms(), int(self.presence_s * 3000)
        try:
            online = await self.store.presence(room.name, self.node_id, room.viewers, now, ttl_ms)
            overlays = await self.store.presence(room.name, self.node_id, room.overlays_here, now, ttl_ms,
                                                 role="overlay")
        except StoreUnavailable:
            return
        self._update(room, online, overlays)

    def _update(self, room: Room, online: int, overlays: int) -> None:
        """New totals: into the room's next batch when they changed and the room is still here."""
        if self.hub.rooms.get(room.name) is not room:
            return
        if online != room.online:
            room.online = online
            room.batch.set_online(online)
            self.hub.schedule_flush(room, urgent=False)
        if overlays != room.overlays:
            room.overlays = overlays
            room.batch.set_overlays(overlays)
            self.hub.schedule_flush(room, urgent=False)
