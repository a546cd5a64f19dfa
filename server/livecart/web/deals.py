"""Flash deals over HTTP (the console's API) and the one claim path shared by HTTP and sockets."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import itertools
import time
import uuid
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from aiohttp import web

from livecart.audience import audience_of, deal_view
from livecart.auth import Action
from livecart.deals import (
    DEAL_ID_HEX,
    DealState,
    RejectReason,
    deal_state,
    deal_to_wire,
    is_deal_id,
    new_deal_id,
    parse_spec,
)
from livecart.errors import BadRequest, Conflict, NotFound, RateLimited, StoreUnavailable
from livecart.protocol import decode_body, encode_json, load_json
from livecart.ratelimit import RateLimiter
from livecart.store.keys import claim_answer_field
from livecart.store.values import ClaimAnswer, CurrencyChanged
from livecart.web.idempotency import IDEMPOTENCY_DIGEST

if TYPE_CHECKING:
    from livecart.web.node import Node

__all__ = ["ClaimDesk", "add_deal_routes"]

MAX_KEY = 100
SOLD_OUT_REPLY = encode_json({"ok": False, "reason": RejectReason.SOLD_OUT.value})
KEYWORD_CACHE_S = 1.0


class ClaimDesk:
    """Where claims come in, from sockets, HTTP and keyword comments, and go to one Lua script.

    A claim on a deal this node has seen sold out skips the claim script: one write stores the
    refusal as the key's answer unless the key has one (then that first answer is given again).
    """

    def __init__(self, node: Node, hold_s: float) -> None:
        self.node = node
        self.hold_ms = int(hold_s * 1000)
        self._answers: OrderedDict[tuple[str, str, str, str], bytes] = OrderedDict()
        self._limiter = RateLimiter(node.settings.claim_rate, node.settings.claim_burst)
        # (room, deal) -> answer fields (keys.claim_answer_field) of refusals answered from memory, not
        # yet written to Redis
        self.local_rejections: dict[tuple[str, str], list[str]] = {}
        self._keywords: dict[str, tuple[float, list[tuple[str, str]]]] = {}
        # Claim ids: random per process, then a counter (uuid4 per claim was a visible cost in a rush).
        self._id_prefix = uuid.uuid4().hex[:10]
        self._ids = itertools.count(1)

    def submit(self, room: str, user: str, deal_id: Any, qty: Any, key: Any,
               ip_key: str | None = None) -> asyncio.Future[bytes]:
        """The claim's answer as JSON bytes (`{"ok": ...}`), as a future: sockets answer from its
        callback, with no task per claim. Raises BadRequest at once for a malformed claim (RateLimited
        over the user's or the client address's rate, `ip_key` from web/admission.py); the future raises
        NotFound (unknown deal) or StoreUnavailable."""
        if not isinstance(deal_id, str):
            raise BadRequest("bad_field", "deal must be a deal id")
        if not isinstance(key, str) or not 1 <= len(key) <= MAX_KEY:
            raise BadRequest("bad_field", f"key must be a string of 1-{MAX_KEY} characters")
        # An invalid quantity goes to the script as 0: it answers invalid_qty, counts it, and keeps the
        # answer for the key like any other.
        qty = min(qty, 1_000_000) if isinstance(qty, int) and not isinstance(qty, bool) and qty >= 1 else 0
        if not is_deal_id(deal_id):
            # No deal has this id, and it must never reach Redis as part of a key name.
            raise NotFound("no_such_deal", "no such deal in this room")
        ident = (room, deal_id, user, key)
        remembered = self._answers.get(ident)
        if remembered is not None:
            done: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
            done.set_result(remembered)
            return done
        # Only new claims count: a retry of an answered key costs nothing and must get its answer.
        retry = self._limiter.take(f"{room}\0{user}", time.monotonic())
        if retry:
            raise RateLimited(retry)
        # The user's limit first: a flooder behind a shared address is stopped by their own limit
        # without using up the budget of the people who share the address.
        self.node.admission.claim(ip_key)
        if self._known_sold_out(room, deal_id):
            return asyncio.ensure_future(self._refuse_sold_out(ident))
        claim_id = f"{self._id_prefix}{next(self._ids):x}"
        answer = self.node.deal_store.claim(room, deal_id, user, qty, key, claim_id, self.hold_ms)
        reply: asyncio.Future[bytes] = answer.get_loop().create_future()
        answer.add_done_callback(functools.partial(self._answered, ident, reply))
        return reply

    async def claim(self, room: str, user: str, deal_id: Any, qty: Any, key: Any,
                    ip_key: str | None = None) -> dict[str, Any]:
        """`submit`, awaited and parsed (HTTP and keyword comments)."""
        reply = await self.submit(room, user, deal_id, qty, key, ip_key)
        return load_json(reply)  # type: ignore[no-any-return]  # JSON Any: a claim answer map

    def _answered(self, ident: tuple[str, str, str, str], reply: asyncio.Future[bytes],
                  answer: asyncio.Future[ClaimAnswer]) -> None:
        if reply.cancelled():
            return
        if answer.cancelled():
            reply.cancel()
            return
        exc = answer.exception()
        if exc is not None:
            reply.set_exception(exc)
            return
        result = answer.result()
        if result.status == "ok":
            self.node.hub.hold_rooms.add(ident[0])
        self._remember(ident, result.reply)
        reply.set_result(result.reply)

    async def _refuse_sold_out(self, ident: tuple[str, str, str, str]) -> bytes:
        # The contract's "same key, same answer" holds across nodes: a key answered elsewhere (say,
        # by a node that died before its reply reached the viewer) gets that answer. Only a key
        # never seen is refused here, with one cheap write instead of the claim script.
        # The refusal is stored before it is sent (only its statistics wait for `flush`): kept only in
        # memory until then, it died with a killed node, and once units came back (restock, released
        # holds) the same key sent to another node claimed them (tests/reliability/test_node_kill.py).
        room, deal_id, user, key = ident
        answer, fresh = await self.node.deal_store.refuse_once(room, deal_id, user, key, SOLD_OUT_REPLY)
        if fresh:
            self.local_rejections.setdefault((room, deal_id), []).append(claim_answer_field(user, key))
        self._remember(ident, answer)
        return answer

    async def run(self) -> None:
        """Every second, write the statistics of the refusals answered from memory to Redis (their
        answers were stored before they were sent)."""
        while True:
            await asyncio.sleep(1.0)
            await self.flush()

    async def flush(self) -> None:
        pending, self.local_rejections = self.local_rejections, {}
        for (room, deal_id), idems in pending.items():
            try:
                await self.node.deal_store.add_refusals(room, deal_id, RejectReason.SOLD_OUT.value, idems)
            except StoreUnavailable:
                self.local_rejections.setdefault((room, deal_id), []).extend(idems)

    def _known_sold_out(self, room_name: str, deal_id: str) -> bool:
        room = self.node.hub.rooms.get(room_name)
        fields = room.deals.get(deal_id) if room else None
        # `left` first: while a deal sells, that one look answers (this runs for every claim).
        return (fields is not None and int(fields.get("left", 1)) <= 0
                and deal_state(fields, self.node.clock.now_ms()) is DealState.SOLD_OUT)

    def _remember(self, key: tuple[str, str, str, str], reply: bytes) -> None:
        self._answers[key] = reply
        if len(self._answers) > 100_000:
            self._answers.popitem(last=False)

    async def armed_keywords(self, room: str) -> list[tuple[str, str]]:
        """(deal id, keyword) for the room's live deals with a keyword, cached for a second."""
        now = time.monotonic()
        cached = self._keywords.get(room)
        if cached is not None and now - cached[0] < KEYWORD_CACHE_S:
            return cached[1]
        clock = self.node.clock.now_ms()
        armed = [(f["id"], f["keyword"]) for f in await self.node.deal_store.newest(room, limit=20)
                 if f.get("keyword") and deal_state(f, clock) is DealState.LIVE]
        self._keywords[room] = (now, armed)
        if len(self._keywords) > 10_000:
            self._keywords.clear()
        return armed

    async def comment_claims(self, room: str, event: dict[str, Any]) -> dict[str, Any] | None:
        """Comment-to-claim: a comment containing an armed keyword claims one unit for its author,
        idempotent by the comment's event id."""
        armed = await self.armed_keywords(room)
        text = event.get("text", "").casefold()
        for deal_id, keyword in armed:
            if keyword.casefold() in text:
                key = "comment:" + hashlib.sha1(event["id"].encode()).hexdigest()
                try:
                    return await self.claim(room, event["user"]["id"], deal_id, 1, key)
                except NotFound:
                    return None  # the deal was removed between the cache and the claim
        return None


def add_deal_routes(app: web.Application, node_key: web.AppKey[Node]) -> None:
    from livecart.web.app import json_response, room_claims

    def node_of(request: web.Request) -> Node:
        return request.app[node_key]

    def deal_id(request: web.Request) -> str:
        value = request.match_info["deal"]
        if not is_deal_id(value):
            raise NotFound("no_such_deal", "no such deal in this room")
        return value

    async def create(request: web.Request) -> web.Response:
        node = node_of(request)
        room, claims = room_claims(request, Action.MANAGE)
        now = node.clock.now_ms()
        body = decode_body(await request.read(), request.content_type)
        start_now = not isinstance(body, dict) or (body.get("start_at") is None
                                                   and body.get("countdown_s") is None)
        # With an Idempotency-Key the deal id comes from it: a retry after a lost answer finds the deal
        # (deal_create.lua returns it unchanged) even when the first answer was never stored.
        digest = request.get(IDEMPOTENCY_DIGEST)
        new_id = digest[:DEAL_ID_HEX] if digest else new_deal_id()
        currency = await node.currency_of(room)
        for _attempt in range(3):
            # Prices have the decimals of the room's currency; deal_create.lua checks it still is that one.
            spec = parse_spec(body, now, price_floor=node.settings.price_floor, currency=currency)
            try:
                fields = await node.deal_store.create(room, new_id, spec, claims.by_whom, start_now)
                break
            except CurrencyChanged as changed:
                currency = changed.currency
                node.note_currency(room, currency)
        else:
            raise Conflict("currency_changed", "the room's currency changed meanwhile; retry")
        return json_response({"deal": deal_to_wire(fields, node.clock.now_ms())}, 201)

    async def control(request: web.Request) -> web.Response:
        node = node_of(request)
        room, claims = room_claims(request, Action.MANAGE)
        op = request.match_info["op"]
        value: Any = ""
        if op == "restock":
            body = decode_body(await request.read(), request.content_type)
            add = body.get("add") if isinstance(body, dict) else None
            if isinstance(add, bool) or not isinstance(add, int) or not 1 <= add <= 10_000_000:
                raise BadRequest("bad_field", "add must be an integer from 1 to 10000000")
            value = add
        elif op == "keyword":
            body = decode_body(await request.read(), request.content_type)
            word = body.get("keyword") if isinstance(body, dict) else None
            if word is not None and (not isinstance(word, str) or not 1 <= len(word) <= 20):
                raise BadRequest("bad_field", "keyword must be 1-20 characters, or null to disarm")
            value = word or ""
        elif op not in ("start", "stop"):
            raise web.HTTPNotFound()
        fields = await node.deal_store.control(room, deal_id(request), op, claims.by_whom, value,
                                               op_id=request.get(IDEMPOTENCY_DIGEST))
        return json_response({"deal": deal_to_wire(fields, node.clock.now_ms())})

    async def listing(request: web.Request) -> web.Response:
        node = node_of(request)
        room, claims = room_claims(request, Action.WATCH)
        now = node.clock.now_ms()
        audience = audience_of(claims.role)
        return json_response({"deals": [deal_view(deal_to_wire(f, now), audience)
                                        for f in await node.deal_store.newest(room)], "now": now})

    async def claim(request: web.Request) -> web.Response:
        node = node_of(request)
        room, claims = room_claims(request, Action.CLAIM)
        body = decode_body(await request.read(), request.content_type)
        if not isinstance(body, dict):
            raise BadRequest("bad_body", "the body must be an object {qty, key}")
        assert claims.user is not None
        transport = request.transport
        _, ip_key = node.admission.client(transport.get_extra_info("peername") if transport else None,
                                          request.headers.getall("X-Forwarded-For", []))
        reply = await node.claims.claim(room, claims.user, deal_id(request), body.get("qty"), body.get("key"),
                                        ip_key)
        return json_response(reply, 200 if reply.get("ok") else 409)

    async def pin(request: web.Request) -> web.Response:
        node = node_of(request)
        room, claims = room_claims(request, Action.MANAGE)
        card: dict[str, Any] | None = None
        if request.method == "POST":
            body = decode_body(await request.read(), request.content_type)
            product = body.get("product") if isinstance(body, dict) else None
            if not isinstance(product, dict) or not isinstance(product.get("name"), str) \
                    or not 1 <= len(product["name"]) <= 200:
                raise BadRequest("bad_field", "product {name, id?, image_url?, price?} is required")
            card = {k: product[k] for k in ("id", "name", "image_url", "price", "deal_id")
                    if isinstance(product.get(k), str | int | float) and len(str(product[k])) <= 2000}
            card["by"], card["at"] = claims.by_whom, node.clock.now_ms()
        await node.store.pin(room, card)
        return json_response({"pinned": card})

    async def audit(request: web.Request) -> web.Response:
        node = node_of(request)
        room, _ = room_claims(request, Action.MANAGE)
        return json_response({"entries": await node.deal_store.audit(room)})

    app.router.add_post("/api/rooms/{room}/deals", create)
    app.router.add_get("/api/rooms/{room}/deals", listing)
    app.router.add_post("/api/rooms/{room}/deals/{deal}/claims", claim)
    app.router.add_post("/api/rooms/{room}/deals/{deal}/{op}", control)
    app.router.add_post("/api/rooms/{room}/pin", pin)
    app.router.add_delete("/api/rooms/{room}/pin", pin)
    app.router.add_get("/api/rooms/{room}/audit", audit)
