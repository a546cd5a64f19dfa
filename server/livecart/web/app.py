"""The HTTP side: health, metrics, ingest and room state, with one error format for every refusal."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web

from livecart.audience import audience_of, view
from livecart.auth import Action, Claims, authorize, check_room_name, verify
from livecart.errors import BadRequest, StoreUnavailable, TooLarge
from livecart.protocol import decode_body, encode_json
from livecart.room import snapshot_frame
from livecart.web.console import add_console_routes
from livecart.web.cues import add_cue_routes
from livecart.web.deals import add_deal_routes
from livecart.web.idempotency import make_middleware
from livecart.web.ingest import admit_events, ingest_batch, limit_key
from livecart.web.pages import add_page_routes
from livecart.web.upgrade import websocket_route

if TYPE_CHECKING:
    from livecart.web.node import Node

__all__ = ["NODE", "create_app"]

log = logging.getLogger("livecart.http")
NODE: web.AppKey[Node] = web.AppKey("node")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_response(body: object, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=encode_json(body), status=status, content_type="application/json",
                        headers=headers)


def error_response(status: int, code: str, detail: str,
                   headers: dict[str, str] | None = None) -> web.Response:
    return json_response({"error": code, "detail": detail}, status, headers)


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except BadRequest as exc:
        retry = getattr(exc, "retry_after", None)
        headers = {"Retry-After": str(max(1, round(retry)))} if retry is not None else None
        return error_response(exc.status, exc.code, exc.detail, headers)
    except StoreUnavailable:
        return error_response(503, "unavailable", "storage unreachable; retry the same request (ingest "
                              "and claims are idempotent; other writes with the same Idempotency-Key)",
                              {"Retry-After": str(StoreUnavailable.retry_after)})
    except web.HTTPRequestEntityTooLarge as exc:
        return error_response(413, "too_large", exc.text or "body too large")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_response(exc.status, exc.reason.lower().replace(" ", "_"), exc.reason)


@web.middleware
async def handshake_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The first request of a connection meets its handshake deadline (web/ws.py) once it is complete,
    body included: a body sent half, or a byte at a time, holds no connection past the deadline. The
    body is read here (aiohttp keeps it for the handler's own read)."""
    transport, listener = request.transport, request.app[NODE].listener
    if transport is not None and transport in listener.unfinished:
        if request.body_exists and request.method != "GET":
            try:
                await request.read()
            except ConnectionResetError:  # the deadline answered 408 and closed: nothing left to say
                return web.Response(status=408)
        listener.finished(transport)
    return await handler(request)


VERIFIED = web.RequestKey("livecart.claims", Claims)  # the claims revocation_middleware verified


@web.middleware
async def revocation_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Room routes refuse revoked tokens (web/revocation.py: by role, user or jti); every error in a
    token is left to the route's own check."""
    room, token = request.match_info.get("room"), bearer(request)
    if room and token:
        try:
            claims: Claims | None = verify(request.app[NODE].settings.token_keys, token)
            check_room_name(room)
        except BadRequest:
            claims = None
        if claims is not None:
            await request.app[NODE].revocations.check(room, claims)
            request[VERIFIED] = claims  # room_claims need not check the signature again
    return await handler(request)


def bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    return header[7:].strip() if header.startswith("Bearer ") else None


def room_claims(request: web.Request, action: Action) -> tuple[str, Claims]:
    """The room from the path and the token's claims, authorized for `action`."""
    room = check_room_name(request.match_info["room"])
    claims = request.get(VERIFIED) or verify(request.app[NODE].settings.token_keys, bearer(request))
    authorize(claims, room, action)
    return room, claims


async def healthz(request: web.Request) -> web.Response:
    node = request.app[NODE]
    started = time.perf_counter()
    try:
        await asyncio.wait_for(node.store.ping(), 2)
    except (StoreUnavailable, TimeoutError):
        return json_response({"ok": False, "redis": "unreachable"}, 503)
    node.metrics.redis_seconds.observe(time.perf_counter() - started)
    return json_response({"ok": True, "node": node.settings.node_id})


async def metrics(request: web.Request) -> web.Response:
    node = request.app[NODE]
    node.metrics.rooms.set(len(node.hub.rooms))
    node.metrics.pubsub_reconnects.set(node.hub.subscriber.reconnects)
    node.metrics.client_ips.set(len(node.admission.sockets))
    node.metrics.unfinished.set(len(node.listener.unfinished))
    if node.embedded is not None:
        node.metrics.redis_restarts.set(node.embedded.restarts)
    with contextlib.suppress(StoreUnavailable, TimeoutError):  # the scrape answers while Redis is away
        used, limit = await asyncio.wait_for(node.store.memory(), 2)
        node.metrics.redis_used_memory.set(used)
        node.metrics.redis_maxmemory.set(limit)
    return web.Response(body=node.metrics.render(), content_type="text/plain")


async def post_events(request: web.Request) -> web.Response:
    node = request.app[NODE]
    room, claims = room_claims(request, Action.INGEST)
    if request.content_length is not None and request.content_length > node.settings.ingest_max_body:
        raise TooLarge(f"body over {node.settings.ingest_max_body} bytes")
    body = await request.read()
    items = decode_body(body, request.content_type)
    admit_events(node, limit_key(claims), items)
    result = await ingest_batch(node, room, items)
    return json_response(result.to_wire())


async def get_state(request: web.Request) -> web.Response:
    node = request.app[NODE]
    room, claims = room_claims(request, Action.WATCH)
    snap = await node.store.snapshot(room)
    online = await node.store.online(room, node.clock.now_ms())
    overlays = await node.store.online(room, node.clock.now_ms(), role="overlay")
    return json_response(view(snapshot_frame(snap, online, node.clock.now_ms(), overlays),
                              audience_of(claims.role)))


def create_app(node: Node) -> web.Application:
    app = web.Application(middlewares=[errors_middleware, handshake_middleware, revocation_middleware,
                                       make_middleware(NODE, VERIFIED)],
                          client_max_size=node.settings.ingest_max_body)
    app[NODE] = node
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    app.router.add_post("/api/rooms/{room}/events", post_events)
    app.router.add_get("/api/rooms/{room}/state", get_state)
    add_deal_routes(app, NODE)
    add_cue_routes(app, NODE)
    add_console_routes(app, NODE)
    add_page_routes(app)
    # A websocket request on a connection whose first request was HTTP: back to the websocket code.
    app.router.add_get("/ws/{tail:.*}", websocket_route(lambda transport, head: node.listener.adopt(
        transport, head)), allow_head=False)
    return app
