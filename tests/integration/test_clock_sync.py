"""clock_sync.py: the node's clock follows Redis's TIME, and keeps its last offset while Redis is away."""

from __future__ import annotations

import time

import redis.asyncio as aioredis

from livecart.clock import Clock
from livecart.clock_sync import ClockSync
from livecart.store.redis_store import RedisStore
from tests.support import free_port


def store_at(url: str) -> RedisStore:
    return RedisStore(aioredis.Redis.from_url(url, socket_connect_timeout=0.5), history_max=100,
                      history_max_age_s=60, dedup_window_s=60)


async def test_a_clock_that_is_off_is_brought_to_redis_time(redis_server):
    store, clock = store_at(redis_server.url), Clock()
    clock.offset_ms = 3_600_000  # an hour ahead
    await ClockSync(store, clock).sync()
    redis_ms = await store.redis_time_ms()
    assert abs(clock.now_ms() - redis_ms) < 1000  # the same machine: Redis's TIME is the local time
    await store.client.aclose()


async def test_redis_unreachable_keeps_the_last_offset():
    store, clock = store_at(f"redis://127.0.0.1:{free_port()}"), Clock()
    clock.offset_ms = 1234
    await ClockSync(store, clock).sync()
    assert clock.offset_ms == 1234
    assert abs(clock.now_ms() - 1234 - int(time.time() * 1000)) < 1000
    await store.client.aclose()
