"""`Idempotency-Key` on HTTP writes: the same key from the same token subject within 24 h gets the
first answer again and changes nothing more, as payment APIs do (CONTRACT "Idempotency-Key").

A console or an integration that retries after a timeout or a 503 must not create a second deal or
restock twice. Every POST and DELETE under `/api/rooms/{room}/` (console writes, cues, claims) goes
through `idempotency_middleware`; ingest is idempotent by event id and ignores the header.

- The key is scoped to the room and to the token's subject (role and user): one client's key never
  names another client's answer. Its Redis key is a hash of both, length-prefixed.
- A new key is marked pending (SET NX) before the handler runs; a second request with it meanwhile
  gets `409 idempotency_in_progress` (retry shortly). The answer is then kept 24 h: 2xx, and the
  outcomes a retry must see again (404, 409: a claim's refusal, a closed deal). Anything else (a bad
  body, a rate limit, 503) forgets the key, so the same key may try again.
- The same key with another method, path or body is `422 idempotency_key_reused`.
- Handlers that create or change a deal also derive their ids from the key (`key_digest`): a node that
  dies between the change and storing the answer leaves a pending mark that expires, and the retry
  then finds the deal created, or the operation id already applied (deal_control.lua's `:ops`).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from livecart.auth import Claims
from livecart.errors import BadRequest, InProgress, StoreUnavailable, wire_error
from livecart.protocol import encode_json
from livecart.store.redis_store import RedisStore

__all__ = ["IDEMPOTENCY_DIGEST", "KEEP_S", "key_digest", "idempotency_middleware"]

HEADER = "Idempotency-Key"
MAX_KEY = 255
KEEP_S = 24 * 3600
PENDING_MS = 30_000  # how long a key stays claimed by a request that never finishes (a node killed)
KEPT_STATUSES = frozenset({404, 409})  # besides 2xx: outcomes a retry must see again
IDEMPOTENCY_DIGEST = web.RequestKey("livecart.idempotency", str)  # key_digest of the request's key

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class KeyInUse(InProgress):
    """The key belongs to a request that is still running."""


class KeyReused(BadRequest):
    """The key was used before for another request (method, path or body)."""

    status = 422


def key_digest(subject: str, key: str) -> str:
    """Hex digest naming (subject, key), length-prefixed so no subject and key pair meets another."""
    return hashlib.sha256(f"{len(subject)}:{subject}{key}".encode()).hexdigest()[:32]


def _subject(claims: Claims) -> str:
    return f"{len(claims.role)}:{claims.role}{claims.user or ''}"


def idempotency_middleware(store: RedisStore, verified: web.RequestKey[Claims]) -> Middleware:
    """The middleware; it runs after the one that verified the token into `request[verified]`."""

    @web.middleware
    async def keep_first_answer(request: web.Request, handler: Handler) -> web.StreamResponse:
        key = request.headers.get(HEADER)
        room = request.match_info.get("room")
        if (key is None or request.method not in ("POST", "DELETE") or room is None
                or request.path.endswith("/events")):
            return await handler(request)
        if not 1 <= len(key) <= MAX_KEY or not key.isascii() or not key.isprintable():
            raise BadRequest("bad_idempotency_key",
                             f"{HEADER} must be 1-{MAX_KEY} printable ASCII characters")
        claims = request.get(verified)
        if claims is None:
            return await handler(request)  # no valid token: the route answers 401 and nothing is kept
        digest = key_digest(_subject(claims), key)
        body = await request.read()  # aiohttp keeps it: the handler reads the same bytes
        fingerprint = hashlib.sha256(b"\n".join((request.method.encode(), request.path.encode(),
                                                 body))).hexdigest()[:32]
        stored = await store.idempotency_begin(room, digest, fingerprint, PENDING_MS)
        if stored is not None:
            if stored.get("f") != fingerprint:
                raise KeyReused("idempotency_key_reused", f"this {HEADER} was used for another request")
            if stored.get("pending"):
                raise KeyInUse("idempotency_in_progress",
                               f"a request with this {HEADER} is still running; retry shortly")
            return web.Response(body=str(stored["b"]).encode(), status=int(stored["s"]),
                                content_type="application/json", headers={"Idempotent-Replayed": "true"})
        request[IDEMPOTENCY_DIGEST] = digest
        try:
            response = await handler(request)
        except BaseException as exc:
            answer = None
            if isinstance(exc, BadRequest) and exc.status in KEPT_STATUSES:
                answer = {"f": fingerprint, "s": exc.status,
                          "b": encode_json(wire_error(exc).body()).decode()}
            with contextlib.suppress(StoreUnavailable):  # the pending mark then expires on its own
                await store.idempotency_finish(room, digest, answer, KEEP_S)
            raise
        answer = None
        if isinstance(response, web.Response) and isinstance(response.body, bytes) and (
                200 <= response.status < 300 or response.status in KEPT_STATUSES):
            answer = {"f": fingerprint, "s": response.status, "b": response.body.decode()}
        await store.idempotency_finish(room, digest, answer, KEEP_S)
        return response

    return keep_first_answer
