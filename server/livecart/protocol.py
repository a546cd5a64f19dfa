"""Wire encoding: JSON (text frames) and msgpack (binary frames) carry the same maps.

The only module that imports orjson or msgpack. `decode` is also validation of the outer shape:
any bytes give a value or a BadRequest, never anything else.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

import msgpack
import orjson

try:  # websockets' C speedup, where its wheel has it
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover
    from websockets.utils import apply_mask

from livecart.errors import BadRequest

__all__ = ["Format", "claim_result_frame", "client_messages", "decode", "echo_req", "encode", "encode_frame",
           "encode_json", "encode_msgpack", "load_json", "ws_frame"]


class Format(Enum):
    JSON = "json"
    MSGPACK = "msgpack"

    @classmethod
    def parse(cls, value: str | None) -> Format:
        if value is None or value == "json":
            return cls.JSON
        if value == "msgpack":
            return cls.MSGPACK
        raise BadRequest("bad_format", "format must be json or msgpack")

    @property
    def is_text(self) -> bool:
        return self is Format.JSON


def encode_json(value: Any) -> bytes:
    return orjson.dumps(value)


def encode_msgpack(value: Any) -> bytes:
    return msgpack.packb(value, use_bin_type=True)  # type: ignore[no-any-return]


def load_json(data: bytes | str) -> Any:
    """Parse JSON that livecart wrote itself (Redis payloads): no validation, errors propagate."""
    return orjson.loads(data)


def encode(value: Any, fmt: Format) -> bytes:
    return encode_json(value) if fmt is Format.JSON else encode_msgpack(value)


def decode(data: bytes | str, fmt: Format) -> Any:
    try:
        if fmt is Format.JSON:
            return orjson.loads(data)
        return msgpack.unpackb(data, raw=False, strict_map_key=True)
    except (orjson.JSONDecodeError, ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError,
            msgpack.StackError) as exc:
        raise BadRequest("bad_encoding", f"not valid {fmt.value}") from exc


def ws_frame(payload: bytes, text: bool) -> bytes:
    """A complete unmasked server websocket frame (RFC 6455 §5.2) carrying `payload`.

    Server frames are never masked, so one frame's bytes can be written to every socket as they are.
    """
    opcode = 0x81 if text else 0x82  # FIN + text/binary
    n = len(payload)
    if n < 126:
        header = bytes((opcode, n))
    elif n < 65536:
        header = bytes((opcode, 126)) + n.to_bytes(2, "big")
    else:
        header = bytes((opcode, 127)) + n.to_bytes(8, "big")
    return header + payload


def echo_req(value: Any) -> str | int | None:
    """A client's `req` as it may be echoed in a reply: a string or an integer. Anything else (a
    msgpack binary or map on a JSON socket) is not echoed: the reply could not be encoded."""
    if isinstance(value, str) and len(value) <= 100:
        return value
    if isinstance(value, int) and not isinstance(value, bool) and -(2**53) <= value <= 2**53:
        return value
    return None


def encode_frame(value: Any, fmt: Format) -> bytes:
    """`value` encoded in `fmt` and framed for a websocket: what a socket's transport writes."""
    return ws_frame(encode(value, fmt), fmt.is_text)


def claim_result_frame(req: str, reply: bytes, fmt: Format) -> bytes:
    """The `claim_result` frame for a claim answer kept as JSON (`{"ok": ...}`, written by livecart).

    For JSON sockets the stored answer is spliced in as it is: no parse and re-encode per claim."""
    if fmt is Format.JSON:
        return ws_frame(b'{"type":"claim_result","req":' + orjson.dumps(req) + b"," + reply[1:], True)
    return encode_frame({"type": "claim_result", "req": req, **orjson.loads(reply)}, fmt)


def client_messages(data: bytes, max_size: int) -> list[tuple[bool, bytes]] | None:
    """The messages in `data` as (is_text, payload), when `data` is exactly a run of complete,
    unfragmented, masked text/binary client frames of at most `max_size` bytes each, with valid UTF-8
    in the text ones; else None.

    The fast path of the common case, one small claim or comment per read: parsing it with websockets'
    general parser costs several times more. On None, hand `data` to that parser, which stays the
    authority for everything else (control frames, fragments, partial reads, errors and their close
    codes). Only call this where that parser sits between two frames (see web/ws.py)."""
    messages: list[tuple[bool, bytes]] = []
    pos, end = 0, len(data)
    while pos < end:
        if end - pos < 6:
            return None
        first, second = data[pos], data[pos + 1]
        if (first != 0x81 and first != 0x82) or second < 0x80:  # FIN, no RSV bits, text/binary; masked
            return None
        size = second & 0x7F
        pos += 2
        if size == 126:
            size = int.from_bytes(data[pos : pos + 2], "big")
            pos += 2
        elif size == 127:
            return None
        if size > max_size or end - pos < 4 + size:
            return None
        payload = apply_mask(data[pos + 4 : pos + 4 + size], data[pos : pos + 4])
        pos += 4 + size
        if first == 0x81:
            try:
                payload.decode()
            except UnicodeDecodeError:
                return None
        messages.append((first == 0x81, payload))
    return messages
