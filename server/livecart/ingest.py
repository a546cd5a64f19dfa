"""Ingest: platform events into a room, from HTTP (POST /api/rooms/{room}/events) or a websocket
(web/ingest_socket.py); both adapters call `Ingest`.

`Ingest.admit` refuses a request before any work; `Ingest.batch` validates each event on its own, then
makes one atomic append of the valid ones and applies them to flash deals. Idempotency (event ids) is
decided inside the append script, so a retried batch changes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from livecart.auth import Claims
from livecart.claims import ClaimDesk
from livecart.clock import Clock
from livecart.currencies import RoomCurrencies
from livecart.errors import BadRequest, Conflict, RateLimited, TooLarge
from livecart.events import Event, InvalidEvent, carries_money, counter_deltas, order_clause, validate_event
from livecart.interactions import RoomInteractions
from livecart.metrics import Metrics
from livecart.protocol import encode_json
from livecart.ratelimit import RateLimiter
from livecart.source_log import SourceLog
from livecart.sources import Delivery, Source
from livecart.store.deal_store import DealStore
from livecart.store.invite_store import InviteStore
from livecart.store.redis_store import RedisStore
from livecart.store.values import CurrencyChanged

__all__ = ["Ingest", "IngestResult", "limit_key"]


@dataclass(slots=True)
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)

    def to_wire(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "duplicates": self.duplicates, "rejected": self.rejected}


class Ingest:
    def __init__(self, store: RedisStore, deal_store: DealStore, claims: ClaimDesk,
                 currencies: RoomCurrencies, clock: Clock, metrics: Metrics, *, limiter: RateLimiter,
                 max_events: int, touch: Callable[[str], None], sources: SourceLog | None = None,
                 lucky_bags: Callable[[str, list[Event]], Awaitable[None]] | None = None,
                 interactions: RoomInteractions | None = None,
                 invite_store: InviteStore | None = None) -> None:
        self.store = store
        self.deal_store = deal_store
        self.claims = claims
        self.currencies = currencies
        self.clock = clock
        self.metrics = metrics
        self.limiter = limiter  # events per second per token identity (limit_key)
        self.max_events = max_events
        self.touch = touch  # the room is active: the director folds its statistics
        self.sources = sources  # who delivered what (the console's sources panel)
        self.lucky_bags = lucky_bags  # bag_desk.BagDesk.observe: keyword entries, followers, presence
        self.interactions = interactions  # polls, buyer shows, moderation (interactions.py)
        self.invite_store = invite_store  # orders of invited users count for their inviters

    def admit(self, key: str, items: Any) -> None:
        """Refuse a request before any work on its events: more events than `max_events` (413
        too_many_events), or over the token's rate, which counts events, not requests (429): one request
        is one atomic append that every other room on the Redis waits behind. (Not an array: batch.)"""
        if not isinstance(items, list) or not items:
            return
        if len(items) > self.max_events:
            raise TooLarge(f"at most {self.max_events} events per request; this one has {len(items)}",
                           "too_many_events")
        retry = self.limiter.take(key, time.monotonic(), len(items))
        if retry:
            raise RateLimited(retry)

    async def batch(self, room: str, items: Any, source: Source | None = None) -> IngestResult:
        """Validate `items` one by one and append the valid ones, then apply them to flash deals; count the
        delivery under `source` (sources.py) when one is given."""
        result = await self._batch(room, items)
        if source is not None and self.sources is not None:
            delivery = Delivery(result.accepted, result.duplicates, len(result.rejected))
            self.sources.note(room, source, delivery, self.clock.now_ms())
        return result

    async def _batch(self, room: str, items: Any) -> IngestResult:
        if not isinstance(items, list):
            raise BadRequest("not_an_array", "the body must be an array of events")
        now = self.clock.now_ms()
        currency = await self.currencies.of(room)
        for _attempt in range(3):  # the currency changes only while the room has no money: rarely twice
            result = IngestResult()
            events: list[Event] = []
            for index, raw in enumerate(items):
                try:
                    events.append(validate_event(raw, now, currency))
                except InvalidEvent as exc:
                    result.rejected.append({"index": index, "error": exc.code, "detail": exc.detail})
            if not events:
                return result
            if self.interactions is not None:
                await self.interactions.screen(room, events)  # hides comments before they are stored
            try:
                # Money is validated in the room's currency; the append checks that it still is (and pins it).
                rows = [(e["id"], encode_json(e), counter_deltas(e), order_clause(e)) for e in events]
                appended = await self.store.append(
                    room, rows, now, currency if any(carries_money(e) for e in events) else "")
                break
            except CurrencyChanged as changed:
                currency = changed.currency  # a stale cache: judge the batch again in the room's currency
                self.currencies.note(room, currency)
        else:
            raise Conflict("currency_changed",
                           "the room's currency changed while this batch was checked; retry")
        result.accepted = appended.accepted
        result.duplicates = len(events) - appended.accepted
        self.metrics.events_ingested.inc(appended.accepted)
        self.touch(room)
        await self.apply_to_deals(room, events)
        if self.lucky_bags is not None:
            await self.lucky_bags(room, events)
        if self.interactions is not None:  # accepted events only: a retried batch votes and prompts once
            await self.interactions.after_append(
                room, [e for e, offset in zip(events, appended.offsets, strict=True) if offset is not None])
        await self.credit_inviters(room, events)
        return result

    async def apply_to_deals(self, room: str, events: list[Event]) -> None:
        """What stored events mean for flash deals: orders settle claims or sell external stock, and
        comments with an armed keyword claim. Runs for duplicates too: a retried batch completes whatever
        a crash interrupted, and every step is idempotent (claim state machine, order id, comment id)."""
        for event in events:
            if event["type"] == "order":
                if "claim_id" in event and event["status"] != "placed":
                    await self.deal_store.settle(room, event["claim_id"], event["status"])
                elif "claim_id" not in event and event["status"] == "paid":
                    # Once per order (not per event id): a second `paid` of one order sells nothing more.
                    await self.deal_store.external_sale(room, event["product_id"], event["qty"],
                                                        "order:" + event["order_id"], event["amount_minor"])
            elif event["type"] == "comment":
                await self.claims.comment_claims(room, event)


    async def credit_inviters(self, room: str, events: list[Event]) -> None:
        """Paid and refunded orders of invited users, to their inviters' GMV (invite_store.py). Like
        apply_to_deals it runs for duplicates too: the script counts each order id once."""
        if self.invite_store is None:
            return
        for event in events:
            if event["type"] == "order" and event["status"] in ("paid", "refunded"):
                await self.invite_store.order(room, event["user"]["id"], event["order_id"], event["status"],
                                              event["amount_minor"])


def limit_key(claims: Claims) -> str:
    # A token's identity, not its bytes: re-minting a token for the same connector gives no new budget.
    return f"{claims.role}:{claims.room}:{claims.user or ''}"
