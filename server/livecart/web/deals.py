"""Flash deals over HTTP: the console's deal API, HTTP claims, the pinned product and the audit log."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from livecart.audience import audience_of, deal_view
from livecart.auth import Action
from livecart.claims import ClaimDesk
from livecart.clock import Clock
from livecart.currencies import RoomCurrencies
from livecart.deals import DEAL_ID_HEX, deal_to_wire, is_deal_id, new_deal_id, parse_spec
from livecart.errors import BadRequest, Conflict, NotFound
from livecart.store.deal_store import DealStore
from livecart.store.redis_store import RedisStore
from livecart.store.values import CurrencyChanged
from livecart.web.admission import Admission
from livecart.web.http import json_response, read_body, room_claims
from livecart.web.idempotency import IDEMPOTENCY_DIGEST

__all__ = ["add_deal_routes"]


def add_deal_routes(app: web.Application, *, store: RedisStore, deal_store: DealStore,
                    claim_desk: ClaimDesk, currencies: RoomCurrencies, clock: Clock, admission: Admission,
                    price_floor: float) -> None:
    def deal_id(request: web.Request) -> str:
        value = request.match_info["deal"]
        if not is_deal_id(value):
            raise NotFound("no_such_deal", "no such deal in this room")
        return value

    async def create(request: web.Request) -> web.Response:
        room, claims = room_claims(request, Action.MANAGE)
        now = clock.now_ms()
        body = await read_body(request)
        start_now = not isinstance(body, dict) or (body.get("start_at") is None
                                                   and body.get("countdown_s") is None)
        # With an Idempotency-Key the deal id comes from it: a retry after a lost answer finds the deal
        # (deal_create.lua returns it unchanged) even when the first answer was never stored.
        digest = request.get(IDEMPOTENCY_DIGEST)
        new_id = digest[:DEAL_ID_HEX] if digest else new_deal_id()
        currency = await currencies.of(room)
        for _attempt in range(3):
            # Prices have the decimals of the room's currency; deal_create.lua checks it still is that one.
            spec = parse_spec(body, now, price_floor=price_floor, currency=currency)
            try:
                fields = await deal_store.create(room, new_id, spec, claims.by_whom, start_now)
                break
            except CurrencyChanged as changed:
                currency = changed.currency
                currencies.note(room, currency)
        else:
            raise Conflict("currency_changed", "the room's currency changed meanwhile; retry")
        return json_response({"deal": deal_to_wire(fields, clock.now_ms())}, 201)

    async def control(request: web.Request) -> web.Response:
        room, claims = room_claims(request, Action.MANAGE)
        op = request.match_info["op"]
        value: Any = ""
        if op == "restock":
            body = await read_body(request)
            add = body.get("add") if isinstance(body, dict) else None
            if isinstance(add, bool) or not isinstance(add, int) or not 1 <= add <= 10_000_000:
                raise BadRequest("bad_field", "add must be an integer from 1 to 10000000")
            value = add
        elif op == "keyword":
            body = await read_body(request)
            word = body.get("keyword") if isinstance(body, dict) else None
            if word is not None and (not isinstance(word, str) or not 1 <= len(word) <= 20):
                raise BadRequest("bad_field", "keyword must be 1-20 characters, or null to disarm")
            value = word or ""
        elif op not in ("start", "stop"):
            raise web.HTTPNotFound()
        fields = await deal_store.control(room, deal_id(request), op, claims.by_whom, value,
                                               op_id=request.get(IDEMPOTENCY_DIGEST))
        return json_response({"deal": deal_to_wire(fields, clock.now_ms())})

    async def listing(request: web.Request) -> web.Response:
        room, claims = room_claims(request, Action.WATCH)
        now = clock.now_ms()
        audience = audience_of(claims.role)
        return json_response({"deals": [deal_view(deal_to_wire(f, now), audience)
                                        for f in await deal_store.newest(room)], "now": now})

    async def claim(request: web.Request) -> web.Response:
        room, claims = room_claims(request, Action.CLAIM)
        body = await read_body(request)
        if not isinstance(body, dict):
            raise BadRequest("bad_body", "the body must be an object {qty, key}")
        assert claims.user is not None
        transport = request.transport
        _, ip_key = admission.client(transport.get_extra_info("peername") if transport else None,
                                     request.headers.getall("X-Forwarded-For", []))
        reply = await claim_desk.claim(room, claims.user, deal_id(request), body.get("qty"), body.get("key"),
                                       ip_key)
        return json_response(reply, 200 if reply.get("ok") else 409)

    async def pin(request: web.Request) -> web.Response:
        room, claims = room_claims(request, Action.MANAGE)
        card: dict[str, Any] | None = None
        if request.method == "POST":
            body = await read_body(request)
            product = body.get("product") if isinstance(body, dict) else None
            if not isinstance(product, dict) or not isinstance(product.get("name"), str) \
                    or not 1 <= len(product["name"]) <= 200:
                raise BadRequest("bad_field", "product {name, id?, image_url?, price?} is required")
            card = {k: product[k] for k in ("id", "name", "image_url", "price", "deal_id")
                    if isinstance(product.get(k), str | int | float) and len(str(product[k])) <= 2000}
            card["by"], card["at"] = claims.by_whom, clock.now_ms()
        await store.pin(room, card)
        return json_response({"pinned": card})

    async def audit(request: web.Request) -> web.Response:
        room, _ = room_claims(request, Action.MANAGE)
        return json_response({"entries": await deal_store.audit(room)})

    app.router.add_post("/api/rooms/{room}/deals", create)
    app.router.add_get("/api/rooms/{room}/deals", listing)
    app.router.add_post("/api/rooms/{room}/deals/{deal}/claims", claim)
    app.router.add_post("/api/rooms/{room}/deals/{deal}/{op}", control)
    app.router.add_post("/api/rooms/{room}/pin", pin)
    app.router.add_delete("/api/rooms/{room}/pin", pin)
    app.router.add_get("/api/rooms/{room}/audit", audit)
