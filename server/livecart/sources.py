"""Sources: who delivers events into a room, and how lately (pure).

Every ingest client is a source: a platform connector or bridge (`livecart connect …`), a script posting
to `POST …/events`, an ingest socket, a shop's webhook. Each delivery (one ingest request, one socket
batch, one webhook) is noted under the source's id with what became of its events, so the console can
show each source, when it last delivered, and whether its events are accepted, duplicates, rejected or
not mapped at all (store/source_store.py keeps them in Redis per room, so every node's console sees
the same list).

**How a client names itself.** `X-Livecart-Source: NAME` on `POST …/events`, or `source=NAME` in the
query of `/ws/ingest/{room}` (a bridge uses its platform and channel: `tiktok:@user`, `bilibili:21452505`).
Without one, the source is the ingest token's user (`livecart token --role ingest --user NAME`), else
`ingest`. Webhooks are `webhook:shopify` and `webhook:orders`; no client may take a `webhook:` name, so
the console never shows a posted batch as a shop's delivery.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from livecart.errors import BadRequest

__all__ = ["MAX_SOURCES", "SOURCE_HEADER", "WEBHOOK_PREFIX", "Delivery", "Source", "Via", "source_id",
           "sources_to_wire"]

SOURCE_HEADER = "X-Livecart-Source"
WEBHOOK_PREFIX = "webhook:"
MAX_SOURCES = 50  # per room: the least recently delivering ones are forgotten past this
_NAME = re.compile(r"^[A-Za-z0-9_.:@-]{1,64}$")
Via = Literal["http", "socket", "webhook"]
COUNTS = ("deliveries", "accepted", "duplicates", "rejected", "unmapped")


@dataclass(frozen=True, slots=True)
class Source:
    id: str
    via: Via


@dataclass(frozen=True, slots=True)
class Delivery:
    """What one delivery of a source came to. `delivery_id` (a webhook's id) makes `unmapped` count once
    per delivery however often the shop sends it again; accepted events are de-duplicated by ingest."""

    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    unmapped: int = 0
    delivery_id: str = ""


def source_id(declared: str | None, token_user: str | None) -> str:
    """The source id of an ingest client: the name it declares (400 `bad_source` when it is not 1-64
    characters of [A-Za-z0-9_.:@-] or takes a webhook's name), else its token's user when that is such a
    name, else `ingest`."""
    if declared is not None:
        if not _NAME.match(declared) or declared.startswith(WEBHOOK_PREFIX):
            raise BadRequest("bad_source", f"{SOURCE_HEADER} must be 1-64 characters of [A-Za-z0-9_.:@-], "
                                           f"not starting with {WEBHOOK_PREFIX!r}")
        return declared
    if token_user and _NAME.match(token_user) and not token_user.startswith(WEBHOOK_PREFIX):
        return token_user
    return "ingest"


def _int(raw: dict[str, str], name: str) -> int:
    try:
        return int(raw.get(name, 0))
    except ValueError:
        return 0


def sources_to_wire(rows: list[tuple[str, dict[str, str]]]) -> list[dict[str, Any]]:
    """The stored sources (id, hash fields), newest delivery first, as the console reads them:
    `{id, via, first_at, last_at, deliveries, accepted, duplicates, rejected, unmapped}` (times in ms)."""
    wire = [{"id": sid, "via": raw.get("via", "http"), "first_at": _int(raw, "first_at"),
             "last_at": _int(raw, "last_at"), **{name: _int(raw, name) for name in COUNTS}}
            for sid, raw in rows]
    return sorted(wire, key=lambda s: (-s["last_at"], s["id"]))
