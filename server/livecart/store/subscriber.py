"""The node's Redis pub/sub connection (one per cluster shard), supervised.

redis-py's asyncio PubSub does not reconnect by itself, so `run()` loops: subscribe every wanted room,
listen, and on a connection error close the dead pubsub, back off (capped, logged at warning, then
error once at the cap), and start again. Pub/sub is at-most-once: messages published while we were away
are lost, so every (re)subscription confirmation is reported through `on_subscribed(room)`, and the hub
then re-reads the room's tail from history by offset.

On a Redis Cluster (`ClusterSubscriber`) room channels are sharded: each room is SSUBSCRIBEd on the
primary that owns its hash tag's slot, through one `RoomSubscriber` per primary, so a room's messages
travel only to that shard and to the nodes that want the room.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from functools import partial
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio import RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from livecart.errors import StoreUnavailable
from livecart.shutdown import cancel_and_wait
from livecart.store.keys import RoomKeys, room_from_channel

__all__ = ["ClusterSubscriber", "RoomSubscriber", "SubscriberFactory", "subscriber_for"]

log = logging.getLogger("livecart.subscriber")
BACKOFF_START = 0.05
BACKOFF_CAP = 2.0
CLOSE_TIMEOUT_S = 1.0


class RoomSubscriber:
    def __init__(self, client: aioredis.Redis, on_message: Callable[[str, bytes], None],
                 on_subscribed: Callable[[str], None], *, sharded: bool = False) -> None:
        self.client = client
        self._sharded = sharded  # SSUBSCRIBE (cluster shards) rather than SUBSCRIBE
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
                    await (self._pubsub.ssubscribe if self._sharded else self._pubsub.subscribe)(channel)
                else:
                    await (self._pubsub.sunsubscribe if self._sharded else self._pubsub.unsubscribe)(channel)
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
            pubsub = self.client.pubsub()
            try:
                async with self._sync_lock:
                    subscribe = pubsub.ssubscribe if self._sharded else pubsub.subscribe
                    await subscribe(*(RoomKeys(r).channel for r in self._rooms))
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
                    await asyncio.wait_for(pubsub.aclose(), CLOSE_TIMEOUT_S)

    def _dispatch(self, message: dict[str, Any]) -> None:
        channel = message.get("channel")
        if isinstance(channel, bytes):
            channel = channel.decode()
        room = room_from_channel(channel) if isinstance(channel, str) else None
        if room is None or room not in self._rooms:
            return
        kind = message.get("type")
        if kind == "message" or kind == "smessage":
            self._on_message(room, message["data"])
        elif kind == "subscribe" or kind == "ssubscribe":
            self._on_subscribed(room)


class ClusterSubscriber:
    """`RoomSubscriber`'s interface over a Redis Cluster: one sharded subscriber per primary, and each
    room routed to the primary that owns its channel's slot (the cluster client's slot map)."""

    def __init__(self, cluster: RedisCluster, on_message: Callable[[str, bytes], None],
                 on_subscribed: Callable[[str], None]) -> None:
        self._cluster = cluster
        self._on_message = on_message
        self._on_subscribed = on_subscribed
        self._shards: dict[str, RoomSubscriber] = {}
        self._started: set[str] = set()
        self._new_shard = asyncio.Event()

    @property
    def reconnects(self) -> int:
        return sum(shard.reconnects for shard in self._shards.values())

    def _shard(self, room: str) -> RoomSubscriber:
        node = self._cluster.get_node_from_key(RoomKeys(room).channel)
        if node is None:
            raise StoreUnavailable("the cluster has no node for this room's slot")
        shard = self._shards.get(node.name)
        if shard is None:
            client = aioredis.Redis(host=node.host, port=int(node.port), socket_connect_timeout=2,
                                    health_check_interval=5)
            shard = self._shards[node.name] = RoomSubscriber(client, self._on_message, self._on_subscribed,
                                                             sharded=True)
            self._new_shard.set()
        return shard

    def want(self, room: str, wanted: bool) -> None:
        try:
            shard = self._shard(room)
        except StoreUnavailable:
            if wanted:
                raise
            return  # nothing to stop wanting on a shard we cannot even name
        shard.want(room, wanted)

    async def sync(self, room: str) -> None:
        await self._shard(room).sync(room)

    async def run(self) -> None:
        tasks: list[asyncio.Task[None]] = []
        try:
            while True:
                for name, shard in list(self._shards.items()):
                    if name not in self._started:
                        self._started.add(name)
                        tasks.append(asyncio.create_task(shard.run(), name=f"subscriber-{name}"))
                self._new_shard.clear()
                await self._new_shard.wait()
        finally:
            await cancel_and_wait(tasks, CLOSE_TIMEOUT_S)
            for shard in self._shards.values():  # their clients are ours (the cluster's are not)
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(shard.client.aclose(), CLOSE_TIMEOUT_S)


OnMessage = Callable[[str, bytes], None]  # (room, the message's bytes)
OnSubscribed = Callable[[str], None]  # (room): a (re)subscription confirmed; messages before it are lost
SubscriberFactory = Callable[[OnMessage, OnSubscribed], RoomSubscriber | ClusterSubscriber]


def subscriber_for(client: aioredis.Redis | RedisCluster) -> SubscriberFactory:
    """The subscriber for the node's Redis, waiting for the callbacks of whoever consumes it (the hub):
    sharded per primary on a cluster, one connection otherwise."""
    if isinstance(client, RedisCluster):
        return partial(ClusterSubscriber, client)
    return partial(RoomSubscriber, client)
