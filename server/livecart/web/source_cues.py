"""`POST /api/rooms/{room}/source-cues`: a source's notice for staff, with the ingest token it already
holds (livecart/source_cues.py)."""

from __future__ import annotations

from aiohttp import web

from livecart.auth import Action
from livecart.clock import Clock
from livecart.metrics import Metrics
from livecart.source_cues import parse_source, source_cue
from livecart.store.cue_store import CueStore
from livecart.web.http import json_response, read_body, room_claims

__all__ = ["add_source_cue_routes"]

SOURCE_HEADER = "X-Livecart-Source"


def add_source_cue_routes(app: web.Application, *, cue_store: CueStore, clock: Clock,
                          metrics: Metrics) -> None:
    async def post_source_cue(request: web.Request) -> web.Response:
        room, _claims = room_claims(request, Action.INGEST)
        body = await read_body(request)
        now = clock.now_ms()
        cue = source_cue(body, parse_source(request.headers.get(SOURCE_HEADER)), now)
        if not await cue_store.emit(room, [cue], now):
            return json_response({"cue": None, "duplicate": True})
        metrics.cues.labels(cue.kind).inc()
        return json_response({"cue": cue.to_wire()}, 201)

    app.router.add_post("/api/rooms/{room}/source-cues", post_source_cue)
