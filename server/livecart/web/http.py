"""What every HTTP route module shares: JSON answers, error answers, request bodies and the token check.

Route modules (web/app.py, deals.py, cues.py, console.py) import from here and from nothing else in
web/, so the modules form a tree: app.py builds the application from them, none imports app.py.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from livecart.auth import Action, Claims, authorize, check_room_name, verify
from livecart.errors import BadRequest, LivecartError, MethodNotAllowed, NotFound, TooLarge, wire_error
from livecart.protocol import decode_body, encode_json

__all__ = ["TOKEN_KEYS", "VERIFIED", "bearer", "error_response", "http_error", "json_response",
           "object_body", "read_body", "room_claims"]

# The secrets a token may be signed with (Settings.token_keys), set by web/app.py create_app.
TOKEN_KEYS: web.AppKey[tuple[str, ...]] = web.AppKey("token_keys")
VERIFIED = web.RequestKey("livecart.claims", Claims)  # the claims app.revocation_middleware verified


def json_response(body: object, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=encode_json(body), status=status, content_type="application/json",
                        headers=headers)


def error_response(exc: LivecartError) -> web.Response:
    """The one HTTP answer to an error (errors.wire_error): status, JSON body, Retry-After."""
    wire = wire_error(exc)
    return json_response(wire.body(), wire.status, wire.headers())


def http_error(exc: web.HTTPException) -> BadRequest:
    """aiohttp's own refusals (no route, wrong method, body too large) in the error tree."""
    if isinstance(exc, web.HTTPRequestEntityTooLarge):
        return TooLarge(exc.text or "body too large")
    code = exc.reason.lower().replace(" ", "_")
    if exc.status == 404:
        return NotFound(code, exc.reason)
    if exc.status == 405:
        return MethodNotAllowed(code, exc.reason)
    error = BadRequest(code, exc.reason)
    error.status = exc.status
    return error


async def read_body(request: web.Request) -> Any:
    """The request body, msgpack with `Content-Type: application/msgpack`, JSON otherwise."""
    return decode_body(await request.read(), request.content_type)


async def object_body(request: web.Request) -> dict[str, Any]:
    """`read_body`, which must be a map (400 bad_body otherwise)."""
    body = await read_body(request)
    if not isinstance(body, dict):
        raise BadRequest("bad_body", "the body must be an object")
    return body


def bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    return header[7:].strip() if header.startswith("Bearer ") else None


def room_claims(request: web.Request, action: Action) -> tuple[str, Claims]:
    """The room from the path and the token's claims, authorized for `action`."""
    room = check_room_name(request.match_info["room"])
    claims = request.get(VERIFIED) or verify(request.app[TOKEN_KEYS], bearer(request))
    authorize(claims, room, action)
    return room, claims
