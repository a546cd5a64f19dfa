"""Goals over HTTP: the console arms, edits and cancels goals; any role of the room lists them."""

from __future__ import annotations

from aiohttp import web

from livecart.audience import Audience, audience_of
from livecart.auth import Action
from livecart.clock import Clock
from livecart.currencies import RoomCurrencies
from livecart.errors import NotFound
from livecart.goals import GOAL_ID_HEX, goal_view, is_goal_id, new_goal_id, parse_changes, parse_goal
from livecart.store.goal_store import GoalStore
from livecart.web.http import json_response, read_body, room_claims
from livecart.web.idempotency import IDEMPOTENCY_DIGEST

__all__ = ["add_goal_routes"]


def add_goal_routes(app: web.Application, *, goal_store: GoalStore, currencies: RoomCurrencies,
                    clock: Clock) -> None:
    def goal_id(request: web.Request) -> str:
        value = request.match_info["goal"]
        if not is_goal_id(value):
            raise NotFound("no_such_goal", "no such goal in this room")
        return value

    async def create(request: web.Request) -> web.Response:
        room, claims = room_claims(request, Action.MANAGE)
        spec = parse_goal(await read_body(request), await currencies.of(room))
        # With an Idempotency-Key the goal id comes from it: a retry after a lost answer finds the goal.
        digest = request.get(IDEMPOTENCY_DIGEST)
        new_id = digest[:GOAL_ID_HEX] if digest else new_goal_id()
        goal = await goal_store.create(room, new_id, spec, claims.by_whom, clock.now_ms())
        return json_response({"goal": goal}, 201)

    async def edit(request: web.Request) -> web.Response:
        room, claims = room_claims(request, Action.MANAGE)
        wanted = goal_id(request)
        body = await read_body(request)
        current = await goal_store.get(room, wanted)
        if current is None:
            raise NotFound("no_such_goal", "no such goal in this room")
        changes = parse_changes(body, current["metric"], await currencies.of(room))
        goal = await goal_store.edit(room, wanted, changes, claims.by_whom, clock.now_ms())
        return json_response({"goal": goal})

    async def cancel(request: web.Request) -> web.Response:
        room, claims = room_claims(request, Action.MANAGE)
        return json_response({"goal": await goal_store.cancel(room, goal_id(request), claims.by_whom)})

    async def listing(request: web.Request) -> web.Response:
        room, claims = room_claims(request, Action.WATCH)
        public = audience_of(claims.role) is Audience.PUBLIC
        return json_response({"goals": [goal_view(g, public) for g in await goal_store.all(room)],
                              "now": clock.now_ms()})

    app.router.add_post("/api/rooms/{room}/goals", create)
    app.router.add_get("/api/rooms/{room}/goals", listing)
    app.router.add_post("/api/rooms/{room}/goals/{goal}", edit)
    app.router.add_delete("/api/rooms/{room}/goals/{goal}", cancel)
