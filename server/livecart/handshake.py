"""The websocket opening handshake's common case (RFC 6455 §4.2), read in one pass without websockets'
HTTP parser.

Why: in an 8,000-socket connect storm, websockets' handshake (a `ServerProtocol` made per connection, its
generator-based request parser, its `Headers`, the response it builds) was about half of the node's
Python time per connect, and connect time is what a reconnect storm after a node loss waits on.

`read_upgrade` takes a complete request head and returns an `Upgrade` only for a valid websocket upgrade
(GET, HTTP/1.1, `Connection: upgrade`, `Upgrade: websocket`, a 16-byte key, version 13), checked with
the same rules as websockets (its own grammars for the Connection, Upgrade and subprotocol headers). It
never refuses anything: for every other head it returns None and web/ws.py hands the head to websockets'
`ServerProtocol`, which answers it as before (405, 426, 400 with its reasons, 431). websockets stays the
one judge of what is refused; tests/integration/test_handshake_edge.py fuzzes the two against each other.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import re
import time

from websockets.exceptions import InvalidHeader
from websockets.headers import parse_connection, parse_subprotocol, parse_upgrade
from websockets.utils import accept_key

__all__ = ["RequestHeaders", "Upgrade", "accept_response", "read_upgrade"]

# websockets' grammar for a header name (a token) and value (RFC 9110 §5.5; no obsolete line folding).
_NAME = re.compile(rb"[-!#$%&'*+.^_`|~0-9a-zA-Z]+")
_VALUE = re.compile(rb"[\x09\x20-\x7e\x80-\xff]*")
_TARGET = re.compile(rb"[\x21-\x7e]+")
MAX_FAST_HEAD = 8000  # longer heads go to websockets, which owns the line and header-count limits
MAX_HEADERS = 128  # websockets' default limit
# Headers that must come at most once (RFC 6455 §4.1, RFC 6454 §7.3, RFC 9112 §3.2): a repeat goes to
# websockets, which refuses it, or to the endpoint as the websockets path always did.
_SINGLE = ("host", "origin", "sec-websocket-key", "sec-websocket-version")


class RequestHeaders:
    """A request's headers by case-insensitive name: what an endpoint reads of them."""

    __slots__ = ("_values",)

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        values: dict[str, list[str]] = {}
        for name, value in pairs:
            values.setdefault(name.lower(), []).append(value)
        self._values = values

    def get(self, name: str) -> str | None:
        """The header's first value, or None."""
        values = self._values.get(name.lower())
        return values[0] if values else None

    def get_all(self, name: str) -> list[str]:
        return self._values.get(name.lower(), [])


class Upgrade:
    """A valid websocket upgrade request: its target (path and query), headers and key."""

    __slots__ = ("headers", "key", "target")

    def __init__(self, target: str, headers: RequestHeaders, key: str) -> None:
        self.target, self.headers, self.key = target, headers, key


def read_upgrade(head: bytes) -> Upgrade | None:
    """`head` (the request line and headers, ending with a blank line) as an `Upgrade`, or None when it
    is anything but a valid websocket upgrade (websockets then answers it)."""
    if len(head) > MAX_FAST_HEAD or not head.endswith(b"\r\n\r\n"):
        return None
    lines = head[:-4].split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3 or parts[0] != b"GET" or parts[2] != b"HTTP/1.1" or not _TARGET.fullmatch(parts[1]):
        return None
    if len(lines) - 1 > MAX_HEADERS:
        return None
    pairs = []
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        value = value.strip(b" \t")
        if not colon or not _NAME.fullmatch(name) or not _VALUE.fullmatch(value):
            return None
        pairs.append((name.decode("ascii"), value.decode("ascii", "surrogateescape")))
    headers = RequestHeaders(pairs)
    if headers.get_all("transfer-encoding") or headers.get_all("content-length") or \
            any(len(headers.get_all(name)) > 1 for name in _SINGLE):
        return None
    try:
        connection = [option for text in headers.get_all("connection") for option in parse_connection(text)]
        upgrade = [protocol for text in headers.get_all("upgrade") for protocol in parse_upgrade(text)]
        for text in headers.get_all("sec-websocket-protocol"):
            parse_subprotocol(text)  # none is chosen, but a malformed offer is websockets' 400
    except InvalidHeader:
        return None
    if not any(option.lower() == "upgrade" for option in connection):
        return None
    if len(upgrade) != 1 or upgrade[0].lower() != "websocket":
        return None
    key = headers.get("sec-websocket-key")
    if key is None or headers.get("sec-websocket-version") != "13":
        return None
    try:
        if len(base64.b64decode(key.encode(), validate=True)) != 16:
            return None
    except (binascii.Error, UnicodeEncodeError):
        return None
    return Upgrade(parts[1].decode("ascii"), headers, key)


_date = (0, b"")


def accept_response(key: str) -> bytes:
    """The 101 answer to a valid upgrade with `key` (no extension or subprotocol is negotiated)."""
    global _date
    now = int(time.time())
    if _date[0] != now:  # the Date header changes once a second, not once a connect
        _date = (now, email.utils.formatdate(now, usegmt=True).encode())
    return (b"HTTP/1.1 101 Switching Protocols\r\nDate: " + _date[1]
            + b"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "
            + accept_key(key).encode() + b"\r\n\r\n")
