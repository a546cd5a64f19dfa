"""Run many items through one Lua script in as few calls and round trips as possible.

Claims arrive together (a rush is thousands of viewers pressing at once). Each `submit()` queues one
item; the items queued during one pass of the event loop that share keys and head arguments (one
room) become ONE script call, `head + item + item + ...` (at most `max_items` items a call), and all of
the pass's script calls go out in one write. The script answers `width` values per item, in order, and
each caller gets its own as soon as its call's reply is read. A pass is short even in a rush (the
sockets' input is read a bounded amount per pass: intake.py), so a burst becomes a stream of small
calls whose answers flow while the rest of the burst is still being read.

Callers are called back (`submit`), right where the reply is parsed, and `after_deliveries` runs once
each call's callers have been: a future's callbacks would each wait for the event loop's next pass, and
in a rush every pass is long (a slice of a fan-out, the next hundred claims), so each answer waited one
more pass before it was written (web/listener.py writes a pass's replies when `after_deliveries` says).
`as_future` turns such a call into a future, for callers that await.

Guarantee: the script runs its items in queue order, atomically per call; an error reply or a lost
connection reaches every caller whose item was in that call, never silently dropped.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio import RedisCluster
from redis.exceptions import NoScriptError, ResponseError

from livecart.store.script_pipe import command, pipe_for

__all__ = ["Deliver", "ScriptBatcher", "as_future"]

log = logging.getLogger("livecart.store")

# Gets one item's result: its parsed values, or the exception that is its result (a parse error, an
# error reply, StoreUnavailable; CancelledError when the node stops with the item in flight).
Deliver = Callable[[Any], None]
Group = tuple[tuple[str, ...], tuple[Any, ...]]  # (keys, head arguments)
Item = tuple[tuple[Any, ...], Deliver]
Call = tuple[Group, list[Item]]


def as_future(submit: Callable[..., None], *args: Any) -> asyncio.Future[Any]:
    """`submit(*args, deliver)` (ScriptBatcher.submit, or a call built on it) as a future of the result."""
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    submit(*args, functools.partial(_settle, future))
    return future


def _settle(future: asyncio.Future[Any], result: Any) -> None:
    if future.done():
        return
    if isinstance(result, asyncio.CancelledError):
        future.cancel()
    elif isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)


class ScriptBatcher:
    def __init__(self, client: aioredis.Redis | RedisCluster, source: str, width: int,
                 parse: Callable[[list[Any]], Any] = list,
                 on_error: Callable[[Exception], Exception] = lambda exc: exc, max_items: int = 256) -> None:
        self._client = client
        self._source = source
        self._script = client.register_script(source)
        self._width = width
        self._parse = parse  # one item's values -> its result (an exception it raises is the result)
        self._on_error = on_error  # a failed round trip's exception -> what its callers get
        self._max_items = max_items  # bounds one call's time inside Redis (other commands wait for it)
        self._queue: dict[Group, list[Item]] = {}
        self._scheduled = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._pipe = pipe_for(client)  # None: Cluster or TLS, through redis-py instead
        self.after_deliveries: Callable[[], None] = lambda: None  # see the module's docstring

    def submit(self, keys: tuple[str, ...], head: tuple[Any, ...], item: tuple[Any, ...],
               deliver: Deliver) -> None:
        """Queue `item` for the script; `deliver` gets `parse` of the script's `width` values for it (or
        the exception that is its result), exactly once."""
        loop = self._loop
        if loop is None or loop.is_closed():
            # Kept: on Python 3.11 get_running_loop() costs a getpid() system call, once per claim.
            loop = self._loop = asyncio.get_running_loop()
        self._queue.setdefault((keys, head), []).append((item, deliver))
        if not self._scheduled:
            # A task whose first step (next pass) takes the queue and writes it: a callback that
            # started a task instead cost every batch one more pass before its write.
            self._scheduled = True
            task = loop.create_task(self._launch())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def load(self) -> None:
        """Put the script in Redis's script cache now (SCRIPT LOAD), so that the first call does not
        meet NOSCRIPT: on a fresh Redis the first claims of a node's first rush were otherwise sent
        twice, around a SCRIPT LOAD made while the node was busiest (~30-130 ms more for the first
        answers of an 8,000-viewer rush). Opens the batcher's connection too: made on the first call,
        it cost that call several passes of a busy loop."""
        await self._client.script_load(self._source)
        if self._pipe is not None:
            await self._pipe.ready()

    async def _launch(self) -> None:
        self._scheduled = False
        queue, self._queue = self._queue, {}
        calls = [(group, items[start : start + self._max_items])
                 for group, items in queue.items() for start in range(0, len(items), self._max_items)]
        await self._run(calls)

    async def _run(self, calls: list[Call]) -> None:
        pipe = self._pipe
        try:
            if pipe is None:
                await self._via_client(calls)
                return
            await pipe.ready()
        except asyncio.CancelledError as exc:
            for call in calls:
                self._resolve(call, exc)
            raise
        except Exception as exc:  # handed to every caller still waiting, not swallowed
            error = self._on_error(exc)
            for call in calls:
                self._resolve(call, error)
            return
        # One write of all the calls, hand-packed; each call's callers are answered as soon as its own
        # reply is read, where it is read (script_pipe.py).
        pipe.send(self._pack(calls), [functools.partial(self._replied, call, True) for call in calls])

    def _replied(self, call: Call, may_reload: bool, reply: Any) -> None:
        if may_reload and isinstance(reply, NoScriptError):
            # Redis restarted and lost its script cache: load it, run this call again.
            task = asyncio.ensure_future(self._reload(call))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return
        if isinstance(reply, Exception) and not isinstance(reply, ResponseError):
            reply = self._on_error(reply)  # the connection was lost, or Redis did not answer in time
        self._resolve(call, reply)

    async def _reload(self, call: Call) -> None:
        assert self._pipe is not None
        try:
            await self._client.script_load(self._source)
            await self._pipe.ready()
        except asyncio.CancelledError as exc:
            self._resolve(call, exc)
            raise
        except Exception as exc:
            self._resolve(call, self._on_error(exc))
            return
        self._pipe.send(self._pack([call]), [functools.partial(self._replied, call, False)])

    def close(self) -> None:
        """Close the batcher's connection (the node stops): calls still owed a reply get CancelledError."""
        if self._pipe is not None:
            self._pipe.close()

    def _resolve(self, call: Call, result: Any) -> None:
        """Answer the callers of one call from its reply (or its error reply), unless answered already
        (each call's items are taken when it is answered), then `after_deliveries`."""
        items = call[1][:]
        if not items:
            return
        call[1].clear()
        width, parse = self._width, self._parse
        for index, (_, deliver) in enumerate(items):
            if isinstance(result, BaseException):
                value = result
            else:
                try:
                    value = parse(result[index * width : (index + 1) * width])
                except Exception as exc:
                    value = exc
            try:
                deliver(value)
            except Exception:  # one caller's bug must not cost the others their answers
                log.exception("a script result's callback failed")
        self.after_deliveries()

    async def _via_client(self, calls: list[Call]) -> None:
        """Redis Cluster (calls of different rooms may live on different shards) and TLS: one EVALSHA per
        call through redis-py, concurrently; the client routes each by its keys' hash tag and reloads a
        missing script."""
        replies = await asyncio.gather(
            *(self._script(keys=list(keys), args=[*head, *(word for item, _ in items for word in item)])
              for (keys, head), items in calls), return_exceptions=True)
        for reply in replies:
            if isinstance(reply, BaseException) and not isinstance(reply, ResponseError):
                raise reply  # a lost connection: every caller hears of it
        for call, reply in zip(calls, replies, strict=True):
            self._resolve(call, reply)

    def _pack(self, calls: list[Call]) -> bytes:
        sha = self._script.sha  # str or bytes: command() takes either
        return b"".join(command(b"EVALSHA", sha, len(keys), *keys, *head,
                                *(word for item, _ in items for word in item))
                        for (keys, head), items in calls)
