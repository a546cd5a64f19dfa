"""Lucky bags in Redis: every state change is one call of scripts/bag.lua, using Redis's clock.

Guarantees:
- At most one bag per room is not yet done or cancelled (`create` refuses a second: Conflict bag_open).
- A user is an entrant once (`enter` is idempotent), and only while the bag is open by Redis's clock.
- Each round of a draw is committed exactly once, whichever nodes race: `freeze` closes the round and
  fixes who is absent, `commit` accepts that round's winners only once; a second node's commit changes
  nothing. Every node computes the same winners anyway (lucky_bag.draw_round is deterministic).
- A prize is claimed at most once, and only by its winner within the claim window.
- Every change publishes the BAG map as the room's `bag` stage field (entry counts at most every
  100 ms; `tick` publishes a count left unpublished) and each winner's `won` frame.
Which rooms have a bag with something due is kept in BAGS_DUE (no hash tag: every node's timers read
it), so a bag is drawn on time even when no node has a socket in its room.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from livecart.errors import Conflict, NotFound
from livecart.lucky_bag import BagSpec
from livecart.protocol import load_json
from livecart.store.keys import PREFIX, RoomKeys
from livecart.store.redis_client import BAG_LIB, Client, as_store_unavailable, decode_str, register

__all__ = ["BAGS_DUE", "BagStore", "Freeze"]

BAGS_DUE = PREFIX + "bags-due"  # sorted set, no hash tag: room -> ms when its bag next needs a timer


@dataclass(frozen=True, slots=True)
class Freeze:
    """What a round's draw needs (bag.lua freeze): `count` prizes among `entrants`, skipping `absent`
    and `drawn` (everyone drawn in earlier rounds)."""

    round: int
    seed: str
    count: int
    absent: list[str]
    entrants: list[str]
    drawn: list[str]


_CONFLICTS = {
    "bag_open": "a lucky bag is already running in this room; draw, cancel or finish it first",
    "not_open": "the bag is not open (only an open bag can be cancelled or drawn now)",
    "not_claiming": "the bag is not waiting for its winners to claim",
}


class BagStore:
    def __init__(self, client: Client, *, sharded_pubsub: bool = False) -> None:
        self.client = client
        self._publish = "SPUBLISH" if sharded_pubsub else "PUBLISH"
        self._bag = register(client, "bag.lua", with_lib=True, libs=(BAG_LIB,))

    async def _call(self, room: str, op: str, bag: str, *args: Any) -> list[Any]:
        keys = RoomKeys(room)
        with as_store_unavailable():
            reply = await self._bag(keys=[keys.meta],
                                    args=[op, keys.prefix, keys.channel, self._publish, bag, *args])
        return [decode_str(v) if isinstance(v, bytes) else v for v in reply]

    async def _change(self, room: str, op: str, bag: str, *args: Any) -> dict[str, Any]:
        reply = await self._call(room, op, bag, *args)
        if reply[0] == "err":
            if reply[1] == "no_such_bag":
                raise NotFound("no_such_bag", "no such lucky bag in this room")
            raise Conflict(reply[1], _CONFLICTS.get(reply[1], reply[1]))
        return load_json(reply[1])  # type: ignore[no-any-return]  # the BAG map

    async def create(self, room: str, bag: str, spec: BagSpec, seed: str, commitment: str,
                     by: str) -> dict[str, Any]:
        """Open a bag now (a retried create with the same id returns it unchanged); its BAG map."""
        fields = {"id": bag, "product_id": spec.product_id, "product_name": spec.product_name,
                  "image_url": spec.image_url, "winners": spec.winners, "keyword": spec.keyword,
                  "follows": int(spec.follows), "present": int(spec.present),
                  "duration_ms": spec.duration_ms, "claim_ms": spec.claim_ms, "seed": seed,
                  "commitment": commitment}
        bag_map = await self._change(room, "create", bag, by or "-",
                                     *[x for pair in fields.items() for x in pair])
        await self.due(room, bag_map["ends_at"])
        return bag_map

    async def get(self, room: str, bag: str = "") -> dict[str, Any]:
        """A bag's BAG map ("" : the room's current one); NotFound when there is none."""
        return await self._change(room, "get", bag)

    async def current(self, room: str) -> dict[str, Any] | None:
        """The room's latest BAG map as published (the meta hash's `bag` field), or None: one HGET."""
        with as_store_unavailable():
            raw = await self.client.hget(RoomKeys(room).meta, "bag")
        return load_json(raw) if raw else None

    async def enter(self, room: str, entries: list[tuple[str, str]]) -> tuple[bool, int, list[str]]:
        """Enter (user, display name) pairs into the room's open bag: (open?, entrants, one code per
        pair: entered | again | not_following | muted). Not open: (False, entrants, [])."""
        reply = await self._call(room, "enter", "", *[x for pair in entries for x in pair])
        if reply[0] == "err":
            return False, 0, []
        return reply[0] == "ok", int(reply[1]), [str(c) for c in reply[3:]]

    async def presence(self, room: str, signals: list[tuple[str, str]]) -> None:
        """(user, "away" | "back") in the order they happened, for the room's current bag's entrants."""
        await self._call(room, "presence", "", *[x for pair in signals for x in pair])

    async def freeze(self, room: str, bag: str, now: bool) -> Freeze | int | None:
        """Close the bag's next round (`now`: the console's draw, else only when due): a Freeze to draw,
        the ms it falls due, or None when nothing is left to draw."""
        reply = await self._call(room, "freeze", bag, "now" if now else "due")
        if reply[0] == "wait":
            return int(reply[1])
        if reply[0] != "draw":
            return None
        count = int(reply[5])
        absent = load_json(reply[4])
        return Freeze(round=int(reply[1]), seed=reply[2], count=int(reply[3]),
                      absent=absent if isinstance(absent, list) else [], entrants=reply[6:6 + count],
                      drawn=reply[6 + count:])

    async def commit(self, room: str, bag: str, round_: int,
                     winners: list[str]) -> tuple[bool, dict[str, Any]]:
        """Commit a round's winners: (True, BAG) the first time, (False, BAG) when a node already did."""
        reply = await self._call(room, "commit", bag, round_, *winners)
        return reply[0] == "ok", load_json(reply[1])

    async def claim(self, room: str, bag: str, user: str) -> tuple[bool, str, dict[str, Any] | None]:
        """(True, "", BAG) when `user` holds the prize (now or before), else (False, reason, None)."""
        reply = await self._call(room, "claim", bag, user)
        if reply[0] == "err":
            if reply[1] == "no_such_bag":
                raise NotFound("no_such_bag", "no such lucky bag in this room")
            return False, reply[1], None
        return True, "", load_json(reply[1])

    async def cancel(self, room: str, bag: str) -> dict[str, Any]:
        return await self._change(room, "cancel", bag)

    async def finish(self, room: str, bag: str) -> dict[str, Any]:
        return await self._change(room, "finish", bag)

    async def tick(self, room: str) -> tuple[str, int]:
        """Publish the current bag's count if it changed; (state, due ms: 0 now, -1 nothing)."""
        reply = await self._call(room, "tick", "")
        if reply[0] == "err":
            return "", -1
        return reply[0], int(reply[1])

    async def due(self, room: str, at_ms: int) -> None:
        """Note when the room's bag next needs a timer (-1: never again)."""
        with as_store_unavailable():
            if at_ms < 0:
                await self.client.zrem(BAGS_DUE, room)
            else:
                await self.client.zadd(BAGS_DUE, {room: at_ms})

    async def due_rooms(self, until_ms: int) -> list[tuple[str, int]]:
        """Rooms whose bag needs a timer by `until_ms`, with the ms it is due."""
        with as_store_unavailable():
            found: list[Any] = await self.client.zrangebyscore(BAGS_DUE, "-inf", until_ms, withscores=True)
        return [(decode_str(room), int(score)) for room, score in found]

    async def note_followers(self, room: str, users: list[str]) -> None:
        """Users who followed the room (ingested `follow` events): a bag may admit only them."""
        if users:
            with as_store_unavailable():
                await self.client.sadd(RoomKeys(room).prefix + "followers", *users)

    async def bag_ids(self, room: str) -> list[str]:
        """The room's bags, oldest first."""
        with as_store_unavailable():
            ids: list[Any] = await self.client.zrange(RoomKeys(room).prefix + "bags", 0, -1)
        return [decode_str(b) for b in ids]

    async def record(self, room: str, bag: str) -> dict[str, Any]:
        """The stored facts of a bag's draw: its fields, entrants (user -> name) and winners
        (user -> status). NotFound for an unknown bag."""
        key = RoomKeys(room).prefix + "bag:" + bag
        with as_store_unavailable():
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.hgetall(key)
                pipe.hgetall(key + ":entrants")
                pipe.hgetall(key + ":winners")
                fields, entrants, winners = await pipe.execute()
        if not fields:
            raise NotFound("no_such_bag", "no such lucky bag in this room")
        def text(m: dict[Any, Any]) -> dict[str, str]:
            return {decode_str(k): decode_str(v) for k, v in m.items()}
        return {"fields": text(fields), "entrants": text(entrants), "winners": text(winners)}
