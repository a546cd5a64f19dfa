"""The one exception tree and the one close-code table.

    LivecartError
     ├── BadRequest(code, detail)        input we refuse: 4xx over HTTP, an error frame over a socket
     │    ├── Unauthorized               missing, bad or expired token            (401)
     │    ├── Forbidden                  the token's role or room does not allow it (403)
     │    ├── NotFound                   no such deal, claim or route               (404)
     │    ├── Conflict                   the deal's state does not allow it         (409)
     │    ├── TooLarge                   body, frame or event count over its limit (413 / 1009)
     │    └── RateLimited(retry_after)   over a rate limit (per token, user or IP)   (429)
     └── StoreUnavailable                Redis cannot be reached right now         (503)

Third-party errors are translated at the adapter edge (the store turns redis errors into
StoreUnavailable), so handlers never import redis or aiohttp exception types to decide what to answer.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = [
    "BadRequest",
    "CloseCode",
    "Conflict",
    "Forbidden",
    "LivecartError",
    "NotFound",
    "RateLimited",
    "RequestLineTooLong",
    "RequestTimeout",
    "StoreUnavailable",
    "TooLarge",
    "Unauthorized",
]


class LivecartError(Exception):
    """Root of every error livecart raises on purpose."""


class BadRequest(LivecartError):
    status = 400

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(code, detail)
        self.code = code
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.code}: {self.detail}"


class Unauthorized(BadRequest):
    status = 401

    def __init__(self, detail: str) -> None:
        super().__init__("unauthorized", detail)


class Forbidden(BadRequest):
    status = 403

    def __init__(self, detail: str) -> None:
        super().__init__("forbidden", detail)


class NotFound(BadRequest):
    status = 404


class RequestTimeout(BadRequest):
    status = 408


class Conflict(BadRequest):
    status = 409


class TooLarge(BadRequest):
    status = 413

    def __init__(self, detail: str, code: str = "too_large") -> None:
        super().__init__(code, detail)


class RequestLineTooLong(BadRequest):
    status = 414


class RateLimited(BadRequest):
    status = 429

    def __init__(self, retry_after: float, detail: str | None = None) -> None:
        super().__init__("rate_limited", detail or f"too many requests, retry after {retry_after:.1f} s")
        self.retry_after = retry_after


class StoreUnavailable(LivecartError):
    """Redis is unreachable; the operation changed nothing and may be retried."""

    retry_after = 1


class CloseCode(IntEnum):
    """Websocket close codes livecart sends, and what a client should do on each.

    Reconnect and resume from the last offset + epoch (with jittered backoff):
        1001 GOING_AWAY   the node is shutting down; another node (or this one, restarted) resumes you
        1011 SERVER_ERROR an unexpected failure on the node
        1012 RESTART      the node is restarting
        1013 TRY_AGAIN    you fell behind by more than your outbound bound (slow consumer), or the node
                          is refusing new connections for a moment; resume after a backoff
        4000 RESYNC       the room's history was reset; reconnect *without* since/epoch
    Terminal (do not reconnect with the same token/input):
        1002 PROTOCOL     the peer broke the websocket protocol
        1003 UNSUPPORTED  a frame type we do not accept
        1007 INVALID_DATA a text frame that is not UTF-8
        1008 POLICY       forbidden or malformed application frames, repeatedly
        1009 TOO_BIG      a frame over the inbound size limit
        4001 UNAUTHORIZED the token expired or was revoked while connected
    """

    NORMAL = 1000
    GOING_AWAY = 1001
    PROTOCOL = 1002
    UNSUPPORTED = 1003
    INVALID_DATA = 1007
    POLICY = 1008
    TOO_BIG = 1009
    SERVER_ERROR = 1011
    RESTART = 1012
    TRY_AGAIN = 1013
    RESYNC = 4000
    UNAUTHORIZED = 4001
