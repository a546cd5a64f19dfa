"""Goals in Redis: goal.lua (create, edit, cancel, check-and-fire), and the registry of rooms with goals.

Guarantees:
- A goal fires at most once, and only when its number in Redis has reached its target: the check and
  the action are one atomic call, whichever nodes ask and however often.
- Every change publishes the room's goal list (stage field `goals`) and is in the audit log.
- `lc:goal-rooms` lists every room that may have an armed goal, so every node's once-a-second sweep
  (goal_watch.py) fires goals in rooms no node is watching. It has no hash tag (like lc:hold-rooms),
  so it is written beside the script, not inside it. For the same reason, a lucky bag that a goal's
  open_bag action opened is noted in lc:bags-due (bag_store.BAGS_DUE) here, after the call.
"""

from __future__ import annotations

from typing import Any

from livecart.errors import Conflict, NotFound
from livecart.protocol import encode_json, load_json
from livecart.store.bag_store import BAGS_DUE
from livecart.store.keys import PREFIX, RoomKeys
from livecart.store.redis_client import BAG_LIB, Client, as_store_unavailable, decode_str, register, run_many

__all__ = ["GOAL_ROOMS", "GoalStore"]

GOAL_ROOMS = PREFIX + "goal-rooms"  # sorted set, no hash tag: rooms that may have armed goals, by ms
FORGET_AFTER_MS = 60_000  # a room with no armed goal leaves the registry once its entry is this old

_NOT_FOUND = {"no_such_goal": "no such goal in this room", "no_such_deal": "no such deal in this room"}
_CONFLICT = {"goal_closed": "the goal has fired or was cancelled",
             "deal_closed": "the deal is stopped or ended",
             "no_tiers": "the deal has no price tiers",
             "too_many_goals": "the room has 20 armed goals (or 500 goals in all) already"}
# What an open_bag action adds to the reply: the ends_at of the bag it opened (0: none), noted in
# BAGS_DUE beside the script (no hash tag) so the bag timers draw it on time.

# Remove a room from the registry only if nobody re-added it since `cutoff` (a goal made meanwhile).
_FORGET = """
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) < tonumber(ARGV[2]) then return redis.call('ZREM', KEYS[1], ARGV[1]) end
return 0
"""


class GoalStore:
    def __init__(self, client: Client, *, sharded_pubsub: bool = False) -> None:
        self.client = client
        self._publish = "SPUBLISH" if sharded_pubsub else "PUBLISH"
        self._goal = register(client, "goal.lua", with_lib=True, libs=(BAG_LIB,))
        self._forget = client.register_script(_FORGET)

    def _call(self, room: str, by: str, op: str, *rest: Any) -> tuple[list[Any], list[Any]]:
        keys = RoomKeys(room)
        return ([keys.goals, keys.meta, keys.counters],
                [keys.prefix, keys.channel, self._publish, by or "-", op, *rest])

    async def _run(self, room: str, by: str, op: str, *rest: Any) -> dict[str, Any]:
        keys, args = self._call(room, by, op, *rest)
        with as_store_unavailable():
            reply = await self._goal(keys=keys, args=args)
        status, body = decode_str(reply[0]), decode_str(reply[1])
        if status == "err":
            if body in _NOT_FOUND:
                raise NotFound(body, _NOT_FOUND[body])
            raise Conflict(body, _CONFLICT.get(body, body))
        if len(reply) > 2:
            await self.note_bag(room, int(reply[2]))
        goal: dict[str, Any] = load_json(body)
        return goal

    async def create(self, room: str, goal_id: str, spec: dict[str, Any], by: str,
                     now_ms: int) -> dict[str, Any]:
        """Arm a goal (goals.parse_goal's spec). A target already reached fires it in the same call; a
        retried create (same id) returns the goal unchanged."""
        goal = await self._run(room, by, "create", goal_id, encode_json(spec))
        await self.note_room(room, now_ms)
        return goal

    async def edit(self, room: str, goal_id: str, changes: dict[str, Any], by: str,
                   now_ms: int) -> dict[str, Any]:
        goal = await self._run(room, by, "edit", goal_id, encode_json(changes))
        await self.note_room(room, now_ms)
        return goal

    async def cancel(self, room: str, goal_id: str, by: str) -> dict[str, Any]:
        return await self._run(room, by, "cancel", goal_id)

    async def get(self, room: str, goal_id: str) -> dict[str, Any] | None:
        with as_store_unavailable():
            raw = await self.client.hget(RoomKeys(room).goals, goal_id)
        return load_json(raw) if raw else None

    async def all(self, room: str) -> list[dict[str, Any]]:
        """Every goal of the room, cancelled ones too, oldest first."""
        with as_store_unavailable():
            raws: list[Any] = await self.client.hvals(RoomKeys(room).goals)
        goals = [load_json(r) for r in raws]
        return sorted(goals, key=lambda g: (g.get("created_at", 0), g.get("id", "")))

    async def check(self, room: str, by: str) -> tuple[int, list[str]]:
        """Fire every armed goal of `room` whose number has reached its target. Returns (armed goals
        left, ids fired by this call)."""
        keys, args = self._call(room, by, "check")
        with as_store_unavailable():
            reply = await self._goal(keys=keys, args=args)
        await self.note_bag(room, int(reply[2]))
        return int(reply[1]), [decode_str(i) for i in reply[3:]]

    async def check_many(self, rooms: list[str], by: str) -> list[tuple[int, list[str]]]:
        """`check` in many rooms, pipelined (the once-a-second sweep)."""
        calls = [self._call(room, by, "check") for room in rooms]
        replies = await run_many(self.client, self._goal, calls)
        for room, reply in zip(rooms, replies, strict=True):
            await self.note_bag(room, int(reply[2]))
        return [(int(r[1]), [decode_str(i) for i in r[3:]]) for r in replies]

    async def note_bag(self, room: str, ends_at: int) -> None:
        """A goal opened a lucky bag ending at `ends_at` (0: none did): tell the bag timers."""
        if ends_at > 0:
            with as_store_unavailable():
                await self.client.zadd(BAGS_DUE, {room: ends_at})

    async def note_room(self, room: str, now_ms: int) -> None:
        with as_store_unavailable():
            await self.client.zadd(GOAL_ROOMS, {room: now_ms})

    async def goal_rooms(self, limit: int = 10_000) -> list[str]:
        with as_store_unavailable():
            rooms: list[Any] = await self.client.zrange(GOAL_ROOMS, 0, limit - 1)
        return [decode_str(r) for r in rooms]

    async def forget_room(self, room: str, now_ms: int) -> None:
        """Drop `room` from the registry (it has no armed goal) unless it was noted in the last minute."""
        with as_store_unavailable():
            await self._forget(keys=[GOAL_ROOMS], args=[room, now_ms - FORGET_AFTER_MS])
