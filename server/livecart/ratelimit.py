"""Token buckets (per token, per user, per client IP), the node's connect limiter, and counts of open
connections per key. Pure; the caller passes the clock."""

from __future__ import annotations

import math
from collections import OrderedDict

__all__ = ["ConnectLimiter", "OpenCounts", "RateLimiter", "TokenBucket"]


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


class ConnectLimiter:
    """Admission of new sockets on one node: `rate` a second (a burst of one second's worth), and for
    every refused connect a Retry-After that grows with the backlog, so a herd spreads out instead of
    coming back all at once.

    The backlog is a virtual queue of refused connects, each given its own turn `1 / rate` after the one
    refused before it: the k-th connect refused in a burst hears `ceil(k / rate)` seconds, and a herd of
    N is told to come back over about N / rate seconds, `rate` of them per second, which is what the
    bucket refills. The queue drains with time, so the answer shrinks again as the herd is let in. No
    turn is further away than `cap_s`: past it every refused connect hears `cap_s`, and the queue does not
    grow (clients that ignore Retry-After, such as browsers, cannot push it out for ever).

    Calling contract: call `admit(now)` once per upgrade request, before any work on it, with a
    monotonic clock in seconds that never goes back. It returns 0 to admit the socket, or the whole
    seconds (1 ≤ s ≤ `cap_s`) to send as `Retry-After` with the refusal. `admitted` and `refused`
    count the answers; `backlog(now)` is the number of refused connects whose turn has not come yet.
    Never raises.
    """

    __slots__ = ("admitted", "bucket", "cap_s", "rate", "refused", "tail")

    def __init__(self, rate: float, now: float, cap_s: int = 30) -> None:
        if rate <= 0 or cap_s < 1:
            raise ValueError("the connect rate must be positive and the cap at least 1 s")
        self.rate, self.cap_s = rate, cap_s
        self.bucket = TokenBucket(rate, max(1, int(rate)), now)
        self.tail = now  # when the turn of the last refused connect comes
        self.admitted = 0
        self.refused = 0

    def admit(self, now: float) -> int:
        if self.bucket.take(now) == 0.0:
            self.admitted += 1
            return 0
        self.refused += 1
        self.tail = min(max(self.tail, now) + 1.0 / self.rate, now + self.cap_s)
        # Whole seconds (HTTP's delta-seconds), rounded up so nobody comes back before their turn; the
        # epsilon keeps float noise (k / rate a hair above a whole second) out of the rounding.
        return max(1, min(self.cap_s, math.ceil(self.tail - now - 1e-9)))

    def backlog(self, now: float) -> int:
        return max(0, round((self.tail - now) * self.rate))


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
