"""Buyer shows in Redis: one atomic call per post, review and wall rebuild (scripts/show.lua).

Guarantees:
- Only a buyer may post: a user a paid order in the room named (`note_buyer`, from ingest), not muted,
  at most `max_per_user` shows each. A retried post (same id, derived from the request's key) returns
  the first one.
- A show is reviewed once: pending -> approved | rejected; the same decision again is answered as
  before, the other one is refused `already_reviewed`. Each review is in the audit log.
- The wall (the room's `wall` stage field) is rebuilt inside every call that could change it, from
  the approved shows as stored, so two nodes approving at once cannot leave one approval off it.
"""

from __future__ import annotations

from typing import Any

from livecart.errors import Conflict, Forbidden, NotFound
from livecart.protocol import encode_json, load_json
from livecart.shows import ShowDraft
from livecart.store import channel
from livecart.store.keys import RoomKeys
from livecart.store.redis_client import Client, as_store_unavailable, decode_str, register

__all__ = ["ShowStore"]

BUYER_TTL_MS = 7 * 86_400_000


class ShowStore:
    def __init__(self, client: Client, *, max_per_user: int = 3, sharded_pubsub: bool = False) -> None:
        self.client = client
        self.max_per_user = max_per_user
        self._publish = "SPUBLISH" if sharded_pubsub else "PUBLISH"
        self._show = register(client, "show.lua")

    async def _call(self, room: str, op: str, *args: Any) -> list[str]:
        keys = RoomKeys(room)
        with as_store_unavailable():
            reply = await self._show(
                keys=[keys.meta, keys.shows, keys.show_order, keys.shows_approved, keys.muted, keys.buyers,
                      keys.show_authors],
                args=[op, keys.prefix, keys.channel, self._publish, *args])
        return [decode_str(part) for part in reply]

    async def note_buyer(self, room: str, user: str, name: str) -> None:
        """`user` paid for an order in `room`: they may post shows (for BUYER_TTL_MS)."""
        keys = RoomKeys(room)
        with as_store_unavailable():
            async with self.client.pipeline(transaction=False) as pipe:
                pipe.hset(keys.buyers, user, name or user)
                pipe.pexpire(keys.buyers, BUYER_TTL_MS)
                await pipe.execute()

    async def prompt(self, room: str, user: str, prompt: dict[str, Any]) -> None:
        """Tell `user`'s own sockets (on every node) to offer them a show (channel.BuyerPrompt)."""
        keys = RoomKeys(room)
        with as_store_unavailable():
            await self.client.execute_command(self._publish, keys.channel,
                                              channel.encode(channel.BuyerPrompt(user, prompt)))

    async def post(self, room: str, show_id: str, user: str, draft: ShowDraft,
                   hidden: bool) -> dict[str, Any]:
        body = encode_json({"id": show_id, "user": user, "text": draft.text, "image_url": draft.image_url,
                            "hidden": hidden})
        status, detail, *_ = await self._call(room, "post", show_id, user, body, self.max_per_user)
        if status == "not_a_buyer":
            raise Forbidden("only a buyer with a paid order in this room may post a show")
        if status == "muted":
            raise Forbidden("you are muted in this room")
        if status == "limit_reached":
            raise Conflict("limit_reached", f"at most {self.max_per_user} shows per buyer in a room")
        return load_json(detail)  # type: ignore[no-any-return]  # the SHOW map

    async def review(self, room: str, show_id: str, state: str, by: str) -> tuple[dict[str, Any], bool]:
        """Approve or reject; (SHOW, True when this call decided it)."""
        status, detail, *rest = await self._call(room, "review", show_id, state, by)
        if status == "no_such_show":
            raise NotFound("no_such_show", "no such show in this room")
        if status == "already_reviewed":
            raise Conflict("already_reviewed", f"this show was {load_json(detail)['state']} already")
        return load_json(detail), rest[0] != "again"

    async def rescreen(self, room: str, hidden: dict[str, bool]) -> None:
        """Set which shows match the blocked words, then rebuild the wall."""
        args: list[Any] = []
        for show_id, flag in hidden.items():
            args += [show_id, "1" if flag else "0"]
        await self._call(room, "rescreen", *args)

    async def rebuild_wall(self, room: str) -> None:
        await self._call(room, "rebuild")

    async def newest(self, room: str, count: int = 200, state: str | None = None) -> list[dict[str, Any]]:
        """The newest shows first (of one state, if given)."""
        keys = RoomKeys(room)
        with as_store_unavailable():
            ids: list[Any] = await self.client.zrevrange(keys.show_order, 0, 999)
            found = await self.client.hmget(keys.shows, ids) if ids else []
        shows = [load_json(raw) for raw in found if raw]
        return [s for s in shows if state is None or s.get("state") == state][:count]

    async def all_texts(self, room: str) -> dict[str, str]:
        """show id -> text, for rescreening every show against a new word list."""
        with as_store_unavailable():
            found = await self.client.hgetall(RoomKeys(room).shows)
        return {decode_str(k): load_json(v)["text"] for k, v in found.items()}
