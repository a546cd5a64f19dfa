"""The first frames of a joining socket, shared by the sockets that join together.

A node that drops, or a show that starts, brings thousands of sockets at once. Each needs a snapshot, or
(resuming) a `recovered` frame and the events it missed. Those that join the same room before one read
starts share that read and its encoding, once per format: a storm costs a handful of Redis reads and
encodes, not one each. Pure: the hub does the reading and the sending.
"""

from __future__ import annotations

from typing import Any

from livecart.audience import Audience, view
from livecart.protocol import Format, encode_frame
from livecart.store.values import History, Snapshot

__all__ = ["HISTORY_CHUNK", "SharedRecovery", "SharedSnapshot"]

HISTORY_CHUNK = 500  # events per frame when replaying history to a resuming socket


class SharedSnapshot:
    """A snapshot frame shared by the sockets that joined together, encoded once per audience and
    format (audience.py decides what each role sees)."""

    __slots__ = ("_encoded", "_frame", "snap")

    def __init__(self, snap: Snapshot, frame: dict[str, Any]) -> None:
        self.snap, self._frame = snap, frame
        self._encoded: dict[tuple[Audience, Format], bytes] = {}

    def frame(self, fmt: Format, audience: Audience) -> bytes:
        data = self._encoded.get((audience, fmt))
        if data is None:
            data = self._encoded[audience, fmt] = encode_frame(view(self._frame, audience), fmt)
        return data


class SharedRecovery:
    """What every socket resuming from offset `since` gets: `recovered`, then the events after `since`
    in batches of HISTORY_CHUNK. `floor` is the last offset those frames carry."""

    __slots__ = ("_encoded", "_frames", "floor")

    def __init__(self, since: int, history: History, now: int, counters: dict[str, Any],
                 deals: list[dict[str, Any]], stage: dict[str, Any]) -> None:
        self._frames: list[dict[str, Any]] = [{"type": "recovered", "offset": history.offset,
                                               "epoch": history.epoch, "now": now, "counters": counters,
                                               "deals": deals, **stage}]
        self.floor = since
        events = history.events
        for i in range(0, len(events), HISTORY_CHUNK):
            chunk = events[i : i + HISTORY_CHUNK]
            self.floor = chunk[-1]["offset"]
            self._frames.append({"type": "batch", "offset": self.floor, "now": now, "events": chunk})
        self._encoded: dict[tuple[Audience, Format], list[bytes]] = {}

    def frames(self, fmt: Format, audience: Audience) -> list[bytes]:
        data = self._encoded.get((audience, fmt))
        if data is None:
            data = self._encoded[audience, fmt] = [encode_frame(view(frame, audience), fmt)
                                                   for frame in self._frames]
        return data
