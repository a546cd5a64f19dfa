"""Shop webhooks and the sources panel's routes.

Receivers (no token: the shop signs each delivery with the room's secret instead):
- `POST /api/rooms/{room}/webhooks/shopify`: `X-Shopify-Hmac-Sha256` over the raw body, the topic in
  `X-Shopify-Topic`, the delivery in `X-Shopify-Webhook-Id` (the order event's id: a replay is a
  duplicate). `orders/paid`, `orders/cancelled`, `refunds/create` become order events (shop_orders.py).
- `POST /api/rooms/{room}/webhooks/orders`: any shop, through the room's mapping file.

Both go through `Ingest.batch`, like any ingested event, and answer its result (200), plus `unmapped`
for a delivery livecart does not map (also 200: a 4xx would make the shop retry it for days). A missing
or wrong signature is 401 with the reason; nothing unauthenticated is written anywhere.

Settings (role `assistant`): `GET …/webhooks`, `POST|DELETE …/webhooks/{shop}/secret`,
`POST|DELETE …/webhooks/orders/mapping`, `POST|DELETE …/checkout`; `GET …/checkout` (any role of the
room: the viewer page reads it); `GET …/sources` (host and assistant).
"""

from __future__ import annotations

import hashlib
from typing import Any

from aiohttp import web

from livecart.auth import Action, check_room_name
from livecart.clock import Clock
from livecart.currencies import RoomCurrencies
from livecart.errors import BadRequest, Conflict, NotFound, TooLarge, Unauthorized
from livecart.ingest import Ingest, IngestResult
from livecart.metrics import Metrics
from livecart.protocol import decode_body
from livecart.shop_orders import Mapped, Unmapped, check_checkout_url, parse_mapping, shopify_order
from livecart.sources import Delivery, Source, webhook_source
from livecart.store.shop_store import SHOPS, ShopStore
from livecart.store.source_store import SourceStore
from livecart.web.http import json_response, object_body, read_body, room_claims
from livecart.webhook_signature import check_signature

__all__ = ["MAX_WEBHOOK_BODY", "add_webhook_routes"]

MAX_WEBHOOK_BODY = 256 * 1024  # an order with hundreds of line items is far below this
SECRET_CHARS = (16, 512)
MAX_DELIVERY_ID = 200


def _no_secret(shop: str) -> Unauthorized:
    error = Unauthorized(f"this room has no {shop} webhook secret yet: an assistant sets it with "
                         f"POST /api/rooms/{{room}}/webhooks/{shop}/secret")
    error.code = "no_secret"
    return error


def parse_secret(body: dict[str, Any]) -> str:
    secret = body.get("secret")
    low, high = SECRET_CHARS
    if not isinstance(secret, str) or not low <= len(secret) <= high or not secret.isprintable() \
            or secret != secret.strip():
        raise BadRequest("bad_secret", f"secret must be {low}-{high} printable characters, without "
                                       "spaces around it (copy it whole from the shop's webhook settings)")
    return secret


async def _raw_body(request: web.Request) -> bytes:
    if request.content_length is not None and request.content_length > MAX_WEBHOOK_BODY:
        raise TooLarge(f"a webhook body is at most {MAX_WEBHOOK_BODY} bytes")
    body = await request.read()
    if len(body) > MAX_WEBHOOK_BODY:
        raise TooLarge(f"a webhook body is at most {MAX_WEBHOOK_BODY} bytes")
    return body


def _payload(body: bytes) -> dict[str, Any]:
    payload = decode_body(body, "application/json")
    if not isinstance(payload, dict):
        raise BadRequest("bad_body", "the webhook body must be a JSON object")
    return payload


def add_webhook_routes(app: web.Application, *, ingest: Ingest, shops: ShopStore, sources: SourceStore,
                       currencies: RoomCurrencies, clock: Clock, metrics: Metrics) -> None:

    async def deliver(room: str, shop: str, outcome: Mapped | Unmapped, delivery_id: str,
                      source_name: str | None = None) -> web.Response:
        """Ingest a mapped order (or count an unmapped delivery) as the source `<shop>:<name>`."""
        source = Source(webhook_source(shop, source_name), "webhook")
        if isinstance(outcome, Unmapped):
            await sources.note(room, source, Delivery(unmapped=1, delivery_id=delivery_id), clock.now_ms())
            metrics.webhooks.labels(shop, "unmapped").inc()
            return json_response({**IngestResult().to_wire(), "unmapped": outcome.to_wire()})
        currency = await currencies.of(room)
        if outcome.currency is not None and outcome.currency != currency:
            result = IngestResult(rejected=[{"index": 0, "error": "currency_mismatch",
                                             "detail": f"the order is in {outcome.currency}, the room counts "
                                                       f"in {currency}"}])
        else:
            if outcome.claim_id and outcome.order_id:
                await shops.remember_claim(room, outcome.order_id, outcome.claim_id)
            elif outcome.event.get("status") == "refunded" and outcome.order_id:
                outcome = outcome.with_claim(await shops.claim_of(room, outcome.order_id))
            ingest.admit(f"webhook:{room}:{shop}", [outcome.event])
            result = await ingest.batch(room, [outcome.event])
        await sources.note(room, source, Delivery(result.accepted, result.duplicates, len(result.rejected),
                                                  delivery_id=delivery_id), clock.now_ms())
        metrics.webhooks.labels(shop, "accepted" if result.accepted else "duplicate" if result.duplicates
                                else "rejected").inc()
        answer = result.to_wire()
        answer["event_id"] = outcome.event.get("id")
        return json_response(answer)

    async def verified(request: web.Request, shop: str, header: str, **how: Any) -> tuple[str, bytes]:
        room = check_room_name(request.match_info["room"])
        try:
            body = await _raw_body(request)
            secret = await shops.secret(room, shop)
            if secret is None:
                raise _no_secret(shop)
            check_signature(secret, body, request.headers.get(header), header_name=header, **how)
        except (TooLarge, Unauthorized) as exc:
            metrics.webhooks.labels(shop, exc.code).inc()
            raise
        return room, body

    async def shopify(request: web.Request) -> web.Response:
        room, body = await verified(request, "shopify", "X-Shopify-Hmac-Sha256")
        webhook_id = request.headers.get("X-Shopify-Webhook-Id", "").strip()
        if not 1 <= len(webhook_id) <= MAX_DELIVERY_ID:
            raise BadRequest("missing_webhook_id",
                             f"X-Shopify-Webhook-Id must be 1-{MAX_DELIVERY_ID} characters")
        count_tests = request.query.get("test_orders") == "count"  # a rehearsal's webhook URL
        outcome = shopify_order(request.headers.get("X-Shopify-Topic"), _payload(body), webhook_id,
                                count_tests=count_tests)
        shop_domain = request.headers.get("X-Shopify-Shop-Domain")
        return await deliver(room, "shopify", outcome, webhook_id, shop_domain)

    async def orders(request: web.Request) -> web.Response:
        room = check_room_name(request.match_info["room"])
        document = await shops.field(room, "orders:mapping")
        if document is None:
            raise Conflict("no_mapping", "this room has no order mapping yet: an assistant posts one to "
                                         f"/api/rooms/{room}/webhooks/orders/mapping")
        mapping = parse_mapping(document)
        room, body = await verified(request, "orders", mapping.signature_header,
                                    encoding=mapping.signature_encoding, prefix=mapping.signature_prefix)
        # No delivery id in general: the body's digest stands in (a replayed body counts once).
        digest = hashlib.sha256(body).hexdigest()[:32]
        return await deliver(room, "orders", mapping.order(_payload(body)), digest)

    async def settings(request: web.Request) -> web.Response:
        room, _claims = room_claims(request, Action.MANAGE)
        return json_response(await shops.settings(room))

    async def secret(request: web.Request) -> web.Response:
        """`{"secret": S}` sets the shop's secret for this room (DELETE removes it). The answer, like every
        read of the settings, shows only its last four characters."""
        room, claims = room_claims(request, Action.MANAGE)
        shop = request.match_info["shop"]
        if shop not in SHOPS:
            raise NotFound("no_such_shop", f"shops: {', '.join(SHOPS)}")
        value = parse_secret(await object_body(request)) if request.method == "POST" else None
        await shops.set_secret(room, shop, value, claims.by_whom, clock.now_ms())
        return json_response(await shops.settings(room))

    async def mapping(request: web.Request) -> web.Response:
        """The body is the mapping file itself (docs/protocol.md); DELETE removes it."""
        room, claims = room_claims(request, Action.MANAGE)
        value = parse_mapping(await read_body(request)).document if request.method == "POST" else None
        await shops.set_field(room, "orders:mapping", value, claims.by_whom, clock.now_ms())
        return json_response(await shops.settings(room))

    async def checkout(request: web.Request) -> web.Response:
        """GET (any role of the room): `{"url": TEMPLATE|null}`. POST `{"url": T}` / DELETE: set or clear it
        (assistant)."""
        if request.method == "GET":
            room, _claims = room_claims(request, Action.WATCH)
        else:
            room, claims = room_claims(request, Action.MANAGE)
            url = None
            if request.method == "POST":
                url = check_checkout_url((await object_body(request)).get("url"))
            await shops.set_field(room, "checkout_url", url, claims.by_whom, clock.now_ms())
        return json_response({"url": await shops.field(room, "checkout_url")})

    async def list_sources(request: web.Request) -> web.Response:
        room, _claims = room_claims(request, Action.PRODUCE)
        return json_response({"sources": await sources.list(room), "now": clock.now_ms()})

    app.router.add_post("/api/rooms/{room}/webhooks/shopify", shopify)
    app.router.add_post("/api/rooms/{room}/webhooks/orders", orders)
    app.router.add_get("/api/rooms/{room}/webhooks", settings)
    app.router.add_post("/api/rooms/{room}/webhooks/{shop}/secret", secret)
    app.router.add_delete("/api/rooms/{room}/webhooks/{shop}/secret", secret)
    app.router.add_post("/api/rooms/{room}/webhooks/orders/mapping", mapping)
    app.router.add_delete("/api/rooms/{room}/webhooks/orders/mapping", mapping)
    app.router.add_get("/api/rooms/{room}/checkout", checkout)
    app.router.add_post("/api/rooms/{room}/checkout", checkout)
    app.router.add_delete("/api/rooms/{room}/checkout", checkout)
    app.router.add_get("/api/rooms/{room}/sources", list_sources)
