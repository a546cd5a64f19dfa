"""A small asyncio client for livecart room sockets, for Python viewer apps, bots and load tools.

    from livecart.client import RoomClient

    def show(frame, events):
        for event in events:                       # new room events, in offset order, each once
            if event["type"] == "comment":
                print(event["user"]["name"], event["text"])

    client = RoomClient("http://127.0.0.1:8080", "demo", token, on_frame=show)
    await client.connect()                         # the first room frame: snapshot (or recovered)
    runner = asyncio.create_task(client.run())     # stays connected: resumes after every drop
    answer = await client.claim(deal_id, qty=1)    # {"type": "claim_result", "ok": ..., ...}
    await client.close()

Guarantees and calling contract:

- `connect()` opens one socket and returns its first room frame. `run()` then keeps the room open
  until `close()`: after every close that docs/protocol.md §8 calls resumable (1001, 1006, 1011, 1012,
  1013, and 4000 which starts over without a position) it waits a full-jitter exponential backoff
  (`Backoff`) and reconnects with `since` + `epoch`, so the server sends exactly the missed events.
  After an upgrade refused with `Retry-After` (503 `busy`: the node is admitting too many new sockets;
  429: this address is over a per-IP limit) it waits at least that long, plus up to half as long again
  (`Backoff.after_refusal`). A terminal close (1002, 1003, 1007, 1008, 1009, 4001) or a refused upgrade
  whose answer is not `temporary` (docs/protocol.md §2) makes `run()` raise `ConnectionTerminated`.
  A `run()` that was never `connect()`ed connects first.
- `on_frame(frame, events)` is called for every decoded frame, synchronously from the socket's read
  callback (keep it short; it must not raise): `events` are the frame's room events that are new to
  this client, in offset order. Events at or below the last applied offset are dropped and counted
  in `cursor.duplicates`; a hole in the offsets is counted in `cursor.gaps` (the server promises
  neither ever happens; the counts let a load tool prove it).
- `claim()` and `comment()` send one message and wait for the answer with the same `req`
  (`claim_result`, `comment_result`, or `error`). They raise `NotConnected` when the socket is not
  open; a claim is idempotent by `req`, so sending it again after a reconnect is safe.

The socket side is the `websockets` library's sans-I/O protocol under an asyncio `Protocol`: no
task and no future per frame, so one process can hold thousands of sockets. Only the public wire
format is used (docs/protocol.md); nothing here touches server internals.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import random
import ssl
import urllib.parse
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

from websockets.client import ClientProtocol
from websockets.exceptions import InvalidStatus
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import Event, State
from websockets.uri import parse_uri

from livecart.errors import BadRequest, CloseCode
from livecart.framing import FrameReader, Message, client_frame
from livecart.protocol import Format, decode, encode

__all__ = ["RESUMABLE", "Backoff", "ConnectionTerminated", "ConsoleClient", "ConsoleError", "NotConnected",
           "RoomClient", "RoomCursor"]

ABNORMAL = 1006  # no close frame at all (a dead link, a refused upgrade): resume
# docs/protocol.md §8, from the server's own table; every other code is terminal
RESUMABLE = frozenset({int(code) for code in CloseCode if code.temporary} | {ABNORMAL})
RESYNC = int(CloseCode.RESYNC)
MAX_RETRY_AFTER_S = 300  # a longer Retry-After (a misconfigured proxy?) is waited out this long
MAX_FRAME = 2**24  # larger frames go to websockets, which refuses them (1009)
Frame_ = dict[str, Any]
OnFrame = Callable[[Frame_, list[Frame_]], None]
Decoder = Callable[[bytes], Any]  # payload -> message; raises livecart.errors.BadRequest
OnAnswer = Callable[[Frame_ | None], None]  # the answer frame, or None: the socket closed first

class ConnectionTerminated(Exception):
    """The server closed with a terminal code, or refused the upgrade for good (4xx)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason

    def __str__(self) -> str:
        return f"connection terminated: {self.code} {self.reason}"


class NotConnected(Exception):
    """The room socket is not open right now (connecting, backing off, or closed)."""


@dataclass(slots=True)
class Backoff:
    """Full-jitter capped exponential backoff: the n-th wait is uniform in [0, min(cap, base * 2**n)].

    Jitter spreads a whole audience that lost one node over the whole window instead of one instant.
    """

    base_s: float = 0.5
    cap_s: float = 30.0
    attempt: int = 0
    rng: random.Random = field(default_factory=random.Random)

    def next_delay(self) -> float:
        delay = self.rng.uniform(0, min(self.cap_s, self.base_s * 2 ** min(self.attempt, 30)))
        self.attempt += 1
        return delay

    def after_refusal(self, retry_after_s: float) -> float:
        """The wait after an upgrade refused with `Retry-After: retry_after_s`: never sooner than the node
        asked, plus up to half as long again (the node already spreads a herd over whole seconds; this
        spreads each second's share), and never shorter than this backoff's own next draw."""
        return max(self.next_delay(), retry_after_s * self.rng.uniform(1.0, 1.5))

    def reset(self) -> None:
        self.attempt = 0


def _answer(body: bytes) -> Any:
    """A refusal's JSON body, or None when it has none (an answer from a balancer, say)."""
    try:
        return decode(body, Format.JSON) if body else None
    except BadRequest:
        return None


def _temporary(status: int, answer: Any) -> bool:
    """Whether a refused request is worth sending again: the answer's `temporary` (docs/protocol.md §2),
    or, for an answer that is not livecart's (a balancer's 502/503), whether it is a 5xx or a 429."""
    flag = answer.get("temporary") if isinstance(answer, dict) else None
    if isinstance(flag, bool):
        return flag
    return status >= 500 or status == 429


def _retry_after(response: Response) -> int | None:
    """The whole seconds of a refusal's `Retry-After` (at most `MAX_RETRY_AFTER_S`), or None when it has
    none or an HTTP date, which livecart never sends."""
    value = response.headers.get("Retry-After", "").strip()
    if not value.isdigit():
        return None
    return min(int(value), MAX_RETRY_AFTER_S)


@dataclass(slots=True)
class RoomCursor:
    """Where a client is in a room's event stream (pure: feed it frames, get the new events).

    Call `apply(frame)` with every decoded room frame in arrival order; it returns the frame's events
    that are new, in order. `query()` gives the `since`/`epoch` pair to resume with.
    """

    epoch: str | None = None
    last: int | None = None  # offset of the last event applied (or of the snapshot loaded)
    received: int = 0  # new events applied, over every connection
    duplicates: int = 0  # events at or below `last`
    gaps: int = 0  # offsets skipped inside a batch
    missed: int = 0  # offsets skipped because a resume got a snapshot of the same epoch
    resets: int = 0  # snapshots of a different epoch after the first: the room's history was lost

    def query(self) -> dict[str, str]:
        if self.epoch is None or self.last is None:
            return {}
        return {"since": str(self.last), "epoch": self.epoch}

    def forget(self) -> None:
        """Start over without a position (close code 4000)."""
        self.epoch = None
        self.last = None

    def apply(self, frame: Frame_) -> list[Frame_]:
        kind = frame.get("type")
        if kind == "batch":
            events: list[Frame_] = frame.get("events") or []
            if not events or self.last is None:
                return events
            last = self.last
            fresh: list[Frame_] = []
            for event in events:
                offset = event["offset"]
                if offset <= last:
                    self.duplicates += 1
                    continue
                if offset != last + 1:
                    self.gaps += offset - last - 1
                fresh.append(event)
                last = offset
            self.last = last
            self.received += len(fresh)
            return fresh
        if kind == "snapshot":
            if self.epoch is not None and frame["epoch"] != self.epoch:
                self.resets += 1
            elif self.last is not None and frame["offset"] > self.last:
                self.missed += frame["offset"] - self.last
            self.epoch, self.last = frame["epoch"], frame["offset"]
        elif kind == "recovered":
            self.epoch = frame["epoch"]
        return []


class _Session(asyncio.Protocol):
    """One websocket connection: the websockets sans-I/O protocol driven by asyncio callbacks."""

    def __init__(self, uri: str, fmt: Format, on_message: Callable[[Frame_], None],
                 decoder: Decoder | None = None) -> None:
        self.ws = ClientProtocol(parse_uri(uri), max_size=MAX_FRAME)
        self.fmt = fmt
        self.decode: Decoder = decoder or (lambda data: decode(data, fmt))
        self.on_message = on_message
        self.transport: asyncio.Transport | None = None
        self.dead = False  # given up on: nothing it receives may reach the client any more
        self.pending = b""  # the response head so far
        self.reader: FrameReader | None = None  # once open: the frames of the incoming stream
        # Messages sent in one pass of the event loop leave in one write (a claimer's taps, a burst of
        # requests): one syscall instead of one each, on this side and on the server's.
        self.outbox: list[bytes] = []
        loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[tuple[int, str]] = loop.create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)
        if self.dead:  # a connect that timed out and was given up on completed anyway
            self.transport.abort()
            return
        self.ws.send_request(self.ws.connect())
        self._flush()

    def data_received(self, data: bytes) -> None:
        # The response head goes to websockets whole; then framing.FrameReader reads the frames a room
        # socket receives all day itself (websockets' parser costs ~15 us per frame, as much as
        # everything else a load tool does with it) and hands websockets the rest, whole.
        if self.reader is not None:
            self._handle_items(self.reader.receive(data))
            return
        buf = self.pending + data if self.pending else data
        self.pending = b""
        head_end = buf.find(b"\r\n\r\n")
        if head_end < 0 and len(buf) <= 65536:
            self.pending = buf
            return
        cut = head_end + 4 if head_end >= 0 else len(buf)  # no end in sight: websockets decides
        self.ws.receive_data(buf[:cut])
        self._handle_events()
        if self.ws.state is State.OPEN:
            # Text payloads are not checked for UTF-8 here: decoding them checks, and fails 1007.
            self.reader = FrameReader(self.ws, masked=False, max_size=MAX_FRAME, check_utf8=False)
            if len(buf) > cut:
                self._handle_items(self.reader.receive(buf[cut:]))
        elif len(buf) > cut:
            self.ws.receive_data(buf[cut:])
            self._handle_events()

    def _handle_items(self, items: list[Message | Event]) -> None:
        fed = self.reader is not None and self.reader.general  # websockets had bytes: it may answer
        for item in items:
            if type(item) is tuple:
                self._deliver(item[1])
            else:
                fed = True
                if isinstance(item, Frame) and (item.opcode is Opcode.TEXT or item.opcode is Opcode.BINARY):
                    self._deliver(bytes(item.data))
        if fed:
            self._flush()  # a pong, a close frame

    def eof_received(self) -> bool:
        self.ws.receive_eof()
        self._handle_events()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(f"connection lost before the upgrade: {exc}"))
        if not self.closed.done():
            rcvd = self.ws.close_rcvd
            self.closed.set_result((rcvd.code, rcvd.reason) if rcvd is not None else (1006, ""))

    def send(self, message: Frame_) -> None:
        if self.transport is None or self.transport.is_closing() or self.ws.state is not State.OPEN:
            raise NotConnected("the room socket is not open")
        if not self.outbox:
            asyncio.get_running_loop().call_soon(self._flush)
        self.outbox.append(client_frame(encode(message, self.fmt), self.fmt is Format.JSON))

    def close(self, code: int = 1000) -> None:
        if self.transport is not None and not self.transport.is_closing():
            if not self.opened.done() or self.opened.exception() is not None:
                self.abort()
                return
            if self.ws.close_sent is None:
                self.ws.send_close(code)
                self._flush()
            # The server closes TCP after the close handshake; don't wait for a slow one.
            asyncio.get_running_loop().call_later(2.0, self.abort)

    def abort(self) -> None:
        self.dead = True
        if self.transport is not None:
            self.transport.abort()

    def _open(self) -> bool:
        return self.ws.state is State.OPEN

    def _deliver(self, payload: bytes) -> None:
        try:
            message = self.decode(payload)
        except BadRequest:
            self.ws.fail(1007, "undecodable frame")
            self._flush()
            return
        if isinstance(message, dict) and not self.dead:
            self.on_message(message)

    def _handle_events(self) -> None:
        for event in self.ws.events_received():
            if isinstance(event, Frame):
                if event.opcode is Opcode.TEXT or event.opcode is Opcode.BINARY:
                    self._deliver(bytes(event.data))
            elif isinstance(event, Response) and not self.opened.done():
                if self.ws.handshake_exc is not None:
                    self.opened.set_exception(self.ws.handshake_exc)
                else:
                    self.opened.set_result(None)
        self._flush()

    def _flush(self) -> None:
        transport = self.transport
        assert transport is not None
        if self.outbox:  # before anything websockets has queued since, e.g. a close frame
            if not transport.is_closing():
                transport.write(b"".join(self.outbox))
            self.outbox.clear()
        for data in self.ws.data_to_send():
            if data:
                transport.write(data)
            elif transport.can_write_eof():
                transport.write_eof()
        if self.ws.close_expected():
            asyncio.get_running_loop().call_later(2.0, self.abort)


class RoomClient:
    """One viewer's (or host's, or overlay's) socket in one room, kept open and resumed across drops.

    `url` is the node's base URL (`http://host:port`, `https://...`, or the same with ws/wss).
    `token` is a signed token of any role of the room. Attributes a caller may read: `cursor`
    (position and counts), `closes` (close codes seen), `connects` (attempts), `failed_connects`,
    `connect_errors` (why they failed), `retry_afters` (the Retry-After seconds of refused upgrades),
    `resumes` (recovered first frames), `snapshots`, `is_open`.
    """

    def __init__(self, url: str, room: str, token: str, *, fmt: str = "json",
                 on_frame: OnFrame | None = None, on_open: Callable[[], None] | None = None,
                 on_close: Callable[[int], None] | None = None,
                 backoff: Backoff | None = None, connect_timeout_s: float = 10.0,
                 local_addr: tuple[str, int] | None = None, decoder: Decoder | None = None) -> None:
        base = urllib.parse.urlsplit(url)
        scheme = {"http": "ws", "https": "wss"}.get(base.scheme, base.scheme)
        if scheme not in ("ws", "wss"):
            raise ValueError("the URL must be http(s):// or ws(s)://")
        self.tls = ssl.create_default_context() if scheme == "wss" else None
        self.host = base.hostname or "127.0.0.1"
        self.port = base.port or (443 if self.tls else 80)
        self.path = f"/ws/rooms/{urllib.parse.quote(room)}"
        self.base_uri = f"{scheme}://{base.netloc}{self.path}"
        self.token = token
        self.format = Format.parse(fmt)
        self.on_frame = on_frame
        self.on_open = on_open  # each connect that got its first frame; under run(), one on_close follows
        self.on_close = on_close
        self.backoff = backoff or Backoff()
        self.connect_timeout_s = connect_timeout_s
        self.local_addr = local_addr
        # Replaces the decoding of frame payloads, e.g. with one cache shared by many clients: a room
        # sends each tick's frame to every socket as the same bytes. Shared results must be read-only.
        self.decoder = decoder
        self.cursor = RoomCursor()
        self.closes: Counter[int] = Counter()
        self.connects = 0
        self.failed_connects = 0
        self.connect_errors: Counter[str] = Counter()
        self.retry_afters: Counter[int] = Counter()  # Retry-After seconds of refused upgrades -> how many
        self.resumes = 0
        self.snapshots = 0
        self._session: _Session | None = None
        self._first: asyncio.Future[Frame_] | None = None
        self._waiting: dict[str, OnAnswer] = {}
        self._reqs = itertools.count(1)
        self._closing = False
        self._closed = asyncio.Event()  # set by close(): cuts a backoff wait short

    @property
    def closing(self) -> bool:
        return self._closing

    @property
    def is_open(self) -> bool:
        session = self._session
        return session is not None and session.opened.done() and not session.closed.done()

    async def connect(self) -> Frame_:
        """Open one socket (resuming if the cursor has a position) and return its first room frame.

        Raises `ConnectionTerminated` for a refusal that is not `temporary`, `InvalidStatus` for one that
        is (over a per-address limit, or the node is busy: worth a retry after a backoff),
        `OSError`/`TimeoutError` when the node cannot be reached.
        """
        query = {"token": self.token, "format": self.format.value, **self.cursor.query()}
        uri = f"{self.base_uri}?{urllib.parse.urlencode(query)}"
        loop = asyncio.get_running_loop()
        self._first = loop.create_future()
        session = _Session(uri, self.format, self._on_message, self.decoder)
        self._session = session
        self.connects += 1
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                await loop.create_connection(lambda: session, self.host, self.port, ssl=self.tls,
                                             local_addr=self.local_addr)
                try:
                    await session.opened
                except InvalidStatus as exc:
                    if not _temporary(exc.response.status_code, _answer(bytes(exc.response.body))):
                        body = exc.response.body.decode(errors="replace")
                        raise ConnectionTerminated(exc.response.status_code, body) from exc
                    raise
                first = self._first
                await asyncio.wait((first, session.closed), return_when=asyncio.FIRST_COMPLETED)
                if not first.done():
                    code, reason = session.closed.result()
                    raise ConnectionError(f"closed with {code} {reason} before the first frame")
                if self.on_open is not None:
                    self.on_open()
                return first.result()
        except BaseException:
            session.abort()
            raise

    async def run(self) -> None:
        """Stay connected until `close()`: wait for each close, back off, resume. See the module doc."""
        if self._session is None:
            await self._reconnect()
        while not self._closing:
            assert self._session is not None
            code, reason = await self._session.closed
            self.closes[code] += 1
            self._no_answers()
            if self.on_close is not None:
                self.on_close(code)
            if self.closing:  # close() was called while we waited
                return
            if code not in RESUMABLE:
                raise ConnectionTerminated(code, reason)
            if code == RESYNC:
                self.cursor.forget()
            await self._reconnect()

    async def _reconnect(self) -> None:
        retry_after: int | None = None
        while not self._closing:
            if self.connects:
                delay = (self.backoff.next_delay() if retry_after is None
                         else self.backoff.after_refusal(retry_after))
                with contextlib.suppress(TimeoutError):  # a wait of up to Retry-After: close() ends it
                    await asyncio.wait_for(self._closed.wait(), delay)
            try:
                await self.connect()
                return
            except (OSError, TimeoutError, InvalidStatus, ConnectionError) as exc:
                if self.closing:  # close() was called while connecting: not a failure
                    return
                self.failed_connects += 1
                status = exc.response.status_code if isinstance(exc, InvalidStatus) else None
                self.connect_errors[f"HTTP {status}" if status else type(exc).__name__] += 1
                retry_after = _retry_after(exc.response) if isinstance(exc, InvalidStatus) else None
                if retry_after is not None:
                    self.retry_afters[retry_after] += 1

    async def request(self, message: Frame_, timeout_s: float = 10.0) -> Frame_:
        """Send `message` with a fresh `req` unless it has one; wait for the answer carrying that `req`.
        Raises `NotConnected` if the socket is not open or closes first, TimeoutError after `timeout_s`."""
        waiter: asyncio.Future[Frame_ | None] = asyncio.get_running_loop().create_future()

        def answered(answer: Frame_ | None) -> None:
            if not waiter.done():
                waiter.set_result(answer)

        req = self.send_request(message, answered)
        try:
            async with asyncio.timeout(timeout_s):
                answer = await waiter
        finally:
            self._waiting.pop(req, None)
        if answer is None:
            raise NotConnected("the room socket closed before the answer")
        return answer

    def send_request(self, message: Frame_, on_answer: OnAnswer) -> str:
        """`request` without a task, a future or a timer: send `message` now and call `on_answer` with
        the answer carrying its `req` (returned), or with None when the socket closes first (seen by
        `run()`). There is no timeout: a caller sending thousands keeps one clock for all of them, and
        may drop a request it gave up on with `forget_request(req)`. Raises `NotConnected`."""
        req = str(message.setdefault("req", f"r{next(self._reqs)}"))
        if self._session is None:
            raise NotConnected("not connected")
        self._session.send(message)
        self._waiting[req] = on_answer
        return req

    def flush(self) -> None:
        """Write what was sent in this pass of the event loop now, instead of at its end (a caller
        that times its requests from their send, and has a long pass ahead)."""
        if self._session is not None and self._session.transport is not None and self._session.outbox:
            self._session._flush()

    def forget_request(self, req: str) -> None:
        self._waiting.pop(req, None)

    async def claim(self, deal: str, qty: int = 1, req: str | None = None,
                    timeout_s: float = 10.0) -> Frame_:
        """Claim `qty` units of `deal`; `req` is the idempotency key (a fresh one when None)."""
        message: Frame_ = {"type": "claim", "deal": deal, "qty": qty}
        if req is not None:
            message["req"] = req
        return await self.request(message, timeout_s)

    async def comment(self, text: str, req: str | None = None, timeout_s: float = 10.0) -> Frame_:
        message: Frame_ = {"type": "comment", "text": text}
        if req is not None:
            message["req"] = req
        return await self.request(message, timeout_s)

    def pause_reading(self) -> None:
        """Stop reading from the socket (the server sees a slow consumer) until `resume_reading()`."""
        if self._session is not None and self._session.transport is not None:
            self._session.transport.pause_reading()

    def resume_reading(self) -> None:
        if self._session is not None and self._session.transport is not None:
            self._session.transport.resume_reading()

    def abort(self) -> None:
        """Drop the connection without a close handshake, as a network failure would (code 1006)."""
        if self._session is not None:
            self._session.abort()

    async def close(self) -> None:
        """Close with 1000 and stop `run()`; waits at most about 2 s for the server's close."""
        self._closing = True
        self._closed.set()
        session = self._session
        if session is not None:
            session.close()
            try:
                async with asyncio.timeout(3.0):
                    await asyncio.shield(session.closed)
            except TimeoutError:
                session.abort()
        self._no_answers()  # whether or not run() is there to see the close

    def _no_answers(self) -> None:
        """Every request still waiting hears None: its socket closed before the answer."""
        waiting, self._waiting = self._waiting, {}
        for on_answer in waiting.values():
            on_answer(None)

    def _on_message(self, frame: Frame_) -> None:
        kind = frame.get("type")
        if kind in ("snapshot", "recovered"):
            if kind == "snapshot":
                self.snapshots += 1
            else:
                self.resumes += 1
            self.backoff.reset()
            if self._first is not None and not self._first.done():
                self._first.set_result(frame)
        elif kind != "batch":
            req = frame.get("req")
            on_answer = self._waiting.pop(req, None) if isinstance(req, str) else None
            if on_answer is not None:
                on_answer(frame)
        events = self.cursor.apply(frame)
        if self.on_frame is not None:
            self.on_frame(frame, events)



class ConsoleClient:
    """A room's HTTP writes (deals and their steps, HTTP claims) for scripts and integrations, each with
    an `Idempotency-Key` (docs/protocol.md §3.1) and sent again with the same key after a `temporary`
    refusal (503 unavailable, 429 rate_limited, ...) or a lost connection: a retry never creates a
    second deal nor restocks twice.

        console = ConsoleClient("http://127.0.0.1:8080", "demo", assistant_token)
        deal = await console.create_deal({...})          # {"id": ..., "state": ..., ...}
        await console.control(deal["id"], "restock", {"add": 5})
        await console.close()

    Each method returns the answer's JSON for a 2xx, and raises `ConsoleError` (status, body) for any
    other answer, or the last connection error once `attempts` are used up."""

    def __init__(self, url: str, room: str, token: str, *, attempts: int = 3, retry_s: float = 0.5) -> None:
        import aiohttp

        self._aiohttp = aiohttp
        self.base = f"{url.rstrip('/')}/api/rooms/{urllib.parse.quote(room, safe='')}"
        self.token = token
        self.attempts, self.retry_s = attempts, retry_s
        self._session: Any = None

    async def create_deal(self, spec: dict[str, Any], key: str | None = None) -> dict[str, Any]:
        return (await self.write("POST", "/deals", spec, key))["deal"]  # type: ignore[no-any-return]  # JSON: a DEAL map

    async def control(self, deal_id: str, op: str, body: dict[str, Any] | None = None,
                      key: str | None = None) -> dict[str, Any]:
        """start, stop, restock (`{"add": N}`) or keyword (`{"keyword": W}`): the deal after it."""
        path = f"/deals/{urllib.parse.quote(deal_id, safe='')}/{op}"
        return (await self.write("POST", path, body, key))["deal"]  # type: ignore[no-any-return]  # JSON: a DEAL map

    async def claim(self, deal_id: str, qty: int, claim_key: str, key: str | None = None) -> dict[str, Any]:
        """An HTTP claim (a viewer token with a user): `{"ok": true, "claim"}` or `{"ok": false,
        "reason"}`."""
        path = f"/deals/{urllib.parse.quote(deal_id, safe='')}/claims"
        return await self.write("POST", path, {"qty": qty, "key": claim_key}, key, ok=(200, 409))

    async def write(self, method: str, path: str, body: Any = None, key: str | None = None,
                    ok: tuple[int, ...] = ()) -> dict[str, Any]:
        """One write, with `key` (a new random one when None) as its Idempotency-Key on every attempt."""
        key = key or os.urandom(16).hex()
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json",
                   "Idempotency-Key": key}
        data = None if body is None else encode(body, Format.JSON)
        if self._session is None:
            self._session = self._aiohttp.ClientSession()
        for attempt in range(self.attempts):
            if attempt:
                await asyncio.sleep(self.retry_s * attempt)
            try:
                async with self._session.request(method, self.base + path, data=data, headers=headers,
                                                 timeout=self._aiohttp.ClientTimeout(total=10)) as resp:
                    status, raw = resp.status, await resp.read()
            except (self._aiohttp.ClientError, TimeoutError):
                if attempt == self.attempts - 1:
                    raise
                continue
            answer = _answer(raw) or {}
            if _temporary(status, answer) and attempt < self.attempts - 1:
                continue
            if 200 <= status < 300 or status in ok:
                return answer
            raise ConsoleError(status, answer)
        raise AssertionError("unreachable")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class ConsoleError(Exception):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"{status} {body}")
        self.status, self.body = status, body
