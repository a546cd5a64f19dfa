"""TikTok LIVE → room events, on TikTokLive's own event objects (tests/platform_events.py parses them
from protobuf bytes through the library's own dispatch)."""

from __future__ import annotations

from livecart.bridges.tiktok import TikTokMapper
from livecart.events import validate_event
from tests.platform_events import (
    BO,
    LION,
    ROSE,
    ControlAction,
    chat,
    control,
    gift,
    like,
    member,
    social,
    tiktok_events,
    viewers,
)


def mapper() -> TikTokMapper:
    return TikTokMapper("@shop", diamond_value=0.005, exponent=2, streak_timeout_ms=10_000)


async def mapped(m: TikTokMapper, *messages, now_ms: int = 0):
    return [m.map(e, now_ms) for e in await tiktok_events(*messages)]


async def events_of(m: TikTokMapper, *messages, now_ms: int = 0) -> list[dict]:
    return [e for r in await mapped(m, *messages, now_ms=now_ms) for e in r.events]


async def test_comments_likes_follows_shares_joins_become_valid_room_events_with_platform_ids():
    events = await events_of(
        mapper(),
        chat(11, "多少钱?"),
        like(12, 15, 300),
        social(13, "pm_main_follow_message_viewer_2"),
        social(14, "pm_mt_guidance_share"),
        member(15),
    )
    assert [(e["id"], e["type"]) for e in events] == [
        ("tiktok:11", "comment"),
        ("tiktok:12", "like"),
        ("tiktok:13", "follow"),
        ("tiktok:14", "share"),
        ("tiktok:15", "join"),
    ]
    assert events[0]["text"] == "多少钱?" and events[0]["user"] == {"id": "tiktok:7001", "name": "Ann"}
    assert events[2]["user"]["id"] == "tiktok:7002"
    for e in events:
        validate_event(e, 0)  # what ingest will accept, field for field


async def test_a_like_message_counts_its_own_like_count_not_one_and_not_the_room_total():
    [event] = await events_of(mapper(), like(12, 15, 300))
    assert event["count"] == 15


async def test_only_the_final_message_of_a_gift_streak_counts_with_the_streak_total():
    m = mapper()
    results = await mapped(
        m, gift(21, ROSE, 1, False, 99), gift(22, ROSE, 3, False, 99), gift(23, ROSE, 5, True, 99)
    )
    assert [r.outcome for r in results] == ["pending", "pending", "mapped"]
    [event] = results[2].events
    assert (event["gift"], event["count"], event["value"]) == ("Rose", 5, 0.03)  # 5 × 1 diamond × 0.005
    assert event["id"] == "tiktok:gift:7001:5655:99"
    assert m.open_streaks == 0 and m.flush() == []


async def test_a_gift_that_cannot_streak_counts_each_message():
    [event] = await events_of(mapper(), gift(31, LION, 1, True, 0))
    assert (event["id"], event["count"], event["value"]) == (
        "tiktok:31",
        1,
        150.0,
    )  # 29,999 × 0.005, in cents


async def test_a_streak_that_never_ends_is_sent_once_when_quiet_and_its_late_end_has_the_same_id():
    m = mapper()
    await mapped(m, gift(21, ROSE, 1, False, 99), gift(22, ROSE, 4, False, 99), now_ms=1_000)
    assert m.expire(10_999) == []  # not quiet long enough
    [flushed] = m.expire(11_000)
    assert (flushed["count"], flushed["id"]) == (4, "tiktok:gift:7001:5655:99")
    assert m.expire(60_000) == [] and m.open_streaks == 0  # sent once
    [late] = await events_of(m, gift(23, ROSE, 6, True, 99))
    assert late["id"] == flushed["id"]  # ingest answers it as a duplicate: the streak counts once


async def test_streaks_still_open_when_the_connection_ends_are_flushed():
    m = mapper()
    await mapped(m, gift(21, ROSE, 2, False, 99), gift(22, ROSE, 1, False, 7, user=BO))
    assert sorted((e["user"]["id"], e["count"]) for e in m.flush()) == [
        ("tiktok:7001", 2),
        ("tiktok:7002", 1),
    ]
    assert m.open_streaks == 0


async def test_two_streaks_of_one_user_are_told_apart_by_their_group():
    m = mapper()
    events = await events_of(m, gift(21, ROSE, 2, True, 1), gift(22, ROSE, 3, True, 2))
    assert [e["id"] for e in events] == ["tiktok:gift:7001:5655:1", "tiktok:gift:7001:5655:2"]


async def test_the_same_messages_map_to_the_same_ids_on_a_second_bridge():
    frames = (chat(11, "hi"), like(12, 2, 2), gift(23, ROSE, 5, True, 99))
    assert await events_of(mapper(), *frames) == await events_of(mapper(), *frames)


async def test_stream_end_and_pause_become_notices_and_viewer_counts_are_reported():
    results = await mapped(
        mapper(),
        control(41, ControlAction.STREAM_PAUSED),
        control(42, ControlAction.STREAM_UNPAUSED),
        control(43, ControlAction.STREAM_ENDED),
        viewers(44, 1234),
    )
    notices = [n for r in results for n in r.notices]
    assert [(n.id, n.kind, n.priority) for n in notices] == [
        ("tiktok:41", "stream_paused", "normal"),
        ("tiktok:42", "stream_resumed", "low"),
        ("tiktok:43", "stream_ended", "high"),
    ]
    assert [r.viewers for r in results if r.viewers is not None] == [1234]
    assert all(not r.events for r in results)


async def test_the_library_s_generic_copies_are_dropped_so_nothing_counts_twice():
    results = await mapped(
        mapper(), social(13, "pm_main_follow_message_viewer_2"), control(43, ControlAction.STREAM_ENDED)
    )
    assert [(r.kind, r.outcome) for r in results] == [
        ("FollowEvent", "mapped"),
        ("SocialEvent", "dropped"),
        ("LiveEndEvent", "mapped"),
        ("ControlEvent", "dropped"),
    ]


async def test_a_comment_without_text_or_user_is_dropped_and_unknown_types_are_unmapped():
    m = mapper()
    [empty] = await mapped(m, chat(11, "   "))
    assert empty.outcome == "dropped" and not empty.events

    class PollEvent:  # a type the bridge does not map
        pass

    assert m.map(PollEvent(), 0).outcome == "unmapped"
