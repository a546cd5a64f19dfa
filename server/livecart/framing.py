"""Websocket framing (RFC 6455 §5): the one codec of the server, the Python client and the load tool.

Writing: `server_frame` (unmasked: one frame's bytes go to every socket as they are) and `client_frame`
(masked with a fresh key). Both write whole, unfragmented text or binary frames.

Reading: `FrameReader` splits a byte stream into frames. Whole, unfragmented text and binary frames of
at most `max_size` bytes, the stream's common case, it parses itself: websockets' general parser costs
several times more per frame. Every other frame (ping, pong, close, fragments, anything malformed or
oversized) goes to a websockets `Protocol` through its public `receive_data()`, always as whole frames,
so that parser stands between two frames whenever it is handed one; it stays the authority for control
frames, close codes and errors. Once the stream leaves the simple case for good (closing, a fragment,
an error), every later byte goes to websockets.

Calling contract: call `receive(data)` with each chunk read; it returns, in stream order, the messages
parsed here as `(is_text, payload)` and the events websockets produced for the rest (`Frame`s,
once the connection is open). After
it, call the protocol's `data_to_send()` (websockets may have queued a pong or a close) and look at its
`state` and `parser_exc`, as for websockets alone. `receive` raises nothing for bad input.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from websockets.frames import Frame, Opcode
from websockets.protocol import Event, Protocol, State

try:  # websockets' C speedup, where its wheel has it
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover
    from websockets.utils import apply_mask

__all__ = ["FrameReader", "Message", "client_frame", "server_frame"]

Message = tuple[bool, bytes]  # (is_text, payload)
# First bytes (FIN, no RSV bits, opcode) of the frames this module reads itself (data) or hands whole
# to websockets (ping, pong); anything else goes to websockets from its first byte.
TEXT, BINARY, PING, PONG = 0x81, 0x82, 0x89, 0x8A


def _header(first: int, n: int, mask_bit: int) -> bytes:
    if n < 126:
        return bytes((first, mask_bit | n))
    if n < 65536:
        return bytes((first, mask_bit | 126)) + n.to_bytes(2, "big")
    return bytes((first, mask_bit | 127)) + n.to_bytes(8, "big")


def server_frame(payload: bytes, text: bool) -> bytes:
    """A complete unmasked server frame carrying `payload`: server frames are never masked, so one
    frame's bytes can be written to every socket as they are."""
    return _header(TEXT if text else BINARY, len(payload), 0) + payload


def client_frame(payload: bytes, text: bool, mask: bytes | None = None) -> bytes:
    """A complete masked client frame carrying `payload` (RFC 6455 asks for an unpredictable key: the
    default is a fresh random one; tests may pass their own)."""
    key = os.urandom(4) if mask is None else mask
    return _header(TEXT if text else BINARY, len(payload), 0x80) + key + apply_mask(payload, key)


class FrameReader:
    """The frames of one connection's incoming stream (see the module docstring for the contract).

    `masked`: whether the peer's frames must be masked (True on a server, False on a client); a frame
    that is not is websockets' to refuse. `check_utf8`: validate text payloads here (a text frame that
    is not UTF-8 goes to websockets, which closes with 1007)."""

    __slots__ = ("_proto", "check_utf8", "general", "masked", "max_size", "pending")

    def __init__(self, proto: Protocol | Callable[[], Protocol], *, masked: bool, max_size: int,
                 check_utf8: bool = True) -> None:
        # The protocol, or what makes it when it is first needed (a server's idle socket then never has
        # one: web/ws.py).
        self._proto = proto
        self.masked = masked
        self.max_size = max_size
        self.check_utf8 = check_utf8
        self.pending = b""  # the start of a frame not complete yet
        self.general = False  # True: every byte goes to websockets from now on

    @property
    def proto(self) -> Protocol:
        proto = self._proto
        if not isinstance(proto, Protocol):
            proto = self._proto = proto()
        return proto

    def _open(self) -> bool:
        """Whether websockets' protocol is open, or not made yet (then it would be)."""
        return not isinstance(self._proto, Protocol) or self._proto.state is State.OPEN

    def receive(self, data: bytes) -> list[Message | Event]:
        out: list[Message | Event] = []
        if self.general:
            self._to_websockets(data, out)
            return out
        buf = self.pending + data if self.pending else data
        self.pending = b""
        pos, end = 0, len(buf)
        masked, max_size = self.masked, self.max_size
        while end - pos >= 2:
            first, second = buf[pos], buf[pos + 1]
            if (first != TEXT and first != BINARY and first != PING and first != PONG) \
                    or (second >= 0x80) is not masked:
                # A close, a fragment, reserved bits or opcodes, the wrong masking: websockets judges it
                # from its first bytes (as it would alone: some of these it refuses before the rest).
                return self._hand_over(buf[pos:], out)
            size, head = second & 0x7F, 2
            if size == 126:
                if end - pos < 4:
                    break  # the rest of the header is still to come
                size, head = int.from_bytes(buf[pos + 2:pos + 4], "big"), 4
            elif size == 127:
                if end - pos < 10:
                    break
                size, head = int.from_bytes(buf[pos + 2:pos + 10], "big"), 10
            if size > max_size:
                return self._hand_over(buf[pos:], out)  # websockets refuses it (1009)
            if masked:
                head += 4
            stop = pos + head + size
            if stop > end:
                break
            if first == TEXT or first == BINARY:
                payload = buf[pos + head:stop]
                if masked:
                    payload = apply_mask(payload, buf[pos + head - 4:pos + head])
                if first == TEXT and self.check_utf8:
                    try:
                        payload.decode()
                    except UnicodeDecodeError:
                        return self._hand_over(buf[pos:], out)  # websockets closes 1007
                out.append((first == TEXT, payload))
            elif first == PONG and size <= 125 and self._open():
                # websockets answers nothing to a pong: read here, so that an idle server socket answering
                # the heartbeat's pings never needs a protocol (web/ws.py makes it on first use).
                payload = buf[pos + head:stop]
                if masked:
                    payload = apply_mask(payload, buf[pos + head - 4:pos + head])
                out.append(Frame(Opcode.PONG, payload))
            else:
                self.proto.receive_data(buf[pos:stop])
                out.extend(self.proto.events_received())
                # A whole ping or pong: websockets answers it, and the stream stays simple unless it
                # refused the frame.
                if self.proto.state is not State.OPEN or self.proto.parser_exc is not None:
                    return self._hand_over(buf[stop:], out)
            pos = stop
        self.pending = buf[pos:]
        return out

    def _hand_over(self, data: bytes, out: list[Message | Event]) -> list[Message | Event]:
        """From here on websockets reads everything (`data` first)."""
        self._to_websockets(data, out)
        return out

    def _to_websockets(self, data: bytes, out: list[Message | Event]) -> None:
        self.general = True
        if data:
            self.proto.receive_data(data)
        out.extend(self.proto.events_received())
