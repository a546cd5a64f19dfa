"""Room interactions over HTTP: polls (console controls, votes), buyer shows (posts, the console's
review queue), moderation (blocked words, mutes) and their part of the report.

Console writes take `Idempotency-Key` (web/idempotency.py); a poll's or a show's id then comes from the
key, so a retry after a lost answer finds what the first request made.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from livecart import interaction_report
from livecart.auth import Action
from livecart.clock import Clock
from livecart.errors import BadRequest, NotFound
from livecart.interactions import RoomInteractions
from livecart.moderation import check_user_id, parse_word_list
from livecart.polls import POLL_ID_HEX, VoteRefused, is_poll_id
from livecart.shows import SHOW_ID_HEX, ShowState, is_show_id
from livecart.store.moderation_store import ModerationStore
from livecart.store.poll_store import PollStore
from livecart.store.show_store import ShowStore
from livecart.web.http import json_response, object_body, room_claims
from livecart.web.idempotency import IDEMPOTENCY_DIGEST

__all__ = ["add_interaction_routes", "interaction_report_reader"]

# HTTP status of each refused vote: an unknown poll is 404 and a malformed option 400 (errors); the
# others are answers in the claim style (409 {"ok": false, "reason"}).
_VOTE_STATUS = {VoteRefused.NO_SUCH_POLL.value: 404, VoteRefused.BAD_OPTION.value: 400}


def interaction_report_reader(polls: PollStore, shows: ShowStore, moderation: ModerationStore,
                              clock: Clock) -> Callable[[str], Awaitable[dict[str, Any]]]:
    """What the report's `interactions` section needs, read from Redis, built by interaction_report."""
    async def read(room: str) -> dict[str, Any]:
        listed = await polls.newest(room, clock.now_ms())
        moves = {p["id"]: await polls.moves(room, p["id"]) for p in listed}
        return interaction_report.build(listed, moves, await shows.newest(room, 1000),
                                        await moderation.muted(room))

    return read


def add_interaction_routes(app: web.Application, *, interactions: RoomInteractions, polls: PollStore,
                           shows: ShowStore, moderation: ModerationStore, clock: Clock) -> None:
    report = interaction_report_reader(polls, shows, moderation, clock)

    def poll_id(request: web.Request) -> str:
        value = request.match_info["poll"]
        if not is_poll_id(value):
            raise NotFound("no_such_poll", "no such poll in this room")
        return value

    def show_id(request: web.Request) -> str:
        value = request.match_info["show"]
        if not is_show_id(value):
            raise NotFound("no_such_show", "no such show in this room")
        return value

    def digest(request: web.Request, length: int) -> str | None:
        key = request.get(IDEMPOTENCY_DIGEST)
        return key[:length] if key else None

    # --- polls -------------------------------------------------------------------------------------

    async def create_poll(request: web.Request) -> web.Response:
        room, claims = room_claims(request, Action.MANAGE)
        body = await object_body(request)
        poll = await interactions.polls.create(room, body, claims.by_whom, digest(request, POLL_ID_HEX))
        return json_response({"poll": poll}, 201)

    async def list_polls(request: web.Request) -> web.Response:
        room, _ = room_claims(request, Action.WATCH)
        now = clock.now_ms()
        return json_response({"polls": await polls.newest(room, now), "now": now})

    async def close_poll(request: web.Request) -> web.Response:
        room, claims = room_claims(request, Action.MANAGE)
        return json_response({"poll": await interactions.polls.close(room, poll_id(request), claims.by_whom)})

    async def vote(request: web.Request) -> web.Response:
        room, claims = room_claims(request, Action.COMMENT)
        body = await object_body(request)
        assert claims.user is not None
        answer = await interactions.polls.vote(room, claims.user, request.match_info["poll"],
                                               body.get("option"))
        if answer["ok"]:
            return json_response(answer)
        status = _VOTE_STATUS.get(answer["reason"])
        if status is not None:
            return json_response({"error": answer["reason"], "detail": answer["detail"]}, status)
        return json_response(answer, 409)

    # --- buyer shows -------------------------------------------------------------------------------

    async def post_show(request: web.Request) -> web.Response:
        room, claims = room_claims(request, Action.COMMENT)
        body = await object_body(request)
        assert claims.user is not None
        show = await interactions.shows.post(room, claims.user, body, digest(request, SHOW_ID_HEX))
        return json_response({"show": show}, 201)

    async def list_shows(request: web.Request) -> web.Response:
        room, _ = room_claims(request, Action.PRODUCE)
        state = request.query.get("state") or None
        if state is not None and state not in {s.value for s in ShowState}:
            raise BadRequest("bad_field", "state must be pending, approved or rejected")
        return json_response({"shows": await shows.newest(room, 200, state)})

    async def review_show(request: web.Request) -> web.Response:
        room, claims = room_claims(request, Action.MANAGE)
        decision = request.match_info["decision"]
        if decision not in ("approve", "reject"):
            raise web.HTTPNotFound()
        return json_response({"show": await interactions.shows.review(room, show_id(request), decision,
                                                                      claims.by_whom)})

    # --- moderation --------------------------------------------------------------------------------

    async def get_words(request: web.Request) -> web.Response:
        room, _ = room_claims(request, Action.PRODUCE)
        return json_response({"words": await moderation.words(room)})

    async def set_words(request: web.Request) -> web.Response:
        room, claims = room_claims(request, Action.MANAGE)
        words = parse_word_list(await object_body(request))
        return json_response({"words": await interactions.moderator.set_words(room, words, claims.by_whom)})

    async def list_mutes(request: web.Request) -> web.Response:
        room, _ = room_claims(request, Action.PRODUCE)
        muted = await moderation.muted(room)
        return json_response({"muted": [{"user": u, **m} for u, m in sorted(muted.items())]})

    async def mute(request: web.Request) -> web.Response:
        room, claims = room_claims(request, Action.MANAGE)
        user = check_user_id((await object_body(request)).get("user"))
        changed = await interactions.moderator.mute(room, user, claims.by_whom)
        return json_response({"user": user, "muted": True, "changed": changed})

    async def unmute(request: web.Request) -> web.Response:
        room, claims = room_claims(request, Action.MANAGE)
        user = check_user_id(request.match_info["user"])
        changed = await interactions.moderator.unmute(room, user, claims.by_whom)
        return json_response({"user": user, "muted": False, "changed": changed})

    async def get_report(request: web.Request) -> web.Response:
        room, _ = room_claims(request, Action.PRODUCE)
        return json_response(await report(room))

    app.router.add_post("/api/rooms/{room}/polls", create_poll)
    app.router.add_get("/api/rooms/{room}/polls", list_polls)
    app.router.add_post("/api/rooms/{room}/polls/{poll}/close", close_poll)
    app.router.add_post("/api/rooms/{room}/polls/{poll}/votes", vote)
    app.router.add_post("/api/rooms/{room}/shows", post_show)
    app.router.add_get("/api/rooms/{room}/shows", list_shows)
    app.router.add_post("/api/rooms/{room}/shows/{show}/{decision}", review_show)
    app.router.add_get("/api/rooms/{room}/blocked-words", get_words)
    app.router.add_post("/api/rooms/{room}/blocked-words", set_words)
    app.router.add_get("/api/rooms/{room}/mutes", list_mutes)
    app.router.add_post("/api/rooms/{room}/mutes", mute)
    app.router.add_delete("/api/rooms/{room}/mutes/{user}", unmute)
    app.router.add_get("/api/rooms/{room}/interactions/report", get_report)
