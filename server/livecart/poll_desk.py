"""The one vote path, shared by room sockets, HTTP and comments (`PollDesk`), and the console's poll
controls. The rules are polls.py's; one vote per user is poll.lua's, atomically.

Votes are batched per room and event-loop pass: every vote that arrives in one pass goes to Redis in
one pipelined round trip (`PollStore.vote_many`: each vote its own atomic call, then one call that
publishes the POLL map). A rush of votes then costs a round trip and one publish per pass, not per
vote, and every node's bars move once per pass. An ingest batch's comment votes are one such batch.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from livecart.clock import Clock
from livecart.events import Event
from livecart.polls import VoteRefused, choice_from_text, is_poll_id, new_poll_id, parse_poll_spec
from livecart.store.poll_store import PollStore, VoteAnswer

__all__ = ["PollDesk"]

CURRENT_CACHE_S = 1.0
MAX_OPTION = 16  # a larger index is refused here, without a round trip (poll.lua checks the real count)

QueuedVote = tuple[str, str, int, "asyncio.Future[VoteAnswer]"]  # (poll id, user, option, its answer)


class PollDesk:
    def __init__(self, store: PollStore, clock: Clock, *, cache_s: float = CURRENT_CACHE_S) -> None:
        self.store = store
        self.clock = clock
        self.cache_s = cache_s
        # room -> (read at, the current POLL map or None): comments vote against it without a read each
        self._current: dict[str, tuple[float, dict[str, Any] | None]] = {}
        self._queued: dict[str, list[QueuedVote]] = {}  # room -> votes waiting for this pass's round trip
        self._tasks: set[asyncio.Task[None]] = set()

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
        if isinstance(option, bool) or not isinstance(option, int) or not 0 <= option < MAX_OPTION:
            return _refused(poll_id, VoteRefused.BAD_OPTION)
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[VoteAnswer] = loop.create_future()
        queue = self._queued.setdefault(room, [])
        queue.append((poll_id, user, option, answer))
        if len(queue) == 1:  # the first vote of this pass for the room: send them all at its end
            loop.call_soon(self._send, room)
        return _answer(poll_id, option, await answer)

    def _send(self, room: str) -> None:
        queue = self._queued.pop(room, [])
        task = asyncio.ensure_future(self._run(room, queue))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, room: str, queue: list[QueuedVote]) -> None:
        try:
            answers = await self.store.vote_many(room, [(p, u, o) for p, u, o, _ in queue])
        except Exception as exc:  # StoreUnavailable (or a bug): every voter of the batch gets it
            for *_, future in queue:
                if not future.done():
                    future.set_exception(exc)
            return
        for (*_, future), answer in zip(queue, answers, strict=True):
            if not future.done():
                future.set_result(answer)

    async def comment_votes(self, room: str, events: list[Event]) -> list[dict[str, Any] | None]:
        """Comments that name an option of the room's open poll vote for their authors (polls.py says
        which comments do), all in one round trip; per event, its vote's answer or None (not a vote).
        A hidden comment (moderation) never votes."""
        answers: list[dict[str, Any] | None] = [None] * len(events)
        if not any(e["type"] == "comment" and not e.get("hidden") for e in events):
            return answers
        poll = await self._open_poll(room)
        if poll is None:
            return answers
        keywords = [option.get("keyword") or "" for option in poll["options"]]
        votes: list[tuple[int, str, int]] = []  # (event index, user, option)
        for index, event in enumerate(events):
            if event["type"] == "comment" and not event.get("hidden"):
                choice = choice_from_text(event["text"], keywords)
                if choice is not None:
                    votes.append((index, event["user"]["id"], choice))
        counted = await self.store.vote_many(room, [(poll["id"], user, option) for _, user, option in votes])
        for (index, _, option), answer in zip(votes, counted, strict=True):
            answers[index] = _answer(poll["id"], option, answer)
        return answers

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

    async def stop(self) -> None:
        """Let the round trips under way finish (the node is stopping)."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2)


def _answer(poll_id: str, option: int, stored: VoteAnswer) -> dict[str, Any]:
    status, poll, detail = stored
    if status != "ok":
        answer = _refused(poll_id, VoteRefused(status))
        if status == VoteRefused.ALREADY_VOTED.value:
            answer["option"] = int(detail)  # the vote that stands
        return answer
    answer = {"ok": True, "poll": poll_id, "option": option, "outcome": detail}
    if poll is not None:
        answer["votes"] = poll["votes"]  # the tally after this pass's votes
    return answer


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
