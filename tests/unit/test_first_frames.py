"""The first frames a resuming socket gets: `recovered`, then its missed events in chunks, encoded once
per format however many sockets share them."""

from __future__ import annotations

from livecart.audience import Audience
from livecart.first_frames import HISTORY_CHUNK, SharedRecovery
from livecart.protocol import Format, decode
from livecart.store.values import History


def _payload(frame: bytes) -> bytes:
    size = frame[1] & 0x7F
    start = 2 if size < 126 else 4 if size == 126 else 10
    return frame[start:]


def test_a_recovery_is_recovered_then_every_missed_event_in_chunks():
    events = [{"offset": n, "type": "comment", "text": str(n)} for n in range(11, 11 + HISTORY_CHUNK + 7)]
    history = History(epoch="e1", offset=events[-1]["offset"], counters={"likes": 3}, events=events)
    shared = SharedRecovery(10, history, now=1234, counters={"likes": 3}, deals=[], stage={"pinned": None})
    for fmt in Format:
        frames = [decode(_payload(f), fmt) for f in shared.frames(fmt, Audience.STAFF)]
        assert frames[0] == {"type": "recovered", "offset": history.offset, "epoch": "e1", "now": 1234,
                             "counters": {"likes": 3}, "deals": [], "pinned": None}
        replayed = [e for f in frames[1:] for e in f["events"]]
        assert replayed == events and [len(f["events"]) for f in frames[1:]] == [HISTORY_CHUNK, 7]
        assert all(f["type"] == "batch" and f["offset"] == f["events"][-1]["offset"] for f in frames[1:])
    assert shared.floor == events[-1]["offset"]
    # encoded once, shared
    assert shared.frames(Format.JSON, Audience.STAFF) is shared.frames(Format.JSON, Audience.STAFF)


def test_a_recovery_with_nothing_missed_keeps_the_floor_where_the_socket_was():
    history = History(epoch="e1", offset=10, counters={}, events=[])
    shared = SharedRecovery(10, history, now=1, counters={}, deals=[], stage={})
    assert shared.floor == 10 and len(shared.frames(Format.MSGPACK, Audience.PUBLIC)) == 1
