"""Ingest: platform events into a room, over HTTP (POST /api/rooms/{room}/events) or a websocket.

Both paths call `ingest_batch`: validate each event on its own, then one atomic append for the valid
ones. Idempotency (event ids) is decided inside the append script, so a retried batch changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from websockets.datastructures import Headers

from livecart.auth import Action, Claims, authorize, check_room_name, verify
from livecart.errors import BadRequest, Conflict, RateLimited, StoreUnavailable, TooLarge
from livecart.events import InvalidEvent, carries_money, counter_deltas, order_clause, validate_event
from livecart.protocol import encode_json
from livecart.store.values import CurrencyChanged

if TYPE_CHECKING:
    from livecart.web.node import Node
    from livecart.web.ws import WebSocket

__all__ = ["IngestEndpoint", "IngestResult", "admit_events", "ingest_batch", "limit_key",
           "rate_limit_ingest"]

MAX_QUEUED_BATCHES = 64  # per ingest socket, before it is told to slow down


@dataclass(slots=True)
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)

    def to_wire(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "duplicates": self.duplicates, "rejected": self.rejected}


def admit_events(node: Node, key: str, items: Any) -> None:
    """Refuse a request before any work on its events: more events than `ingest_max_events` (413
    too_many_events), or over the token's rate, which counts events, not requests (429): one request
    is one atomic append that every other room on the Redis waits behind. (Not an array: ingest_batch.)"""
    if not isinstance(items, list) or not items:
        return
    cap = node.settings.ingest_max_events
    if len(items) > cap:
        raise TooLarge(f"at most {cap} events per request; this one has {len(items)}", "too_many_events")
    rate_limit_ingest(node, key, len(items))


async def ingest_batch(node: Node, room: str, items: Any) -> IngestResult:
    if not isinstance(items, list):
        raise BadRequest("not_an_array", "the body must be an array of events")
    now = node.clock.now_ms()
    currency = await node.currency_of(room)
    for _attempt in range(3):  # the currency changes only while the room has no money: rarely twice
        result = IngestResult()
        events: list[dict[str, Any]] = []
        for index, raw in enumerate(items):
            try:
                events.append(validate_event(raw, now, currency))
            except InvalidEvent as exc:
                result.rejected.append({"index": index, "error": exc.code, "detail": exc.detail})
        if not events:
            return result
        try:
            # Money is validated in the room's currency; the append checks that it still is (and pins it).
            appended = await node.store.append(
                room, [(e["id"], encode_json(e), counter_deltas(e), order_clause(e)) for e in events], now,
                currency if any(carries_money(e) for e in events) else "")
            break
        except CurrencyChanged as changed:
            currency = changed.currency  # a stale cache: judge the batch again in the room's currency
            node.note_currency(room, currency)
    else:
        raise Conflict("currency_changed", "the room's currency changed while this batch was checked; retry")
    result.accepted = appended.accepted
    result.duplicates = len(events) - appended.accepted
    node.metrics.events_ingested.inc(appended.accepted)
    node.director.touch(room)
    await apply_to_deals(node, room, events)
    return result


async def apply_to_deals(node: Node, room: str, events: list[dict[str, Any]]) -> None:
    """What stored events mean for flash deals: orders settle claims or sell external stock, and
    comments with an armed keyword claim. Runs for duplicates too: a retried batch completes whatever
    a crash interrupted, and every step is idempotent (claim state machine, order id, comment id)."""
    for event in events:
        if event["type"] == "order":
            if "claim_id" in event and event["status"] != "placed":
                await node.deal_store.settle(room, event["claim_id"], event["status"])
            elif "claim_id" not in event and event["status"] == "paid":
                # Once per order (not per event id): a second `paid` of one order sells nothing more.
                await node.deal_store.external_sale(room, event["product_id"], event["qty"],
                                                    "order:" + event["order_id"], event["amount_minor"])
        elif event["type"] == "comment":
            await node.claims.comment_claims(room, event)


def limit_key(claims: Claims) -> str:
    # A token's identity, not its bytes: re-minting a token for the same connector gives no new budget.
    return f"{claims.role}:{claims.room}:{claims.user or ''}"


def rate_limit_ingest(node: Node, key: str, events: int = 1) -> None:
    retry = node.ingest_limiter.take(key, time.monotonic(), events)
    if retry:
        raise RateLimited(retry)


@dataclass(slots=True)
class _IngestSession:
    queue: asyncio.Queue[dict[str, Any]]
    limit_key: str
    task: asyncio.Task[None] | None = None


class IngestEndpoint:
    """`/ws/ingest/{room}?token=` for connectors that stream: `{"type": "events", "req": R, "events": [...]}`
    in, `{"type": "ack", "req": R, "accepted", "duplicates", "rejected"}` out, in order."""

    def __init__(self, node: Node) -> None:
        self.node = node

    def accept(self, ws: WebSocket, path: str, query: dict[str, str], headers: Headers) -> None:
        room = check_room_name(path.removeprefix("/ws/ingest/"))
        claims = verify(self.node.settings.token_keys, query.get("token"))
        authorize(claims, room, Action.INGEST)
        ws.room, ws.role, ws.user = room, claims.role, claims.user
        ws.expires_at = claims.expires_at
        ws.session = _IngestSession(asyncio.Queue(MAX_QUEUED_BATCHES), limit_key(claims))

    def opened(self, ws: WebSocket) -> None:
        ws.session.task = asyncio.create_task(self._run(ws, ws.session.queue))

    def received(self, ws: WebSocket, message: Any) -> None:
        if message["type"] != "events":
            raise BadRequest("unknown_type", "an ingest socket accepts only 'events' messages")
        admit_events(self.node, ws.session.limit_key, message.get("events"))
        try:
            ws.session.queue.put_nowait(message)
        except asyncio.QueueFull:
            raise BadRequest("busy", "too many batches waiting for acknowledgement") from None

    def closed(self, ws: WebSocket) -> None:
        if ws.session.task is not None:
            ws.session.task.cancel()

    async def _run(self, ws: WebSocket, queue: asyncio.Queue[dict[str, Any]]) -> None:
        while True:
            message = await queue.get()
            req = message.get("req")
            try:
                result = await ingest_batch(self.node, ws.room, message.get("events"))
                ws.send({"type": "ack", "req": req, **result.to_wire()})
            except BadRequest as exc:
                ws.send({"type": "error", "req": req, "error": exc.code, "detail": exc.detail})
            except StoreUnavailable:
                with contextlib.suppress(Exception):
                    ws.send({"type": "error", "req": req, "error": "unavailable",
                             "detail": "storage unreachable; retry the same batch (idempotent by event id)",
                             "retry_after": 1})
