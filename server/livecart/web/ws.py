"""Websockets on a bare asyncio.Protocol (the listener that shares the port is web/listener.py).

Why not aiohttp's WebSocketResponse: fan-out writes the same bytes to thousands of sockets per tick, and
aiohttp costs a handler task, a reader and an awaited send per socket (13+ KB per idle socket in
shared/bench). Here a socket is one object: a valid upgrade is read by handshake.py, any other request
is answered by the `websockets` library's sans-I/O `ServerProtocol`, which also does the RFC 6455
parsing that framing.FrameReader leaves to it and the close handshake; outbound room frames are
pre-framed bytes written straight to the transport, whose write buffer is the socket's bounded outbound
queue (see outbound.py).

A `WebSocket` gets its connection from web/listener.py, at the connection's first request or (through
aiohttp's `/ws/` route, web/upgrade.py) at a later one; it reads the request head, answers the upgrade,
then reads frames through framing.FrameReader.
"""

from __future__ import annotations

import asyncio
import logging
import time
from http import HTTPStatus
from typing import Any, Protocol, cast
from urllib.parse import parse_qsl, urlsplit

from websockets.datastructures import Headers
from websockets.exceptions import InvalidMessage, PayloadTooBig
from websockets.frames import Frame, Opcode
from websockets.http11 import Request, Response
from websockets.protocol import Event, Side, State
from websockets.protocol import Protocol as WsProtocol
from websockets.server import ServerProtocol

from livecart.batch import Batch
from livecart.errors import BadRequest, CloseCode, Internal, LivecartError, NotFound, wire_error
from livecart.framing import FrameReader, Message
from livecart.handshake import RequestHeaders, accept_response, read_upgrade
from livecart.metrics import Metrics
from livecart.outbound import Decision, FrameKind, always_write, decide
from livecart.protocol import Format, decode, echo_req, encode_frame, encode_json
from livecart.web.admission import Admission

__all__ = ["CLOSE_GRACE_S", "Endpoint", "SocketHost", "SocketLimits", "WebSocket", "error_response",
           "raw_error_response"]

log = logging.getLogger("livecart.ws")
_WS_LOG = logging.getLogger("websockets.server")  # what websockets' ServerProtocol logs to
MAX_HEAD = 64 * 1024  # a request head longer than this is websockets' to refuse (431/414)
MAX_ERRORS = 20  # error frames in a row before the socket is closed 1008
QUIET_CLOSES = frozenset({CloseCode.GOING_AWAY})  # a node stopping closes every socket: one line, not N
CLOSE_GRACE_S = 5.0  # how long a closing socket may take to read its close frame before it is aborted


class Endpoint(Protocol):
    """One websocket route. Objects are shared by all sockets of the route; state lives on the socket."""

    def accept(self, ws: WebSocket, path: str, query: dict[str, str], headers: RequestHeaders) -> None:
        """Authenticate and set up `ws` (room, role, fmt); raise a LivecartError to refuse the upgrade."""

    def opened(self, ws: WebSocket) -> None: ...

    def received(self, ws: WebSocket, message: Any) -> None:
        """A decoded client message; raise a LivecartError to answer with one error frame."""

    def closed(self, ws: WebSocket) -> None: ...


class SocketHost(Protocol):
    """What a socket uses of the listener that made it (web/listener.py's `Listener`), which imports this
    module: a port here keeps the import one way."""

    limits: SocketLimits
    metrics: Metrics
    admission: Admission  # who the client is; an upgraded socket's open place, taken and given back
    sockets: set[WebSocket]  # every live socket: a socket adds itself when its connection is made

    def route(self, path: str) -> Endpoint | None:
        """The endpoint serving `path`, or None (404)."""

    def finished(self, transport: asyncio.BaseTransport) -> None:
        """The connection's first request is complete (or it closed): its handshake deadline stops.
        Idempotent."""

    def cork(self, ws: WebSocket) -> None:
        """Call `ws.uncork()` once at the end of this loop pass (replies are written together)."""

    def admit(self, ws: WebSocket, data: bytes) -> bool:
        """Whether `ws` may read `data` (frames) in this loop pass (intake.py). If not, the host keeps
        it, pauses the socket's reading and hands it back through `ws.read_frames` in a later pass, every
        socket's input in arrival order."""

    def took(self, messages: int) -> None:
        """`messages` were read in this loop pass (called by `ws.read_frames`)."""

    def forget(self, ws: WebSocket) -> None:
        """`ws` is closed: no longer one of `sockets`."""


class SocketLimits:
    __slots__ = ("always_write", "handshake_s", "heartbeat_s", "high_water", "max_bytes", "max_inbound")

    def __init__(self, *, high_water: int, max_bytes: int, max_inbound: int, heartbeat_s: float,
                 handshake_s: float = 10.0) -> None:
        self.high_water, self.max_bytes = high_water, max_bytes
        self.always_write = always_write(high_water=high_water, max_bytes=max_bytes)
        self.max_inbound, self.heartbeat_s = max_inbound, heartbeat_s
        self.handshake_s = handshake_s  # from accept to a complete request head (or the upgrade's answer)


class WebSocket(asyncio.Protocol):
    __slots__ = ("client", "endpoint", "errors", "expires_at", "floor", "fmt", "head", "held", "ip_key",
                 "issued_at", "last_seen", "listener", "lost", "open", "parked", "proto", "reader", "refused",
                 "replies", "role", "room", "seen", "session", "stats", "token_id", "transport", "user",
                 "wire")

    def __init__(self, listener: SocketHost) -> None:
        self.listener = listener
        # websockets' sans-I/O protocol: None while handshake.py reads the request, a ServerProtocol for a
        # request it leaves to websockets; once upgraded, None until a frame that is not simple data (a
        # ping, a close, a fragment, an error) or our close needs one (`protocol()`). Most sockets never
        # do: each websockets Protocol is ~1.2 KB of objects.
        self.proto: WsProtocol | None = None
        self.refused = False  # the upgrade was answered with a refusal (handshake.py's way in)
        self.lost = False  # the connection has ended (connection_lost)
        self.transport: asyncio.Transport | None = None
        self.endpoint: Endpoint | None = None
        self.fmt = Format.JSON
        self.role = ""
        self.wire = 0  # audience.wire_of(role, fmt), set with them when the socket is accepted
        self.user: str | None = None
        self.client = ""  # the client's IP address (through trusted proxies): web/admission.py
        self.ip_key: str | None = None  # what its per-IP limits count by; None when it is exempt
        self.expires_at = float("inf")  # the token's expiry (unix s): the socket is closed 4001 then
        self.issued_at = 0.0  # the token's iat (unix s), for revocations
        self.token_id = ""  # the token's jti, for revoking it alone
        self.room = ""
        self.floor = 0
        self.seen = 0  # hub.py: how far the room's fan-out log has been written to this socket
        self.parked: list[Batch] | None = None
        self.held: bytes | None = None
        self.head = b""  # the request head so far, while the handshake is not answered
        self.reader: FrameReader | None = None  # once upgraded: the frames of the incoming stream
        self.replies: list[bytes] | None = None  # direct replies of this loop pass, not written yet
        self.errors = 0
        self.last_seen = time.monotonic()
        self.session: Any = None  # per-endpoint extra state (e.g. an ingest queue), None for viewers
        self.stats = False  # a host or assistant socket that asked for live stats frames (?stats=1)
        # True while frames may be sent: kept as a plain attribute because fan-out reads it per socket
        # per tick; refreshed whenever the protocol state can change (_flush_protocol, close).
        self.open = False

    # --- asyncio.Protocol ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        transport.set_write_buffer_limits(high=self.listener.limits.high_water)
        self.listener.sockets.add(self)

    def data_received(self, data: bytes) -> None:
        self.last_seen = time.monotonic()
        if self.lost:
            return
        if self.reader is not None:  # upgraded: frames, as much as this loop pass reads (intake.py)
            if self.listener.admit(self, data):
                self.read_frames(data)
            return
        if self.proto is not None:  # websockets answers this request (handshake.py did not take it)
            self._websockets_receive(self.proto, data)
            return
        if self.refused:
            return  # answered with a refusal: what follows is read and dropped until the peer closes
        # Only the request head is parsed before it is answered: bytes a client sends after it without
        # waiting for the 101 are frames, read once the socket is open (and dropped if it is refused).
        self.head = data = self.head + data
        end = data.find(b"\r\n\r\n")
        if end < 0 and len(data) <= MAX_HEAD:
            return
        if end >= 0:
            self.head, head = data[end + 4:], data[:end + 4]
            upgrade = read_upgrade(head)
        else:
            self.head, head, upgrade = b"", data, None  # too long: websockets answers 431 or 414
        if upgrade is not None:
            self._upgrade(upgrade.target, upgrade.headers, upgrade.key)
        else:  # anything but a plain valid upgrade: websockets' handshake answers it, as it always did
            self.proto = ServerProtocol(max_size=self.listener.limits.max_inbound)
            self._websockets_receive(self.proto, head)
        if self.head and self.open:  # upgraded: what came behind the request is read as frames now
            early, self.head = self.head, b""
            self.data_received(early)

    def _websockets_receive(self, proto: WsProtocol, data: bytes) -> None:
        """Bytes of a request that websockets' handshake answers, and of what follows it."""
        assert isinstance(proto, ServerProtocol)
        refused_before = proto.handshake_exc
        proto.receive_data(data)
        if proto.handshake_exc is not refused_before and self.transport is not None:
            self.listener.finished(self.transport)  # refused by websockets (malformed, 414, 431)
            if isinstance(proto.handshake_exc, InvalidMessage):
                self._bad_request(proto.handshake_exc)
        for event in proto.events_received():
            if isinstance(event, Request):
                self._handshake(proto, event)
        self._flush_protocol()

    def read_frames(self, data: bytes) -> None:
        """Read frames from `data`, input of this socket that its listener admitted (`SocketHost.admit`)."""
        if self.reader is None or self.lost:
            return  # closed while its input waited
        items = self.reader.receive(data)
        self.listener.took(len(items))
        self._frames(items)

    def _frames(self, items: list[Message | Event]) -> None:
        """What framing.FrameReader read: messages it parsed, and websockets' events for the rest."""
        fed = self.reader is not None and self.reader.general  # websockets has bytes: it may answer
        for item in items:
            if type(item) is tuple:
                self._message(item[0], item[1])
            elif isinstance(item, Frame):
                fed = True
                self._frame(item)
        proto = self.proto
        if proto is not None and proto.parser_exc is not None and self.open:
            self._protocol_error(proto.parser_exc)
        if fed or (proto is not None and proto.parser_exc is not None):
            self._flush_protocol()

    def eof_received(self) -> bool | None:
        if self.reader is None and self.proto is None:  # no complete request, or refused: nothing to say
            if self.transport is not None:
                self.transport.close()
            return None
        if not self.lost:
            self.protocol().receive_eof()
            self._flush_protocol()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        # asyncio calls this exactly once per transport, whatever ended it (our close, the peer's, an abort
        # by the heartbeat or by close_all): the one place the address's open-socket place is given back.
        # A socket holds one exactly when it was upgraded (it has an endpoint) and its address is limited.
        if self.endpoint is not None and self.ip_key is not None:
            self.listener.admission.closed(self.ip_key)
        if self.transport is not None:
            self.listener.finished(self.transport)
        self.listener.forget(self)
        if self.endpoint is not None:
            endpoint, self.endpoint = self.endpoint, None
            endpoint.closed(self)
        self.proto = self.reader = None  # the reader holds our `protocol`: no cycle left to collect
        self.lost = True
        self.open = False

    def pause_writing(self) -> None:
        pass  # outbound.decide reads the buffer size itself

    def resume_writing(self) -> None:
        if self.held is not None and self.transport is not None and self.open:
            held, self.held = self.held, None
            self.transport.write(held)

    # --- sending ---------------------------------------------------------------------------------

    def send_frame(self, data: bytes, kind: FrameKind) -> None:
        """Write one pre-framed message, applying the slow-consumer policy."""
        transport = self.transport
        if transport is None or not self.open:
            return
        limits = self.listener.limits
        buffered = transport.get_write_buffer_size()
        if buffered + len(data) <= limits.always_write and self.held is None:
            transport.write(data)  # decide's answer for any kind this far below the limits: the fan-out's
            return                 # common case, without its per-socket call (outbound.always_write)
        decision = decide(kind, len(data), buffered, high_water=limits.high_water, max_bytes=limits.max_bytes)
        if decision is Decision.WRITE:
            if self.held is not None:
                held, self.held = self.held, None
                transport.write(held)
            transport.write(data)
        elif decision is Decision.HOLD:
            self.held = data
        else:
            self.listener.metrics.slow_closes.inc()
            self.close(CloseCode.TRY_AGAIN, "slow consumer: resume from your last offset")

    def send(self, message: dict[str, Any]) -> None:
        """A direct reply to this socket (claim results, errors, pongs)."""
        self.reply(encode_frame(message, self.fmt))

    def reply(self, data: bytes) -> None:
        """A pre-framed direct reply. The replies of one loop pass leave together at its end, in one
        write: a claimer tapping ten times gets ten answers for one syscall, not ten. (Room frames
        are not held back: the hub already writes each socket once per tick.)"""
        if not self.open:
            return
        if self.replies:
            self.replies.append(data)
            return
        self.replies = [data]
        self.listener.cork(self)

    def uncork(self) -> None:
        replies, self.replies = self.replies, None
        if replies:
            self.send_frame(replies[0] if len(replies) == 1 else b"".join(replies), FrameKind.EVENTS)

    def send_error(self, error: BaseException, req: Any = None) -> None:
        """The one error frame for `error` (errors.wire_error), echoing `req` when it may be echoed."""
        self.send(wire_error(error).frame(echo_req(req)))

    @property
    def conn_id(self) -> str:
        """Names this connection in logs (unique among the node's open sockets)."""
        return f"{id(self):x}"

    def protocol(self) -> WsProtocol:
        """websockets' protocol of this connection, made now if it was not needed until now. Not after
        the connection is lost."""
        if self.proto is None:
            self.proto = WsProtocol(Side.SERVER, max_size=self.listener.limits.max_inbound, logger=_WS_LOG)
        return self.proto

    def close(self, code: CloseCode, reason: str) -> None:
        transport = self.transport
        if self.lost or transport is None or transport.is_closing():
            return
        if self.reader is None and self.proto is None:  # no request answered yet, or refused: no frames
            transport.close()
            return
        proto = self.protocol()
        if code not in QUIET_CLOSES:  # the ones an operator may want to trace to a room and a client
            log.info("closing socket: %s", reason, extra={"room": self.room or None, "conn": self.conn_id,
                                                          "code": int(code), "client": self.client or None})
        handshake = proto.state is State.OPEN
        if handshake:
            proto.send_close(code, reason)
        self.held = None
        self._flush_protocol()
        self.open = False
        # After a close frame, TCP is not closed here: the peer answers with its own close frame and the
        # protocol then ends the stream (_flush_protocol). Closing at once, with frames the peer is still
        # sending unread in our receive buffer, made the kernel send a RST that could overtake our close
        # frame: a client that kept sending saw 1006 ("resume") instead of 1008/1009 ("terminal").
        if not handshake and not transport.is_closing():
            transport.close()
        # A peer that does not read would keep the buffer (and this object) forever.
        asyncio.get_running_loop().call_later(CLOSE_GRACE_S, transport.abort)

    # --- internals -------------------------------------------------------------------------------

    def _admit(self, target: str, headers: RequestHeaders) -> Endpoint:
        """The endpoint that takes the upgrade to `target`, which has accepted this socket; raises a
        LivecartError to refuse it."""
        url = urlsplit(target)
        endpoint = self.listener.route(url.path)
        assert self.transport is not None
        self.listener.finished(self.transport)  # the request is complete: no handshake deadline now
        if endpoint is None:
            raise NotFound("not_found", f"no websocket endpoint at {url.path}")
        admission = self.listener.admission
        self.client, self.ip_key = admission.client(self.transport.get_extra_info("peername"),
                                                    headers.get_all("X-Forwarded-For"))
        # The token (an HMAC, cheap) before the node's connect budget: upgrades without a valid
        # token, however many, must not spend the places of viewers who have one.
        endpoint.accept(self, url.path, dict(parse_qsl(url.query)), headers)
        admission.admit(self.ip_key)
        return endpoint

    def _upgrade(self, target: str, headers: RequestHeaders, key: str) -> None:
        """A valid upgrade request read by handshake.py: 101 and open, or refused with a reason."""
        transport = self.transport
        assert transport is not None
        try:
            endpoint = self._admit(target, headers)
        except LivecartError as exc:
            refusal = raw_error_response(exc)
        except Exception:  # a bug, not bad input: the client still gets an answer, not a dropped socket
            log.exception("websocket handshake failed", extra={"client": self.client or None})
            refusal = raw_error_response(Internal("the upgrade failed; try again"))
        else:
            transport.write(accept_response(key))
            self._opened(endpoint)
            return
        self.refused = True
        self.head = b""
        transport.write(refusal)
        self._end_stream(transport)  # as websockets ends a refused handshake: the answer, then FIN

    def _handshake(self, proto: ServerProtocol, request: Request) -> None:
        """A request websockets parsed (one handshake.py left to it): websockets checks and answers it."""
        response: Response
        try:
            endpoint = self._admit(request.path, RequestHeaders(list(request.headers.raw_items())))
            response = proto.accept(request)
        except LivecartError as exc:
            response = error_response(exc)
        except Exception:  # a bug, not bad input: the client still gets an answer, not a dropped socket
            log.exception("websocket handshake failed", extra={"client": self.client or None})
            response = error_response(Internal("the upgrade failed; try again"))
        proto.send_response(response)
        if response.status_code == 101:
            self._flush_protocol()  # the 101 leaves
            self._opened(endpoint)

    def _opened(self, endpoint: Endpoint) -> None:
        """The 101 is written: the socket is open and its endpoint's."""
        self.endpoint = endpoint
        if self.ip_key is not None:
            self.listener.admission.opened(self.ip_key)
        # From here on a plain open-state Protocol, made when first needed (`protocol()`): the
        # handshake's one kept the request (its parser holds it), its headers and the handshake's state
        # for the socket's whole life, ~2.5 KB per idle socket, and a Protocol is ~1.2 KB more
        # (tests/reliability/idle_probe.py).
        self.proto = None
        self.reader = FrameReader(self.protocol, masked=True, max_size=self.listener.limits.max_inbound)
        assert self.transport is not None
        self.open = not self.transport.is_closing()
        endpoint.opened(self)

    def _bad_request(self, exc: InvalidMessage) -> None:
        """websockets ends the stream without a word when the request is not valid HTTP (it answers
        only for sizes, 414/431): we answer 400 with the reason, before its end of stream."""
        if self.transport is not None:
            reason = f"not a valid HTTP/1.1 request: {exc.__cause__ or exc}"[:300]
            self.transport.write(raw_error_response(BadRequest("bad_request", reason)))

    def _frame(self, frame: Frame) -> None:
        if frame.opcode not in (Opcode.TEXT, Opcode.BINARY):
            return  # ping/pong/close: ServerProtocol answers them
        if not self.open:
            return  # sent after our close frame: discarded, like websockets does after a close
        if not frame.fin:
            self.send_error(BadRequest("fragmented", "fragmented messages are not supported"))
            self.close(CloseCode.POLICY, "fragmented messages are not supported")
            return
        self._message(frame.opcode is Opcode.TEXT, bytes(frame.data))

    def _message(self, is_text: bool, data: bytes) -> None:
        if self.endpoint is None:
            return
        message: Any = None
        try:
            message = decode(data, Format.JSON if is_text else Format.MSGPACK)
            if not isinstance(message, dict) or not isinstance(message.get("type"), str):
                raise BadRequest("bad_message", "a message is a map with a string 'type'")
            self.endpoint.received(self, message)
            self.errors = 0
        except LivecartError as exc:
            if not exc.temporary:  # slowing down (rate limited, busy, Redis away) is not misbehaving
                self.errors += 1
            self.send_error(exc, message.get("req") if isinstance(message, dict) else None)
            if self.errors >= MAX_ERRORS:
                self.close(CloseCode.POLICY, "too many bad messages")
        except Exception:  # a bug: answered, logged, and the socket (and the node) carry on
            log.exception("message failed", extra={"room": self.room or None, "conn": self.conn_id})
            self.send_error(Internal("the message failed; try again"))

    def _protocol_error(self, exc: Exception) -> None:
        """The one error frame for a frame the websocket layer refused, before its close frame."""
        if isinstance(exc, PayloadTooBig):
            error = BadRequest("too_large", f"frames are limited to {self.listener.limits.max_inbound} bytes")
        elif isinstance(exc, UnicodeDecodeError):
            error = BadRequest("bad_encoding", "text frames must be valid UTF-8")
        else:
            error = BadRequest("protocol_error", str(exc)[:200])
        self.send_error(error)

    def _flush_protocol(self) -> None:
        proto, transport = self.proto, self.transport
        if self.lost or transport is None:
            self.open = False
            return
        if self.replies:  # an error frame goes out before the close frame that follows it
            self.uncork()
        if proto is None:  # open (or not yet), and websockets has not been needed: nothing of its to send
            self.open = self.reader is not None and not transport.is_closing()
            return
        self.open = proto.state is State.OPEN and not transport.is_closing()
        for data in proto.data_to_send():
            if data:
                transport.write(data)
            elif not transport.is_closing():
                self._end_stream(transport)
        if proto.state is State.CLOSED and not transport.is_closing():
            transport.close()

    def _end_stream(self, transport: asyncio.Transport) -> None:
        """The protocol's end of stream (after a close frame, ours or the peer's): half-close, so the FIN
        follows the close frame, and keep reading (and discarding) until the peer closes too. A full close
        here would answer whatever the peer is still sending with a RST, which can destroy our close frame
        before the peer has read it (it then sees 1006 and reconnects instead of 1009). A peer that never
        closes is aborted after CLOSE_GRACE_S."""
        if transport.can_write_eof():
            transport.write_eof()
            asyncio.get_running_loop().call_later(CLOSE_GRACE_S, transport.abort)
        else:
            transport.close()


def error_response(exc: LivecartError) -> Response:
    """The refusal of an upgrade (or of a connection before any request), as an HTTP response."""
    wire = wire_error(exc)
    body = encode_json(wire.body())
    headers = Headers([("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                       ("Connection", "close"), *wire.headers().items()])
    return Response(wire.status, HTTPStatus(wire.status).phrase, headers, body)


def raw_error_response(exc: LivecartError) -> bytes:
    """`error_response` as bytes, for a connection that is answered without a parsed request."""
    response = error_response(exc)
    return response.serialize()
