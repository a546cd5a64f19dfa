"""TikTok LIVE events (the `TikTokLive` package's event objects) → livecart room events. Pure.

The mapping reads the library's objects by attribute and dispatches on their class name, so this
module imports nothing of the library (a node never needs it) and the tests feed it the library's own
classes, parsed from protobuf bytes exactly as its client parses the wire.

- Ids come from the platform's message id (`common.msg_id`): `tiktok:<msg_id>`. A reconnect that
  receives a message again, or a second bridge on the same stream, sends the same id, and ingest
  counts it once.
- Likes: one `like` event per LikeEvent with the event's own `count` (TikTok batches a burst of taps
  into one message), never one like per message.
- Gifts: a streakable gift (`gift.type == 1`) arrives as a series of messages with a growing
  `repeat_count` and `repeat_end == 0`, then a final one with `repeat_end == 1` and the total. Only
  the final counts. All messages of one streak share the user, the gift and `group_id`, and the gift
  event's id is made of those three (`tiktok:gift:<user>:<gift>:<group>`), not of a message id.
  A streak whose end never arrives (the connection dropped, TikTok lost it) is not lost: `expire`
  sends it with the last `repeat_count` seen once it has been quiet for `streak_timeout_ms`, and
  `flush` sends every open streak when the connection ends. Since the id is the streak's, a final
  message arriving after that (or from a second bridge) is a duplicate at ingest: a streak counts
  once, at worst with the count it had when it went quiet.
- Viewer counts (RoomUserSeqEvent `total`) are reported as `viewers`: the bridge's gauge, and a
  `viewers` room event at most every few seconds (viewer_count.py throttles them; `Sink` sends them).
- The stream's end, pause and resume become notices for staff.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from livecart.bridges.mapped import Mapped, Notice, clip, money, quantity

__all__ = ["PLATFORM", "TikTokMapper"]

PLATFORM = "tiktok"
STREAK_TIMEOUT_MS = 10_000
MAX_TEXT = 4096
MAX_NAME = 100

# Events the library sends that carry nothing for a room (connection bookkeeping, raw envelopes).
_DROPPED = frozenset(
    {"ConnectEvent", "DisconnectEvent", "WebsocketResponseEvent", "ControlEvent", "SocialEvent"}
)


@dataclass(slots=True)
class _Streak:
    event_id: str
    user: dict[str, str]
    gift: str
    diamonds: int
    count: int
    ts: int | None
    seen_ms: int  # when its last message arrived (bridge clock)


class TikTokMapper:
    """One per bridge connection's lifetime (it holds the open gift streaks)."""

    def __init__(
        self,
        handle: str,
        *,
        diamond_value: float = 0.0,
        exponent: int = 2,
        streak_timeout_ms: int = STREAK_TIMEOUT_MS,
    ) -> None:
        self.handle = handle  # "@user", for the notices' text
        self.diamond_value = diamond_value  # room currency per diamond (0: gifts count with value 0)
        self.exponent = exponent
        self.streak_timeout_ms = streak_timeout_ms
        self._streaks: dict[str, _Streak] = {}

    def map(self, event: Any, now_ms: int) -> Mapped:
        kind = type(event).__name__
        match kind:
            case "CommentEvent":
                return self._comment(event, kind)
            case "LikeEvent":
                return self._simple(event, kind, "like", count=quantity(getattr(event, "count", 0)))
            case "GiftEvent":
                return self._gift(event, kind, now_ms)
            case "FollowEvent":
                return self._simple(event, kind, "follow")
            case "ShareEvent":
                return self._simple(event, kind, "share")
            case "JoinEvent":
                return self._simple(event, kind, "join")
            case "RoomUserSeqEvent":
                return Mapped(kind, "mapped", viewers=int(getattr(event, "total", 0) or 0))
            case "LiveEndEvent":
                return self._notice(event, kind, "stream_ended", "high", f"TikTok LIVE {self.handle} ended")
            case "LivePauseEvent":
                return self._notice(
                    event, kind, "stream_paused", "normal", f"TikTok LIVE {self.handle} paused"
                )
            case "LiveUnpauseEvent":
                return self._notice(
                    event, kind, "stream_resumed", "low", f"TikTok LIVE {self.handle} is back"
                )
            case _ if kind in _DROPPED:
                return Mapped(kind, "dropped", reason="nothing for the room")
            case _:
                return Mapped(kind, "unmapped")

    def expire(self, now_ms: int) -> list[dict[str, Any]]:
        """Gift events for the streaks quiet for `streak_timeout_ms` (their end never came)."""
        quiet = [key for key, s in self._streaks.items() if now_ms - s.seen_ms >= self.streak_timeout_ms]
        return [self._streak_event(self._streaks.pop(key)) for key in quiet]

    def flush(self) -> list[dict[str, Any]]:
        """Gift events for every open streak (the connection ended)."""
        events = [self._streak_event(s) for s in self._streaks.values()]
        self._streaks.clear()
        return events

    @property
    def open_streaks(self) -> int:
        return len(self._streaks)

    # --- the kinds ------------------------------------------------------------------------------

    def _comment(self, event: Any, kind: str) -> Mapped:
        user, event_id = _user(event), _event_id(event)
        text = str(getattr(event, "content", "") or "").strip()
        if user is None or event_id is None or not text:
            return Mapped(kind, "dropped", reason="no user, message id or text")
        return Mapped(kind, "mapped", [_event(event_id, "comment", user, event, text=clip(text, MAX_TEXT))])

    def _simple(self, event: Any, kind: str, type_: str, **fields: Any) -> Mapped:
        user, event_id = _user(event), _event_id(event)
        if user is None or event_id is None:
            return Mapped(kind, "dropped", reason="no user or message id")
        return Mapped(kind, "mapped", [_event(event_id, type_, user, event, **fields)])

    def _gift(self, event: Any, kind: str, now_ms: int) -> Mapped:
        user, gift = _user(event), getattr(event, "gift", None)
        msg_id = _event_id(event)
        if user is None or gift is None or msg_id is None:
            return Mapped(kind, "dropped", reason="no user, gift or message id")
        name = clip(str(getattr(gift, "name", "") or f"gift {getattr(gift, 'id', '?')}"), 100)
        count = quantity(getattr(event, "repeat_count", 0))
        diamonds = int(getattr(gift, "diamond_count", 0) or 0)
        if int(getattr(gift, "type", 0) or 0) != 1:  # not streakable: each message is one gift
            return Mapped(kind, "mapped", [self._gift_event(msg_id, user, name, count, diamonds, _ts(event))])
        group = int(getattr(event, "group_id", 0) or 0)
        streak_key = f"{user['id'].removeprefix('tiktok:')}:{getattr(gift, 'id', 0)}:{group}"
        # group_id names the streak; without one, the final message's own id is all there is.
        streak_id = f"tiktok:gift:{streak_key}" if group else msg_id
        if int(getattr(event, "repeat_end", 0) or 0):
            self._streaks.pop(streak_key, None)
            return Mapped(
                kind, "mapped", [self._gift_event(streak_id, user, name, count, diamonds, _ts(event))]
            )
        self._streaks[streak_key] = _Streak(streak_id, user, name, diamonds, count, _ts(event), now_ms)
        return Mapped(kind, "pending")

    def _streak_event(self, s: _Streak) -> dict[str, Any]:
        return self._gift_event(s.event_id, s.user, s.gift, s.count, s.diamonds, s.ts)

    def _gift_event(
        self, event_id: str, user: dict[str, str], name: str, count: int, diamonds: int, ts: int | None
    ) -> dict[str, Any]:
        value = money(diamonds * count * self.diamond_value, self.exponent)
        out = {"id": event_id, "type": "gift", "user": user, "gift": name, "count": count, "value": value}
        if ts:
            out["ts"] = ts
        return out

    def _notice(self, event: Any, kind: str, notice: str, priority: str, text: str) -> Mapped:
        event_id = _event_id(event)
        if event_id is None:
            return Mapped(kind, "dropped", reason="no message id")
        return Mapped(
            kind,
            "mapped",
            notices=[Notice(event_id, notice, priority, text, {"platform": PLATFORM, "handle": self.handle})],
        )


def _event_id(event: Any) -> str | None:
    common = getattr(event, "common", None)
    msg_id = int(getattr(common, "msg_id", 0) or 0) if common is not None else 0
    return f"tiktok:{msg_id}" if msg_id else None


def _ts(event: Any) -> int | None:
    common = getattr(event, "common", None)
    created = int(getattr(common, "create_time", 0) or 0) if common is not None else 0
    return created or None


def _user(event: Any) -> dict[str, str] | None:
    user = getattr(event, "user", None)
    user_id = int(getattr(user, "id", 0) or 0) if user is not None else 0
    if not user_id:
        return None
    name = str(getattr(user, "nickname", "") or getattr(user, "display_id", "") or user_id)
    return {"id": f"tiktok:{user_id}", "name": clip(name, MAX_NAME)}


def _event(event_id: str, type_: str, user: dict[str, str], source: Any, **fields: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"id": event_id, "type": type_, "user": user, **fields}
    ts = _ts(source)
    if ts:
        out["ts"] = ts
    return out
