"""The platforms' own event objects, made the way their libraries make them from the wire.

TikTok: each message is a `TikTokLiveProto` protobuf message (what TikTok's webcast socket carries),
serialised to bytes and wrapped in a `ProtoMessageFetchResult` like the socket's frames;
`TikTokLiveClient._parse_webcast_response` (the library's own dispatch) turns it into its event
classes, including the ones it derives (FollowEvent, ShareEvent, LiveEndEvent, …).
Bilibili: each command is the JSON Bilibili's danmaku server sends; `blivedm`'s models are built with
their own `from_command`, and `packet()` frames commands exactly as the server does (brotli-compressed,
16-byte headers) for `BLiveClient`'s own parser.
"""

from __future__ import annotations

import json
import struct
import sys
from typing import Any

import brotli
from TikTokLive import TikTokLiveClient
from TikTokLive.proto import ProtoMessageFetchResult
from TikTokLive.proto.custom_proto import ControlAction, Gift, User
from TikTokLiveProto.v3.webcast.model.message import (
    WebcastChatMessage,
    WebcastControlMessage,
    WebcastGiftMessage,
    WebcastLikeMessage,
    WebcastMemberMessage,
    WebcastRoomUserSeqMessage,
    WebcastSocialMessage,
)

_M = sys.modules[WebcastChatMessage.__module__].__dict__
Common = _M["__shared__message__"].CommonMessageData
Text = sys.modules[Common.__module__].__dict__["__model__message__common__"].Text
Envelope = sys.modules[ProtoMessageFetchResult.__module__].BaseProtoMessage

ANN = User(id=7001, nickname="Ann", display_id="ann.shop")
BO = User(id=7002, nickname="Bo", display_id="bo")
ROSE = Gift(id=5655, name="Rose", diamond_count=1, type=1)  # streakable
LION = Gift(id=6369, name="Lion", diamond_count=29999, type=2)  # not streakable


def common(msg_id: int, display: str = "") -> Any:
    return Common(
        msg_id=msg_id,
        create_time=1_795_667_420_000 + msg_id,
        display_text=Text(key=display) if display else None,
    )


def chat(msg_id: int, text: str, user: Any = ANN) -> Any:
    return WebcastChatMessage(common=common(msg_id), user=user, content=text)


def like(msg_id: int, count: int, total: int, user: Any = ANN) -> Any:
    return WebcastLikeMessage(common=common(msg_id), user=user, count=count, total=total)


def gift(msg_id: int, g: Any, repeat: int, end: bool, group: int, user: Any = ANN) -> Any:
    return WebcastGiftMessage(
        common=common(msg_id),
        user=user,
        gift=g,
        repeat_count=repeat,
        repeat_end=1 if end else 0,
        group_id=group,
    )


def social(msg_id: int, display: str, user: Any = BO) -> Any:
    return WebcastSocialMessage(common=common(msg_id, display), user=user)


def member(msg_id: int, user: Any = BO) -> Any:
    return WebcastMemberMessage(common=common(msg_id), user=user)


def viewers(msg_id: int, total: int) -> Any:
    return WebcastRoomUserSeqMessage(common=common(msg_id), total=total)


def control(msg_id: int, action: ControlAction) -> Any:
    return WebcastControlMessage(common=common(msg_id), action=action)


def fetch_result(*messages: Any) -> Any:
    """One frame of TikTok's webcast socket, carrying `messages`."""
    return ProtoMessageFetchResult(
        messages=[Envelope(method=type(m).__name__, payload=bytes(m)) for m in messages]
    )


async def tiktok_events(*messages: Any) -> list[Any]:
    """What TikTokLive's client emits for one webcast frame carrying `messages`."""
    client = TikTokLiveClient(unique_id="@shop")
    client._room_id = 1  # what connect() resolves first; parsing needs no more
    out = [e async for e in client._parse_webcast_response(fetch_result(*messages))]
    return [e for e in out if type(e).__name__ != "WebsocketResponseEvent"]  # one per message, raw


# --- Bilibili ----------------------------------------------------------------------------------------


def danmaku(
    uid: int,
    name: str,
    text: str,
    ts: int = 1_795_667_420_000,
    rnd: int = 12345,
    id_str: str = "",
    crc32: str = "5a0b3c1d",
) -> dict[str, Any]:
    """A DANMU_MSG command as the server sends it (the `info` array blivedm reads)."""
    extra = json.dumps({"id_str": id_str}) if id_str else "{}"
    return {
        "cmd": "DANMU_MSG",
        "info": [
            [0, 1, 25, 16777215, ts, rnd, 0, crc32, 0, 0, 0, "", 0, "{}", "{}", {"extra": extra}],
            text,
            [uid, name, 0, 0, 0, 10000, 1, ""],
            [],
            [12, 0, 6406234, ">50000"],
            ["", ""],
            0,
            0,
        ],
    }


def send_gift(
    uid: int, name: str, gift_name: str, num: int, price: int, coin: str, tid: str, ts: int = 1_795_667_420
) -> dict[str, Any]:
    return {
        "cmd": "SEND_GIFT",
        "data": {
            "giftName": gift_name,
            "num": num,
            "uname": name,
            "face": "",
            "guard_level": 0,
            "uid": uid,
            "timestamp": ts,
            "giftId": 31036,
            "giftType": 0,
            "action": "投喂",
            "price": price,
            "rnd": tid,
            "coin_type": coin,
            "total_coin": price * num,
            "tid": tid,
        },
    }


def guard_buy(
    uid: int, name: str, level: int, num: int, price: int, ts: int = 1_795_667_420
) -> dict[str, Any]:
    return {
        "cmd": "GUARD_BUY",
        "data": {
            "uid": uid,
            "username": name,
            "guard_level": level,
            "num": num,
            "price": price,
            "gift_id": 10003,
            "gift_name": {1: "总督", 2: "提督", 3: "舰长"}[level],
            "start_time": ts,
            "end_time": ts,
        },
    }


def super_chat(
    sc_id: int, uid: int, name: str, price: int, text: str, ts: int = 1_795_667_420
) -> dict[str, Any]:
    return {
        "cmd": "SUPER_CHAT_MESSAGE",
        "data": {
            "price": price,
            "message": text,
            "message_trans": "",
            "start_time": ts,
            "end_time": ts + 60,
            "time": 60,
            "id": sc_id,
            "gift": {"gift_id": 12000, "gift_name": "醒目留言"},
            "uid": uid,
            "user_info": {"uname": name, "face": "", "guard_level": 0, "user_level": 5},
            "background_bottom_color": "#2A60B2",
            "background_color": "#EDF5FF",
            "background_icon": "",
            "background_image": "",
            "background_price_color": "#7497CD",
        },
    }


def interact(uid: int, name: str, msg_type: int, trigger_time: int) -> dict[str, Any]:
    return {
        "cmd": "INTERACT_WORD",
        "data": {
            "uid": uid,
            "uname": name,
            "msg_type": msg_type,
            "timestamp": trigger_time // 1_000_000_000,
            "trigger_time": trigger_time,
            "roomid": 21452505,
        },
    }


def like_click(uid: int, name: str, click_id: int) -> dict[str, Any]:
    return {
        "cmd": "LIKE_INFO_V3_CLICK",
        "data": {
            "uid": uid,
            "uname": name,
            "like_text": "为主播点赞了",
            "show_area": 0,
            "msg_type": 6,
            "click_id": click_id,
        },
    }


def packet(*commands: dict[str, Any]) -> bytes:
    """Commands framed as the danmaku server frames them: one brotli (protover 3) packet holding one
    plain packet per command."""

    def frame(body: bytes, ver: int, op: int) -> bytes:
        return struct.pack(">I2H2I", 16 + len(body), 16, ver, op, 1) + body

    inner = b"".join(frame(json.dumps(c, ensure_ascii=False).encode(), 0, 5) for c in commands)
    return frame(brotli.compress(inner), 3, 5)
