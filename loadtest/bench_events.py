"""Microbenchmark behind issue 15.6a: do typed events cost the hot path anything?

    .venv/bin/python -m loadtest.bench_events [N]

Measures N events (default 100,000), the fastest of 15 runs each, taken in turns:
1. ingest's edge: validate a raw comment and encode it for the room log, as `validate_event` does today
   (a dict, then orjson) and as a frozen slots dataclass would (built by the same checks, then orjson,
   which serialises dataclasses natively);
2. the channel's edge: decode one `events` message of 20 comments per ingest batch, as the hub did
   before store/channel.py (orjson + key sniffing), with channel.decode (a typed message, events kept as
   dicts), and with every event also turned into a dataclass (typed end to end; the tick batch,
   `audience.view` and the frame encoder then need maps again).
Not a test: numbers vary by machine; compare the columns of one run.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from livecart.events import InvalidEvent, validate_event
from livecart.protocol import encode_json, load_json
from livecart.store import channel


@dataclass(frozen=True, slots=True)
class User:
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class Comment:
    id: str
    type: str
    user: User
    ts: int
    text: str


def validate_comment_typed(raw: Any, now_ms: int) -> Comment:
    """validate_event's checks for a comment, building a dataclass instead of a dict."""
    if not isinstance(raw, dict):
        raise InvalidEvent("not_an_object", "each event must be an object")
    event_id, user, text = raw.get("id"), raw.get("user"), raw.get("text")
    if not isinstance(event_id, str) or not 1 <= len(event_id) <= 200:
        raise InvalidEvent("bad_field", "id")
    if raw.get("type") != "comment" or not isinstance(user, dict):
        raise InvalidEvent("bad_type", "type")
    user_id = user.get("id")
    if not isinstance(user_id, str) or not 1 <= len(user_id) <= 200:
        raise InvalidEvent("bad_field", "user.id")
    name = user.get("name", user_id)
    if not isinstance(name, str) or len(name) > 100:
        raise InvalidEvent("bad_field", "user.name")
    if not isinstance(text, str) or not 1 <= len(text) <= 4096:
        raise InvalidEvent("bad_field", "text")
    ts = raw.get("ts", now_ms)
    return Comment(event_id, "comment", User(user_id, name), ts, text)


def best(*runs: Callable[[], object], rounds: int = 15) -> list[float]:
    """The fastest of `rounds` timings of each run, taken in turns so that a busy machine slows every
    column alike (the fastest is the one least disturbed)."""
    times = [float("inf")] * len(runs)
    for _ in range(rounds):
        for i, run in enumerate(runs):
            started = time.perf_counter()
            run()
            times[i] = min(times[i], time.perf_counter() - started)
    return times


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    raws = [{"id": f"c{i}", "type": "comment", "user": {"id": f"u{i % 500}", "name": f"viewer {i % 500}"},
             "ts": 1_700_000_000_000 + i, "text": "how much is the blue scarf?"} for i in range(n)]
    as_dict, as_slots = best(lambda: [encode_json(validate_event(r, 0)) for r in raws],
                             lambda: [encode_json(validate_comment_typed(r, 0)) for r in raws])
    assert encode_json(validate_event(raws[0], 0)) == encode_json(validate_comment_typed(raws[0], 0))

    per_batch = 20
    events = [{"offset": i + 1, **validate_event(r, 0)} for i, r in enumerate(raws[:per_batch])]
    counters = ["comments", "20", "likes", "3", "gifts", "0", "gifts_value_cents", "0", "orders", "0",
                "gmv_cents", "0", "joins", "5"]
    message = encode_json({"epoch": "e", "offset": per_batch, "counters": counters, "events": events})
    tagged = b'{"type":"events",' + message[1:]
    batches = n // per_batch

    def sniffed() -> None:  # the hub before store/channel.py
        for _ in range(batches):
            m = load_json(message)
            if "revoked" in m or "cue" in m or "stats" in m or "deal" in m:
                continue
            _ = m["epoch"], m["events"]
            flat = m.get("counters")
            _ = {flat[i]: int(flat[i + 1]) for i in range(0, len(flat) - 1, 2)}

    def decoded() -> None:
        for _ in range(batches):
            channel.decode(tagged)

    def typed_end_to_end() -> None:
        for _ in range(batches):
            m = channel.decode(tagged)
            assert isinstance(m, channel.RoomEvents)
            _ = [Comment(e["id"], e["type"], User(**e["user"]), e["ts"], e["text"]) for e in m.events]

    old, new, typed = best(sniffed, decoded, typed_end_to_end)

    print(f"{n:,} comment events ({batches:,} channel messages of {per_batch})")
    print(f"  ingest edge, validate + encode     dict {as_dict * 1e9 / n:7.0f} ns/event   "
          f"slots dataclass {as_slots * 1e9 / n:7.0f} ns/event")
    print(f"  channel edge, decode one message   key sniffing {old * 1e6 / batches:6.2f} µs   "
          f"channel.decode {new * 1e6 / batches:6.2f} µs   "
          f"+ events as dataclasses {typed * 1e6 / batches:6.2f} µs")


if __name__ == "__main__":
    main()
