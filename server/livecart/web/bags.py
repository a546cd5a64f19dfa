"""Lucky bags over HTTP: the console's controls, a winner's claim and the published draw record."""

from __future__ import annotations

from aiohttp import web

from livecart.auth import Action
from livecart.bag_desk import BagDesk
from livecart.errors import Conflict, NotFound
from livecart.lucky_bag import BAG_ID_HEX, draw_record, is_bag_id, new_bag_id, parse_spec
from livecart.store.bag_store import BagStore
from livecart.web.http import json_response, read_body, room_claims
from livecart.web.idempotency import IDEMPOTENCY_DIGEST

__all__ = ["add_bag_routes"]

MAX_LISTED = 20


def add_bag_routes(app: web.Application, *, bag_desk: BagDesk, bag_store: BagStore) -> None:
    def bag_id(request: web.Request) -> str:
        value = request.match_info["bag"]
        if not is_bag_id(value):
            raise NotFound("no_such_bag", "no such lucky bag in this room")
        return value

    async def create(request: web.Request) -> web.Response:
        room, claims = room_claims(request, Action.MANAGE)
        spec = parse_spec(await read_body(request))
        # With an Idempotency-Key the bag id comes from it: a retry after a lost answer finds the bag.
        digest = request.get(IDEMPOTENCY_DIGEST)
        bag = await bag_desk.create(room, digest[:BAG_ID_HEX] if digest else new_bag_id(), spec,
                                    claims.by_whom)
        return json_response({"bag": bag}, 201)

    async def listing(request: web.Request) -> web.Response:
        room, _ = room_claims(request, Action.WATCH)
        ids = (await bag_store.bag_ids(room))[-MAX_LISTED:]
        return json_response({"bags": [await bag_store.get(room, b) for b in reversed(ids)]})

    async def control(request: web.Request) -> web.Response:
        room, _ = room_claims(request, Action.MANAGE)
        op, bag = request.match_info["op"], bag_id(request)
        if op == "draw":
            return json_response({"bag": await bag_desk.draw(room, bag)})
        if op == "cancel":
            bag_map = await bag_store.cancel(room, bag)
        elif op == "finish":
            bag_map = await bag_store.finish(room, bag)
        else:
            raise NotFound("no_such_operation", "lucky bag operations: draw, cancel, finish, claim")
        return json_response({"bag": bag_map})

    async def claim(request: web.Request) -> web.Response:
        room, claims = room_claims(request, Action.CLAIM)
        assert claims.user is not None
        ok, reason, bag_map = await bag_desk.claim(room, bag_id(request), claims.user)
        if not ok:
            return json_response({"ok": False, "reason": reason}, 409)
        return json_response({"ok": True, "bag": bag_map})

    async def record(request: web.Request) -> web.Response:
        room, _ = room_claims(request, Action.WATCH)
        stored = await bag_store.record(room, bag_id(request))
        if stored["fields"].get("state") == "open":
            raise Conflict("not_drawn", "the draw record is published when the bag closes")
        return json_response(draw_record(room, stored["fields"], stored["entrants"], stored["winners"]))

    app.router.add_post("/api/rooms/{room}/bags", create)
    app.router.add_get("/api/rooms/{room}/bags", listing)
    app.router.add_get("/api/rooms/{room}/bags/{bag}/record", record)
    app.router.add_post("/api/rooms/{room}/bags/{bag}/claim", claim)
    app.router.add_post("/api/rooms/{room}/bags/{bag}/{op}", control)
