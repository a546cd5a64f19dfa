"""Invite attribution in Redis: codes, arrivals, invited buyers' orders, goals and coupons (invites.lua).

Guarantees (each operation is one call of store/scripts/invites.lua, so they hold across nodes):
- an invited user is credited once, to the inviter of their first touch, never to themselves;
- an order of an invited user adds to its inviter's GMV once per order id, and a refund takes it back once;
- a reward is given once per `target` joins, at most `cap` per inviter; a coupon code goes to one user;
- every change of the board is published on the room channel (channel.InviteBoard).

Keys: `lc:{room}:inv:*`, beside the room's other keys (so `livecart purge` removes them with the room).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from livecart.invites import BOARD_SIZE, InviteGoal
from livecart.store.keys import RoomKeys
from livecart.store.redis_client import Client, as_store_unavailable, decode_str, register

__all__ = ["Arrival", "InviteStore", "Progress"]

COUPON_CHUNK = 1000  # codes per script call: Lua's unpack has a stack limit near 8,000


@dataclass(frozen=True, slots=True)
class Arrival:
    """invites.lua's answer to a link opened: unknown, self, opened, direct, already or joined."""

    answer: str
    inviter: str  # the credited inviter ("" when none, or when the first touch was direct)


@dataclass(frozen=True, slots=True)
class Progress:
    """One viewer's invite standing, with its due rewards given."""

    joins: int
    rewards: int
    slots: int
    coupons: list[str]
    goal: InviteGoal | None
    invited_by: str
    coupons_left: int

    def to_wire(self) -> dict[str, Any]:
        goal = self.goal
        next_at = None
        if goal is not None and self.rewards < goal.cap:
            next_at = (self.rewards + 1) * goal.target
        return {"joins": self.joins, "rewards": self.rewards, "claim_slots": self.slots,
                "coupons": self.coupons, "goal": goal.to_wire() if goal else None, "next_at": next_at,
                "invited_by": self.invited_by or None}


def _progress(raw: list[Any]) -> Progress:
    joins, rewards, slots, won, target, reward, cap, invited_by, left = raw
    goal = InviteGoal(int(target), decode_str(reward), int(cap)) if decode_str(target) else None
    won_text = decode_str(won)
    return Progress(int(joins), int(rewards), int(slots), won_text.split() if won_text else [], goal,
                    decode_str(invited_by), int(left))


class InviteStore:
    def __init__(self, client: Client, *, sharded_pubsub: bool = False) -> None:
        self.client = client
        self._publish = "SPUBLISH" if sharded_pubsub else "PUBLISH"
        self._script = register(client, "invites.lua", with_lib=True)

    async def _call(self, room: str, op: str, *args: Any) -> Any:
        keys = RoomKeys(room)
        with as_store_unavailable():
            return await self._script(keys=[keys.prefix + "inv:codes"],
                                      args=[keys.prefix, keys.channel, self._publish, BOARD_SIZE, op, *args])

    async def register_code(self, room: str, user: str, code: str) -> Progress:
        """Remember `code` as `user`'s (idempotent) and return the user's progress."""
        return _progress(await self._call(room, "code", user, code))

    async def open(self, room: str, code: str, user: str | None) -> Arrival:
        """A link with `code` ("" for none) opened by `user` (None: a viewer without a user id)."""
        answer, inviter = await self._call(room, "open", code, user or "")
        return Arrival(decode_str(answer), decode_str(inviter))

    async def progress(self, room: str, user: str) -> Progress:
        return _progress(await self._call(room, "progress", user))

    async def order(self, room: str, user: str, order_id: str, status: str, amount_minor: int) -> bool:
        """An order event of `user`: counted for their inviter when paid (once) or refunded (once)."""
        return bool(await self._call(room, "order", user, order_id, status, amount_minor))

    async def configure(self, room: str, *, overlay: bool | None, goal: InviteGoal | None, set_goal: bool,
                        by: str) -> None:
        target, reward, cap = ("", "", "") if goal is None else (goal.target, goal.reward, goal.cap)
        if not set_goal:
            target = "-"
        await self._call(room, "settings", "" if overlay is None else int(overlay), target, reward, cap, by)

    async def add_coupons(self, room: str, codes: list[str], by: str) -> int:
        """Append `codes` to the pool; the pool's length after."""
        length = 0
        for start in range(0, len(codes), COUPON_CHUNK):
            length = int(await self._call(room, "coupons", by, *codes[start : start + COUPON_CHUNK]))
        return length

    async def board(self, room: str, size: int = 50) -> dict[str, Any]:
        """The whole standing, read: settings, funnel, the `size` top inviters (money in minor units)."""
        prefix = RoomKeys(room).prefix + "inv:"
        with as_store_unavailable():
            async with self.client.pipeline(transaction=False) as pipe:
                pipe.hgetall(prefix + "settings")
                pipe.hgetall(prefix + "funnel")
                pipe.zrevrange(prefix + "joins", 0, size - 1, withscores=True)
                pipe.llen(prefix + "coupons")
                settings, funnel, rows, coupons_left = await pipe.execute()
            users = [decode_str(u) for u, _ in rows]
            buyers: list[Any] = []
            gmv: list[Any] = []
            if users:
                async with self.client.pipeline(transaction=False) as pipe:
                    pipe.hmget(prefix + "buyers", users)
                    pipe.hmget(prefix + "gmv", users)
                    buyers, gmv = await pipe.execute()
        s = {decode_str(k): decode_str(v) for k, v in settings.items()}
        f = {decode_str(k): int(v) for k, v in funnel.items()}
        goal = InviteGoal(int(s["target"]), s["reward"], int(s["cap"])) if "target" in s else None
        return {
            "seq": f.get("seq", 0), "overlay": s.get("overlay") == "1", "goal": goal,
            "coupons_left": coupons_left,
            "funnel": {"opens": f.get("opens", 0), "joins": f.get("joins", 0), "buyers": f.get("buyers", 0),
                       "gmv_minor": f.get("gmv_minor", 0)},
            "top": [{"user": u, "joins": int(score), "buyers": int(b or 0), "gmv_minor": int(g or 0)}
                    for u, (_, score), b, g in zip(users, rows, buyers, gmv, strict=True)],
        }
