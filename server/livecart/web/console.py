"""The console's room actions besides deals: what the overlay shows, and tokens for the studio's pages.

- `POST|DELETE /api/rooms/{room}/highlight`: put one comment on the overlay (or take it off).
- `POST|DELETE /api/rooms/{room}/announcement`: a line of text for the overlay and the viewers.
- `GET|POST /api/rooms/{room}/currency`: the room's currency (ISO 4217), which says how many decimals its
  prices may have. It can change only while the room has no money (409 `currency_locked` after the
  first counted order, gift value or deal): a ledger is not re-denominated.
- `POST /api/rooms/{room}/tokens`: an `overlay` or `host` token for this room, so the console can hand
  out an OBS URL without anyone running `livecart token`. Only those two read-only roles: an assistant
  cannot mint anything that may claim, comment, ingest or manage.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from livecart import auth
from livecart.auth import Action, revocation_field
from livecart.clock import Clock
from livecart.currencies import RoomCurrencies
from livecart.errors import BadRequest, Conflict
from livecart.money import check_currency, exponent
from livecart.store.redis_store import RedisStore
from livecart.web.http import json_response, object_body, room_claims
from livecart.web.revocation import Revocations

__all__ = ["MINTABLE_ROLES", "add_console_routes"]

MINTABLE_ROLES = ("overlay", "host")
DEFAULT_PAGE_TTL_S = 7 * 24 * 3600  # an OBS scene outlives a working day; 4001 would blank the overlay
MAX_PAGE_TTL_S = 90 * 24 * 3600
MAX_HIGHLIGHT = 500  # characters of comment text on the overlay
MAX_ANNOUNCEMENT = 280


def _text(body: dict[str, Any], name: str, limit: int) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not 1 <= len(value.strip()) <= limit:
        raise BadRequest("bad_field", f"{name} must be 1-{limit} characters")
    return value.strip()


def parse_highlight(body: dict[str, Any]) -> dict[str, Any]:
    """{"text", "name", "offset"?}: a comment to show; the name is the commenter's display name."""
    card: dict[str, Any] = {"text": _text(body, "text", MAX_HIGHLIGHT)}
    name = body.get("name", "")
    if not isinstance(name, str) or len(name) > 100:
        raise BadRequest("bad_field", "name must be at most 100 characters")
    card["name"] = name
    offset = body.get("offset")
    if offset is not None:
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 1:
            raise BadRequest("bad_field", "offset must be the comment's room offset (an integer >= 1)")
        card["offset"] = offset
    return card


def parse_mint(body: dict[str, Any]) -> tuple[str, float]:
    role = body.get("role")
    if role not in MINTABLE_ROLES:
        raise BadRequest("bad_field", f"role must be one of {', '.join(MINTABLE_ROLES)}")
    ttl = body.get("ttl_s", DEFAULT_PAGE_TTL_S)
    if isinstance(ttl, bool) or not isinstance(ttl, int) or not 60 <= ttl <= MAX_PAGE_TTL_S:
        raise BadRequest("bad_field", f"ttl_s must be an integer from 60 to {MAX_PAGE_TTL_S}")
    return role, float(ttl)


def parse_currency(body: dict[str, Any]) -> str:
    """{"currency": "USD"}: a known ISO 4217 code, 3 uppercase letters (not "usd", not "XYZ")."""
    try:
        return check_currency(body.get("currency"))
    except ValueError as exc:
        raise BadRequest("bad_currency", str(exc)) from None


def _page_token(secret: str, room: str, role: str, ttl: float, now: float) -> dict[str, Any]:
    token = auth.issue(secret, role=role, room=room, ttl_s=ttl, now=now)
    page = "overlay" if role == "overlay" else "host"
    return {"token": token, "role": role, "room": room, "expires_at": int((now + ttl) * 1000),
            "path": f"/{page}?room={room}&token={token}"}


def add_console_routes(app: web.Application, *, store: RedisStore, currencies: RoomCurrencies, clock: Clock,
                       revocations: Revocations, secret: str) -> None:
    def stage_route(name: str, parse: Any) -> Any:
        async def handler(request: web.Request) -> web.Response:
            room, claims = room_claims(request, Action.MANAGE)
            value: dict[str, Any] | None = None
            if request.method == "POST":
                value = parse(await object_body(request))
                value["by"], value["at"] = claims.by_whom, clock.now_ms()
            await store.show(room, name, value)
            return json_response({name: value})

        return handler

    async def mint(request: web.Request) -> web.Response:
        room, _claims = room_claims(request, Action.MANAGE)
        role, ttl = parse_mint(await object_body(request))
        return json_response(_page_token(secret, room, role, ttl, clock.now_ms() / 1000), 201)

    async def revoke(request: web.Request) -> web.Response:
        """`{"role", "ttl_s"?}`: every `role` token of the room issued until now stops working (sockets
        using one are closed 4001 on every node); the answer carries a fresh token to put in OBS instead.
        `{"user": U}`: every token of that user in this room issued until now (a viewer or an assistant
        whose token leaked). `{"jti": ID}`: that one token."""
        room, _claims = room_claims(request, Action.MANAGE)
        body = await object_body(request)
        cutoff = clock.now_ms() / 1000
        for name in ("user", "jti"):
            value = body.get(name)
            if value is None:
                continue
            if not isinstance(value, str) or not 1 <= len(value) <= 200:
                raise BadRequest("bad_field", f"{name} must be a string of 1-200 characters")
            field = revocation_field(user=value) if name == "user" else revocation_field(token_id=value)
            await store.revoke(room, field, cutoff)
            revocations.note(room, field, cutoff)  # this node may not be subscribed to the room
            return json_response({"revoked": {name: value}, "before": int(cutoff * 1000)})
        role, ttl = parse_mint(body)
        await store.revoke(room, revocation_field(role=role), cutoff)
        revocations.note(room, revocation_field(role=role), cutoff)
        return json_response({"revoked": role, "before": int(cutoff * 1000),
                              **_page_token(secret, room, role, ttl, cutoff + 0.001)})

    async def currency(request: web.Request) -> web.Response:
        """GET: `{"currency", "exponent"}`. POST `{"currency": "USD"}`: set it, the same answer; every
        socket of the room gets the new `currency` field. 409 `currency_locked` once the room has money
        in another currency; setting the current one again is a 200 that changes nothing."""
        room, _claims = room_claims(request, Action.MANAGE)
        if request.method == "GET":
            code = await store.room_currency(room)
        else:
            wanted = parse_currency(await object_body(request))
            changed, code = await store.set_currency(room, wanted)
            currencies.note(room, code)
            if not changed:
                raise Conflict("currency_locked",
                               f"the room already has money in {code} (orders, gifts or deals); its currency "
                               f"cannot change to {wanted}")
        return json_response({"currency": code, "exponent": exponent(code)})

    async def purge(request: web.Request) -> web.Response:
        """Delete everything the room holds (GDPR-style erasure; `livecart purge --room`)."""
        room, claims = room_claims(request, Action.MANAGE)
        if claims.room == "*" and request.query.get("confirm") != room:
            # A token for every room must name the room twice: one typo must not erase the wrong one.
            raise BadRequest("confirm_purge", f"add ?confirm={room} to purge with a token for every room")
        removed = await store.purge_room(room)
        return json_response({"purged": room, "keys": removed})

    highlight = stage_route("highlight", parse_highlight)
    announcement = stage_route("announcement", lambda body: {"text": _text(body, "text", MAX_ANNOUNCEMENT)})
    app.router.add_post("/api/rooms/{room}/highlight", highlight)
    app.router.add_delete("/api/rooms/{room}/highlight", highlight)
    app.router.add_post("/api/rooms/{room}/announcement", announcement)
    app.router.add_delete("/api/rooms/{room}/announcement", announcement)
    app.router.add_get("/api/rooms/{room}/currency", currency)
    app.router.add_post("/api/rooms/{room}/currency", currency)
    app.router.add_post("/api/rooms/{room}/tokens", mint)
    app.router.add_post("/api/rooms/{room}/tokens/revoke", revoke)
    app.router.add_delete("/api/rooms/{room}", purge)
