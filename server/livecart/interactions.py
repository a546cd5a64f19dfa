"""What the audience's comments and orders mean for polls, buyer shows and moderation: the two calls
the comment and ingest paths make around their append (`RoomInteractions`).

    await interactions.screen(room, events)        # before: hide comments (blocked words, muted authors)
    ... append ...
    await interactions.after_append(room, events)  # after: comment votes, buyer prompts
"""

from __future__ import annotations

from typing import Any

from livecart.events import Event
from livecart.moderator import Moderator
from livecart.poll_desk import PollDesk
from livecart.show_desk import ShowDesk

__all__ = ["RoomInteractions"]


class RoomInteractions:
    def __init__(self, moderator: Moderator, polls: PollDesk, shows: ShowDesk) -> None:
        self.moderator = moderator
        self.polls = polls
        self.shows = shows

    async def screen(self, room: str, events: list[Event]) -> None:
        await self.moderator.screen(room, events)

    async def after_append(self, room: str, events: list[Event]) -> list[dict[str, Any] | None]:
        """Apply stored events (pass only the newly accepted ones): a comment may vote, a paid order
        prompts its buyer. Returns, per event, the vote answer (None: no vote)."""
        for event in events:
            if event["type"] == "order":
                await self.shows.paid(room, event)
        return await self.polls.comment_votes(room, events)
