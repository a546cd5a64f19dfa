"""A platform's viewer count → at most one `viewers` room event every few seconds. Pure: no I/O.

TikTok sends RoomUserSeqEvent every second or two and Bilibili sends WATCHED_CHANGE and
ONLINE_RANK_COUNT as often; each one a room event would fill the room log with numbers nobody reads.
`ViewerThrottle` keeps the latest count and lets one through when `interval_ms` has passed since the
last one it sent, and only when the count changed. The count held back is not lost: `tick` (called
every second by `livecart connect`) sends it once its interval is over, so the room ends on the
platform's latest number even when the platform goes quiet.

The event id is the platform, the stream and the interval it falls in by the bridge's clock
(`tiktok:viewers:@user:<n>`): a reconnect within the interval, or a second bridge on the same
stream, sends the same id and ingest keeps one of them.
"""

from __future__ import annotations

from typing import Any

from livecart.bridges.mapped import event_id

__all__ = ["INTERVAL_MS", "MAX_VIEWERS", "ViewerThrottle"]

INTERVAL_MS = 5_000
MAX_VIEWERS = 1_000_000_000  # ingest's bound (events.MAX_VIEWERS)


class ViewerThrottle:
    def __init__(self, platform: str, stream: str, *, interval_ms: int = INTERVAL_MS) -> None:
        self.platform = platform  # "tiktok": the event's `platform`
        self.stream = stream  # "@user", "21452505": which stream of the platform (part of the id)
        self.interval_ms = interval_ms
        self._held: int | None = None  # the latest count not yet sent
        self._sent: int | None = None
        self._sent_ms: int | None = None

    def offer(self, count: int, now_ms: int) -> list[dict[str, Any]]:
        """The platform reported `count`: the event to send now, if any."""
        self._held = min(max(0, int(count)), MAX_VIEWERS)
        return self.tick(now_ms)

    def tick(self, now_ms: int) -> list[dict[str, Any]]:
        """The held count's event, once its interval is over and if it differs from the last sent."""
        if self._held is None or self._held == self._sent:
            self._held = None
            return []
        if self._sent_ms is not None and now_ms - self._sent_ms < self.interval_ms:
            return []
        count, self._held = self._held, None
        self._sent, self._sent_ms = count, now_ms
        window = now_ms // self.interval_ms
        return [{"id": event_id(self.platform, "viewers", self.stream, window), "type": "viewers",
                 "platform": self.platform, "count": count, "ts": now_ms}]
