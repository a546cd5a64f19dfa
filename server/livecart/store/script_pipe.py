"""One Redis connection for the claim path's batched script calls (store/batcher.py), as a plain protocol:
a batch is written the moment it is packed, and each reply is handed over where it is read.

Why not a pooled redis-py connection: on its asyncio connection a batch crossed three passes of the
event loop before its answers could be written (the pool's health read with a zero timeout, the send's
`wait_for` task, the reply waking the reading task), and in a rush of 8,000 viewers a pass is a slice of
a fan-out or the next hundred claims, 15-25 ms each: a node-side trace showed a batch sent to Redis one
pass after it was packed, and its reply read 40-60 ms after Redis had written it.

Replies come in the order calls were written (Redis answers one connection in order), so each write
queues one callback per call. The connection is opened on first use and again after it is lost; a call
that was written but not answered when it is lost (Redis restarted, the socket died, or no reply within
`timeout_s`) gets the error, never silence. Plain TCP and unix sockets, with AUTH and SELECT from the
client's settings; `pipe_for` answers None for TLS and Redis Cluster, which keep redis-py's path.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import hiredis
import redis.asyncio as aioredis
from redis.asyncio import RedisCluster
from redis.asyncio.connection import SSLConnection, UnixDomainSocketConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

__all__ = ["ScriptPipe", "command", "pipe_for"]

log = logging.getLogger("livecart.store")

Reply = Callable[[Any], None]  # gets one call's reply: its value, a ResponseError, or the connection's error


@dataclass(frozen=True, slots=True)
class Address:
    host: str | None
    port: int
    path: str | None  # a unix socket: host and port unused
    username: str | None
    password: str | None
    db: int
    connect_timeout_s: float
    timeout_s: float


def pipe_for(client: aioredis.Redis | RedisCluster) -> ScriptPipe | None:
    """A pipe to the Redis that `client` talks to, or None where it cannot be one (TLS, Cluster)."""
    if isinstance(client, RedisCluster):
        return None
    pool = client.connection_pool
    kwargs = pool.connection_kwargs
    if issubclass(pool.connection_class, SSLConnection):
        return None
    unix = issubclass(pool.connection_class, UnixDomainSocketConnection)
    return ScriptPipe(Address(
        host=None if unix else kwargs.get("host", "localhost"), port=int(kwargs.get("port", 6379)),
        path=kwargs.get("path") if unix else None, username=kwargs.get("username"),
        password=kwargs.get("password"), db=int(kwargs.get("db") or 0),
        connect_timeout_s=float(kwargs.get("socket_connect_timeout") or 5),
        timeout_s=float(kwargs.get("socket_timeout") or 5)))


def _error(reply: Any) -> Any:
    """hiredis gives an error reply as a ResponseError; NOSCRIPT as redis-py names it."""
    if isinstance(reply, ResponseError) and str(reply).startswith("NOSCRIPT"):
        return NoScriptError(str(reply))
    return reply


def command(*words: Any) -> bytes:
    """One Redis command in RESP, hand-packed: bytes as they are, any other word as its str."""
    out = [b"*%d\r\n" % len(words)]
    for word in words:
        data = word if isinstance(word, bytes) else str(word).encode()
        out += (b"$%d\r\n" % len(data), data, b"\r\n")
    return b"".join(out)


class ScriptPipe(asyncio.Protocol):
    def __init__(self, address: Address) -> None:
        self.address = address
        self._transport: asyncio.Transport | None = None
        self._usable = False  # connected, and AUTH and SELECT written ahead of any call
        self._reader = hiredis.Reader(replyError=ResponseError)
        self._pending: collections.deque[tuple[Reply, float]] = collections.deque()  # in write order
        self._connecting: asyncio.Future[None] | None = None
        self._watch: asyncio.TimerHandle | None = None
        self._closed = False

    async def ready(self) -> None:
        """Connect unless connected (one attempt shared by every caller); raises redis's
        ConnectionError or TimeoutError when Redis cannot be reached."""
        if self._usable:
            return
        if self._closed:
            raise RedisConnectionError("the pipe is closed")
        if self._connecting is None:
            self._connecting = asyncio.ensure_future(self._connect())
        connecting = self._connecting
        try:
            await asyncio.shield(connecting)
        finally:
            if connecting.done() and self._connecting is connecting:
                self._connecting = None

    async def _connect(self) -> None:
        loop, a = asyncio.get_running_loop(), self.address
        try:
            async with asyncio.timeout(a.connect_timeout_s):
                if a.path is not None:
                    await loop.create_unix_connection(lambda: self, a.path)
                else:
                    await loop.create_connection(lambda: self, a.host or "localhost", a.port)
        except TimeoutError as exc:
            raise RedisTimeoutError("connecting to Redis timed out") from exc
        except OSError as exc:
            raise RedisConnectionError(f"cannot connect to Redis: {exc}") from exc
        # Before any call, and answered first (replies come in order): a refused AUTH or SELECT closes
        # the connection, and the calls queued behind it get that error.
        if a.password:
            self.send(command("AUTH", *([a.username] if a.username else []), a.password), [self._setup])
        if a.db:
            self.send(command("SELECT", a.db), [self._setup])
        self._usable = self._transport is not None

    def _setup(self, reply: Any) -> None:
        if isinstance(reply, BaseException):
            log.error("the claim path's Redis connection was refused: %s", reply)
            if self._transport is not None:
                self._transport.abort()

    def send(self, data: bytes, replies: list[Reply]) -> None:
        """Write `data` (len(replies) commands) now; each callback gets its command's reply, in order.
        Call after `ready()`; a pipe that lost its connection meanwhile fails them at once."""
        if self._transport is None:
            lost = RedisConnectionError("the connection to Redis was lost")
            for reply in replies:
                reply(lost)
            return
        now = asyncio.get_running_loop().time()
        self._pending.extend((reply, now) for reply in replies)
        self._transport.write(data)
        if self._watch is None:
            self._watch = asyncio.get_running_loop().call_later(self.address.timeout_s, self._check)

    def _check(self) -> None:
        """Every timeout_s while replies are due: one owed longer than that ends the connection."""
        self._watch = None
        if not self._pending or self._transport is None:
            return
        if asyncio.get_running_loop().time() - self._pending[0][1] >= self.address.timeout_s:
            self._fail(RedisTimeoutError("Redis did not answer in time"))
            self._transport.abort()
            return
        self._watch = asyncio.get_running_loop().call_later(self.address.timeout_s, self._check)

    # --- asyncio.Protocol ------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # a stream transport (uvloop's is not a subclass)
        self._reader = hiredis.Reader(replyError=ResponseError)

    def data_received(self, data: bytes) -> None:
        reader, pending = self._reader, self._pending
        try:
            reader.feed(data)
            while (reply := reader.gets()) is not False:
                deliver, _ = pending.popleft()
                deliver(_error(reply))
        except (hiredis.ProtocolError, IndexError) as exc:  # garbage, or a reply nobody asked for
            log.error("the claim path's Redis connection read something unexpected: %r", exc)
            if self._transport is not None:
                self._transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport, self._usable = None, False
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None
        self._fail(asyncio.CancelledError() if self._closed else
                   RedisConnectionError(f"the connection to Redis was lost: {exc or 'closed'}"))

    def _fail(self, error: BaseException) -> None:
        pending, self._pending = self._pending, collections.deque()
        for deliver, _ in pending:
            with contextlib.suppress(Exception):
                deliver(error)

    def close(self) -> None:
        """Close for good (the node stops): calls still owed a reply get CancelledError."""
        self._closed = True
        if self._connecting is not None:
            self._connecting.cancel()
        if self._transport is not None:
            self._transport.close()
        else:
            self._fail(asyncio.CancelledError())
