"""Bilibili live → room events, on blivedm's own models (built with their `from_command`) and on the raw
commands it passes through (tests/platform_events.py has the commands as the server sends them)."""

from __future__ import annotations

from blivedm import models

from livecart.bridges.bilibili import BilibiliMapper
from livecart.events import validate_event
from tests.platform_events import danmaku, guard_buy, interact, like_click, send_gift, super_chat

NOW = 1_795_667_420_000


def mapper() -> BilibiliMapper:
    return BilibiliMapper(21452505, gold_value=0.001, exponent=2)  # a CNY room: 1000 gold = ¥1


def test_a_danmaku_is_a_comment_with_the_platform_s_own_id():
    m = models.DanmakuMessage.from_command(danmaku(1001, "小林", "这件有大码吗？", id_str="dm-abc")["info"])
    [event] = mapper().map_message(m).events
    assert event == {
        "id": "bilibili:dm:dm-abc",
        "type": "comment",
        "user": {"id": "bilibili:1001", "name": "小林"},
        "text": "这件有大码吗？",
        "ts": 1_795_667_420_000,
    }
    validate_event(event, 0)


def test_a_danmaku_without_an_id_str_is_identified_by_user_time_and_rnd():
    m = models.DanmakuMessage.from_command(danmaku(1001, "小林", "hi", rnd=777)["info"])
    assert mapper().map_message(m).events[0]["id"] == "bilibili:dm:1001:1795667420000:777"


def test_a_viewer_hidden_from_a_logged_out_bridge_is_still_one_person():
    m = models.DanmakuMessage.from_command(danmaku(0, "小***", "hi", crc32="9f3e01aa")["info"])
    [event] = mapper().map_message(m).events
    assert event["user"] == {"id": "bilibili:anon:9f3e01aa", "name": "小***"}


def test_gold_gifts_are_worth_their_coins_and_silver_gifts_nothing():
    gold = models.GiftMessage.from_command(
        send_gift(1002, "阿强", "小花花", 10, 100, "gold", "tid-1")["data"]
    )
    silver = models.GiftMessage.from_command(
        send_gift(1002, "阿强", "辣条", 5, 100, "silver", "tid-2")["data"]
    )
    [g], [s] = mapper().map_message(gold).events, mapper().map_message(silver).events
    assert (g["id"], g["gift"], g["count"], g["value"]) == ("bilibili:gift:tid-1", "小花花", 10, 1.0)
    assert (s["count"], s["value"]) == (5, 0.0)
    validate_event(g, 0, "CNY")


def test_a_guard_purchase_is_a_gift_worth_its_price():
    m = models.GuardBuyMessage.from_command(guard_buy(1003, "舰长A", 3, 1, 198_000)["data"])
    [event] = mapper().map_message(m).events
    assert (event["gift"], event["count"], event["value"]) == ("舰长", 1, 198.0)
    assert event["id"] == "bilibili:guard:1003:3:1795667420"


def test_a_super_chat_is_a_paid_gift_a_comment_and_a_priority_question_for_staff():
    m = models.SuperChatMessage.from_command(super_chat(4121, 1004, "小林", 30, "这件有大码吗？")["data"])
    result = mapper().map_message(m)
    gift, comment = result.events
    assert (gift["id"], gift["type"], gift["value"]) == ("bilibili:sc:4121", "gift", 30.0)
    assert (comment["id"], comment["text"]) == ("bilibili:sc:4121:text", "这件有大码吗？")
    [notice] = result.notices
    assert (notice.id, notice.kind, notice.priority) == ("bilibili:sc:4121", "super_chat", "high")
    assert "这件有大码吗？" in notice.text and notice.data["amount"] == 30.0


def test_entries_follows_and_shares_come_from_interact_word():
    m = mapper()
    kinds = [
        m.map_command(interact(1005, "路人", t, 1_795_667_420_123_456_789), NOW).events[0]["type"]
        for t in (1, 2, 3, 4, 5)
    ]
    assert kinds == ["join", "follow", "share", "follow", "follow"]
    [entry] = m.map_command(interact(1005, "路人", 1, 1_795_667_420_123_456_789), NOW).events
    assert entry["id"] == "bilibili:iw:1005:1:1795667420123456789"
    validate_event(entry, 0)


def test_a_like_click_is_one_like_and_the_same_click_has_the_same_id():
    m = mapper()
    a, b = (m.map_command(like_click(1006, "点赞的人", 5), NOW).events[0] for _ in range(2))
    assert a["count"] == 1 and a["id"] == b["id"]
    assert m.map_command(like_click(1006, "点赞的人", 6), NOW).events[0]["id"] != a["id"]


def test_the_stream_s_end_and_start_are_notices_and_totals_are_not_counted_again():
    m = mapper()
    [ended] = m.map_command({"cmd": "PREPARING", "roomid": "21452505"}, NOW).notices
    [live] = m.map_command({"cmd": "LIVE", "roomid": 21452505, "live_time": 1_795_667_000}, NOW).notices
    assert (ended.kind, ended.priority, live.kind) == ("stream_ended", "high", "stream_resumed")
    assert m.map_command({"cmd": "COMBO_SEND", "data": {"combo_num": 10}}, NOW).outcome == "dropped"
    assert (
        m.map_command({"cmd": "LIKE_INFO_V3_UPDATE", "data": {"click_count": 999}}, NOW).outcome == "dropped"
    )
    # The viewer count is the online count; 看过 (everyone who has watched so far) is not one.
    online = m.map_command({"cmd": "ONLINE_RANK_COUNT", "data": {"count": 120, "online_count": 4321}}, NOW)
    assert (online.outcome, online.viewers, online.events) == ("mapped", 4321, [])
    watched = m.map_command({"cmd": "WATCHED_CHANGE", "data": {"num": 5021, "text_small": "5021"}}, NOW)
    assert (watched.outcome, watched.viewers) == ("dropped", None)


def test_unknown_commands_are_unmapped_and_bad_ones_dropped():
    m = mapper()
    assert m.map_command({"cmd": "PK_BATTLE_START", "data": {}}, NOW).outcome == "unmapped"
    assert (
        m.map_command({"cmd": "INTERACT_WORD", "data": {"uid": 1, "msg_type": 9}}, NOW).outcome == "dropped"
    )
    assert m.map_command({"cmd": "INTERACT_WORD", "data": "nonsense"}, NOW).outcome == "dropped"
    assert m.map_message(models.HeartbeatMessage(popularity=3)).outcome == "dropped"


def test_hostile_values_from_the_stream_still_make_events_ingest_accepts():
    m = mapper()
    long_id = models.DanmakuMessage.from_command(
        danmaku(1001, "x" * 500, "y" * 9000, id_str="z" * 500)["info"]
    )
    [event] = m.map_message(long_id).events
    assert len(event["id"]) <= 200 and len(event["text"]) == 4096 and len(event["user"]["name"]) == 100
    assert event["id"] == m.map_message(long_id).events[0]["id"]  # the digest is stable
    huge = models.GiftMessage.from_command(
        send_gift(1002, "a", "g" * 300, 10**9, 1, "gold", "t" * 300)["data"]
    )
    [gift] = m.map_message(huge).events
    assert gift["count"] == 1_000_000 and len(gift["gift"]) == 100 and len(gift["id"]) <= 200
    negative = models.GiftMessage.from_command(send_gift(1002, "a", "g", -5, 1, "gold", "t1")["data"])
    assert m.map_message(negative).events[0]["count"] == 1
    sc = models.SuperChatMessage.from_command(super_chat(int("9" * 300), 1004, "b", 30, "q")["data"])
    assert all(len(e["id"]) <= 200 for e in m.map_message(sc).events)
    for e in (event, gift):
        validate_event(e, 0, "CNY")
    assert (
        m.map_command({"cmd": "INTERACT_WORD", "data": {"uid": "abc", "msg_type": 1}}, NOW).outcome
        == "dropped"
    )
