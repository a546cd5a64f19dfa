"""The stats store against a real Redis: exactly-once folds by cursor, one hash per day, ranges and spans
across days, and the retention each day's hash gets."""

from __future__ import annotations

from livecart.store.keys import RoomKeys

DAY = 86_400
MIDNIGHT = 20_833 * DAY  # a UTC midnight, in seconds


async def test_a_fold_counts_once_and_only_from_the_cursor_it_read(node, room):
    stats = node.stats_store
    assert await stats.fold(room, "", "e:2", 0, 0, {MIDNIGHT - 1: {"comments": 2, "viewers": 5}})
    # A second folder that read the same (old) cursor is refused and changes nothing.
    assert not await stats.fold(room, "", "e:2", 0, 0, {MIDNIGHT - 1: {"comments": 2}})
    assert await stats.fold(room, "e:2", "e:3", 1, 4, {MIDNIGHT - 1: {"comments": 1, "viewers": 7},
                                                       MIDNIGHT: {"orders": 1, "gmv_cents": 999}})
    cursor = await stats.cursor(room)
    assert (cursor.epoch, cursor.offset, cursor.claims, cursor.rejections) == ("e", 3, 1, 4)
    found = await stats.buckets(room, MIDNIGHT - 10, MIDNIGHT + 10)
    assert found == {MIDNIGHT - 1: {"comments": 3, "viewers": 7}, MIDNIGHT: {"orders": 1, "gmv_cents": 999}}
    assert await stats.span(room) == (MIDNIGHT - 1, MIDNIGHT)
    wide = await stats.buckets(room, MIDNIGHT - 3 * DAY, MIDNIGHT + 3 * DAY)  # whole days, not HMGET
    assert wide == found


async def test_each_day_keeps_its_own_retention(node, room):
    await node.stats_store.fold(room, "", "e:1", 0, 0, {MIDNIGHT + 5: {"likes": 3}})
    keys = RoomKeys(room)
    ttl = await node.redis.pttl(keys.stats(MIDNIGHT // DAY))
    assert 0 < ttl <= node.stats_store.retention_ms
    assert await node.redis.pttl(keys.stats(MIDNIGHT // DAY - 1)) == -2  # no such key: nothing written
