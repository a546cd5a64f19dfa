"""The store's written guarantees, checked against a real Redis (the suite a second store must pass)."""

from __future__ import annotations

import asyncio

import orjson
import pytest
import redis.asyncio as aioredis

from livecart.store.redis_store import RedisStore
from livecart.store.values import Gap, History

DAY_MS = 24 * 3600 * 1000


@pytest.fixture
async def store(redis_server):
    client = aioredis.Redis.from_url(redis_server.url)
    yield RedisStore(client, history_max=1000, history_max_age_s=60, dedup_window_s=24 * 3600,
                     history_floor=3)
    await client.aclose()


def events(*ids: str, deltas: dict[str, int] | None = None) -> list[tuple[str, bytes, dict[str, int]]]:
    return [(i, orjson.dumps({"id": i, "type": "comment"}), deltas or {"comments": 1}) for i in ids]


async def test_append_gives_contiguous_offsets_and_none_for_duplicates(store, room):
    first = await store.append(room, events("a", "b", "a"), now_ms=1000)
    assert first.offsets == [1, 2, None] and first.accepted == 2
    second = await store.append(room, events("b", "c"), now_ms=1001)
    assert second.offsets == [None, 3] and second.epoch == first.epoch
    snap = await store.snapshot(room)
    assert (snap.offset, snap.counters) == (3, {"comments": 3})
    assert [e["id"] for e in snap.recent] == ["a", "b", "c"]
    assert [e["offset"] for e in snap.recent] == [1, 2, 3]


async def test_event_ids_are_remembered_for_the_dedup_window_and_then_forgotten(store, room):
    await store.append(room, events("x"), now_ms=0)
    assert (await store.append(room, events("x"), now_ms=DAY_MS - 1)).offsets == [None]
    assert (await store.append(room, events("x"), now_ms=DAY_MS + 1)).offsets == [2]


async def test_history_returns_exactly_the_events_after_since(store, room):
    result = await store.append(room, events("a", "b", "c", "d"), now_ms=1)
    history = await store.history(room, 2, result.epoch)
    assert isinstance(history, History)
    assert [(e["offset"], e["id"]) for e in history.events] == [(3, "c"), (4, "d")]
    assert (await store.history(room, 4, result.epoch)).events == []


async def test_history_is_a_gap_for_another_epoch_or_an_offset_from_the_future(store, room):
    result = await store.append(room, events("a"), now_ms=1)
    assert await store.history(room, 0, "other") == Gap(epoch=result.epoch, offset=1)
    assert isinstance(await store.history(room, 5, result.epoch), Gap)


async def test_age_bound_trims_old_history_but_keeps_the_newest_floor(store, room):
    await store.append(room, events(*[f"old{i}" for i in range(10)]), now_ms=0)
    result = await store.append(room, events("new1", "new2"), now_ms=120_000)  # 2 min later; bound 60 s
    history = await store.history(room, 11, result.epoch)
    assert [e["id"] for e in history.events] == ["new2"]
    assert isinstance(await store.history(room, 0, result.epoch), Gap)
    kept = await store.history(room, 9, result.epoch)  # the floor (3 newest) is never trimmed by age
    assert isinstance(kept, History) and [e["id"] for e in kept.events] == ["old9", "new1", "new2"]


async def test_counters_move_by_deltas_including_negative_money(store, room):
    await store.append(room, events("p", deltas={"orders": 1, "gmv_cents": 1999}), now_ms=1)
    await store.append(room, events("r", deltas={"refunds": 1, "gmv_cents": -999}), now_ms=2)
    assert (await store.snapshot(room)).counters == {"orders": 1, "gmv_cents": 1000, "refunds": 1}


async def test_presence_sums_live_nodes_and_forgets_dead_ones(store, room):
    assert await store.presence(room, "n1", 3, now_ms=1000, ttl_ms=500) == 3
    assert await store.presence(room, "n2", 4, now_ms=1100, ttl_ms=500) == 7
    # n1 stops refreshing (it died): after its ttl it no longer counts.
    assert await store.presence(room, "n2", 4, now_ms=1600, ttl_ms=500) == 4
    assert await store.presence(room, "n2", 0, now_ms=1700, ttl_ms=500) == 0


async def test_a_snapshot_of_a_new_room_creates_its_epoch_once(store, room):
    first = await store.snapshot(room)
    assert first.offset == 0 and first.epoch
    assert (await store.snapshot(room)).epoch == first.epoch
    assert (await store.append(room, events("a"), now_ms=1)).epoch == first.epoch


async def test_a_calls_callers_are_called_back_together_then_after_deliveries(redis_server):
    """What lets a rush's answers leave with their batch: every caller of a call is called back where the
    reply is read, then `after_deliveries` once, and a caller that raises costs the others nothing."""
    from livecart.store.batcher import ScriptBatcher

    client = aioredis.Redis.from_url(redis_server.url)
    batcher = ScriptBatcher(client, "return ARGV", width=1, parse=lambda values: values[0].decode(),
                            max_items=3)
    got: list[str] = []
    afters: list[list[str]] = []
    batcher.after_deliveries = lambda: afters.append(list(got))

    def deliver(value: object) -> None:
        got.append(str(value))
        if value == "b":
            raise RuntimeError("a caller's bug")

    try:
        await batcher.load()
        for item in "abcde":
            batcher.submit(("k",), (), (item,), deliver)
        for _ in range(100):
            if len(afters) == 2:
                break
            await asyncio.sleep(0.01)
        assert afters == [["a", "b", "c"], ["a", "b", "c", "d", "e"]]  # two calls: 3 items at most each
    finally:
        batcher.close()
        await client.aclose()


async def test_batched_items_share_one_script_call_per_group_and_get_their_own_results(redis_server):
    import asyncio

    from redis.exceptions import ResponseError

    from livecart.store.batcher import ScriptBatcher, as_future

    script = ("if ARGV[1] == 'bad' then return redis.error_reply('ERR bad') end "
              "local out = {} "
              "for i = 2, #ARGV do out[#out + 1] = KEYS[1]; out[#out + 1] = ARGV[1] .. ARGV[i] end "
              "return out")

    def parse(values: list[bytes]) -> str:
        if values[1].endswith(b"boom"):
            raise ValueError("boom")
        return b"/".join(values).decode()

    client = aioredis.Redis.from_url(redis_server.url)
    batcher = ScriptBatcher(client, script, width=2, parse=parse, max_items=2)
    try:
        await client.script_load(script)
        await client.config_resetstat()
        futures = [as_future(batcher.submit, keys, head, item) for keys, head, item in [
            (("k1",), ("a:",), ("x",)), (("k2",), ("b:",), ("y",)), (("k1",), ("a:",), ("boom",)),
            (("k3",), ("bad",), ("z",)), (("k1",), ("a:",), ("w",))]]
        results = await asyncio.gather(*futures, return_exceptions=True)
        assert results[0] == "k1/a:x" and results[1] == "k2/b:y" and results[4] == "k1/a:w"
        assert isinstance(results[2], ValueError)  # its parse failed: only its own caller sees it
        assert isinstance(results[3], ResponseError)  # the error reply of its call, not of the others
        # Group k1 (3 items, at most 2 a call) takes two calls; k2 and k3 one each.
        assert (await client.info("commandstats"))["cmdstat_evalsha"]["calls"] == 4
        await client.script_flush()  # as after a Redis restart: the script cache is empty
        assert await as_future(batcher.submit, ("k",), ("c:",), ("again",)) == "k/c:again"
    finally:
        batcher.close()
        await client.aclose()
