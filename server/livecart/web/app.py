"""The HTTP side: health, metrics, ingest and room state, with one error format for every refusal."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware

from livecart.audience import audience_of, view
from livecart.auth import Action, Claims, check_room_name, verify
from livecart.bag_desk import BagDesk
from livecart.claims import ClaimDesk
from livecart.clock import Clock
from livecart.comments import Segmenter
from livecart.config import Settings
from livecart.currencies import RoomCurrencies
from livecart.errors import BadRequest, LivecartError, StoreUnavailable, TooLarge
from livecart.ingest import Ingest, limit_key
from livecart.metrics import Metrics
from livecart.room import snapshot_frame
from livecart.sources import SOURCE_HEADER, Source, source_id
from livecart.store.bag_store import BagStore
from livecart.store.cue_store import CueStore
from livecart.store.deal_store import DealStore
from livecart.store.goal_store import GoalStore
from livecart.store.invite_store import InviteStore
from livecart.store.redis_store import RedisStore
from livecart.store.shop_store import ShopStore
from livecart.store.source_store import SourceStore
from livecart.store.stats_store import StatsStore
from livecart.web.admission import Admission
from livecart.web.bags import add_bag_routes
from livecart.web.console import add_console_routes
from livecart.web.cues import add_cue_routes
from livecart.web.deals import add_deal_routes
from livecart.web.goals import add_goal_routes
from livecart.web.http import (
    TOKEN_KEYS,
    VERIFIED,
    bearer,
    error_response,
    http_error,
    json_response,
    read_body,
    room_claims,
)
from livecart.web.idempotency import idempotency_middleware
from livecart.web.invites import add_invite_routes
from livecart.web.listener import Listener
from livecart.web.pages import add_page_routes
from livecart.web.revocation import Revocations
from livecart.web.source_cues import add_source_cue_routes
from livecart.web.upgrade import websocket_route
from livecart.web.webhooks import add_webhook_routes

__all__ = ["create_app", "create_probe_app"]

log = logging.getLogger("livecart.http")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except LivecartError as exc:
        return error_response(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_response(http_error(exc))


def handshake_middleware(listener: Listener) -> Middleware:
    @web.middleware
    async def finish_handshake(request: web.Request, handler: Handler) -> web.StreamResponse:
        """The first request of a connection meets its handshake deadline (web/listener.py) once it is
        complete, body included: a body sent half, or a byte at a time, holds no connection past the
        deadline. The body is read here (aiohttp keeps it for the handler's own read)."""
        transport = request.transport
        if transport is not None and transport in listener.unfinished:
            if request.body_exists and request.method != "GET":
                try:
                    await request.read()
                except ConnectionResetError:  # the deadline answered 408 and closed: nothing left to say
                    return web.Response(status=408)
            listener.finished(transport)
        return await handler(request)

    return finish_handshake


def revocation_middleware(token_keys: tuple[str, ...], revocations: Revocations) -> Middleware:
    @web.middleware
    async def refuse_revoked(request: web.Request, handler: Handler) -> web.StreamResponse:
        """Room routes refuse revoked tokens (web/revocation.py: by role, user or jti); every error in a
        token is left to the route's own check."""
        room, token = request.match_info.get("room"), bearer(request)
        if room and token:
            try:
                claims: Claims | None = verify(token_keys, token)
                check_room_name(room)
            except BadRequest:
                claims = None
            if claims is not None:
                await revocations.check(room, claims)
                request[VERIFIED] = claims  # room_claims need not check the signature again
        return await handler(request)

    return refuse_revoked


def add_probe_routes(app: web.Application, *, store: RedisStore, metrics: Metrics,
                     refresh_gauges: Callable[[], None], node_id: str) -> None:
    """/healthz and /metrics: this node's, whichever port they are asked on."""

    async def healthz(_request: web.Request) -> web.Response:
        started = time.perf_counter()
        try:
            await asyncio.wait_for(store.ping(), 2)
        except (StoreUnavailable, TimeoutError):
            return json_response({"ok": False, "redis": "unreachable"}, 503)
        metrics.redis_seconds.observe(time.perf_counter() - started)
        return json_response({"ok": True, "node": node_id})

    async def get_metrics(_request: web.Request) -> web.Response:
        refresh_gauges()
        with contextlib.suppress(StoreUnavailable, TimeoutError):  # the scrape answers while Redis is away
            used, limit = await asyncio.wait_for(store.memory(), 2)
            metrics.redis_used_memory.set(used)
            metrics.redis_maxmemory.set(limit)
        return web.Response(body=metrics.render(), content_type="text/plain")

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", get_metrics)


def create_probe_app(*, store: RedisStore, metrics: Metrics, refresh_gauges: Callable[[], None],
                     node_id: str) -> web.Application:
    """Only /healthz and /metrics, for the node's own probe port (`metrics_port`): with several workers
    on one port, a scrape of that port reaches whichever worker the kernel picks, so each worker also
    answers on a port of its own."""
    app = web.Application(middlewares=[errors_middleware])
    add_probe_routes(app, store=store, metrics=metrics, refresh_gauges=refresh_gauges, node_id=node_id)
    return app


def add_node_routes(app: web.Application, *, store: RedisStore, ingest: Ingest, clock: Clock,
                    metrics: Metrics, refresh_gauges: Callable[[], None], node_id: str,
                    max_body: int) -> None:
    """Health, metrics, ingest and room state."""
    add_probe_routes(app, store=store, metrics=metrics, refresh_gauges=refresh_gauges, node_id=node_id)

    async def post_events(request: web.Request) -> web.Response:
        room, claims = room_claims(request, Action.INGEST)
        if request.content_length is not None and request.content_length > max_body:
            raise TooLarge(f"body over {max_body} bytes")
        source = Source(source_id(request.headers.get(SOURCE_HEADER), claims.user), "http")
        items = await read_body(request)
        ingest.admit(limit_key(claims), items)
        result = await ingest.batch(room, items, source)
        return json_response(result.to_wire())

    async def get_state(request: web.Request) -> web.Response:
        room, claims = room_claims(request, Action.WATCH)
        snap = await store.snapshot(room)
        online = await store.online(room, clock.now_ms())
        overlays = await store.online(room, clock.now_ms(), role="overlay")
        return json_response(view(snapshot_frame(snap, online, clock.now_ms(), overlays),
                                  audience_of(claims.role)))

    app.router.add_post("/api/rooms/{room}/events", post_events)
    app.router.add_get("/api/rooms/{room}/state", get_state)


def create_app(*, settings: Settings, store: RedisStore, deal_store: DealStore, cue_store: CueStore,
               stats_store: StatsStore, claim_desk: ClaimDesk, ingest: Ingest, currencies: RoomCurrencies,
               clock: Clock, metrics: Metrics, admission: Admission, revocations: Revocations,
               listener: Listener, segmenter: Segmenter, refresh_gauges: Callable[[], None],
               shop_store: ShopStore, source_store: SourceStore, bag_desk: BagDesk, bag_store: BagStore,
               invite_store: InviteStore, goal_store: GoalStore,
               interaction_routes: Callable[[web.Application], None] | None = None,
               interaction_report: Callable[[str], Awaitable[dict[str, Any]]] | None = None,
               ) -> web.Application:
    """The aiohttp application of one node, from the node's parts (livecart/node.py builds them)."""
    app = web.Application(middlewares=[errors_middleware, handshake_middleware(listener),
                                       revocation_middleware(settings.token_keys, revocations),
                                       idempotency_middleware(store, VERIFIED)],
                          client_max_size=settings.ingest_max_body)
    app[TOKEN_KEYS] = settings.token_keys
    add_node_routes(app, store=store, ingest=ingest, clock=clock, metrics=metrics,
                    refresh_gauges=refresh_gauges, node_id=settings.node_id,
                    max_body=settings.ingest_max_body)
    add_deal_routes(app, store=store, deal_store=deal_store, claim_desk=claim_desk, currencies=currencies,
                    clock=clock, admission=admission, price_floor=settings.price_floor)
    add_cue_routes(app, store=store, deal_store=deal_store, cue_store=cue_store, stats_store=stats_store,
                   clock=clock, metrics=metrics, segmenter=segmenter, bag_store=bag_store,
                   interaction_report=interaction_report, goal_store=goal_store, invite_store=invite_store)
    add_source_cue_routes(app, cue_store=cue_store, clock=clock, metrics=metrics)
    if interaction_routes is not None:  # polls, buyer shows, moderation (web/interactions.py)
        interaction_routes(app)
    add_console_routes(app, store=store, currencies=currencies, clock=clock, revocations=revocations,
                       secret=settings.secret)
    add_webhook_routes(app, ingest=ingest, shops=shop_store, sources=source_store, currencies=currencies,
                       clock=clock, metrics=metrics)
    add_bag_routes(app, bag_desk=bag_desk, bag_store=bag_store)
    add_invite_routes(app, invite_store=invite_store, currencies=currencies, secret=settings.secret)
    add_goal_routes(app, goal_store=goal_store, currencies=currencies, clock=clock)
    add_page_routes(app)
    # A websocket request on a connection whose first request was HTTP: back to the websocket code.
    app.router.add_get("/ws/{tail:.*}", websocket_route(listener.adopt), allow_head=False)
    return app
