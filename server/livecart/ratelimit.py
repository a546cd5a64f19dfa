"""Token buckets (per token, per user, per client IP, per node) and counts of open connections per key.
Pure; the caller passes the clock."""

from __future__ import annotations

from collections import OrderedDict

__all__ = ["OpenCounts", "RateLimiter", "TokenBucket"]


class TokenBucket:
    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate, self.burst = rate, burst
        self.tokens, self.stamp = float(burst), now

    def take(self, now: float, n: float = 1.0) -> float:
        """0.0 if `n` tokens were taken, else the seconds until they would be available."""
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= n:
            self.tokens -= n
            return 0.0
        return (n - self.tokens) / self.rate


class RateLimiter:
    """One bucket per key, keeping at most `max_keys` (the least recently used go first)."""

    def __init__(self, rate: float, burst: int, max_keys: int = 100_000) -> None:
        self.rate, self.burst, self.max_keys = rate, burst, max_keys
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def take(self, key: str, now: float, n: float = 1.0) -> float:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(self.rate, self.burst, now)
            if len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
        return bucket.take(now, n)


class OpenCounts:
    """How many connections are open per key, each key at most `limit` (0: no limit).

    Calling contract: `full(key)` before accepting a connection; `opened(key)` once it is accepted;
    `closed(key)` exactly once when it ends. A key is kept only while it has open connections, so memory
    is bounded by the open connections themselves. `closed` on a key with nothing open changes nothing
    and returns False (a second close of one connection cannot take another's place).
    """

    __slots__ = ("_open", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: dict[str, int] = {}

    def full(self, key: str) -> bool:
        return self.limit > 0 and self._open.get(key, 0) >= self.limit

    def opened(self, key: str) -> None:
        self._open[key] = self._open.get(key, 0) + 1

    def closed(self, key: str) -> bool:
        count = self._open.get(key, 0)
        if count <= 1:
            return self._open.pop(key, None) is not None
        self._open[key] = count - 1
        return True

    def __getitem__(self, key: str) -> int:
        return self._open.get(key, 0)

    def __len__(self) -> int:
        return len(self._open)
