"""The one vote path, shared by room sockets, HTTP and comments (`PollDesk`), and the console's poll
controls. The rules are polls.py's; one vote per user is poll.lua's, atomically."""

from __future__ import annotations

import time
from typing import Any

from livecart.clock import Clock
from livecart.events import Event
from livecart.polls import VoteRefused, choice_from_text, is_poll_id, new_poll_id, parse_poll_spec
from livecart.store.poll_store import PollStore

__all__ = ["PollDesk"]

CURRENT_CACHE_S = 1.0


class PollDesk:
    def __init__(self, store: PollStore, clock: Clock, *, cache_s: float = CURRENT_CACHE_S) -> None:
        self.store = store
        self.clock = clock
        self.cache_s = cache_s
        # room -> (read at, the current POLL map or None): comments vote against it without a read each
        self._current: dict[str, tuple[float, dict[str, Any] | None]] = {}

    async def create(self, room: str, body: Any, by: str, poll_id: str | None = None) -> dict[str, Any]:
        """Open a poll from a console's body (polls.parse_poll_spec); Conflict poll_open if one is."""
        spec = parse_poll_spec(body)
        poll = await self.store.create(room, poll_id or new_poll_id(), spec, by)
        self._current.pop(room, None)
        return poll

    async def close(self, room: str, poll_id: str, by: str) -> dict[str, Any]:
        poll = await self.store.close(room, poll_id, by)
        self._current.pop(room, None)
        return poll

    async def vote(self, room: str, user: str, poll_id: Any, option: Any) -> dict[str, Any]:
        """`user` votes `option` (0-based) in `poll_id`: {"ok": true, "poll", "option", "outcome"
        ("counted" | "moved" | "same"), "votes"} or {"ok": false, "poll", "reason", "detail"}."""
        if not is_poll_id(poll_id):
            return _refused(poll_id, VoteRefused.NO_SUCH_POLL)
        if isinstance(option, bool) or not isinstance(option, int) or not 0 <= option < 16:
            return _refused(poll_id, VoteRefused.BAD_OPTION)
        status, poll, detail = await self.store.vote(room, poll_id, user, option)
        if status != "ok":
            answer = _refused(poll_id, VoteRefused(status))
            if status == VoteRefused.ALREADY_VOTED.value:
                answer["option"] = int(detail)  # the vote that stands
            return answer
        assert poll is not None
        return {"ok": True, "poll": poll_id, "option": option, "outcome": detail, "votes": poll["votes"]}

    async def comment_vote(self, room: str, event: Event) -> dict[str, Any] | None:
        """A comment that names an option of the room's open poll votes for its author (polls.py says
        which comments do); None when it is not a vote. A hidden comment (moderation) never votes."""
        if event["type"] != "comment" or event.get("hidden"):
            return None
        poll = await self._open_poll(room)
        if poll is None:
            return None
        keywords = [option.get("keyword") or "" for option in poll["options"]]
        choice = choice_from_text(event["text"], keywords)
        if choice is None:
            return None
        return await self.vote(room, event["user"]["id"], poll["id"], choice)

    async def _open_poll(self, room: str) -> dict[str, Any] | None:
        now = time.monotonic()
        cached = self._current.get(room)
        if cached is None or now - cached[0] >= self.cache_s:
            if len(self._current) > 10_000:
                self._current.clear()
            cached = self._current[room] = (now, await self.store.current(room))
        poll = cached[1]
        if poll is None or poll.get("closed_at") or self.clock.now_ms() >= poll["closes_at"]:
            return None
        return poll


def _refused(poll_id: Any, reason: VoteRefused) -> dict[str, Any]:
    return {"ok": False, "poll": poll_id if isinstance(poll_id, str) else None, "reason": reason.value,
            "detail": _DETAILS[reason]}


_DETAILS = {
    VoteRefused.NO_SUCH_POLL: "no such poll in this room",
    VoteRefused.CLOSED: "this poll is closed",
    VoteRefused.BAD_OPTION: "option must be the 0-based index of one of the poll's options",
    VoteRefused.ALREADY_VOTED: "you have voted in this poll already, and it does not allow changing a vote",
    VoteRefused.MUTED: "you are muted in this room",
}
