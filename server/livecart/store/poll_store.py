"""Polls in Redis: one atomic call per create, vote and close (scripts/poll.lua).

Guarantees:
- One vote per user per poll, whatever the nodes and however they race: the voter hash is read and
  written in the same call that counts the vote. A second vote moves the first (`change_vote`) or is
  refused `already_voted`; the same vote again changes nothing.
- A vote for a poll that is closed (by the console, or by Redis's clock past `closes_at`) or unknown is
  refused and changes nothing; a muted user's vote is refused `muted` (RoomKeys.muted).
- One poll is open per room at a time; every change stores the POLL map as the room's `poll` stage
  field and publishes it (channel.StageChanged), so every socket sees the bars move.
"""

from __future__ import annotations

from typing import Any

from livecart.errors import Conflict, NotFound
from livecart.polls import PollSpec, poll_to_wire
from livecart.protocol import encode_json, load_json
from livecart.store.keys import RoomKeys
from livecart.store.redis_client import Client, as_store_unavailable, decode_str, register, run_many

__all__ = ["PollStore", "VoteAnswer"]

# (status: "ok" or a VoteRefused value, the POLL map after it (a single vote's), detail)
VoteAnswer = tuple[str, dict[str, Any] | None, str]


class PollStore:
    def __init__(self, client: Client, *, sharded_pubsub: bool = False) -> None:
        self.client = client
        self._publish = "SPUBLISH" if sharded_pubsub else "PUBLISH"
        self._poll = register(client, "poll.lua")

    async def _call(self, room: str, op: str, *args: Any) -> list[str]:
        keys = RoomKeys(room)
        with as_store_unavailable():
            reply = await self._poll(keys=[keys.meta, keys.polls, keys.muted],
                                     args=[op, keys.prefix, keys.channel, self._publish, *args])
        return [decode_str(part) for part in reply]

    async def create(self, room: str, poll_id: str, spec: PollSpec, by: str) -> dict[str, Any]:
        """Open a poll; Conflict poll_open while another is open. A retry with the same id returns it."""
        status, body, *_ = await self._call(
            room, "create", poll_id, encode_json(spec.static_wire(poll_id, by)), spec.duration_s * 1000,
            len(spec.labels), "1" if spec.change_vote else "0", by)
        if status == "poll_open":
            raise Conflict("poll_open", f"poll {body} is still open: close it first")
        return load_json(body)  # type: ignore[no-any-return]  # the POLL map

    async def vote(self, room: str, poll_id: str, user: str, option: int) -> VoteAnswer:
        """Count `user`'s vote and publish the POLL map: ("ok", POLL, "counted" | "moved" | "same") or
        (reason, None, detail)."""
        return _vote_answer(await self._call(room, "vote", poll_id, user, option, "1"))

    async def vote_many(self, room: str, votes: list[tuple[str, str, int]]) -> list[VoteAnswer]:
        """(poll id, user, option) votes, pipelined: one round trip, each vote its own atomic call (as
        `vote`) that does not publish, then one call that publishes the POLL map of the last vote's poll
        (the room's current one): a batch of votes moves the bars once. Each "ok" answer carries that
        map (the tally after the whole batch)."""
        if not votes:
            return []
        keys = RoomKeys(room)
        common = [keys.prefix, keys.channel, self._publish]
        calls: list[tuple[list[Any], list[Any]]] = [
            ([keys.meta, keys.polls, keys.muted], ["vote", *common, poll_id, user, option, "0"])
            for poll_id, user, option in votes]
        calls.append(([keys.meta, keys.polls, keys.muted], ["publish", *common, votes[-1][0]]))
        replies = await run_many(self.client, self._poll, calls)
        *answers, published = [[decode_str(p) for p in reply] for reply in replies]
        poll = load_json(published[1]) if published[0] == "ok" else None
        return [(a[0], poll, a[2]) if a[0] == "ok" else _vote_answer(a) for a in answers]

    async def close(self, room: str, poll_id: str, by: str) -> dict[str, Any]:
        status, body, *_ = await self._call(room, "close", poll_id, by)
        if status != "ok":
            raise NotFound("no_such_poll", "no such poll in this room")
        return load_json(body)  # type: ignore[no-any-return]  # the POLL map

    async def current(self, room: str) -> dict[str, Any] | None:
        """The room's current poll (open or the last one closed), as its stage field has it."""
        with as_store_unavailable():
            raw = await self.client.hget(RoomKeys(room).meta, "poll")
        return load_json(raw) if raw else None

    async def get(self, room: str, poll_id: str, now_ms: int) -> dict[str, Any] | None:
        with as_store_unavailable():
            fields = await self.client.hgetall(RoomKeys(room).poll(poll_id))
        if not fields:
            return None
        return poll_to_wire({decode_str(k): decode_str(v) for k, v in fields.items()}, now_ms)

    async def newest(self, room: str, now_ms: int, count: int = 50) -> list[dict[str, Any]]:
        """The newest polls first, as POLL maps."""
        keys = RoomKeys(room)
        with as_store_unavailable():
            ids: list[Any] = await self.client.zrevrange(keys.polls, 0, count - 1)
            async with self.client.pipeline(transaction=False) as pipe:
                for poll_id in ids:
                    pipe.hgetall(keys.poll(decode_str(poll_id)))
                found = await pipe.execute()
        return [poll_to_wire({decode_str(k): decode_str(v) for k, v in f.items()}, now_ms)
                for f in found if f]

    async def moves(self, room: str, poll_id: str) -> dict[str, int]:
        """The poll's timeline hash (polls.results_over_time reads it)."""
        with as_store_unavailable():
            flat = await self.client.hgetall(RoomKeys(room).poll(poll_id) + ":moves")
        return {decode_str(k): int(v) for k, v in flat.items()}


def _vote_answer(reply: list[str]) -> VoteAnswer:
    status, body, *rest = reply
    if status == "ok":
        return status, load_json(body) if body else None, rest[0]  # no POLL map from a quiet vote
    return status, None, body
