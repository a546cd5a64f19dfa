"""The stats store against a real Redis: exactly-once folds by cursor, one hash per day, ranges and spans
across days, and the retention each day's hash gets."""

from __future__ import annotations

from livecart.store.keys import RoomKeys
from tests.support import RoomClient, comment, create_deal, post_events, token, ws_url

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


async def test_director_inputs_read_in_one_go_what_the_separate_reads_return(node, room):
    viewer = await RoomClient.connect(ws_url(node.port, room, token("viewer", room, "vic")))
    await viewer.recv()
    await post_events(node.port, room, [comment("c1"), comment("c2")])
    deal = await create_deal(node.port, room, stock=10)
    await node.presence.report_all()
    now = node.clock.now_ms()
    stats = node.stats_store
    inputs = await stats.director_inputs(room, now, fold_chunk=1, deals=20)
    cursor = await stats.cursor(room)
    epoch, logged = await stats.log_after(room, cursor.offset if cursor.epoch else 0, 1)
    assert (inputs.cursor, inputs.epoch, inputs.logged) == (cursor, epoch, logged)
    assert len(inputs.logged) == 1  # fold_chunk bounds the log read
    newest = await node.deal_store.newest(room, 20)
    assert inputs.deals == newest and newest[0]["id"] == deal["id"]
    assert inputs.counters == await stats.counters(room)
    assert inputs.online == await node.store.online(room, now) == 1
    assert inputs.answered == await node.cue_store.answered(room)
    await viewer.close()
