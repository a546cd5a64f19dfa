"""Wire encoding: JSON (text frames) and msgpack (binary frames) carry the same maps.

The only module that imports orjson or msgpack. `decode` is also validation of the outer shape:
any bytes give a value or a BadRequest, never anything else.
"""

from __future__ import annotations

import threading
from enum import Enum
from typing import Any

import msgpack
import orjson

from livecart.errors import BadRequest
from livecart.framing import server_frame

__all__ = ["Format", "claim_result_frame", "decode", "decode_body", "echo_req", "encode", "encode_frame",
           "encode_json", "encode_msgpack", "load_json"]


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


_packers = threading.local()


def encode_msgpack(value: Any) -> bytes:
    # One Packer per thread, reused: `msgpack.packb` makes a Packer per call, with a 256 KB buffer that
    # the node's fixed mmap threshold (cli.py) turns into an mmap and a munmap per encode. In a claim
    # rush, where every answer is encoded, those system calls were ~8 % of the node's CPU.
    try:
        packer = _packers.packer
    except AttributeError:
        packer = _packers.packer = msgpack.Packer(use_bin_type=True)
    return packer.pack(value)  # type: ignore[no-any-return]  # msgpack is untyped: Any


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


def decode_body(data: bytes, content_type: str) -> Any:
    """An HTTP request body: msgpack when its Content-Type says `application/msgpack`, JSON otherwise;
    like `decode`, any bytes give a value or a BadRequest."""
    return decode(data, Format.MSGPACK if content_type == "application/msgpack" else Format.JSON)


def echo_req(value: Any) -> str | int | None:
    """A client's `req` as it may be echoed in a reply: a string or an integer. Anything else (a
    msgpack binary or map on a JSON socket) is not echoed: the reply could not be encoded."""
    if isinstance(value, str) and len(value) <= 100:
        return value
    if isinstance(value, int) and not isinstance(value, bool) and -(2**53) <= value <= 2**53:
        return value
    return None


def encode_frame(value: Any, fmt: Format) -> bytes:
    """`value` encoded in `fmt` and framed for a websocket (framing.py): what a socket's transport writes."""
    return server_frame(encode(value, fmt), fmt.is_text)


def claim_result_frame(req: str, reply: bytes, fmt: Format) -> bytes:
    """The `claim_result` frame for a claim answer kept as JSON (`{"ok": ...}`, written by livecart).

    For JSON sockets the stored answer is spliced in as it is: no parse and re-encode per claim."""
    if fmt is Format.JSON:
        return server_frame(b'{"type":"claim_result","req":' + orjson.dumps(req) + b"," + reply[1:], True)
    return encode_frame({"type": "claim_result", "req": req, **orjson.loads(reply)}, fmt)
