"""What every Redis adapter of the store shares: the client type, the one translation of Redis outages
into StoreUnavailable, the one Lua script loader, and the decoding of raw replies.

    with as_store_unavailable():      # a lost connection or a timeout leaves as StoreUnavailable
        reply = await script(keys=[...], args=[...])

Handlers above the store never see a redis-py exception (errors.py draws the tree).
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from types import TracebackType
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio import RedisCluster
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError
from redis.exceptions import TimeoutError as RedisTimeoutError

from livecart.errors import StoreUnavailable

__all__ = ["BAG_LIB", "UNAVAILABLE", "Client", "as_store_unavailable", "counters_from_flat", "decode_str",
           "fields_from_flat", "lua_source", "presence_total", "register", "run_many", "store_error"]

# The errors that mean "Redis is not reachable right now" (a retry later may succeed), as opposed to an
# error reply, which is a bug or a refused command and propagates as it is.
UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, ConnectionError, OSError)
# A node talks to one Redis, or to a Redis Cluster where each room lives on the shard of its hash tag.
Client = aioredis.Redis | RedisCluster
LIB = "lib.lua"
BAG_LIB = "bag_lib.lua"  # the lucky-bag steps shared by bag.lua and goal.lua
PIPELINE_CHUNK = 500  # script calls per round trip in run_many


def store_error(exc: Exception) -> Exception:
    """What a caller of the store gets for `exc`: StoreUnavailable for an outage, else `exc` itself."""
    if isinstance(exc, UNAVAILABLE):
        unavailable = StoreUnavailable(str(exc))
        unavailable.__cause__ = exc
        return unavailable
    return exc


class _AsStoreUnavailable:
    """The context manager of `as_store_unavailable()`: stateless, so one instance serves every call."""

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    # Returns None, not bool: it never swallows an exception, and mypy then knows code after it runs
    # only when the block completed.
    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if isinstance(exc, UNAVAILABLE):
            raise StoreUnavailable(str(exc)) from exc


_AS_STORE_UNAVAILABLE = _AsStoreUnavailable()


def as_store_unavailable() -> _AsStoreUnavailable:
    """A block whose Redis outages (UNAVAILABLE) leave as StoreUnavailable; every other error as it is."""
    return _AS_STORE_UNAVAILABLE


def lua_source(name: str, *, with_lib: bool = False, libs: Sequence[str] = ()) -> str:
    """The source of store/scripts/`name`; `with_lib` prepends lib.lua (the deal scripts' shared
    functions: Lua in Redis has no includes), then each of `libs` (other shared files, such as
    bag_lib.lua, which bag.lua and goal.lua both use), in order."""
    folder = resources.files("livecart.store").joinpath("scripts")
    files = [*([LIB] if with_lib else []), *libs, name]
    return "\n".join(folder.joinpath(file).read_text() for file in files)


def register(client: Client, name: str, *, with_lib: bool = False, libs: Sequence[str] = ()) -> AsyncScript:
    """store/scripts/`name` registered on `client` (EVALSHA, reloaded by redis-py when Redis lost it)."""
    return client.register_script(lua_source(name, with_lib=with_lib, libs=libs))


def decode_str(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def presence_total(fields: dict[Any, Any], now_ms: int) -> int:
    """The sockets a presence hash counts at `now_ms` (node id -> "count:expires_ms"; see presence.lua):
    the counts of the nodes whose entry has not expired."""
    total = 0
    for value in fields.values():
        count, _, expires = decode_str(value).partition(":")
        if expires.isdigit() and int(expires) > now_ms and count.isdigit():
            total += int(count)
    return total


def fields_from_flat(flat: list[Any]) -> dict[str, str]:
    """A Redis hash returned as a flat [name, value, ...] list, as a dict of strings."""
    return {decode_str(flat[i]): decode_str(flat[i + 1]) for i in range(0, len(flat) - 1, 2)}


def counters_from_flat(flat: Any) -> dict[str, int]:
    if not isinstance(flat, list):  # cjson turns an empty table into {}
        return {}
    return {decode_str(flat[i]): int(flat[i + 1]) for i in range(0, len(flat) - 1, 2)}


async def run_many(client: Client, script: AsyncScript,
                   calls: Sequence[tuple[list[Any], list[Any]]]) -> list[Any]:
    """`script` once per (keys, args), pipelined: one round trip per PIPELINE_CHUNK calls instead of one
    each, for the loops that do the same small thing in every room (presence, the director's leases).
    Replies in order. Each call stands alone (no transaction); a cluster shard that has not seen the
    script yet gets the chunk's calls one by one, which loads it (every such script is idempotent).
    Raises StoreUnavailable on an outage."""
    replies: list[Any] = []
    with as_store_unavailable():
        for start in range(0, len(calls), PIPELINE_CHUNK):
            chunk = calls[start : start + PIPELINE_CHUNK]
            try:
                async with client.pipeline(transaction=False) as pipe:
                    for keys, args in chunk:
                        await script(keys=keys, args=args, client=pipe)  # type: ignore[arg-type]  # a pipeline is a client here (redis-py queues the call)
                    replies += await pipe.execute()
            except NoScriptError:
                for keys, args in chunk:
                    replies.append(await script(keys=keys, args=args))
    return replies
