"""The node's front door: who a client is (its IP address, read through trusted proxies) and whether it
may open another socket, claim or comment right now.

Limits per client IP, on this node (docs/operations.md §3, "Per-IP limits and trusted proxies"):

- open sockets: the upgrade gets 429 `too_many_connections` + Retry-After (`ip_max_connections`);
- new sockets per second: the upgrade gets 429 `rate_limited` + Retry-After (`ip_connect_rate`, `_burst`);
- new claims per second: HTTP 429 `rate_limited` + Retry-After, or a socket's error frame `rate_limited`
  with `retry_after` (`ip_claim_rate`, `ip_claim_burst`);
- viewer comments per second: the error frame `rate_limited` (`ip_comment_rate`, `ip_comment_burst`);

and, for the whole node, new sockets per second (`connect_rate`: 503 `busy`, with a Retry-After that
grows with the backlog of refused upgrades, `ratelimit.ConnectLimiter`). Each per-IP refusal is
counted in `livecart_ip_rejections_total{limit}`. Clients in `ip_limit_exempt` (loopback by default)
are never limited per IP.

Before any request, a connection counts toward its peer address's cap of unfinished connections
(`ip_max_unfinished`, 429 at accept; `arriving(peername)` gives the key, `unfinished` counts; web/ws.py
`Listener.arrived`/`finished` keep it, with the handshake deadline).

Calling contract: `client(peername, x_forwarded_for)` once per connection or HTTP request gives the
client's IP and its limit key (None: exempt). Before a websocket upgrade, `admit(key)` raises the
refusal or returns; after the upgrade succeeded, `opened(key)`, and `closed(key)` exactly once when that
socket ends (ws.py does both). `claim(key)` and `comment(key)` raise `RateLimited` or return.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from enum import StrEnum
from typing import Any

from livecart.client_ip import Networks, client_ip, limit_key, peer_host
from livecart.config import Settings
from livecart.errors import Busy, RateLimited, TooManyConnections
from livecart.metrics import Metrics
from livecart.ratelimit import ConnectLimiter, OpenCounts, RateLimiter

__all__ = ["Admission", "IpLimit"]

MAX_PEERS = 50_000  # peer addresses whose reading is remembered (Admission._peer)

class IpLimit(StrEnum):
    """The per-IP limits, named as in the `limit` label of `livecart_ip_rejections_total`."""

    CONNECTIONS = "connections"
    CONNECT_RATE = "connect_rate"
    CLAIMS = "claims"
    COMMENTS = "comments"


class Admission:
    def __init__(self, settings: Settings, metrics: Metrics,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.trusted = Networks.parse(settings.trusted_proxies)
        self.exempt = Networks.parse(settings.ip_limit_exempt)
        self.sockets = OpenCounts(settings.ip_max_connections)
        self.unfinished = OpenCounts(settings.ip_max_unfinished)  # connections with no request yet
        self._limiters = {IpLimit.CONNECT_RATE: _limiter(settings.ip_connect_rate, settings.ip_connect_burst),
                          IpLimit.CLAIMS: _limiter(settings.ip_claim_rate, settings.ip_claim_burst),
                          IpLimit.COMMENTS: _limiter(settings.ip_comment_rate, settings.ip_comment_burst)}
        self._node_connects = ConnectLimiter(settings.connect_rate, clock(), settings.connect_retry_max_s)
        # What each peer address is, read once: parsing an address (ipaddress) three times per connect
        # was a tenth of a connect's CPU, and a reconnect storm brings the same addresses back.
        self._peers: dict[str, tuple[str, str | None, bool]] = {}
        self.metrics = metrics
        self.clock = clock

    def client(self, peername: Any, forwarded_for: Sequence[str]) -> tuple[str, str | None]:
        """(the client's IP, the key its per-IP limits count by, or None if it is exempt)."""
        if not forwarded_for:  # the peer is the client
            ip, key, _trusted = self._peer(peer_host(peername))
            return ip, key
        ip = client_ip(peer_host(peername), forwarded_for, self.trusted)
        return ip, None if ip in self.exempt else limit_key(ip)

    def arriving(self, peername: Any) -> str | None:
        """The key a new connection's *unfinished* state counts under, None when it is not capped.

        Only the peer is known before a request arrives, so a balancer in `trusted_proxies` (whose
        connections carry many clients) and exempt clients are not capped."""
        _ip, key, trusted = self._peer(peer_host(peername))
        return None if trusted else key

    def _peer(self, peer: str) -> tuple[str, str | None, bool]:
        """A peer address as a client: (its IP, normalised; its limit key, None if exempt; whether it is
        a trusted proxy). Remembered for up to MAX_PEERS addresses (then forgotten all at once)."""
        known = self._peers.get(peer)
        if known is None:
            if len(self._peers) >= MAX_PEERS:
                self._peers.clear()
            ip = client_ip(peer, (), self.trusted)
            key = None if ip in self.exempt else limit_key(ip)
            known = self._peers[peer] = (ip, key, peer in self.trusted)
        return known

    def admit(self, key: str | None) -> None:
        """Whether a new socket may open: raises TooManyConnections, RateLimited or Busy."""
        now = self.clock()
        if key is not None:
            if self.sockets.full(key):  # checked first: a refused upgrade costs the address no token
                self.metrics.ip_rejections.labels(limit=IpLimit.CONNECTIONS.value).inc()
                raise TooManyConnections(self.sockets.limit)
            # Per address before per node: one address's flood is refused before it can use up the
            # node's budget and lock everybody else out.
            self._take(IpLimit.CONNECT_RATE, key, now, "new sockets")
        retry = self._node_connects.admit(now)  # grows with the backlog: a herd is told to spread out
        if retry:
            self.metrics.connects_refused.inc()
            raise Busy("too many new connections; retry with backoff", retry)

    def opened(self, key: str) -> None:
        self.sockets.opened(key)

    def closed(self, key: str) -> None:
        self.sockets.closed(key)

    def claim(self, key: str | None) -> None:
        if key is not None:
            self._take(IpLimit.CLAIMS, key, self.clock(), "claims")

    def comment(self, key: str | None) -> None:
        if key is not None:
            self._take(IpLimit.COMMENTS, key, self.clock(), "comments")

    def _take(self, limit: IpLimit, key: str, now: float, what: str) -> None:
        limiter = self._limiters[limit]
        if limiter is None:
            return
        retry = limiter.take(key, now)
        if retry:
            self.metrics.ip_rejections.labels(limit=limit.value).inc()
            raise RateLimited(retry, f"too many {what} from this address, retry after {retry:.1f} s")


def _limiter(rate: float, burst: int) -> RateLimiter | None:
    return RateLimiter(rate, max(1, burst)) if rate > 0 else None
