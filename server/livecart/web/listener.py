"""The node's listening socket, shared by websockets and aiohttp on one port, and its front door.

`Listener` reads the first request line of each new connection: `GET /ws/...` becomes a `WebSocket`
(web/ws.py); anything else is handed, with the bytes read so far, to aiohttp's request handler. A
websocket request that comes later on a keep-alive connection aiohttp serves (pooling clients and
balancers send them) is handed back by aiohttp's `/ws/` route (web/upgrade.py) through `adopt`.

Until a connection has completed its first request (head and body) or its upgrade, it is *unfinished*:
it has `handshake_s` to do so (else 408 and closed), and counts toward its peer address's cap of
unfinished connections (429 at accept). The listener also runs the heartbeat and closes every socket
when the node stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from typing import cast

from livecart.errors import CloseCode, RequestLineTooLong, RequestTimeout, TooManyConnections
from livecart.intake import Intake
from livecart.metrics import Metrics
from livecart.web.admission import Admission
from livecart.web.ws import CLOSE_GRACE_S, Endpoint, SocketLimits, WebSocket, raw_error_response

__all__ = ["Listener"]

MAX_REQUEST_LINE = 8192
PING_FRAME = b"\x89\x00"


class Listener:
    """The node's listening socket: websockets for /ws/*, aiohttp for everything else."""

    def __init__(self, routes: dict[str, Endpoint], limits: SocketLimits, metrics: Metrics,
                 admission: Admission, intake: Intake | None = None) -> None:
        # aiohttp's protocol factory, for connections that are not websockets. Set by `serve_http`: the
        # aiohttp app (whose middleware keeps the listener's handshake deadlines) is built after this.
        self.http_factory: Callable[[], asyncio.Protocol] | None = None
        self.routes = routes  # path prefix -> endpoint
        self.limits = limits
        self.metrics = metrics
        self.admission = admission  # who the client is, and whether it may open another socket
        self.sockets: set[WebSocket] = set()
        # Connections that have not completed their first request (head and body) or upgrade yet
        # (slowloris, silent or half-sent requests): each has a deadline and counts toward its
        # address's cap of unfinished connections.
        self.unfinished: dict[asyncio.BaseTransport, tuple[str | None, asyncio.TimerHandle]] = {}
        self._corked: list[WebSocket] = []  # sockets with replies to write at the end of this loop pass
        # Socket input beyond this loop pass's budget (intake.py), in arrival order; each socket that has
        # a chunk here stops reading until it is read.
        self.intake = intake or Intake()
        self._waiting: deque[tuple[WebSocket, bytes]] = deque()
        self._pass_scheduled = False
        self._all_closed = asyncio.Event()
        self._heartbeat: asyncio.Task[None] | None = None

    def serve_http(self, http_factory: Callable[[], asyncio.Protocol]) -> None:
        """Hand connections that are not websockets to `http_factory`; call before accepting any."""
        self.http_factory = http_factory

    def route(self, path: str) -> Endpoint | None:
        for prefix, endpoint in self.routes.items():
            if path.startswith(prefix):
                return endpoint
        return None

    def cork(self, ws: WebSocket) -> None:
        if not self._corked:
            asyncio.get_running_loop().call_soon(self.write_replies)
        self._corked.append(ws)

    def write_replies(self) -> None:
        """Write the replies corked so far: at the end of the loop pass, or as soon as a batch of claim
        answers has been delivered (store/batcher.py: else they waited one more pass, and in a rush a
        pass is a slice of a fan-out or the next hundred claims)."""
        corked, self._corked = self._corked, []
        for ws in corked:
            ws.uncork()

    def admit(self, ws: WebSocket, data: bytes) -> bool:
        if not self._waiting and self.intake.admits(time.perf_counter()):
            return True
        self._waiting.append((ws, data))
        self.metrics.intake_waits.inc()
        if ws.transport is not None:
            ws.transport.pause_reading()
        self._schedule_pass()
        return False

    def took(self, messages: int) -> None:
        if self.intake.took(messages, time.perf_counter()):
            self._schedule_pass()

    def _schedule_pass(self) -> None:
        if not self._pass_scheduled:
            self._pass_scheduled = True
            asyncio.get_running_loop().call_soon(self._next_pass)

    def _next_pass(self) -> None:
        """A new loop pass: a new budget, spent first on the input that waited."""
        self._pass_scheduled = False
        intake, waiting = self.intake, self._waiting
        intake.next_pass()
        while waiting and intake.admits(time.perf_counter()):
            ws, data = waiting.popleft()
            if ws.transport is not None:
                ws.transport.resume_reading()
            ws.read_frames(data)
        if waiting:
            self._schedule_pass()

    def forget(self, ws: WebSocket) -> None:
        self.sockets.discard(ws)
        if not self.sockets:
            self._all_closed.set()

    def protocol(self) -> asyncio.Protocol:
        return _Sniffer(self)

    def arrived(self, transport: asyncio.Transport) -> bool:
        """A new connection: start its handshake deadline, or refuse it (429, closed) when its address
        already has its cap of unfinished connections. Calling contract: `finished(transport)` once its
        first request is complete or its upgrade answered (or it closed); the deadline calls it
        otherwise."""
        key = self.admission.arriving(transport.get_extra_info("peername"))
        if key is not None:
            if self.admission.unfinished.full(key):
                self.metrics.ip_rejections.labels(limit="unfinished").inc()
                transport.write(raw_error_response(TooManyConnections(
                    self.admission.unfinished.limit, "connections that have not sent a request yet")))
                transport.close()
                return False
            self.admission.unfinished.opened(key)
        timer = asyncio.get_running_loop().call_later(self.limits.handshake_s, self._expire, transport)
        self.unfinished[transport] = (key, timer)
        return True

    def finished(self, transport: asyncio.BaseTransport) -> None:
        entry = self.unfinished.pop(transport, None)
        if entry is not None:
            key, timer = entry
            timer.cancel()
            if key is not None:
                self.admission.unfinished.closed(key)

    def _expire(self, transport: asyncio.Transport) -> None:
        self.finished(transport)
        if transport.is_closing():
            return  # it ended on its own (aiohttp's side does not tell us): only its place is given back
        self.metrics.handshake_timeouts.inc()
        # Nothing has been answered on this connection yet, so a response is still in order here.
        transport.write(raw_error_response(RequestTimeout(
            "request_timeout", f"the request was not complete within {self.limits.handshake_s:g} s")))
        transport.close()
        asyncio.get_running_loop().call_later(CLOSE_GRACE_S, transport.abort)

    def adopt(self, transport: asyncio.Transport, head: bytes) -> None:
        """Serve a connection taken from aiohttp as a websocket, from its request `head` (the request
        line and headers of the upgrade, which aiohttp has already read from the connection)."""
        ws = WebSocket(self)
        transport.set_protocol(ws)
        ws.connection_made(transport)
        # aiohttp may have paused reading while it held an upgrade request; the socket reads from now.
        transport.resume_reading()
        ws.data_received(head)

    def start_heartbeat(self) -> None:
        self._heartbeat = asyncio.create_task(self._heartbeat_loop(), name="heartbeat")

    async def _heartbeat_loop(self) -> None:
        """Ping every socket; abort those silent for two periods (their peer is gone); close those whose
        token has expired (a leaked overlay URL stops working)."""
        period = self.limits.heartbeat_s
        while True:
            await asyncio.sleep(period)
            dead_before = time.monotonic() - 2 * period
            now = time.time()
            for ws in list(self.sockets):
                if ws.transport is None:
                    continue
                if ws.expires_at <= now:
                    ws.close(CloseCode.UNAUTHORIZED, "token expired; reconnect with a new token")
                elif ws.last_seen < dead_before:
                    ws.transport.abort()
                elif ws.open:
                    ws.transport.write(PING_FRAME)

    async def close_all(self, code: CloseCode, reason: str, grace_s: float) -> None:
        """Close every socket with `code`, give them `grace_s` to read it, then abort the rest."""
        if self._heartbeat:
            self._heartbeat.cancel()
        for transport in list(self.unfinished):  # no request yet: nothing to say goodbye to
            self.finished(transport)
            transport.close()
        self._all_closed.clear()
        for ws in list(self.sockets):
            ws.close(code, reason)
        if self.sockets:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._all_closed.wait(), grace_s)
        for ws in list(self.sockets):
            if ws.transport is not None:
                ws.transport.abort()


class _Sniffer(asyncio.Protocol):
    """Reads a connection's first request line, then hands the transport to the right protocol."""

    __slots__ = ("buffer", "listener", "transport")

    def __init__(self, listener: Listener) -> None:
        self.listener = listener
        self.transport: asyncio.Transport | None = None
        self.buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        if not self.listener.arrived(self.transport):
            self.transport = None

    def data_received(self, data: bytes) -> None:
        if self.transport is None:
            return  # refused on arrival; the answer is on its way and the connection closing
        self.buffer += data
        end = self.buffer.find(b"\r\n")
        if end < 0:
            if len(self.buffer) > MAX_REQUEST_LINE:
                self.transport.write(raw_error_response(RequestLineTooLong(
                    "request_line_too_long", f"a request line is at most {MAX_REQUEST_LINE} bytes")))
                self.transport.close()
                self.listener.finished(self.transport)
                self.transport = None
            return
        target: asyncio.Protocol
        if self.buffer.startswith(b"GET /ws/"):
            target = WebSocket(self.listener)
        else:
            assert self.listener.http_factory is not None, "Listener.serve_http was not called"
            target = self.listener.http_factory()
        self.transport.set_protocol(target)
        target.connection_made(self.transport)
        target.data_received(self.buffer)
        self.buffer = b""

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is not None:
            self.listener.finished(self.transport)
        self.transport = None
