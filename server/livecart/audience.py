"""What each role sees of a room: the one place that decides it (CONTRACT "What each role sees").

Viewer and overlay tokens live in page URLs and on stream PCs, and a viewer socket is anybody on the
internet: they get an order only as a ticker needs it, and none of the shop's numbers. Staff (host,
assistant) and the platform's own ingest token see everything.

Every frame that carries room data goes through `view` before it is encoded: batches, snapshots,
`recovered` frames and their history, and `GET …/state`; DEAL maps through `deal_view`. The hub
encodes once per (audience, format), so the filtering costs one pass per tick, not one per socket.

A public order event keeps its offset and type (offsets rise by exactly one per event for every
socket), and says `ticker: true` with the buyer's display name, product and quantity only for a paid
order ("Lin just bought 2"): a placed order would show twice once paid, and a cancelled or refunded
one is not news for viewers. Never `order_id`, `amount`, `claim_id`, `status`, the buyer's user id or
the event's id (platforms often build it from the order id).

A comment that moderation hid (its stored `hidden` is "blocked" or "muted": docs/protocol.md
"Moderation") keeps its offset, type and time, says `hidden: true`, and nothing else: no text, no user.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from livecart.goals import goals_view
from livecart.protocol import Format

__all__ = ["PRIVATE_COUNTERS", "PRIVATE_DEAL_FIELDS", "WIRES", "Audience", "audience_of", "deal_view", "view",
           "wire_of"]


class Audience(Enum):
    PUBLIC = "public"  # viewer, overlay
    STAFF = "staff"  # host, assistant, ingest


_STAFF = {"host": Audience.STAFF, "assistant": Audience.STAFF, "ingest": Audience.STAFF}

PRIVATE_COUNTERS = frozenset({"gmv", "gmv_minor", "refunds"})
# A deal's funnel: how many tried, were refused, paid, let their hold lapse, and what it earned (and, for
# a group buy, owes back).
PRIVATE_DEAL_FIELDS = frozenset({"gmv", "gmv_minor", "attempts", "rejections", "paid", "released", "rebate",
                                 "rebate_minor"})


def audience_of(role: str) -> Audience:
    return _STAFF.get(role, Audience.PUBLIC)


# Every (audience, format) a socket can be sent, numbered. A socket keeps its number (`wire_of`, once,
# when it is accepted), and fan-out keys its once-per-tick encodes by it: an int hashes in a few ns, a
# tuple of two enums in ~200, and fan-out looks it up once per socket per tick (8,000 sockets x 5 ticks/s).
WIRES: tuple[tuple[Audience, Format], ...] = tuple((a, f) for a in Audience for f in Format)


def wire_of(role: str, fmt: Format) -> int:
    return WIRES.index((audience_of(role), fmt))


def _public_event(event: dict[str, Any]) -> dict[str, Any]:
    if event.get("type") != "order":
        if event.get("hidden"):  # moderation: a blocked word, or a muted author; staff see it as written
            return {"type": event.get("type"), "offset": event.get("offset"), "ts": event.get("ts"),
                    "hidden": True}
        return event
    public: dict[str, Any] = {"type": "order", "offset": event.get("offset"), "ts": event.get("ts"),
                              "ticker": event.get("status") == "paid"}
    if public["ticker"]:
        user = event.get("user") or {}
        public.update(user={"name": user.get("name") or ""}, product_id=event.get("product_id"),
                      qty=event.get("qty"))
    return public


def _public_deal(deal: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in deal.items() if k not in PRIVATE_DEAL_FIELDS}


def deal_view(deal: dict[str, Any], audience: Audience) -> dict[str, Any]:
    return deal if audience is Audience.STAFF else _public_deal(deal)


def view(frame: dict[str, Any], audience: Audience) -> dict[str, Any]:
    """`frame` (any wire map carrying room data) as `audience` may see it. Staff get the very same
    object; the public get a copy, and `frame` is never changed (it is shared with other sockets)."""
    if audience is Audience.STAFF:
        return frame
    public = dict(frame)
    for name in ("events", "recent"):
        events = frame.get(name)
        if events:
            public[name] = [_public_event(e) for e in events]
    counters = frame.get("counters")
    if counters:
        public["counters"] = {k: v for k, v in counters.items() if k not in PRIVATE_COUNTERS}
    deals = frame.get("deals")
    if deals:
        public["deals"] = [_public_deal(d) for d in deals]
    if frame.get("goals"):  # a GMV goal without its numbers (goals.goal_view)
        public["goals"] = goals_view(frame["goals"], public=True)
    return public
