"""Moderation on this node: which comments to hide, who is muted, and the console's changes.

`Moderator.screen` marks comments before they are appended (`hidden`: "muted" or "blocked", see
moderation.py and audience.py). It reads the room's blocked words and muted users at most once per
`cache_s` per room (one small read, not one per comment during a storm): a word list or a mute made on
another node hides comments here within `cache_s` (changes made on this node, at once). Votes, show
posts and lucky-bag entries do not use this cache: their Lua scripts check RoomKeys.muted themselves,
atomically, and `is_muted` reads Redis.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from livecart.clock import Clock
from livecart.events import Event
from livecart.moderation import BlockedWords, HiddenReason
from livecart.store.moderation_store import ModerationStore
from livecart.store.show_store import ShowStore

__all__ = ["Moderator", "RoomRules"]

CACHE_S = 1.0


@dataclass(frozen=True, slots=True)
class RoomRules:
    words: BlockedWords
    muted: frozenset[str]

    def hidden_reason(self, user: str, text: str) -> str | None:
        if user in self.muted:
            return HiddenReason.MUTED
        if self.words.matches(text):
            return HiddenReason.BLOCKED
        return None


class Moderator:
    def __init__(self, store: ModerationStore, shows: ShowStore, clock: Clock, *,
                 cache_s: float = CACHE_S) -> None:
        self.store = store
        self.shows = shows
        self.clock = clock
        self.cache_s = cache_s
        self._rules: dict[str, tuple[float, RoomRules]] = {}

    async def rules(self, room: str) -> RoomRules:
        cached = self._rules.get(room)
        now = time.monotonic()
        if cached is not None and now - cached[0] < self.cache_s:
            return cached[1]
        rules = RoomRules(BlockedWords.of(await self.store.words(room)),
                          frozenset(await self.store.muted(room)))
        if len(self._rules) > 10_000:  # rooms come and go: forget them all rather than grow
            self._rules.clear()
        self._rules[room] = (now, rules)
        return rules

    async def screen(self, room: str, events: list[Event]) -> None:
        """Mark each comment of `events` that viewers must not see (in place, before it is stored)."""
        if not any(e["type"] == "comment" for e in events):
            return
        rules = await self.rules(room)
        if not rules.muted and not rules.words.words:
            return
        for event in events:
            if event["type"] == "comment":
                reason = rules.hidden_reason(event["user"]["id"], event["text"])
                if reason is not None:
                    event["hidden"] = reason

    async def is_muted(self, room: str, user: str) -> bool:
        """Whether `user` is muted in `room` (read from Redis: the one check other mechanics call)."""
        return await self.store.is_muted(room, user)

    async def set_words(self, room: str, words: list[str], by: str) -> list[str]:
        """Replace the room's blocked words; shows that match leave the wall (and others come back)."""
        await self.store.set_words(room, words, by, self.clock.now_ms())
        self._rules.pop(room, None)
        blocked = BlockedWords.of(words)
        texts = await self.shows.all_texts(room)
        await self.shows.rescreen(room, {show_id: blocked.matches(text) for show_id, text in texts.items()})
        return words

    async def mute(self, room: str, user: str, by: str) -> bool:
        changed = await self.store.mute(room, user, by, self.clock.now_ms())
        self._rules.pop(room, None)
        await self.shows.rebuild_wall(room)  # their shows leave the wall
        return changed

    async def unmute(self, room: str, user: str, by: str) -> bool:
        changed = await self.store.unmute(room, user, by, self.clock.now_ms())
        self._rules.pop(room, None)
        await self.shows.rebuild_wall(room)
        return changed
