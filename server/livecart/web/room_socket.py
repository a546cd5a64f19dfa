"""`/ws/rooms/{room}`: the room socket of viewers, overlays, hosts and assistants."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from livecart.audience import wire_of
from livecart.auth import STAFF_ROLES, Action, Claims, authorize, check_room_name, may, verify
from livecart.bag_desk import BagDesk
from livecart.claims import ClaimDesk
from livecart.clock import Clock
from livecart.errors import (
    BadRequest,
    Forbidden,
    Internal,
    LivecartError,
    RateLimited,
    StoreUnavailable,
    wire_error,
)
from livecart.events import MAX_TEXT, Event, counter_deltas, validate_event
from livecart.handshake import RequestHeaders
from livecart.hub import RoomHub
from livecart.interactions import RoomInteractions
from livecart.lucky_bag import is_bag_id
from livecart.protocol import Format, claim_result_frame, echo_req, encode_json
from livecart.ratelimit import RateLimiter
from livecart.shutdown import cancel_and_wait
from livecart.store.cue_store import CueStore
from livecart.store.redis_store import RedisStore
from livecart.store.values import ClaimAnswer
from livecart.web.interaction_socket import interaction_message
from livecart.web.revocation import Revocations
from livecart.web.ws import WebSocket

__all__ = ["RoomEndpoint"]

log = logging.getLogger("livecart.room_socket")


def _offset(value: str | None) -> int | None:
    if value is None:
        return None
    # isascii: "²" and other Unicode digits pass isdigit() but not int()
    if not (value.isascii() and value.isdigit()) or len(value) > 15:
        raise BadRequest("bad_since", "since must be a non-negative integer offset")
    return int(value)


class RoomEndpoint:
    def __init__(self, hub: RoomHub, store: RedisStore, cue_store: CueStore, claim_desk: ClaimDesk,
                 revocations: Revocations, clock: Clock, *, token_keys: tuple[str, ...],
                 allowed_origins: frozenset[str], comment_limiter: RateLimiter,
                 limit_address: Callable[[str | None], None], bags: BagDesk | None = None,
                 interactions: RoomInteractions | None = None) -> None:
        self.hub = hub
        self.store = store
        self.cue_store = cue_store
        self.claim_desk = claim_desk
        self.revocations = revocations
        self.clock = clock
        self.token_keys = token_keys
        self.allowed_origins = allowed_origins
        self.comment_limiter = comment_limiter
        self.limit_address = limit_address  # raises RateLimited over the client address's comment rate
        self.bags = bags  # lucky bags: keyword entries, winners' claims, entrants' presence
        self.interactions = interactions  # votes, buyer shows, moderation (interaction_socket.py)
        self._tasks: set[asyncio.Task[None]] = set()

    def accept(self, ws: WebSocket, path: str, query: dict[str, str], headers: RequestHeaders) -> None:
        room = check_room_name(path.removeprefix("/ws/rooms/"))
        fmt = Format.parse(query.get("format"))
        since, epoch = _offset(query.get("since")), query.get("epoch")
        claims = verify(self.token_keys, query.get("token"))
        authorize(claims, room, Action.WATCH)
        origin = headers.get("Origin")
        if origin and claims.role in STAFF_ROLES and not self._same_site(origin, headers.get("Host")):
            # A page on another site must not drive the console with an assistant's token (cross-site
            # websocket hijacking): browsers send Origin, and staff pages are served by this node.
            raise Forbidden(f"origin {origin[:100]!r} may not open a {claims.role} socket")
        ws.room, ws.role, ws.user, ws.fmt = room, claims.role, claims.user, fmt
        ws.wire = wire_of(ws.role, fmt)
        ws.stats = query.get("stats") == "1"  # opt-in: a page that shows no live numbers gets none
        ws.expires_at, ws.issued_at, ws.token_id = claims.expires_at, claims.issued_at, claims.token_id
        ws.session = (since, epoch) if since is not None and epoch else (None, None)

    def _same_site(self, origin: str, host: str | None) -> bool:
        return urlsplit(origin).netloc == host or origin in self.allowed_origins

    def opened(self, ws: WebSocket) -> None:
        since, epoch = ws.session
        ws.session = None
        self._spawn(self._join(ws, since, epoch))

    async def _join(self, ws: WebSocket, since: int | None, epoch: str | None) -> None:
        try:
            await self.revocations.check(ws.room, Claims(ws.role, ws.room, ws.user, ws.expires_at,
                                                              ws.issued_at, ws.token_id))
            await self.hub.join(ws, ws.room, since, epoch)
        except LivecartError as exc:  # revoked (4001), Redis away (1013: resume shortly)
            wire = wire_error(exc)
            ws.close(wire.close, wire.detail)
            return
        if not ws.open:  # closed while joining: connection_lost ran before we were registered
            self.hub.leave(ws, ws.room)
        elif self.bags is not None and ws.role == "viewer" and ws.user is not None \
                and ws.room in self.bags.in_progress:
            await self.bags.presence(ws.room, ws.user, here=True)

    def received(self, ws: WebSocket, message: Any) -> None:
        kind = message["type"]
        if kind == "ping":
            ws.send({"type": "pong", "now": self.clock.now_ms(), "req": echo_req(message.get("req"))})
        elif kind == "claim":
            self._claim(ws, message)
        elif kind == "comment":
            self._comment(ws, message)
        elif kind == "ack":
            self._ack(ws, message)
        elif kind == "bag_claim" and self.bags is not None:
            self._bag_claim(ws, message)
        elif kind in ("vote", "show") and self.interactions is not None:
            self._spawn(interaction_message(self.interactions, self.comment_limiter, ws, message))
        else:
            raise BadRequest("unknown_type", f"unknown message type {kind!r}")

    def _claim(self, ws: WebSocket, message: dict[str, Any]) -> None:
        if not may(ws.role, ws.user is not None, Action.CLAIM):
            authorize(Claims(ws.role, ws.room, ws.user, 0), ws.room, Action.CLAIM)  # raises the reason
        req = message.get("req")
        if not isinstance(req, str) or not 1 <= len(req) <= 100:
            raise BadRequest("bad_field", "req must be a string of 1-100 characters (the idempotency key)")
        assert ws.user is not None
        self.claim_desk.submit(ws.room, ws.user, message.get("deal"), message.get("qty"), req, ws.ip_key,
                               functools.partial(self._claim_answered, ws, req))

    def _claim_answered(self, ws: WebSocket, req: str, answer: ClaimAnswer | BaseException) -> None:
        # A callback, not a task per claim: in a rush this path runs tens of thousands of times a second.
        if isinstance(answer, ClaimAnswer):
            ws.reply(claim_result_frame(req, answer.reply, ws.fmt))
        elif not isinstance(answer, asyncio.CancelledError):  # cancelled: the node is stopping
            exc: BaseException = answer
            if not isinstance(exc, LivecartError):
                log.error("claim failed", exc_info=exc, extra={"room": ws.room, "conn": ws.conn_id})
                exc = Internal("the claim failed; try again")
            ws.send_error(exc, req)

    async def stop(self) -> None:
        """Cancel the joins and socket messages still running when the node stops: none may reach Redis
        after the node has closed its client (a connection made then is never closed)."""
        await cancel_and_wait(list(self._tasks), 2)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _comment(self, ws: WebSocket, message: dict[str, Any]) -> None:
        authorize(Claims(ws.role, ws.room, ws.user, 0), ws.room, Action.COMMENT)
        text = message.get("text")
        if not isinstance(text, str) or not 1 <= len(text) <= MAX_TEXT:
            raise BadRequest("bad_field", f"text must be 1-{MAX_TEXT} characters")
        retry = self.comment_limiter.take(f"{ws.room}\0{ws.user}", time.monotonic())
        if retry:
            raise RateLimited(retry)
        self.limit_address(ws.ip_key)  # after the user's own limit, as for claims
        req = message.get("req")
        if req is not None and (not isinstance(req, str) or len(req) > 100):
            raise BadRequest("bad_field", "req must be a string of at most 100 characters")
        now = self.clock.now_ms()
        # Length-prefixed: a user "a:b" with req "c" and a user "a" with req "b:c" must not share an id
        # (the second comment would be dropped as a duplicate).
        who = f"v:{len(ws.user or '')}:{ws.user}:"
        event_id = f"{who}r:{req}" if req else f"{who}t:{now}:{id(message)}"
        event = validate_event({"id": event_id, "type": "comment", "text": text,
                                "user": {"id": ws.user, "name": ws.user}}, now)  # no self-chosen names
        self._spawn(self._append_comment(ws, event, req))

    async def _append_comment(self, ws: WebSocket, event: Event, req: Any) -> None:
        try:
            if self.interactions is not None:
                await self.interactions.screen(ws.room, [event])  # hides it before it is stored
            result = await self.store.append(
                ws.room, [(event["id"], encode_json(event), counter_deltas(event))], event["ts"])
        except StoreUnavailable as exc:
            ws.send_error(exc, req)
            return
        ws.send({"type": "comment_result", "req": req, "ok": True, "offset": result.offsets[0]})
        if self.interactions is not None and result.offsets[0] is not None:
            with contextlib.suppress(BadRequest, StoreUnavailable):
                voted = (await self.interactions.after_append(ws.room, [event]))[0]
                if voted is not None:
                    ws.send({"type": "vote_result", "req": f"comment:{req or event['id']}", **voted})
        try:
            claimed = await self.claim_desk.comment_claims(ws.room, event)
        except (BadRequest, StoreUnavailable):
            return
        if claimed is not None:
            ws.send({"type": "claim_result", "req": f"comment:{req or event['id']}", **claimed})
        if self.bags is not None:
            try:
                entry = await self.bags.comment(ws.room, event)
            except (BadRequest, StoreUnavailable):
                return
            if entry is not None:
                ws.send({"type": "bag_entry", "req": req, **entry})

    def _bag_claim(self, ws: WebSocket, message: dict[str, Any]) -> None:
        """A winner claims a lucky bag's prize: `{"type": "bag_claim", "bag": ID, "req"?}` →
        `{"type": "bag_claim_result", "req", "ok", "bag"?, "reason"?}` (as HTTP POST …/bags/{bag}/claim)."""
        authorize(Claims(ws.role, ws.room, ws.user, 0), ws.room, Action.CLAIM)
        bag = message.get("bag")
        if not isinstance(bag, str) or not is_bag_id(bag):
            raise BadRequest("bad_field", "bag must be a lucky bag id")
        self._spawn(self._run_bag_claim(ws, bag, echo_req(message.get("req"))))

    async def _run_bag_claim(self, ws: WebSocket, bag: str, req: Any) -> None:
        assert self.bags is not None and ws.user is not None
        try:
            ok, reason, bag_map = await self.bags.claim(ws.room, bag, ws.user)
        except LivecartError as exc:
            ws.send_error(exc, req)
            return
        answer = {"bag": bag_map} if ok else {"reason": reason}
        ws.send({"type": "bag_claim_result", "req": req, "ok": ok, **answer})

    def closed(self, ws: WebSocket) -> None:
        self.hub.leave(ws, ws.room)
        if self.bags is not None and ws.role == "viewer" and ws.user is not None \
                and ws.room in self.bags.in_progress:  # an entrant leaving: skipped at the draw
            self._spawn(self.bags.presence(ws.room, ws.user, here=False))

    def _ack(self, ws: WebSocket, message: dict[str, Any]) -> None:
        """A host (or assistant) marks a cue done: `{"type": "ack", "cue": ID, "req"?}`."""
        authorize(Claims(ws.role, ws.room, ws.user, 0), ws.room, Action.PRODUCE)
        cue_id = message.get("cue")
        if not isinstance(cue_id, str) or not 1 <= len(cue_id) <= 64:
            raise BadRequest("bad_field", "cue must be a cue id (1-64 characters)")
        self._spawn(self._run_ack(ws, cue_id, echo_req(message.get("req"))))

    async def _run_ack(self, ws: WebSocket, cue_id: str, req: Any) -> None:
        try:
            cue = await self.cue_store.ack(ws.room, cue_id, ws.user or ws.role, self.clock.now_ms())
        except LivecartError as exc:
            ws.send_error(exc, req)
            return
        ws.send({"type": "ack_result", "req": req, "ok": True, "cue": cue})
