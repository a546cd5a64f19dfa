"""Bilibili live events → livecart room events. Pure.

`blivedm` turns the commands of Bilibili's danmaku server into typed dataclasses for 弹幕
(`DanmakuMessage`), gifts (`GiftMessage`), guard purchases (`GuardBuyMessage`) and Super Chats
(`SuperChatMessage`): `map_message` reads those, by attribute and class name (this module imports
nothing of the library). Commands it has no model for reach its handlers raw, and `map_command` maps
the ones a room needs: entries and follows (`INTERACT_WORD`), likes (`LIKE_INFO_V3_CLICK`), the
stream's start and end (`LIVE`, `PREPARING`) and viewer counts (`ONLINE_RANK_COUNT`'s
`online_count`, sent on as `viewers` room events at most every few seconds: viewer_count.py).
`WATCHED_CHANGE` (看过: everyone who has watched so far, which never goes down) is dropped.

- Ids: the platform's own where it has one (a gift's `tid`, a Super Chat's `id`, a danmaku's
  `id_str`), else the fields that make the message unique (user, time, the danmaku's `rnd`), else a
  digest of the command itself; always `bilibili:<kind>:…`, the same on every bridge that receives it.
- Money: gifts bought with gold coins (金瓜子, 1000 = ¥1) are worth `total_coin × gold_value`;
  silver-coin gifts are free (value 0). `gold_value` is in the room's currency (0.001 in a CNY room).
  A Super Chat's `price` is in yuan: its value is `price × 1000 × gold_value`.
- Each SEND_GIFT is one send with its own `tid` and counts; COMBO_SEND only sums sends already
  counted and is never mapped.
- A Super Chat is a paid message: a gift (its value), a comment (its text) and a high-priority notice
  for staff, which the host sees as a question to answer.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from livecart.bridges.mapped import Mapped, Notice, clip, event_id, money, quantity

__all__ = ["PLATFORM", "BilibiliMapper", "RAW_COMMANDS"]

PLATFORM = "bilibili"
MAX_TEXT = 4096
MAX_NAME = 100
GUARD_NAMES = {1: "总督", 2: "提督", 3: "舰长"}
RAW_COMMANDS = frozenset(
    {
        "INTERACT_WORD",
        "LIKE_INFO_V3_CLICK",
        "LIKE_INFO_V3_UPDATE",
        "LIVE",
        "PREPARING",
        "WATCHED_CHANGE",
        "ONLINE_RANK_COUNT",
        "COMBO_SEND",
    }
)
_INTERACT = {
    1: "join",
    2: "follow",
    3: "share",
    4: "follow",
    5: "follow",
}  # msg_type: enter, (special/mutual) follow, share


class BilibiliMapper:
    def __init__(self, room_id: int | str, *, gold_value: float = 0.0, exponent: int = 2) -> None:
        self.room_id = str(room_id)
        self.gold_value = gold_value  # room currency per gold coin
        self.exponent = exponent

    # --- blivedm's models -----------------------------------------------------------------------

    def map_message(self, message: Any) -> Mapped:
        kind = type(message).__name__
        match kind:
            case "DanmakuMessage":
                return self._danmaku(message, kind)
            case "GiftMessage":
                return self._gift(message, kind)
            case "GuardBuyMessage":
                return self._guard(message, kind)
            case "SuperChatMessage":
                return self._super_chat(message, kind)
            case "HeartbeatMessage" | "SuperChatDeleteMessage":
                return Mapped(kind, "dropped", reason="nothing for the room")
            case _:
                return Mapped(kind, "unmapped")

    def _danmaku(self, m: Any, kind: str) -> Mapped:
        user = _user(m.uid, m.uname, m.uid_crc32)
        text = str(m.msg or "").strip()
        if user is None or not text:
            return Mapped(kind, "dropped", reason="no user or text")
        extra = _json_obj((m.mode_info or {}).get("extra") if isinstance(m.mode_info, dict) else None)
        ident = extra.get("id_str") or f"{m.uid}:{m.timestamp}:{m.rnd}"
        event: dict[str, Any] = {
            "id": event_id("bilibili", "dm", ident),
            "type": "comment",
            "user": user,
            "text": clip(text, MAX_TEXT),
        }
        if m.timestamp:
            event["ts"] = int(m.timestamp)
        return Mapped(kind, "mapped", [event])

    def _gift(self, m: Any, kind: str) -> Mapped:
        user = _user(m.uid, m.uname)
        ident = m.tid or m.rnd
        if user is None or not ident:
            return Mapped(kind, "dropped", reason="no user or transaction id")
        gold = int(m.total_coin or 0) if m.coin_type == "gold" else 0
        event: dict[str, Any] = {
            "id": event_id("bilibili", "gift", ident),
            "type": "gift",
            "user": user,
            "gift": clip(str(m.gift_name or m.gift_id), 100),
            "count": quantity(m.num),
            "value": money(gold * self.gold_value, self.exponent),
        }
        if m.timestamp:
            event["ts"] = int(m.timestamp) * 1000
        return Mapped(kind, "mapped", [event])

    def _guard(self, m: Any, kind: str) -> Mapped:
        user = _user(m.uid, m.username)
        if user is None:
            return Mapped(kind, "dropped", reason="no user")
        count = quantity(m.num)
        name = str(m.gift_name or GUARD_NAMES.get(int(m.guard_level or 0), "guard"))
        event: dict[str, Any] = {
            "id": event_id("bilibili", "guard", m.uid, m.guard_level, m.start_time),
            "type": "gift",
            "user": user,
            "gift": clip(name, 100),
            "count": count,
            "value": money(int(m.price or 0) * count * self.gold_value, self.exponent),
        }
        if m.start_time:
            event["ts"] = int(m.start_time) * 1000
        return Mapped(kind, "mapped", [event])

    def _super_chat(self, m: Any, kind: str) -> Mapped:
        user = _user(m.uid, m.uname)
        if user is None or not m.id:
            return Mapped(kind, "dropped", reason="no user or id")
        base = event_id("bilibili", "sc", m.id)
        value = money(float(m.price or 0) * 1000 * self.gold_value, self.exponent)
        ts = {"ts": int(m.start_time) * 1000} if m.start_time else {}
        events: list[dict[str, Any]] = [
            {"id": base, "type": "gift", "user": user, "gift": "Super Chat", "count": 1, "value": value, **ts}
        ]
        text = str(m.message or "").strip()
        if text:
            events.append(
                {
                    "id": event_id("bilibili", "sc", m.id, "text"),
                    "type": "comment",
                    "user": user,
                    "text": clip(text, MAX_TEXT),
                    **ts,
                }
            )
        notice = Notice(
            base,
            "super_chat",
            "high",
            clip(f"{user['name']} (¥{m.price}): {text}", 500),
            {"platform": PLATFORM, "user": user["name"], "amount": float(m.price or 0)},
        )
        return Mapped(kind, "mapped", events, [notice])

    # --- raw commands ---------------------------------------------------------------------------

    def map_command(self, command: dict[str, Any], now_ms: int) -> Mapped:
        cmd = str(command.get("cmd", "")).split(":", 1)[0]
        data = command.get("data")
        data = data if isinstance(data, dict) else {}
        match cmd:
            case "INTERACT_WORD":
                type_ = _INTERACT.get(int(data.get("msg_type") or 0))
                user = _user(data.get("uid"), data.get("uname"))
                if type_ is None or user is None:
                    return Mapped(cmd, "dropped", reason="not an entry, follow or share, or no user")
                at = int(data.get("trigger_time") or 0) or int(data.get("timestamp") or 0)
                event: dict[str, Any] = {
                    "id": event_id(
                        "bilibili", "iw", data.get("uid"), data.get("msg_type"), at or _digest(command)
                    ),
                    "type": type_,
                    "user": user,
                }
                if data.get("timestamp"):
                    event["ts"] = int(data["timestamp"]) * 1000
                return Mapped(cmd, "mapped", [event])
            case "LIKE_INFO_V3_CLICK":
                user = _user(data.get("uid"), data.get("uname"))
                if user is None:
                    return Mapped(cmd, "dropped", reason="no user")
                return Mapped(
                    cmd,
                    "mapped",
                    [{"id": f"bilibili:like:{_digest(command)}", "type": "like", "user": user, "count": 1}],
                )
            case "LIVE" | "PREPARING":
                live = cmd == "LIVE"
                at = int(command.get("live_time") or command.get("send_time") or 0) or now_ms // 60_000
                text = (
                    f"Bilibili room {self.room_id} is live" if live else f"Bilibili room {self.room_id} ended"
                )
                notice = Notice(
                    event_id("bilibili", cmd.lower(), self.room_id, at),
                    "stream_resumed" if live else "stream_ended",
                    "low" if live else "high",
                    text,
                    {"platform": PLATFORM, "room_id": self.room_id},
                )
                return Mapped(cmd, "mapped", notices=[notice])
            case "WATCHED_CHANGE":  # 看过: everyone who has watched so far, never down: not a viewer count
                return Mapped(cmd, "dropped", reason="a running total of who has watched, not who watches")
            case "ONLINE_RANK_COUNT":
                return Mapped(cmd, "mapped", viewers=int(data.get("online_count") or data.get("count") or 0))
            case "LIKE_INFO_V3_UPDATE" | "COMBO_SEND":
                return Mapped(cmd, "dropped", reason="a total of what is already counted")
            case _:
                return Mapped(cmd or "?", "unmapped")


def _user(uid: Any, name: Any, crc32: Any = None) -> dict[str, str] | None:
    """Bilibili hides viewers from a logged-out connection: uid 0 and a masked name. Such a viewer is
    still someone: the danmaku's `uid_crc32`, else the masked name, keeps them apart."""
    try:
        user_id = int(uid or 0)
    except (TypeError, ValueError):
        user_id = 0
    if user_id > 0:
        return {"id": f"bilibili:{user_id}", "name": clip(str(name or user_id), MAX_NAME)}
    hidden = str(crc32 or name or "")
    if not hidden:
        return None
    return {"id": clip(f"bilibili:anon:{hidden}", 200), "name": clip(str(name or "?"), MAX_NAME)}


def _json_obj(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    try:
        value = json.loads(raw) if isinstance(raw, str) else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _digest(command: dict[str, Any]) -> str:
    """The same command, on any bridge, has the same digest."""
    return hashlib.sha1(json.dumps(command, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:20]
