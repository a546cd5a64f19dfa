"""Signed tokens minted from the shared secret, in the public format of docs/protocol.md §1.

An HS256 JWT with a `kid` header: the same bytes `livecart token` prints, written here from the
published format so the load tool needs nothing from the server's code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

__all__ = ["mint"]


def mint(secret: str, role: str, room: str, user: str | None = None, ttl_s: float = 6 * 3600) -> str:
    now = time.time()
    payload: dict[str, object] = {"role": role, "room": room, "iat": int(now), "exp": round(now + ttl_s, 3)}
    if user is not None:
        payload["sub"] = user
    header = {"alg": "HS256", "typ": "JWT", "kid": "k1"}
    signing_input = _b64(_json(header)) + "." + _b64(_json(payload))
    signature = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + _b64(signature)


def _json(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
