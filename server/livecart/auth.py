"""Signed tokens (JWT, HS256) and the one authorization check.

A token names a role, a room (or '*' for assistant/ingest), an optional user and an expiry. Every route
and every websocket message type names one `Action`; `authorize()` is the only place that decides
whether a token may perform it.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import math
import secrets as random_secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum

import orjson

from livecart.errors import BadRequest, Forbidden, Unauthorized

__all__ = ["MAX_TTL_S", "REVOCABLE_ROLES", "ROLES", "STAFF_ROLES", "Action", "Claims", "authorize",
           "check_room_name", "is_revoked", "issue", "key_id", "may", "revocation_field", "verify"]

ROLES = ("viewer", "assistant", "host", "overlay", "ingest")
STAFF_ROLES = frozenset({"host", "assistant"})  # the only roles that ever see cues and live stats
# Tokens that end up in URLs on other people's machines (OBS, a monitor): an assistant can revoke them.
REVOCABLE_ROLES = ("overlay", "host")
WILDCARD_ROLES = ("assistant", "ingest")
MAX_TOKEN_CHARS = 4096
# The longest a token may live (an OBS overlay URL minted for a season). A token whose `exp` is further
# away, or not a finite number, is invalid: `--ttl nan` once minted a token that never expired.
MAX_TTL_S = 90 * 24 * 3600
_ROOM_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")


class Action(Enum):
    """What a request or message wants to do, mapped to the roles allowed to do it."""

    WATCH = "watch"  # open a room socket, read state and deals
    INGEST = "ingest"  # push platform events
    CLAIM = "claim"  # claim a flash deal (needs a user)
    COMMENT = "comment"  # comment from a viewer socket (needs a user)
    MANAGE = "manage"  # deals, pins, cues, announcements
    PRODUCE = "produce"  # read cues, live stats and reports; ack cues (the people running the show)


_ALLOWED: dict[Action, frozenset[str]] = {
    Action.WATCH: frozenset(ROLES),
    Action.INGEST: frozenset({"ingest"}),
    Action.CLAIM: frozenset({"viewer"}),
    Action.COMMENT: frozenset({"viewer"}),
    Action.MANAGE: frozenset({"assistant"}),
    Action.PRODUCE: STAFF_ROLES,
}
_NEEDS_USER = frozenset({Action.CLAIM, Action.COMMENT})


@dataclass(frozen=True, slots=True)
class Claims:
    role: str
    room: str
    user: str | None
    expires_at: float  # unix seconds
    issued_at: float = 0.0  # unix seconds (revocation compares it with the room's cut-off)
    token_id: str = ""  # jti: names this one token, for revoking it alone

    def covers(self, room: str) -> bool:
        return self.room == "*" or self.room == room

    @property
    def by_whom(self) -> str:
        """Who an audit entry, a cue or an ack names: the token's user, or its role for a shared console
        token."""
        return self.user or self.role


def check_room_name(room: str) -> str:
    if not 1 <= len(room) <= 64 or not _ROOM_CHARS.issuperset(room):
        raise BadRequest("bad_room", "room names are 1-64 characters of [A-Za-z0-9_.-]")
    return room


def issue(secret: str, *, role: str, room: str, user: str | None = None, ttl_s: float = 12 * 3600,
          now: float | None = None) -> str:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    if not math.isfinite(ttl_s) or not 0 < ttl_s <= MAX_TTL_S:
        raise ValueError(f"ttl must be a finite number of seconds above 0 and at most {MAX_TTL_S}")
    if room == "*":
        if role not in WILDCARD_ROLES:
            raise ValueError(f"--room '*' is only for {' and '.join(WILDCARD_ROLES)} tokens")
    else:
        check_room_name(room)
    issued = time.time() if now is None else now
    # iat in ms precision: a token reissued right after a revocation must be newer than its cut-off.
    payload: dict[str, object] = {"role": role, "room": room, "iat": round(issued, 3),
                                  "exp": round(issued + ttl_s, 3), "jti": random_secrets.token_hex(8)}
    if user is not None:
        payload["sub"] = user
    header = {"alg": "HS256", "typ": "JWT", "kid": key_id(secret)}
    signing_input = _b64(_json(header)) + "." + _b64(_json(payload))
    return signing_input + "." + _b64(_sign(secret, signing_input))


@functools.lru_cache(maxsize=16)  # every verify names its keys: one hash per key, not per token
def key_id(secret: str) -> str:
    """A token's `kid`: names its signing secret without revealing it, so verifiers pick the key."""
    return hashlib.sha256(secret.encode()).hexdigest()[:8]


def verify(keys: str | Sequence[str], token: str | None, now: float | None = None) -> Claims:
    """The token's claims, or Unauthorized. Expiry has no leeway.

    `keys`: the signing secret first, then previous secrets still accepted while a rotation's grace
    period lasts. The token's `kid` picks the key; a token without a known kid (issued before kids
    named keys) is tried against each."""
    if not token:
        raise Unauthorized("missing token")
    if len(token) > MAX_TOKEN_CHARS:
        raise Unauthorized("token too long")
    parts = token.split(".")
    if len(parts) != 3:
        raise Unauthorized("malformed token")
    signing_input = parts[0] + "." + parts[1]
    try:
        signature = _unb64(parts[2])
        header = orjson.loads(_unb64(parts[0]))  # orjson: fast, and deep nesting is a ValueError
        payload = orjson.loads(_unb64(parts[1]))
    except ValueError as exc:
        raise Unauthorized("malformed token") from exc
    if not isinstance(header, dict) or header.get("alg") != "HS256" or not isinstance(payload, dict):
        raise Unauthorized("unsupported token")
    secrets = [keys] if isinstance(keys, str) else list(keys)
    named = [k for k in secrets if key_id(k) == header.get("kid")]
    if not any(hmac.compare_digest(signature, _sign(k, signing_input)) for k in (named or secrets)):
        raise Unauthorized("bad signature")
    role, room, user, exp = payload.get("role"), payload.get("room"), payload.get("sub"), payload.get("exp")
    if role not in ROLES or not isinstance(room, str) or not isinstance(exp, int | float) or not _finite(exp):
        raise Unauthorized("incomplete token")
    if room == "*" and role not in WILDCARD_ROLES:
        raise Unauthorized(f"a {role} token cannot be for every room")
    if user is not None and not isinstance(user, str):
        raise Unauthorized("incomplete token")
    clock = time.time() if now is None else now
    if clock >= exp:
        raise Unauthorized("token expired")
    if exp - clock > MAX_TTL_S:
        raise Unauthorized("token lives longer than the server allows")
    issued, token_id = payload.get("iat"), payload.get("jti", "")
    if issued is not None and not _finite(issued):
        raise Unauthorized("incomplete token")
    if not isinstance(token_id, str) or len(token_id) > 64:
        raise Unauthorized("incomplete token")
    return Claims(role=role, room=room, user=user, expires_at=float(exp),
                  issued_at=float(issued) if issued is not None else 0.0, token_id=token_id)


def _finite(value: object) -> bool:
    # Python's json reads NaN and Infinity; bool is an int.
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def revocation_field(*, role: str | None = None, user: str | None = None, token_id: str | None = None) -> str:
    """The field of a room's revocation hash for one way of revoking: a role (tokens issued before the
    cut-off), a user (all their tokens issued before it), or one token by its jti. Role names have no
    ':', so the three never collide, whatever a user id contains."""
    if token_id is not None:
        return "jti:" + token_id
    if user is not None:
        return "user:" + user
    if role is None or ":" in role:
        raise ValueError("revoke a role, a user or a token id")
    return role


def is_revoked(cutoffs: Mapping[str, float], role: str, user: str | None, token_id: str,
               issued_at: float) -> bool:
    """Whether a token is refused by a room's revocations (field -> cut-off, unix seconds)."""
    if not cutoffs:
        return False
    if issued_at < cutoffs.get(role, 0.0):
        return True
    if user is not None and issued_at < cutoffs.get("user:" + user, 0.0):
        return True
    return bool(token_id) and ("jti:" + token_id) in cutoffs


def authorize(claims: Claims, room: str, action: Action) -> None:
    """Raise Forbidden unless `claims` may perform `action` in `room`."""
    if not claims.covers(room):
        raise Forbidden(f"this token is for room {claims.room!r}")
    if claims.role not in _ALLOWED[action]:
        raise Forbidden(f"role {claims.role!r} may not {action.value}")
    if action in _NEEDS_USER and not claims.user:
        raise Forbidden(f"a token without a user may watch but not {action.value}")


def may(role: str, has_user: bool, action: Action) -> bool:
    """The role half of `authorize`, for a socket whose room was checked when it connected (cheap
    enough to run per message; call `authorize` for the error when it says no)."""
    return role in _ALLOWED[action] and (has_user or action not in _NEEDS_USER)


def _sign(secret: str, signing_input: str) -> bytes:
    return hmac.digest(secret.encode(), signing_input.encode(), "sha256")  # one-shot: OpenSSL's fast path


def _json(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise ValueError("bad base64") from exc
