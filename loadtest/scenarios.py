"""The scenarios, each a small declarative definition; the command line overrides any number in it.

Times inside a scenario (`at`, `length`, the audience curve) are fractions of `duration`, so
`--duration` compresses or stretches the whole show.

A scenario with room groups (`small_rooms` × `small_size` and `big_rooms` × `big_size`, as `rooms` has)
runs many rooms at once: `rate` is then per room, and `clients` is the sum of the groups' sockets.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

__all__ = ["SCENARIOS", "Burst", "DealRush", "Scenario"]


@dataclass(frozen=True, slots=True)
class Burst:
    at: float  # fraction of duration
    length: float  # fraction of duration
    factor: float  # times the base rate


@dataclass(frozen=True, slots=True)
class DealRush:
    at: float  # fraction of duration at which the deal is announced; it goes live `countdown_s` later
    stock_share: float  # stock = this share of the claimers (at least 1)
    limit: int = 1
    claimers: float = 1.0  # share of the open sockets that claim the moment they see it live
    claims: int = 2  # claims per claimer, each with its own key (more than `limit` tests the limit)
    countdown_s: float = 2.0
    # 0: every claimer sends all its claims the moment it sees the deal live (a burst: its latency is
    # mostly queueing). > 0: claims per second from all claimers together, spread evenly (open loop):
    # a sustained rate, whose latency is the node's answer time at that rate.
    claim_rate: float = 0.0


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    about: str
    clients: int
    rate: float  # events per second ingested into the room
    duration: float  # seconds of publishing
    ramp: float = 1000.0  # sockets opened per second
    text_size: int = 0  # comments padded to this many characters
    like_share: float = 0.0
    bursts: tuple[Burst, ...] = ()
    deals: tuple[DealRush, ...] = ()
    drop_at: float | None = None  # reconnect storm: this share of sockets is dropped at once
    drop_share: float = 1.0
    slow_at: float | None = None  # slow consumers: this share stops reading for slow_for
    slow_share: float = 0.1
    slow_for: float = 0.5
    audience: tuple[tuple[float, float], ...] = ((0.0, 1.0),)  # (fraction of duration, share connected)
    announcements: tuple[float, ...] = ()
    pins: bool = False
    stock: int | None = None  # deal-rush: fixed stock instead of stock_share
    small_rooms: int = 0  # many rooms (loadtest/many_rooms.py): this many rooms of small_size sockets
    small_size: int = 0
    big_rooms: int = 0  # ... and this many of big_size sockets
    big_size: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def rate_at(self, t: float) -> float:
        """Events per second at t seconds into publishing (bursts multiply the base rate)."""
        x = t / self.duration if self.duration else 0.0
        factor = max((b.factor for b in self.bursts if b.at <= x < b.at + b.length), default=1.0)
        return self.rate * factor

    def audience_at(self, t: float) -> int:
        """Sockets that should be open at t seconds, on the audience curve (linear between points)."""
        x = t / self.duration if self.duration else 1.0
        points = self.audience
        share = points[-1][1]
        for (x0, s0), (x1, s1) in zip(points, points[1:], strict=False):
            if x0 <= x < x1:
                share = s0 + (s1 - s0) * (x - x0) / (x1 - x0)
                break
        return round(self.clients * share)

    def with_overrides(self, **values: Any) -> Scenario:
        s = replace(self, **{k: v for k, v in values.items() if v is not None})
        return replace(s, clients=s.room_sockets) if s.many_rooms else s

    @property
    def many_rooms(self) -> bool:
        return self.small_rooms + self.big_rooms > 0

    @property
    def room_sockets(self) -> int:
        return self.small_rooms * self.small_size + self.big_rooms * self.big_size

    def room_groups(self) -> list[tuple[str, int, int]]:
        """(group, rooms, sockets per room) of a many-rooms scenario."""
        return [(g, n, size) for g, n, size in (("small", self.small_rooms, self.small_size),
                                                ("big", self.big_rooms, self.big_size)) if n and size]


SCENARIOS: dict[str, Scenario] = {s.name: s for s in (
    Scenario("viewers", "N sockets join (ramp), hold, and receive comments: fan-out latency, completeness",
             clients=1000, rate=20, duration=20),
    Scenario("comment-storm", "a zh/en comment storm with likes and bursts into a room of N viewers",
             clients=1000, rate=500, duration=20, like_share=0.3,
             bursts=(Burst(0.3, 0.1, 3.0), Burst(0.7, 0.1, 4.0))),
    Scenario("deal-rush", "N viewers claim the moment a deal goes live: exact stock, claim latency, "
             "time to sold out on every socket", clients=1000, rate=0, duration=5,
             deals=(DealRush(0.0, 0.25, limit=1, claimers=1.0, claims=2),)),
    Scenario("reconnect-storm", "drop N sockets at once; all resume from their offset with jittered backoff",
             clients=1000, rate=50, duration=15, drop_at=0.3, drop_share=1.0),
    Scenario("slow-consumers", "a share of sockets stops reading; the others' latency must not move",
             clients=1000, rate=200, duration=20, text_size=1000, slow_at=0.3, slow_share=0.1, slow_for=0.4),
    Scenario("show", "a 10-minute live show compressed in time: audience curve, bursts at deal launches, "
             "three deal rushes, pins and announcements", clients=2000, rate=30, duration=60, like_share=0.4,
             audience=((0.0, 0.2), (0.1, 0.6), (0.25, 1.0), (0.5, 0.85), (0.6, 1.0), (0.85, 0.7), (1.0, 0.5)),
             bursts=(Burst(0.2, 0.06, 5.0), Burst(0.45, 0.06, 5.0), Burst(0.7, 0.06, 5.0)),
             deals=(DealRush(0.2, 0.3, claimers=0.3, claims=1), DealRush(0.45, 0.3, claimers=0.3, claims=1),
                    DealRush(0.7, 0.5, limit=2, claimers=0.4, claims=3)),
             announcements=(0.1, 0.4, 0.65, 0.9), pins=True),
    Scenario("lucky-bag", "N viewers enter a lucky bag by comment within seconds, the draw runs, and the "
             "tool checks the winners against its own recomputation: entries/s, close to winners",
             clients=10_000, rate=0, duration=30,
             extra={"close": "console", "sockets": 200, "leave_share": 0.1}),
    Scenario("rooms", "many small rooms and a few big ones at once, each with comments at --rate per room "
             "and a live deal: per-room delivery, latency and the node's cost of many rooms",
             clients=1000 * 8 + 10 * 400, rate=2, duration=30, small_rooms=1000, small_size=8, big_rooms=10,
             big_size=400),
    Scenario("growth", "N viewers arrive through invite links (a race for the first touch each) and like "
             "toward a goal that starts a deal; checks one credit per invitee, the goal fired once, exact "
             "stock and invited buyers' GMV (loadtest/growth.py)", clients=200, rate=200, duration=30),
)}
