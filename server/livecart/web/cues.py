"""HTTP routes of the people running the show: cues (send, list, ack), room statistics, the post-stream
report and the room's recording. Cues and numbers are for `host` and `assistant` tokens only."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from livecart import report
from livecart.auth import Action
from livecart.clock import Clock
from livecart.comments import Segmenter
from livecart.cues import manual_cue
from livecart.errors import BadRequest
from livecart.lucky_bag import draw_record, report_rows
from livecart.metrics import Metrics
from livecart.protocol import encode_json
from livecart.stats import GAUGES, series, to_wire
from livecart.store.bag_store import BagStore
from livecart.store.cue_store import CueStore
from livecart.store.deal_store import DealStore
from livecart.store.goal_store import GoalStore
from livecart.store.invite_store import InviteStore
from livecart.store.redis_store import RedisStore
from livecart.store.stats_store import StatsStore
from livecart.web.http import json_response, read_body, room_claims

__all__ = ["add_cue_routes", "parse_range"]

MAX_ROWS = 10_000
DEFAULT_SPAN_MS = 10 * 60_000


def _int_param(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest("bad_field", f"{name} must be an integer") from None
    if not low <= value <= high:
        raise BadRequest("bad_field", f"{name} must be from {low} to {high}")
    return value


def parse_range(request: web.Request, now_ms: int) -> tuple[int, int, int]:
    """`from` and `to` in ms (default: the last 10 minutes), `step` in seconds (default: at most 600
    rows) -> (first second, end second exclusive, step)."""
    to = _int_param(request, "to", now_ms, 0, 2**53)
    start = _int_param(request, "from", to - DEFAULT_SPAN_MS, 0, 2**53)
    if start >= to:
        raise BadRequest("bad_field", "from must be before to")
    first, end = start // 1000, (to + 999) // 1000
    step = _int_param(request, "step", max(1, -(-(end - first) // 600)), 1, 86_400)
    if (end - first) / step > MAX_ROWS:
        raise BadRequest("bad_field", f"from..to / step gives over {MAX_ROWS} rows; use a larger step")
    return first, end, step


def add_cue_routes(app: web.Application, *, store: RedisStore, deal_store: DealStore, cue_store: CueStore,
                   stats_store: StatsStore, clock: Clock, metrics: Metrics, segmenter: Segmenter,
                   goal_store: GoalStore, invite_store: InviteStore, bag_store: BagStore | None = None,
                   interaction_report: Callable[[str], Awaitable[dict[str, Any]]] | None = None) -> None:
    async def gather_report(room: str) -> dict[str, Any]:
        """Everything the report shows, read from Redis, then built off the event loop (segmenting a
        whole stream's comments takes a moment)."""
        span = await stats_store.span(room)
        buckets = await stats_store.buckets(room, span[0], span[1] + 1) if span else {}
        deals = await deal_store.newest(room, 50)
        marks = await stats_store.marks(room)
        cues = await cue_store.list(room, 0, limit=2000)
        logged = await stats_store.log_all(room)
        comments = [(int(e["ts"]), e["user"]["id"], e["text"]) for e, _t in logged if e["type"] == "comment"]
        currency = await store.room_currency(room)
        bags = await lucky_bag_rows(room, logged)
        goals = await goal_store.all(room)
        invites = await invite_store.board(room, 50)
        built = await asyncio.to_thread(report.build, room, buckets, deals, marks, cues, comments,
                                        segmenter, clock.now_ms(), currency, lucky_bags=bags, goals=goals,
                                        invites=invites)
        if interaction_report is not None:  # polls, buyer shows, moderation (interaction_report.py)
            built["interactions"] = await interaction_report(room)
        return built

    async def lucky_bag_rows(room: str, logged: list[tuple[dict[str, Any], int]]) -> list[dict[str, Any]]:
        if bag_store is None:
            return []
        stored = [await bag_store.record(room, b) for b in await bag_store.bag_ids(room)]
        records = [draw_record(room, s["fields"], s["entrants"], s["winners"]) for s in stored]
        names = {u: n for s in stored for u, n in s["entrants"].items()}
        paid = [(int(e["ts"]), e["user"]["id"]) for e, _t in logged
                if e["type"] == "order" and e.get("status") == "paid"]
        return report_rows(records, paid, names)

    async def post_cue(request: web.Request) -> web.Response:
        room, claims = room_claims(request, Action.MANAGE)
        body = await read_body(request)
        cue = manual_cue(body, claims.by_whom, clock.now_ms())
        await cue_store.emit(room, [cue], cue.created_at)
        metrics.cues.labels(cue.kind).inc()
        return json_response({"cue": cue.to_wire()}, 201)

    async def list_cues(request: web.Request) -> web.Response:
        room, _claims = room_claims(request, Action.PRODUCE)
        since = _int_param(request, "since", 0, 0, 2**53)
        return json_response({"cues": await cue_store.list(room, since), "now": clock.now_ms()})

    async def ack_cue(request: web.Request) -> web.Response:
        room, claims = room_claims(request, Action.PRODUCE)
        cue_id = request.match_info["cue"]
        if not 1 <= len(cue_id) <= 64:
            raise BadRequest("bad_field", "cue ids are 1-64 characters")
        cue = await cue_store.ack(room, cue_id, claims.by_whom, clock.now_ms())
        return json_response({"cue": cue})

    async def get_stats(request: web.Request) -> web.Response:
        room, _claims = room_claims(request, Action.PRODUCE)
        first, end, step = parse_range(request, clock.now_ms())
        buckets = await stats_store.buckets(room, first - 3600, end)  # an hour back: viewers carry over
        currency = await store.room_currency(room)
        rows = [to_wire(r, currency) for r in series(buckets, first, end, step)]
        totals: dict[str, Any] = {}
        for row in rows:
            for name, value in row.items():
                if name != "t" and name not in GAUGES:
                    totals[name] = round(totals.get(name, 0) + value, 2)
        for gauge in sorted(GAUGES):  # viewers_peak, platform_viewers_peak
            totals[f"{gauge}_peak"] = max((r[gauge] for r in rows), default=0)
        return json_response({"from": first * 1000, "to": end * 1000, "step": step, "currency": currency,
                              "series": [dict(r, t=r["t"] * 1000) for r in rows], "totals": totals})

    async def get_report(request: web.Request) -> web.Response:
        room, _claims = room_claims(request, Action.PRODUCE)
        fmt = request.query.get("format", "html")
        table = request.query.get("table", "timeline")
        if fmt not in ("html", "json", "csv"):
            raise BadRequest("bad_format", "format must be html, json or csv")
        if table not in report.TABLES:
            raise BadRequest("bad_field", f"table must be one of {', '.join(report.TABLES)}")
        data = await gather_report(room)
        if fmt == "json":
            return json_response(data)
        if fmt == "csv":
            return web.Response(text=report.csv_table(data, table), content_type="text/csv")
        return web.Response(text=report.html(data), content_type="text/html")

    async def get_recording(request: web.Request) -> web.StreamResponse:
        """The room's event log as JSON lines, oldest first (what `livecart record` saves)."""
        room, _claims = room_claims(request, Action.MANAGE)
        logged = await stats_store.log_all(room)
        body = b"".join(encode_json({"t": t, "event": e}) + b"\n" for e, t in logged)
        return web.Response(body=body, content_type="application/x-ndjson")

    app.router.add_post("/api/rooms/{room}/cues", post_cue)
    app.router.add_get("/api/rooms/{room}/cues", list_cues)
    app.router.add_post("/api/rooms/{room}/cues/{cue}/ack", ack_cue)
    app.router.add_get("/api/rooms/{room}/stats", get_stats)
    app.router.add_get("/api/rooms/{room}/report", get_report)
    app.router.add_get("/api/rooms/{room}/recording", get_recording)
