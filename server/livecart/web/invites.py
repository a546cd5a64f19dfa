"""Invite attribution over HTTP (the rules: livecart/invites.py; the atomic part: store/invite_store.py).

- `GET /api/rooms/{room}/invites/me` (viewer with a user): the viewer's invite code, share link and
  progress toward the invite goal (rewards earned are given on the way).
- `POST /api/rooms/{room}/invites/open` (viewer) `{"ref"?: CODE}`: the viewer page arrived, through a
  share link or not. 400 `bad_ref`, 404 `no_such_invite`, 409 `self_invite`: nothing counted.
- `GET /api/rooms/{room}/invites` (host, assistant): the funnel, the top inviters, goal and coupon pool;
  an overlay gets who invited how many (no money) while the console shows them on the overlay.
- `POST /api/rooms/{room}/invites/settings` (assistant) `{"overlay"?: bool, "goal"?: GOAL|null}`.
- `POST /api/rooms/{room}/invites/coupons` (assistant) `{"codes": [STR]}`: coupons for the goal's rewards.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from livecart.auth import STAFF_ROLES, Action, Claims, authorize
from livecart.currencies import RoomCurrencies
from livecart.errors import BadRequest, Conflict, Forbidden, NotFound
from livecart.invites import (
    board_to_wire,
    check_ref,
    invite_code,
    parse_coupons,
    parse_settings,
    public_board,
)
from livecart.store.invite_store import InviteStore
from livecart.web.http import json_response, object_body, room_claims

__all__ = ["add_invite_routes"]

MAX_BOARD = 200


def _viewer(claims: Claims) -> None:
    if claims.role != "viewer":
        raise Forbidden(f"role {claims.role!r} does not arrive through invite links")


def add_invite_routes(app: web.Application, *, invite_store: InviteStore, currencies: RoomCurrencies,
                      secret: str) -> None:
    async def me(request: web.Request) -> web.Response:
        room, claims = room_claims(request, Action.CLAIM)
        assert claims.user is not None  # Action.CLAIM needs a user
        code = invite_code(secret, room, claims.user)
        progress = await invite_store.register_code(room, claims.user, code)
        link = "/viewer?" + urlencode({"room": room, "ref": code})
        return json_response({"code": code, "link": link, **progress.to_wire()})

    async def open_link(request: web.Request) -> web.Response:
        room, claims = room_claims(request, Action.WATCH)
        _viewer(claims)
        body = await object_body(request)
        if set(body) - {"ref"}:
            raise BadRequest("bad_field", "the body is {\"ref\": CODE} or {}")
        code = check_ref(body["ref"]) if body.get("ref") is not None else ""
        arrival = await invite_store.open(room, code, claims.user)
        if arrival.answer == "unknown":
            raise NotFound("no_such_invite", "no viewer of this room has this invite code")
        if arrival.answer == "self":
            raise Conflict("self_invite", "this is your own invite link: share it with friends")
        return json_response({"answer": arrival.answer, "attributed": arrival.answer == "joined",
                              "inviter": arrival.inviter or None})

    async def board(request: web.Request) -> web.Response:
        """Host and assistant: everything. An overlay: the public part (funnel and top inviters, as its
        socket gets them) only while the console shows the board on the overlay."""
        room, claims = room_claims(request, Action.WATCH)
        if claims.role not in STAFF_ROLES and claims.role != "overlay":
            authorize(claims, room, Action.PRODUCE)  # the refusal, worded as for any staff route
        raw = request.query.get("top", "50")
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_BOARD:
            raise BadRequest("bad_field", f"top must be an integer from 1 to {MAX_BOARD}")
        found = await _board(room, int(raw))
        if claims.role == "overlay":  # nothing to show while it is off, and never money
            found = public_board(found if found["overlay"] else {**found, "top": []})
        return json_response(found)

    async def _board(room: str, top: int = 50) -> dict[str, Any]:
        found = await invite_store.board(room, top)
        goal = found["goal"]
        return {**board_to_wire(found, await currencies.of(room)), "goal": goal.to_wire() if goal else None,
                "coupons_left": found["coupons_left"]}

    async def settings(request: web.Request) -> web.Response:
        room, claims = room_claims(request, Action.MANAGE)
        overlay, goal, set_goal = parse_settings(await object_body(request))
        await invite_store.configure(room, overlay=overlay, goal=goal, set_goal=set_goal, by=claims.by_whom)
        return json_response(await _board(room))

    async def coupons(request: web.Request) -> web.Response:
        room, claims = room_claims(request, Action.MANAGE)
        codes = parse_coupons(await object_body(request))
        left = await invite_store.add_coupons(room, codes, claims.by_whom)
        return json_response({"added": len(codes), "coupons_left": left})

    app.router.add_get("/api/rooms/{room}/invites/me", me)
    app.router.add_post("/api/rooms/{room}/invites/open", open_link)
    app.router.add_get("/api/rooms/{room}/invites", board)
    app.router.add_post("/api/rooms/{room}/invites/settings", settings)
    app.router.add_post("/api/rooms/{room}/invites/coupons", coupons)
