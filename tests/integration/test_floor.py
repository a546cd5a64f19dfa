"""A socket's floor (the last offset it was sent) only ever rises.

Found by the load tool's reconnect storm: a resuming socket read history up to offset N from Redis
before this node's pub/sub had delivered N; a state-only batch at N-1 then lowered its floor, and the
next batch sent N again (a duplicate)."""

from __future__ import annotations

from typing import Any

from livecart.batch import Batch
from livecart.outbound import FrameKind
from livecart.protocol import Format, decode


class RecordingPeer:
    """A socket as the hub sees it (room.Peer), keeping what it was sent."""

    def __init__(self, floor: int) -> None:
        self.fmt, self.role, self.floor, self.parked = Format.JSON, "viewer", floor, None
        self.stats, self.issued_at = False, 0.0
        self.frames: list[dict[str, Any]] = []

    def send_frame(self, data: bytes, kind: FrameKind) -> None:
        self.frames.append(decode(data[2:] if data[1] < 126 else data[4:], Format.JSON))

    def close(self, code: Any, reason: str) -> None:
        raise AssertionError("not closed here")


async def test_a_state_batch_behind_a_resumed_socket_does_not_make_it_get_events_twice(node):
    peer = RecordingPeer(floor=242)  # resumed: history already gave it everything up to 242
    node.hub._deliver([peer], Batch(events=[], offset=241, counters={"likes": 1}))
    events = [{"offset": n, "type": "like", "count": 1} for n in range(242, 247)]
    node.hub._deliver([peer], Batch(events=events, offset=246))
    sent = [e["offset"] for f in peer.frames for e in f["events"]]
    assert sent == [243, 244, 245, 246] and peer.floor == 246
