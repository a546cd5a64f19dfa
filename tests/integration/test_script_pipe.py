"""The claim path's own Redis connection (store/script_pipe.py), against a real redis-server: the database
and credentials of the client's URL, a reply that does not come, and a connection that is lost."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from livecart.errors import StoreUnavailable
from livecart.store.batcher import ScriptBatcher, as_future
from livecart.store.redis_client import store_error

PUSH = "for i = 1, #ARGV do redis.call('RPUSH', KEYS[1], ARGV[i]) end return ARGV"


@contextlib.asynccontextmanager
async def pusher(url: str, **client_options: Any) -> AsyncIterator[tuple[ScriptBatcher, aioredis.Redis]]:
    """A batcher of PUSH on a client of `url`, and a second client to look at and steer Redis with; all
    closed after."""
    client = aioredis.Redis.from_url(url, **client_options)
    control = aioredis.Redis.from_url(url)
    batcher = ScriptBatcher(client, PUSH, width=1, parse=lambda values: values[0].decode(),
                            on_error=store_error)
    try:
        yield batcher, control
    finally:
        batcher.close()
        await asyncio.sleep(0)  # the pipe's transport closes
        await client.aclose()
        await control.aclose()


async def test_calls_go_to_the_database_and_user_of_the_clients_url(own_redis):
    admin = aioredis.Redis.from_url(own_redis.url)
    await admin.acl_setuser("claims", enabled=True, passwords=["+s3cret"], commands=["+@all"], keys=["*"])
    await admin.config_set("requirepass", "admin-pass")  # nobody gets in without credentials now
    as_claims = own_redis.url.replace("redis://", "redis://claims:s3cret@")
    try:
        async with pusher(as_claims + "/3") as (batcher, in_db3):
            assert await as_future(batcher.submit, ("k",), (), ("x",)) == "x"
            assert await in_db3.lrange("k", 0, -1) == [b"x"]  # in database 3, as that user
        async with pusher(as_claims) as (_, in_db0):
            assert await in_db0.exists("k") == 0
    finally:
        await admin.aclose()


async def test_refused_credentials_reach_the_caller_as_an_error(own_redis):
    async with pusher(own_redis.url.replace("redis://", "redis://nobody:wrong@")) as (batcher, _):
        with pytest.raises(StoreUnavailable):
            await asyncio.wait_for(as_future(batcher.submit, ("k",), (), ("x",)), 5)


async def test_a_reply_that_does_not_come_in_time_fails_the_call_and_the_next_reconnects(own_redis):
    async with pusher(own_redis.url, socket_timeout=0.3) as (batcher, control):
        assert await as_future(batcher.submit, ("k",), (), ("before",)) == "before"
        await control.execute_command("CLIENT", "PAUSE", "1500", "ALL")  # Redis holds every command
        started = asyncio.get_running_loop().time()
        with pytest.raises(StoreUnavailable):
            await as_future(batcher.submit, ("k",), (), ("paused",))
        assert asyncio.get_running_loop().time() - started < 1.4  # its own timeout, not the pause's end
        await asyncio.sleep(1.3)
        assert await as_future(batcher.submit, ("k",), (), ("after",)) == "after"


async def test_a_lost_connection_is_made_again_for_the_next_call(own_redis):
    async with pusher(own_redis.url) as (batcher, control):
        assert await as_future(batcher.submit, ("k",), (), ("one",)) == "one"
        assert await control.execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes") >= 1
        await asyncio.sleep(0.1)  # the pipe hears of it
        assert await as_future(batcher.submit, ("k",), (), ("two",)) == "two"
        assert await control.lrange("k", 0, -1) == [b"one", b"two"]


async def test_calls_owed_a_reply_when_the_pipe_closes_are_cancelled(own_redis):
    async with pusher(own_redis.url) as (batcher, control):
        await batcher.load()  # connected
        await control.execute_command("CLIENT", "PAUSE", "500", "ALL")
        owed = as_future(batcher.submit, ("k",), (), ("x",))
        await asyncio.sleep(0.05)  # written, not answered
        batcher.close()
        with pytest.raises(asyncio.CancelledError):
            await owed
        await asyncio.sleep(0.5)  # the pause ends before the clients close
