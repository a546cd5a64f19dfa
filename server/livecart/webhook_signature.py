"""Webhook signatures: an HMAC-SHA256 of the raw request body, keyed with a room's shared secret (pure).

Shops sign each delivery so that only someone holding the secret can post orders into a room. Shopify
sends the digest base64-encoded in `X-Shopify-Hmac-Sha256`; other shops send it hex or base64, some
with a `sha256=` prefix (GitHub style). The digest is always over the body's exact bytes, before any
JSON parsing: re-encoding parsed JSON changes the bytes and the signature with them.

    check_signature(secret, body, request.headers.get(header), encoding="base64")  # or BadSignature

The comparison is constant-time (`hmac.compare_digest`) on the decoded digest, so the time it takes
tells an attacker nothing about how many bytes they got right.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from typing import Literal

from livecart.errors import Unauthorized

__all__ = ["ENCODINGS", "BadSignature", "Encoding", "check_signature", "sign"]

Encoding = Literal["base64", "hex"]
ENCODINGS: tuple[Encoding, ...] = ("base64", "hex")
MAX_HEADER = 512  # a SHA-256 digest is 44 characters in base64, 64 in hex: anything far longer is junk


class BadSignature(Unauthorized):
    """401 `bad_signature`: the delivery is not signed with this room's secret (or not signed at all)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.code = "bad_signature"


def sign(secret: str, body: bytes, encoding: Encoding = "base64") -> str:
    """The signature a shop sends for `body` (what tests and `curl` examples use)."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode() if encoding == "base64" else digest.hex()


def _decode(value: str, encoding: Encoding) -> bytes | None:
    try:
        if encoding == "hex":
            return bytes.fromhex(value)
        return base64.b64decode(value, validate=True)
    except (ValueError, binascii.Error):
        return None


def check_signature(secret: str, body: bytes, header: str | None, *, header_name: str,
                    encoding: Encoding = "base64", prefix: str = "") -> None:
    """Return if `header` is the HMAC-SHA256 of `body` under `secret`, else raise BadSignature with a
    reason a shop's developer can act on (missing, malformed, or not matching; never what was expected)."""
    if not header:
        raise BadSignature(f"{header_name} is missing: the delivery must be signed with the room's secret")
    value = header.strip()
    if len(value) > MAX_HEADER:
        raise BadSignature(f"{header_name} is too long to be a SHA-256 signature")
    if prefix and value.lower().startswith(prefix.lower()):
        value = value[len(prefix):]
    given = _decode(value, encoding)
    if given is None or len(given) != hashlib.sha256().digest_size:
        raise BadSignature(f"{header_name} is not a {encoding} SHA-256 digest")
    expected = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    if not hmac.compare_digest(given, expected):
        raise BadSignature(f"{header_name} does not match the body signed with this room's secret "
                           "(check the secret, and that nothing re-encoded the body)")
