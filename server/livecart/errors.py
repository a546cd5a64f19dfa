"""The one exception tree, the one error -> wire translation, and the one close-code table.

    LivecartError                     status code                 temporary
     ├── BadRequest(code, detail)      400   (given)                          input we refuse
     │    ├── Unauthorized             401   unauthorized                     missing, bad or expired token
     │    ├── Forbidden                403   forbidden                        role or room forbids it
     │    ├── NotFound                 404   (given)                          no such deal, cue or route
     │    ├── MethodNotAllowed         405   method_not_allowed
     │    ├── RequestTimeout           408   request_timeout                  request not complete in time
     │    ├── Conflict                 409   (given)                          the deal's state forbids it
     │    │    └── InProgress          409   (given)               yes        same request still running
     │    ├── TooLarge                 413   too_large, ...                   body, frame or event count
     │    ├── RequestLineTooLong       414   request_line_too_long
     │    ├── RateLimited              429   rate_limited          yes        per token, user or IP
     │    └── TooManyConnections       429   too_many_connections  yes        the address's open sockets
     ├── Busy                          503   busy                  yes        node or socket queue full
     ├── StoreUnavailable              503   unavailable           yes        Redis unreachable
     └── Internal                      500   internal              yes        a bug; the node carries on

`temporary` says a retry of the same request makes sense (after `retry_after` seconds when given);
otherwise the client must change something first. `wire_error(exc)` turns any exception into the one
`WireError` every adapter writes: an HTTP status, JSON body and `Retry-After` (web/http.py, the upgrade's
refusal in web/ws.py), a websocket error frame, or the close code of a socket that cannot go on.

Third-party errors are translated at the adapter edge (the store turns redis errors into
StoreUnavailable), so handlers never import redis or aiohttp exception types to decide what to answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

__all__ = [
    "BadRequest",
    "Busy",
    "CloseCode",
    "Conflict",
    "Forbidden",
    "InProgress",
    "Internal",
    "LivecartError",
    "MethodNotAllowed",
    "NotFound",
    "RateLimited",
    "RequestLineTooLong",
    "RequestTimeout",
    "StoreUnavailable",
    "TooLarge",
    "TooManyConnections",
    "Unauthorized",
    "WireError",
    "wire_error",
]


class CloseCode(IntEnum):
    """Websocket close codes livecart sends, and what a client should do on each.

    Temporary: reconnect and resume from the last offset + epoch (with jittered backoff):
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
    Neither: 1000 NORMAL, a close the client asked for (the server never sends it).

    The clients read this table: livecart/client.py derives `RESUMABLE` from it, and
    client_web/lib/close_codes.js is generated from it (livecart/js_tables.py).
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

    @property
    def temporary(self) -> bool:
        """Resume after a backoff (with since/epoch, except after RESYNC)."""
        return self in _RESUME

    @property
    def terminal(self) -> bool:
        """Do not reconnect with the same token and input."""
        return self in _TERMINAL

    @property
    def meaning(self) -> str:
        """A few words for people, when the close carries no reason."""
        return _MEANINGS[self]


_RESUME = frozenset({CloseCode.GOING_AWAY, CloseCode.SERVER_ERROR, CloseCode.RESTART, CloseCode.TRY_AGAIN,
                     CloseCode.RESYNC})
_TERMINAL = frozenset({CloseCode.PROTOCOL, CloseCode.UNSUPPORTED, CloseCode.INVALID_DATA, CloseCode.POLICY,
                       CloseCode.TOO_BIG, CloseCode.UNAUTHORIZED})
_MEANINGS = {
    CloseCode.NORMAL: "closed", CloseCode.GOING_AWAY: "going away", CloseCode.PROTOCOL: "protocol error",
    CloseCode.UNSUPPORTED: "unsupported data", CloseCode.INVALID_DATA: "invalid data",
    CloseCode.POLICY: "policy violation", CloseCode.TOO_BIG: "message too big",
    CloseCode.SERVER_ERROR: "server error", CloseCode.RESTART: "restarting", CloseCode.TRY_AGAIN: "try again",
    CloseCode.RESYNC: "start over", CloseCode.UNAUTHORIZED: "token expired",
}


class LivecartError(Exception):
    """Root of every error livecart raises on purpose. Each class says how it goes on the wire."""

    status = 500
    code = "internal"
    detail = "the request failed; try again"
    temporary = False
    retry_after: float | None = None
    close = CloseCode.POLICY  # when the error ends a socket


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
    close = CloseCode.UNAUTHORIZED

    def __init__(self, detail: str) -> None:
        super().__init__("unauthorized", detail)


class Forbidden(BadRequest):
    status = 403

    def __init__(self, detail: str) -> None:
        super().__init__("forbidden", detail)


class NotFound(BadRequest):
    status = 404


class MethodNotAllowed(BadRequest):
    status = 405


class RequestTimeout(BadRequest):
    status = 408


class Conflict(BadRequest):
    status = 409


class InProgress(Conflict):
    """The same request (its idempotency key) is still running: retry shortly."""

    temporary = True


class TooLarge(BadRequest):
    status = 413
    close = CloseCode.TOO_BIG

    def __init__(self, detail: str, code: str = "too_large") -> None:
        super().__init__(code, detail)


class RequestLineTooLong(BadRequest):
    status = 414


class RateLimited(BadRequest):
    status = 429
    temporary = True

    def __init__(self, retry_after: float, detail: str | None = None) -> None:
        super().__init__("rate_limited", detail or f"too many requests, retry after {retry_after:.1f} s")
        self.retry_after = retry_after


class TooManyConnections(BadRequest):
    """The client's address holds its cap of open (or unfinished) connections on this node."""

    status = 429
    temporary = True
    retry_after = 10.0  # nothing says when one of the address's sockets will close: a fair wait

    def __init__(self, limit: int, what: str = "open sockets on this node") -> None:
        super().__init__("too_many_connections", f"this address has {limit} {what}; close one or retry later")


class Busy(LivecartError):
    """The node admits no more new sockets this second, or a socket's queue of work is full: not the
    client's fault, and a retry after a backoff will do."""

    status = 503
    code = "busy"
    temporary = True
    close = CloseCode.TRY_AGAIN

    def __init__(self, detail: str, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retry_after = retry_after


class StoreUnavailable(LivecartError):
    """Redis is unreachable; the operation changed nothing and may be retried. (The message, for logs,
    is the store's; clients get the one `detail` below.)"""

    status = 503
    code = "unavailable"
    # Short enough for a close reason (123 bytes). Ingest, claims and comments are idempotent by their
    # ids; other writes are with the same Idempotency-Key (docs/protocol.md §3.1).
    detail = "storage unreachable; retry the same request shortly"
    temporary = True
    retry_after = 1
    close = CloseCode.TRY_AGAIN


class Internal(LivecartError):
    """A bug, not bad input: the client gets an answer and the node carries on."""

    temporary = True
    close = CloseCode.SERVER_ERROR

    def __init__(self, detail: str = LivecartError.detail) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass(frozen=True, slots=True)
class WireError:
    """One error as every adapter writes it (docs/protocol.md §2 and §6.6)."""

    status: int
    code: str
    detail: str
    temporary: bool
    retry_after: float | None
    close: CloseCode

    def body(self) -> dict[str, Any]:
        """The HTTP body."""
        return {"error": self.code, "detail": self.detail, "temporary": self.temporary}

    def headers(self) -> dict[str, str]:
        """`Retry-After` in whole seconds, at least 1, when the error says when to retry."""
        if self.retry_after is None:
            return {}
        return {"Retry-After": str(max(1, round(self.retry_after)))}

    def frame(self, req: Any = None) -> dict[str, Any]:
        """The websocket error frame; `req` is echoed when given (protocol.echo_req decides what may be)."""
        frame: dict[str, Any] = {"type": "error", "error": self.code, "detail": self.detail,
                                 "temporary": self.temporary}
        if req is not None:
            frame["req"] = req
        if self.retry_after is not None:
            frame["retry_after"] = round(self.retry_after, 3)
        return frame


def wire_error(exc: BaseException) -> WireError:
    """How `exc` goes on the wire; anything not a LivecartError is a bug, answered as `internal`."""
    error = exc if isinstance(exc, LivecartError) else Internal()
    return WireError(error.status, error.code, error.detail, error.temporary, error.retry_after, error.close)
