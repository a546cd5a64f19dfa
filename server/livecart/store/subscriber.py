"""The node's one Redis pub/sub connection, supervised.

redis-py's asyncio PubSub does not reconnect by itself, so `run()` loops: subscribe every wanted room,
listen, and on a connection error close the dead pubsub, back off (capped, logged at warning, then
error once at the cap), and start again. Pub/sub is at-most-once: messages published while we were away
are lost, so every (re)subscription confirmation is reported through `on_subscribed(room)`, and the hub
then re-reads the room's tail from history by offset.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from livecart.store.keys import RoomKeys, room_from_channel

__all__ = ["RoomSubscriber"]

log = logging.getLogger("livecart.subscriber")
BACKOFF_START = 0.05
BACKOFF_CAP = 2.0
CLOSE_TIMEOUT_S = 1.0


class RoomSubscriber:
    def __init__(self, client: aioredis.Redis, on_message: Callable[[str, bytes], None],
                 on_subscribed: Callable[[str], None]) -> None:
        self._client = client
        self._on_message = on_message
        self._on_subscribed = on_subscribed
        self._rooms: set[str] = set()
        self._pubsub: Any = None
        self._wanted = asyncio.Event()
        self._sync_lock = asyncio.Lock()
        self.reconnects = 0

    def want(self, room: str, wanted: bool) -> None:
        """Record whether this node wants `room`'s messages; call `sync(room)` to act on it."""
        if wanted:
            self._rooms.add(room)
            self._wanted.set()
        else:
            self._rooms.discard(room)

    async def sync(self, room: str) -> None:
        """(Un)subscribe `room` as it is wanted *now*: calls may run in any order and still converge."""
        channel = RoomKeys(room).channel
        try:
            # Serialised, with the check inside: the last sync for a room sends the last wish.
            async with self._sync_lock:
                if self._pubsub is None:
                    return  # the run loop subscribes every wanted room when it (re)connects
                if room in self._rooms:
                    await self._pubsub.subscribe(channel)
                else:
                    await self._pubsub.unsubscribe(channel)
        except Exception as exc:
            # The run loop owns the connection: when it fails, it reconnects and subscribes every wanted
            # room itself; a stale subscription only brings messages that _dispatch drops.
            log.debug("(un)subscribe %s deferred to reconnect: %r", room, exc)

    async def run(self) -> None:
        backoff = BACKOFF_START
        while True:
            await self._wanted.wait()
            if not self._rooms:
                self._wanted.clear()  # want(room, True) sets it again
                continue
            pubsub = self._client.pubsub()
            try:
                async with self._sync_lock:
                    await pubsub.subscribe(*(RoomKeys(r).channel for r in self._rooms))
                    # Published only once connected: redis-py cannot connect one PubSub from two tasks.
                    self._pubsub = pubsub
                # listen() ends once every channel is unsubscribed; the loop then waits for a room.
                async for message in pubsub.listen():
                    backoff = BACKOFF_START
                    self._dispatch(message)
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                self.reconnects += 1
                level = logging.ERROR if backoff >= BACKOFF_CAP else logging.WARNING
                log.log(level, "pub/sub connection lost (%s); resubscribing in %.2f s", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_CAP)
            except Exception:
                # Not a connection error: a bug here or in the client library. The loop must outlive it,
                # or every room on this node would silently stop receiving.
                self.reconnects += 1
                log.exception("pub/sub loop failed; restarting in %.2f s", BACKOFF_CAP)
                await asyncio.sleep(BACKOFF_CAP)
            finally:
                self._pubsub = None
                # Bounded: closing a pubsub whose connection is mid-command can wait on the client
                # library's locks, and a node that is stopping must not wait forever for it.
                with contextlib.suppress(RedisConnectionError, RedisTimeoutError, OSError, TimeoutError):
                    await asyncio.wait_for(pubsub.aclose(), CLOSE_TIMEOUT_S)  # type: ignore[no-untyped-call]

    def _dispatch(self, message: dict[str, Any]) -> None:
        channel = message.get("channel")
        if isinstance(channel, bytes):
            channel = channel.decode()
        room = room_from_channel(channel) if isinstance(channel, str) else None
        if room is None or room not in self._rooms:
            return
        kind = message.get("type")
        if kind == "message":
            self._on_message(room, message["data"])
        elif kind == "subscribe":
            self._on_subscribed(room)
