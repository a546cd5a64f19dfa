"""The room channel's contract: every message one node tells every node about a room on `lc:{room}:ch`.

Pure: no I/O. Each message is one flat JSON object tagged by `type`, its fields beside the tag (no
envelope: the hot path publishes one `events` message per ingest batch, and append.lua builds it by
string concatenation around the stored event JSON, which a nested body would make it re-encode).

    type       shape                                                        producers
    "events"   {"type":"events","epoch":E,"offset":LAST,                    append.lua
                "counters":[name,value,...],"events":[EVENT,...]}
    "deal"     {"type":"deal","deal":[name,value,...]}  (the deal's hash)   lib.lua publish_deal: deal_create,
                                                                            deal_control, claim, settle,
                                                                            expire, external_sale .lua
    "stage"    {"type":"stage","name":N,"value":V}  N: a ROOM_FIELDS name   RedisStore.show, set_currency.lua
    "cue"      {"type":"cue","cue":CUE}                                     cue_emit.lua, CueStore.ack
    "stats"    {"type":"stats","stats":{...}}                               CueStore.publish_stats
    "revoked"  {"type":"revoked","field":F,"before":unix_s}                 RedisStore.revoke
    "won"      {"type":"won","user":U,"bag":ID,"round":R,"claim_until":MS,  bag.lua commit
                "prize":{...}}  (to the winner's own sockets only)
    "show"     {"type":"show","show":SHOW}  (new or reviewed; staff only)    show.lua
    "prompt"   {"type":"prompt","user":U,"prompt":{...}}  (one buyer's      ShowStore.prompt
                sockets: "share a show?" after a paid order)
    "invites"  {"type":"invites","board":BOARD}  (invites.lua's shape)      invites.lua

`[name,value,...]` is a Redis hash as Lua's cjson writes HGETALL: values are strings, and an empty
hash comes out as `{}`. Python producers call `encode`; the Lua scripts cannot import it, so each
writes the shape above and points here (tests/integration/test_channel.py runs every Lua producer
against a real Redis and reads what it published back with `decode`). Consumers call `decode` and
match on the message's class.

Guarantees: at-most-once delivery (Redis pub/sub), in publish order per room; an `events` message's
offsets are contiguous and end at `offset`, so a consumer that sees a jump reads history by offset.

EVENT maps stay dicts here (as stored, with their `offset`): they go from this message through the
tick batch and `audience.view` to the wire unchanged. Measured (loadtest/bench_events.py), a frozen
slots dataclass per event costs more at both edges: building one and orjson-encoding it is ~2 µs more
per event than validate_event's dict (orjson encodes a slots dataclass ~8× slower than a dict), and
turning a decoded 20-event message's events into dataclasses triples the decode; the batch and the
audience views would then need maps again. The message itself is typed: one object per ingest batch,
its decode within the noise of the old key sniffing (both are mostly orjson.loads). Nor does
events.Event type them: a logged event may predate today's fields (a gift without `value_minor`),
and the decoder does not check each one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from livecart.protocol import encode_json, load_json
from livecart.store.values import ROOM_FIELDS

__all__ = ["BagWon", "BuyerPrompt", "ChannelMessage", "CuePosted", "DealChanged", "InviteBoard", "LiveStats",
           "RoomEvents", "ShowChanged", "StageChanged", "TokensRevoked", "UndecodableMessage", "decode",
           "encode"]


class UndecodableMessage(ValueError):
    """Bytes on a room channel that are not one of its messages (a bug, or a node of another version
    during a rolling deploy). Not in errors.py's tree: it never reaches a client, the hub logs it."""


@dataclass(frozen=True, slots=True)
class RoomEvents:
    """Events appended to the room, in offset order, and the room's counters after them."""

    epoch: str
    offset: int  # the last event's
    counters: dict[str, int]  # stored names (money in minor units: events.counters_to_wire shows them)
    events: list[dict[str, Any]]  # as stored, each with its "offset" (maps: the module docstring says why)


@dataclass(frozen=True, slots=True)
class DealChanged:
    """A deal's stored fields after a change (create, control, claims, settle, expiry, external sale)."""

    fields: dict[str, str]  # always has "id"


@dataclass(frozen=True, slots=True)
class StageChanged:
    """One latest-value field of the room: a STAGE part (None clears it) or its currency."""

    name: str  # one of store/values.py's ROOM_FIELDS (decode refuses any other)
    value: Any


@dataclass(frozen=True, slots=True)
class CuePosted:
    """A cue for the room's host and assistants: new, or acked (then with `acked_at`, `acked_by`)."""

    cue: dict[str, Any]


@dataclass(frozen=True, slots=True)
class LiveStats:
    """The once-a-second live stats frame's body, for host and assistant sockets that asked for it."""

    stats: dict[str, Any]


@dataclass(frozen=True, slots=True)
class TokensRevoked:
    """The room's tokens that `field` (auth.revocation_field) names, issued before `before`, are refused."""

    field: str
    before: float  # unix seconds


@dataclass(frozen=True, slots=True)
class BagWon:
    """A lucky bag drew `user`: their own sockets get a `won` frame (the BAG map tells everyone)."""

    user: str
    frame: dict[str, Any]  # the message as it is, {"type": "won", ...}: it goes to the winner unchanged


@dataclass(frozen=True, slots=True)
class ShowChanged:
    """A buyer show was posted or reviewed: for the room's host and assistant sockets (the console's
    approval queue). The public see approved shows only through the `wall` stage field."""

    show: dict[str, Any]


@dataclass(frozen=True, slots=True)
class BuyerPrompt:
    """For `user`'s own sockets only: they just paid, invite them to post a show."""

    user: str
    prompt: dict[str, Any]


@dataclass(frozen=True, slots=True)
class InviteBoard:
    """The room's invite standing after a change: funnel, top inviters (money in minor units), `seq`
    rising by one per change (two nodes' messages may cross: consumers keep the highest), and whether
    the overlay shows it (invites.board_to_wire turns it into the wire's shape)."""

    board: dict[str, Any]


ChannelMessage = (RoomEvents | DealChanged | StageChanged | CuePosted | LiveStats | TokensRevoked
                  | BagWon | ShowChanged | BuyerPrompt | InviteBoard)


def encode(message: ChannelMessage) -> bytes:
    """The message as published: the shape in the module docstring, tag first."""
    match message:
        case RoomEvents(epoch, offset, counters, events):
            return encode_json({"type": "events", "epoch": epoch, "offset": offset,
                                "counters": _flat(counters), "events": events})
        case DealChanged(fields):
            return encode_json({"type": "deal", "deal": _flat(fields)})
        case StageChanged(name, value):
            return encode_json({"type": "stage", "name": name, "value": value})
        case CuePosted(cue):
            return encode_json({"type": "cue", "cue": cue})
        case LiveStats(stats):
            return encode_json({"type": "stats", "stats": stats})
        case TokensRevoked(field, before):
            return encode_json({"type": "revoked", "field": field, "before": before})
        case BagWon(_, frame):
            return encode_json(frame)
        case ShowChanged(show):
            return encode_json({"type": "show", "show": show})
        case BuyerPrompt(user, prompt):
            return encode_json({"type": "prompt", "user": user, "prompt": prompt})
        case InviteBoard(board):
            return encode_json({"type": "invites", "board": board})


def decode(data: bytes | str) -> ChannelMessage:
    """The message `data` carries, its shape checked (not each EVENT: append.lua stores only events
    that events.validate_event made); UndecodableMessage for anything else."""
    try:
        message = load_json(data)
        return _DECODERS[message["type"]](message)
    except UndecodableMessage:
        raise
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise UndecodableMessage(f"not a room channel message: {data[:80]!r}") from exc


def _events(m: dict[str, Any]) -> RoomEvents:
    epoch, offset, events = m["epoch"], m["offset"], m["events"]
    if not (isinstance(epoch, str) and type(offset) is int and isinstance(events, list)):
        raise UndecodableMessage("events: epoch, offset or events of the wrong type")
    flat = m["counters"]  # one per ingest batch: read in place rather than through _pairs
    if not isinstance(flat, list) or len(flat) % 2:
        flat = [item for pair in _pairs(flat) for item in pair]
    return RoomEvents(epoch, offset, {flat[i]: int(flat[i + 1]) for i in range(0, len(flat), 2)}, events)


def _deal(m: dict[str, Any]) -> DealChanged:
    fields = dict(_pairs(m["deal"]))
    if "id" not in fields:
        raise UndecodableMessage("deal: no id (a deal deleted before its message was read)")
    return DealChanged(fields)


def _stage(m: dict[str, Any]) -> StageChanged:
    if m["name"] not in ROOM_FIELDS:  # a field this node does not know (one of a newer version, or a bug)
        raise UndecodableMessage(f"stage: {m['name']!r} is not one of {', '.join(ROOM_FIELDS)}")
    return StageChanged(m["name"], m["value"])


def _dict(m: dict[str, Any], key: str) -> dict[str, Any]:
    value = m[key]
    if not isinstance(value, dict):
        raise UndecodableMessage(f"{key}: not an object")
    return value


def _won(m: dict[str, Any]) -> BagWon:
    if not isinstance(m["user"], str) or not isinstance(m["bag"], str):
        raise UndecodableMessage("won: user and bag must be strings")
    return BagWon(m["user"], m)


def _revoked(m: dict[str, Any]) -> TokensRevoked:
    return TokensRevoked(str(m["field"]), float(m["before"]))


_DECODERS: dict[str, Callable[[dict[str, Any]], ChannelMessage]] = {
    "events": _events,
    "deal": _deal,
    "stage": _stage,
    "cue": lambda m: CuePosted(_dict(m, "cue")),
    "stats": lambda m: LiveStats(_dict(m, "stats")),
    "revoked": _revoked,
    "won": _won,
    "show": lambda m: ShowChanged(_dict(m, "show")),
    "prompt": lambda m: BuyerPrompt(str(m["user"]), _dict(m, "prompt")),
    "invites": lambda m: InviteBoard(_dict(m, "board")),
}


def _pairs(flat: Any) -> list[tuple[str, str]]:
    """A hash as cjson wrote HGETALL's reply: [name, value, ...], or {} when it was empty."""
    if flat == {}:
        return []
    if not isinstance(flat, list) or len(flat) % 2:
        raise UndecodableMessage("a hash that is not a [name, value, ...] list")
    return list(zip(map(str, flat[::2]), map(str, flat[1::2]), strict=True))


def _flat(mapping: dict[str, Any]) -> list[str]:
    return [str(item) for pair in mapping.items() for item in pair]
