"""Sources: who delivers events into a room, and how lately (pure).

Every ingest client is a source: a platform connector or bridge (`livecart connect …`), a script posting
to `POST …/events`, an ingest socket, a shop's webhook. Each delivery (one ingest request, one socket
batch, one webhook) is noted under the source's id with what became of its events, so the console can
show each source, when it last delivered, and whether its events are accepted, duplicates, rejected or
not mapped at all (store/source_store.py keeps them in Redis per room, so every node's console sees
the same list).

**How a client names itself** (docs/protocol.md "Sources", written with the bridges):
`X-Livecart-Source: KIND:NAME` on `POST …/events`, or `source=KIND:NAME` in the query of
`/ws/ingest/{room}`: `tiktok:@streamer`, `bilibili:21452505`. KIND is 1-20 characters of `[a-z0-9_-]`,
NAME 1-100 printable characters without spaces. Without one, or with a bad one (ignored, never a refusal:
a typo must not lose a stream), the source is the ingest token's user (`livecart token --role ingest
--user NAME`), else `ingest`. Webhooks are `shopify:<shop domain>` and `orders:webhook`; the kinds
`shopify` and `orders` are theirs alone, so the console never shows a posted batch as a shop's delivery.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["MAX_SOURCES", "SOURCE_HEADER", "WEBHOOK_KINDS", "Delivery", "Source", "SourceTally", "Tallied",
           "Via", "source_id", "sources_to_wire", "webhook_source"]

SOURCE_HEADER = "X-Livecart-Source"
WEBHOOK_KINDS = ("shopify", "orders")  # source kinds only a signed webhook delivery may have
MAX_SOURCES = 50  # per room: the least recently delivering ones are forgotten past this
_DECLARED = re.compile(r"^(?P<kind>[a-z0-9_-]{1,20}):(?P<name>[^\s]{1,100})$")
_USER = re.compile(r"^[A-Za-z0-9_.:@-]{1,100}$")
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


@dataclass(slots=True)
class Tallied:
    """The deliveries of one source in one room since the last flush, added up."""

    room: str
    source: Source
    deliveries: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    last_ms: int = 0


class SourceTally:
    """Ingest deliveries counted in memory between two writes to Redis (source_log.py writes them once a
    second), so that an ingest request costs a dict update, not one more Redis call.

    Call `add` for each delivery, `drain` to take everything added so far (and start again), `restore`
    to put back what could not be written. At most `max_entries` (room, source) pairs are held: a flood of
    new names past it is dropped from the sources list (the events themselves are not affected)."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self.max_entries = max_entries
        self._pending: dict[tuple[str, str], Tallied] = {}

    def add(self, room: str, source: Source, delivery: Delivery, now_ms: int) -> None:
        entry = self._pending.get((room, source.id))
        if entry is None:
            if len(self._pending) >= self.max_entries:
                return
            entry = self._pending[room, source.id] = Tallied(room, source)
        entry.deliveries += 1
        entry.accepted += delivery.accepted
        entry.duplicates += delivery.duplicates
        entry.rejected += delivery.rejected
        entry.last_ms = max(entry.last_ms, now_ms)

    def drain(self) -> list[Tallied]:
        pending, self._pending = self._pending, {}
        return list(pending.values())

    def restore(self, entries: list[Tallied]) -> None:
        for old in entries:
            entry = self._pending.get((old.room, old.source.id))
            if entry is None:
                self._pending[old.room, old.source.id] = old
                continue
            entry.deliveries += old.deliveries
            entry.accepted += old.accepted
            entry.duplicates += old.duplicates
            entry.rejected += old.rejected
            entry.last_ms = max(entry.last_ms, old.last_ms)

    def __len__(self) -> int:
        return len(self._pending)


def _declared(value: str) -> str | None:
    match = _DECLARED.match(value)
    if match is None or not value.isprintable() or match["kind"] in WEBHOOK_KINDS:
        return None
    return value


def source_id(declared: str | None, token_user: str | None) -> str:
    """The source id of an ingest client: the `KIND:NAME` it declares, else its token's user when that
    is a plain name (1-100 of [A-Za-z0-9_.:@-]), else `ingest`. A declared or user name that takes a
    webhook's kind is not taken."""
    if declared is not None and (ours := _declared(declared.strip())) is not None:
        return ours
    if token_user and _USER.match(token_user) and token_user.partition(":")[0] not in WEBHOOK_KINDS:
        return token_user
    return "ingest"


def webhook_source(kind: str, name: str | None) -> str:
    """A webhook's source id: `shopify:jsmith.myshopify.com` (the shop's domain header, after the
    signature was checked), or `<kind>:webhook` when the delivery names no usable one."""
    if name and _DECLARED.match(f"{kind}:{name}") and name.isprintable():
        return f"{kind}:{name}"
    return f"{kind}:webhook"


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
