"""Buyer shows on this node (`ShowDesk`): posts from viewers, the console's reviews, the host's cue,
and the prompt a buyer gets after a paid order. The input rules are shows.py's; who may post and the
wall are show.lua's."""

from __future__ import annotations

from typing import Any

from livecart.clock import Clock
from livecart.errors import BadRequest
from livecart.events import Event
from livecart.moderator import Moderator
from livecart.shows import ShowState, new_show_id, parse_show, show_cue
from livecart.store.cue_store import CueStore
from livecart.store.show_store import ShowStore

__all__ = ["ShowDesk"]


class ShowDesk:
    def __init__(self, store: ShowStore, cue_store: CueStore, moderator: Moderator, clock: Clock) -> None:
        self.store = store
        self.cue_store = cue_store
        self.moderator = moderator
        self.clock = clock

    async def post(self, room: str, user: str, body: Any, show_id: str | None = None) -> dict[str, Any]:
        """A viewer's show, pending an assistant's review. BadRequest for bad input, Forbidden for a
        user who bought nothing here or is muted, Conflict limit_reached."""
        draft = parse_show(body)
        rules = await self.moderator.rules(room)
        hidden = rules.words.matches(draft.text)
        return await self.store.post(room, show_id or new_show_id(), user, draft, hidden)

    async def review(self, room: str, show_id: str, decision: str, by: str) -> dict[str, Any]:
        if decision not in ("approve", "reject"):
            raise BadRequest("bad_field", "decision must be approve or reject")
        state = ShowState.APPROVED if decision == "approve" else ShowState.REJECTED
        show, decided = await self.store.review(room, show_id, state.value, by)
        if decided and state is ShowState.APPROVED and not show.get("hidden"):
            await self.cue_store.emit(room, [show_cue(show, self.clock.now_ms())], self.clock.now_ms())
        return show

    async def paid(self, room: str, event: Event) -> None:
        """A paid order: its buyer may post shows now, and their sockets offer them one."""
        if event["type"] != "order" or event.get("status") != "paid":
            return
        user = event["user"]
        await self.store.note_buyer(room, user["id"], user.get("name") or user["id"])
        await self.store.prompt(room, user["id"], {"product_id": event.get("product_id"),
                                                   "qty": event.get("qty")})
