"""GoalWatch: this node's part in firing goals, a companion of the hub.

Two ways a goal gets checked, both ending in goal.lua `check`, which decides on Redis's own numbers
and fires each goal at most once however many nodes call it:
- **Fast:** the hub tells `saw(room)` whenever a room's counters or a deal changed on this node; when
  the room's armed goals (its stage field `goals`) look reached in this node's view, one check goes
  to Redis (one at a time per room: a second one waits for the first to finish).
- **Sure:** `run` checks every room of `lc:goal-rooms` once a second, pipelined, so a goal fires
  within about a second in a room no node holds sockets of, or after a lost pub/sub message.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from livecart.clock import Clock
from livecart.errors import StoreUnavailable
from livecart.goals import reached
from livecart.room import Room
from livecart.shutdown import cancel_and_wait
from livecart.store.goal_store import GoalStore

__all__ = ["GoalWatch"]

log = logging.getLogger("livecart.goals")


class GoalWatch:
    def __init__(self, store: GoalStore, *, clock: Clock, node_id: str, period_s: float = 1.0) -> None:
        self.store = store
        self.clock = clock
        self.node_id = node_id
        self.period_s = period_s
        self.checks = 0  # goal.lua checks this node asked for on its fast path (tests, metrics)
        self._checking: dict[str, bool] = {}  # room -> another check is wanted after the running one
        self._tasks: set[asyncio.Task[Any]] = set()

    def saw(self, room: Room) -> None:
        """The hub's hook: a room's counters or deals changed here. Check it if a goal looks reached."""
        if not reached(room.stage.get("goals"), room.counters, room.deals):
            return
        if room.name in self._checking:
            self._checking[room.name] = True
            return
        self._checking[room.name] = False
        task = asyncio.create_task(self._check(room.name))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _check(self, room: str) -> None:
        try:
            while True:
                self.checks += 1
                try:
                    await self.store.check(room, self.node_id)
                except StoreUnavailable:
                    return  # the sweep tries again within a second
                if not self._checking.get(room):
                    return
                self._checking[room] = False
        finally:
            self._checking.pop(room, None)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.period_s)
            try:
                await self.sweep()
            except StoreUnavailable:
                continue

    async def sweep(self) -> None:
        """Check every room that may have an armed goal; forget the rooms that have none."""
        rooms = await self.store.goal_rooms()
        if not rooms:
            return
        now = self.clock.now_ms()
        for room, (armed, fired) in zip(rooms, await self.store.check_many(rooms, self.node_id), strict=True):
            if fired:
                log.info("goals fired in room %s: %s", room, ", ".join(fired), extra={"room": room})
            if armed == 0:
                await self.store.forget_room(room, now)

    async def stop(self) -> None:
        await cancel_and_wait(list(self._tasks), 2)
