"""Windowed room statistics, the pure part: per-second buckets folded from room events, and the
windows, series and per-deal funnels read from them.

A bucket is a dict of metric -> int for one second of one room (money in cents, like the counters).
Only non-zero metrics are kept. Every metric but `viewers` and `platform_viewers` is a count that adds
up; those two are gauges, stored only in the seconds where they changed and carried forward when
read, so merging keeps the latest sample and a series shows the highest value of each step. The
director (director.py) folds the room log into buckets once a second and store/stats_store.py keeps
them in Redis; nothing here awaits.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from livecart.events import logged_counter_deltas
from livecart.money import LEGACY_CURRENCY, from_minor

__all__ = [
    "GAUGES",
    "METRICS",
    "Bucket",
    "Window",
    "bucket_second",
    "deal_funnel",
    "fold",
    "merge",
    "series",
    "to_wire",
]

Bucket = dict[str, int]
METRICS = ("viewers", "entries", "leaves", "comments", "likes", "shares", "follows", "gifts_value_cents",
           "orders", "gmv_cents", "claims", "claim_rejections", "platform_viewers")
# Latest values, not counts: livecart's viewers, and the platform's count (a bridge's `viewers` events).
GAUGES = frozenset({"viewers", "platform_viewers"})
METRIC_OF = {"joins": "entries"}  # room counters whose stats metric has another name
MAX_SKEW_MS = 3600 * 1000  # an event `ts` further than this from its receipt is bucketed by receipt time


def bucket_second(event: Mapping[str, Any], received_ms: int) -> int:
    """The second an event counts in: its platform `ts` (a late batch still lands where it happened),
    unless that is implausibly far from when it arrived."""
    ts = int(event.get("ts", received_ms))
    return (ts if abs(ts - received_ms) <= MAX_SKEW_MS else received_ms) // 1000


def event_deltas(event: Mapping[str, Any]) -> Bucket:
    """What one logged room event adds to its second's bucket: what it moved in the room counters
    (events.logged_counter_deltas), as the metrics that exist (a gift's count and refunds do not)."""
    out: Bucket = {}
    for name, value in logged_counter_deltas(event).items():
        metric = METRIC_OF.get(name, name)
        if metric in METRICS:
            out[metric] = value
    return out


def merge(into: dict[int, Bucket], second: int, deltas: Mapping[str, int]) -> None:
    bucket = into.setdefault(second, {})
    for name, value in deltas.items():
        if name in GAUGES:
            bucket[name] = value
        elif value:
            bucket[name] = bucket.get(name, 0) + value
            if bucket[name] == 0:
                del bucket[name]


def fold(events: Iterable[tuple[Mapping[str, Any], int]]) -> dict[int, Bucket]:
    """(event, receipt ms) pairs -> the deltas they add, per second."""
    out: dict[int, Bucket] = {}
    for event, received in events:
        deltas = event_deltas(event)
        if deltas:
            merge(out, bucket_second(event, received), deltas)
    return out


@dataclass(slots=True)
class Window:
    """The recent seconds of one room, for rules to read: sums, rates and the viewer gauge."""

    buckets: dict[int, Bucket] = field(default_factory=dict)

    def add(self, second: int, deltas: Mapping[str, int]) -> None:
        merge(self.buckets, second, deltas)

    def trim(self, before: int) -> None:
        for second in [s for s in self.buckets if s < before]:
            del self.buckets[second]

    def total(self, metric: str, start: int, end: int) -> int:
        """The sum of `metric` over seconds start <= s < end."""
        return sum(b.get(metric, 0) for s, b in self.buckets.items() if start <= s < end)

    def per_min(self, metric: str, start: int, end: int) -> float:
        return self.total(metric, start, end) * 60 / max(1, end - start)

    def viewers(self, second: int) -> int | None:
        """The last viewer sample at or before `second` (None when there is none)."""
        known = [s for s, b in self.buckets.items() if s <= second and "viewers" in b]
        return self.buckets[max(known)]["viewers"] if known else None

    def mean_viewers(self, start: int, end: int) -> float | None:
        """The mean viewers over seconds start <= s < end, each second at the last sample before it
        (a sample is stored only when the number changes). None when there is no sample yet."""
        samples = sorted((s, b["viewers"]) for s, b in self.buckets.items() if s < end and "viewers" in b)
        total, seconds, current, i = 0, 0, None, 0
        for second in range(start, end):
            while i < len(samples) and samples[i][0] <= second:
                current = samples[i][1]
                i += 1
            if current is not None:
                total += current
                seconds += 1
        return total / seconds if seconds else None


def series(buckets: Mapping[int, Bucket], start: int, end: int, step: int) -> list[dict[str, int]]:
    """One row per step from `start` (seconds, end exclusive): counts summed, each gauge (viewers, the
    platform's viewers) at its highest (carried forward from the last sample before a step that has
    none, so a quiet step is not 0)."""
    rows: list[dict[str, int]] = []
    last = dict.fromkeys(GAUGES, 0)
    for s in sorted(buckets):
        if s < start:
            last.update((name, buckets[s][name]) for name in GAUGES if name in buckets[s])
    for t in range(start, end, step):
        row = {name: 0 for name in METRICS}
        peaks: dict[str, int] = {}
        for s in range(t, min(t + step, end)):
            bucket = buckets.get(s)
            if not bucket:
                continue
            for name, value in bucket.items():
                if name in GAUGES:
                    peaks[name] = max(peaks.get(name, value), value)
                    last[name] = value
                elif name in row:
                    row[name] += value
        for name in GAUGES:
            row[name] = peaks.get(name, last[name])
        row["t"] = t
        rows.append(row)
    return rows


def to_wire(row: Mapping[str, int], currency: str = LEGACY_CURRENCY) -> dict[str, Any]:
    """A series row or total as clients see it: minor units shown as money of the room's `currency`."""
    out: dict[str, Any] = {}
    for name, value in row.items():
        if name.endswith("_cents"):
            out[name[: -len("_cents")]] = from_minor(value, currency)
        else:
            out[name] = value
    return out


def deal_funnel(fields: Mapping[str, str], viewers_at_launch: int | None, sold_out_at: int | None
                ) -> dict[str, Any]:
    """One deal's funnel from its stored fields: who saw it launch, tried, got it, paid."""
    attempts, claims = int(fields.get("attempts", 0)), int(fields.get("claims", 0))
    paid, released = int(fields.get("paid", 0)), int(fields.get("released", 0))
    starts = int(fields["starts_at"])
    viewers = viewers_at_launch or 0
    return {
        "deal": fields["id"],
        "product": fields.get("product_name", ""),
        "stock": int(fields.get("stock", 0)),
        "sold": int(fields.get("sold", 0)),
        "starts_at": starts,
        "ends_at": int(fields.get("stopped_at") or fields["ends_at"]),
        "viewers_at_launch": viewers,
        "claim_attempts": attempts,
        "claims": claims,
        "paid": paid,
        "cancelled_or_expired": released,
        "buyers": int(fields.get("buyers", 0)),
        # Conversion: paid claims per viewer at launch (None when nobody was counted watching).
        "conversion": round(paid / viewers, 4) if viewers else None,
        "claim_success": round(claims / attempts, 4) if attempts else None,
        "sell_through_s": round((sold_out_at - starts) / 1000, 1) if sold_out_at else None,
        "gmv": from_minor(int(fields.get("gmv_cents", 0)), fields.get("currency") or LEGACY_CURRENCY),
    }
