"""A log-linear latency histogram (HdrHistogram's layout, 1.6 % resolution): fixed memory, mergeable.

Values are recorded in microseconds. Below 128 µs every value has its own bucket; above, each power
of two is split into 64 buckets. A run records millions of latencies; this keeps ~1,400 counters per
histogram, and histograms from several worker processes add up bucket by bucket.
"""

from __future__ import annotations

__all__ = ["Histogram"]

_SUB = 64


def bucket_of(us: int) -> int:
    if us < 2 * _SUB:
        return max(us, 0)
    shift = us.bit_length() - 7
    return _SUB * shift + (us >> shift)


def value_of(bucket: int) -> int:
    """The upper edge of a bucket, in µs (percentiles err on the slow side)."""
    if bucket < 2 * _SUB:
        return bucket
    shift = bucket // _SUB - 1
    return ((bucket - _SUB * shift + 1) << shift) - 1


class Histogram:
    __slots__ = ("counts", "max_us", "total")

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}
        self.total = 0
        self.max_us = 0

    def record_us(self, us: int, n: int = 1) -> None:
        """Count `n` values of `us` microseconds (negative ones, from clock steps, count as 0)."""
        if us < 2 * _SUB:  # bucket_of, inlined: this runs for every delivery the loader sees
            b = us if us > 0 else 0
        else:
            shift = us.bit_length() - 7
            b = _SUB * shift + (us >> shift)
        counts = self.counts
        counts[b] = counts.get(b, 0) + n
        self.total += n
        if us > self.max_us:
            self.max_us = us

    def record_ms(self, ms: float) -> None:
        self.record_us(int(ms * 1000))

    def merge(self, other: Histogram) -> None:
        for b, n in other.counts.items():
            self.counts[b] = self.counts.get(b, 0) + n
        self.total += other.total
        self.max_us = max(self.max_us, other.max_us)

    def percentile_ms(self, p: float) -> float:
        if not self.total:
            return 0.0
        rank = max(1, int(p / 100 * self.total + 0.5))
        seen = 0
        for b in sorted(self.counts):
            seen += self.counts[b]
            if seen >= rank:
                return min(value_of(b), self.max_us) / 1000
        return self.max_us / 1000

    def summary(self) -> dict[str, float]:
        return {"p50": round(self.percentile_ms(50), 2), "p90": round(self.percentile_ms(90), 2),
                "p99": round(self.percentile_ms(99), 2), "p999": round(self.percentile_ms(99.9), 2),
                "max": round(self.max_us / 1000, 2), "count": float(self.total)}

    def to_wire(self) -> tuple[dict[int, int], int, int]:
        return self.counts, self.total, self.max_us

    @classmethod
    def from_wire(cls, wire: tuple[dict[int, int], int, int]) -> Histogram:
        h = cls()
        h.counts, h.total, h.max_us = dict(wire[0]), wire[1], wire[2]
        return h
