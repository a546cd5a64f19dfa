"""A platform's viewer count → `viewers` room events, at most one per interval (viewer_count.py), from
the libraries' own event objects (TikTokLive's RoomUserSeqEvent, Bilibili's ONLINE_RANK_COUNT)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from livecart.bridges.bilibili import BilibiliMapper
from livecart.bridges.tiktok import TikTokMapper
from livecart.bridges.viewer_count import ViewerThrottle
from livecart.events import validate_event
from tests.platform_events import tiktok_events, viewers

T0 = 1_795_667_420_000


def test_the_first_count_goes_at_once_and_later_ones_wait_for_the_interval():
    t = ViewerThrottle("tiktok", "@shop", interval_ms=5_000)
    [first] = t.offer(1200, T0)
    assert first == {"id": f"tiktok:viewers:@shop:{T0 // 5_000}", "type": "viewers", "platform": "tiktok",
                     "count": 1200, "ts": T0}
    assert validate_event(first, T0)["count"] == 1200
    assert t.offer(1250, T0 + 1_000) == [] and t.offer(1300, T0 + 4_999) == []
    [later] = t.offer(1310, T0 + 5_000)  # the latest count, not the first held back
    assert later["count"] == 1310 and later["id"] == f"tiktok:viewers:@shop:{(T0 + 5_000) // 5_000}"


def test_an_unchanged_count_is_not_sent_again():
    t = ViewerThrottle("tiktok", "@shop", interval_ms=5_000)
    assert len(t.offer(800, T0)) == 1
    assert t.offer(800, T0 + 10_000) == [] and t.tick(T0 + 20_000) == []
    assert [e["count"] for e in t.offer(0, T0 + 30_000)] == [0]  # everyone left: 0 is a count too


def test_a_count_held_back_is_sent_by_the_tick_once_its_interval_is_over():
    t = ViewerThrottle("bilibili", "21452505", interval_ms=5_000)
    t.offer(10, T0)
    assert t.offer(42, T0 + 2_000) == []  # the platform then goes quiet
    assert t.tick(T0 + 3_000) == []
    [held] = t.tick(T0 + 5_000)
    assert held["count"] == 42
    assert t.tick(T0 + 11_000) == []  # sent once


def test_counts_are_clamped_to_what_ingest_takes():
    t = ViewerThrottle("tiktok", "@shop", interval_ms=1)
    assert t.offer(-5, T0)[0]["count"] == 0
    assert t.offer(10**12, T0 + 1)[0]["count"] == 10**9


def test_two_bridges_on_one_stream_send_the_same_id_within_an_interval():
    a, b = ViewerThrottle("tiktok", "@shop"), ViewerThrottle("tiktok", "@shop")
    window_start = T0 - T0 % 5_000
    assert a.offer(100, window_start + 100)[0]["id"] == b.offer(101, window_start + 4_900)[0]["id"]
    # A handle too long for an id is still one id on every bridge (mapped.event_id's digest).
    long = "@" + "x" * 300
    ids = {ViewerThrottle("tiktok", long).offer(1, T0)[0]["id"] for _ in range(2)}
    assert len(ids) == 1 and len(ids.pop()) <= 200


@given(st.lists(st.tuples(st.integers(0, 3_000), st.integers(0, 10**6)), max_size=60))
def test_never_more_than_one_event_per_interval_and_the_last_count_is_the_platform_s_last(steps):
    t, now, sent = ViewerThrottle("tiktok", "@shop", interval_ms=5_000), T0, []
    for gap, count in steps:
        now += gap
        sent += [(now, e) for e in t.offer(count, now)]
        sent += [(now, e) for e in t.tick(now)]
    sent += [(now + 5_000, e) for e in t.tick(now + 5_000)]  # long enough after the last message
    times = [at for at, _ in sent]
    assert all(b - a >= 5_000 for a, b in zip(times, times[1:], strict=False))
    assert len({e["id"] for _, e in sent}) == len(sent)
    if steps:
        assert sent[-1][1]["count"] == steps[-1][1]
    for _, e in sent:
        validate_event(e, T0)


async def test_tiktok_s_room_user_seq_event_feeds_the_throttle():
    m, t = TikTokMapper("@shop"), ViewerThrottle("tiktok", "@shop")
    [seq] = await tiktok_events(viewers(44, 1234))
    result = m.map(seq, T0)
    assert type(seq).__name__ == "RoomUserSeqEvent" and result.viewers == 1234
    assert [e["count"] for e in t.offer(result.viewers, T0)] == [1234]


def test_bilibili_s_online_count_feeds_the_throttle_and_its_watched_total_does_not():
    m = BilibiliMapper(21452505, gold_value=0.001, exponent=2)
    online = m.map_command({"cmd": "ONLINE_RANK_COUNT", "data": {"count": 88, "online_count": 3210}}, T0)
    assert online.viewers == 3210
    assert m.map_command({"cmd": "WATCHED_CHANGE", "data": {"num": 99_999}}, T0).viewers is None
    [event] = ViewerThrottle("bilibili", "21452505").offer(online.viewers, T0)
    assert validate_event(event, T0)["platform"] == "bilibili"
