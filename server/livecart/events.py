"""Room event types and their validation.

An event arrives from the platform (ingest) or a viewer socket as a map; `validate_event` turns it into the
normalised map that is stored in the room log and sent to clients, or raises `InvalidEvent` naming the
field. Its result is typed (`Event`: a TypedDict per kind, tagged by a Literal `type`) for mypy only; at
run time it stays a plain dict. `counter_deltas` says how an accepted event moves the room counters
(`logged_counter_deltas`: how a logged one did, which may predate today's fields: a map). Money is kept
in integer minor units of the room's currency (money.py: fen, cents, yen, fils) so counters never drift;
the wire shows it as a number with the currency's decimals, and the exact integer beside it (`*_minor`).
(Counter and field names still say `_cents` inside: read them as "minor units".)
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, Literal, NotRequired, TypedDict, get_args

from livecart.errors import BadRequest
from livecart.money import LEGACY_CURRENCY, exponent, from_minor, to_minor

__all__ = [
    "COUNTERS",
    "EVENT_TYPES",
    "ORDER_STATUSES",
    "CommentEvent",
    "Event",
    "EventType",
    "GiftEvent",
    "InvalidEvent",
    "LATEST_COUNTERS",
    "LikeEvent",
    "OrderEvent",
    "OrderStatus",
    "PlainEvent",
    "User",
    "ViewersEvent",
    "counter_deltas",
    "carries_money",
    "logged_counter_deltas",
    "order_clause",
    "counters_to_wire",
    "validate_event",
]

MAX_ID = 200
MAX_TEXT = 4096
MAX_NAME = 100
MAX_COUNT = 1_000_000
MAX_MONEY = 1e10
MAX_VIEWERS = 1_000_000_000  # a platform's viewer count (the biggest streams have tens of millions)
# Room counters kept in Redis (a hash per room). *_cents are shown to clients without the suffix.
COUNTERS = ("comments", "likes", "shares", "follows", "joins", "leaves", "gifts", "gifts_value_cents",
            "orders", "gmv_cents", "refunds", "platform_viewers")
# Counters that hold a latest value, set by an event (append.lua HSETs them), not a running sum. A
# room streamed to two platforms shows the latest count either sent (the event says which platform).
LATEST_COUNTERS = frozenset({"platform_viewers"})
_PLATFORM = re.compile(r"[a-z0-9][a-z0-9_.-]{0,31}")


class InvalidEvent(BadRequest):
    """One event of a batch is not valid; the rest of the batch is judged on its own."""


def _text(ev: dict[str, Any], key: str, max_len: int, *, min_len: int = 1) -> str:
    value = ev.get(key)
    if value is None:
        raise InvalidEvent("missing_field", f"{key} is required")
    if not isinstance(value, str):
        raise InvalidEvent("bad_field", f"{key} must be a string")
    if not min_len <= len(value) <= max_len:
        raise InvalidEvent("bad_field", f"{key} must be {min_len}-{max_len} characters")
    return value


def _int(ev: dict[str, Any], key: str, *, low: int = 1, high: int = MAX_COUNT) -> int:
    value = ev.get(key)
    if value is None:
        raise InvalidEvent("missing_field", f"{key} is required")
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidEvent("bad_field", f"{key} must be an integer from {low} to {high}")
    return value


def _money(ev: dict[str, Any], key: str, currency: str) -> int:
    """The money field `key` as exact minor units of the room's `currency` (money.to_minor): a fraction
    of the minor unit (0.001 CNY, 12.5 JPY) is refused, never rounded."""
    value = ev.get(key)
    if value is None:
        raise InvalidEvent("missing_field", f"{key} is required")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
            or not 0 <= value <= MAX_MONEY:
        raise InvalidEvent("bad_field", f"{key} must be a number from 0 to {MAX_MONEY:.0f}")
    minor = to_minor(value, currency)
    if minor is None:
        places = exponent(currency)
        raise InvalidEvent("bad_field", f"{key} must be whole minor units of {currency} (at most {places} "
                                        f"decimal{'' if places == 1 else 's'}), not {value!r}")
    return minor


class User(TypedDict):
    id: str
    name: str  # the user id when the platform sent none


class _Said(TypedDict):
    """What every event has; each kind adds its `type` (a Literal: mypy narrows an `Event` on it) and
    its own fields. Static only: at run time an event is a dict (store/channel.py says why)."""

    id: str
    user: User
    ts: int  # ms: the platform's time, or the receipt time


class _CommentFields(TypedDict):
    text: str
    # Set by the server only (moderator.py), never taken from input: "blocked" | "muted". Viewers and
    # overlays then see the comment without its text or author (audience.py).
    hidden: NotRequired[str]


class _LikeFields(TypedDict):
    count: int


class _GiftFields(TypedDict):
    gift: str
    count: int
    value: float  # in the room's currency
    value_minor: int  # exact, beside the number


OrderStatus = Literal["placed", "paid", "cancelled", "refunded"]
ORDER_STATUSES: tuple[OrderStatus, ...] = get_args(OrderStatus)


class _OrderFields(TypedDict):
    order_id: str
    product_id: str
    qty: int
    amount: float
    status: OrderStatus
    amount_minor: int
    claim_id: NotRequired[str]  # the flash-deal claim the order pays for (ingest settles it)


class _ViewersFields(TypedDict):
    count: int  # how many the platform says are watching (0 allowed: a stream nobody watches yet)
    platform: str  # "tiktok", "bilibili": whose count it is


class CommentEvent(_Said, _CommentFields):
    type: Literal["comment"]


class LikeEvent(_Said, _LikeFields):
    type: Literal["like"]


class PlainEvent(_Said):
    type: Literal["share", "follow", "join", "leave"]


class GiftEvent(_Said, _GiftFields):
    type: Literal["gift"]


class OrderEvent(_Said, _OrderFields):
    type: Literal["order"]


class ViewersEvent(_Said, _ViewersFields):
    """A platform's viewer count (a bridge sends it every few seconds): sets `platform_viewers`."""

    type: Literal["viewers"]


Event = CommentEvent | LikeEvent | PlainEvent | GiftEvent | OrderEvent | ViewersEvent
EventType = Literal["comment", "like", "share", "follow", "join", "leave", "gift", "order", "viewers"]
EVENT_TYPES: tuple[EventType, ...] = get_args(EventType)


def _comment(ev: dict[str, Any]) -> _CommentFields:
    return {"text": _text(ev, "text", MAX_TEXT)}


def _like(ev: dict[str, Any]) -> _LikeFields:
    return {"count": _int(ev, "count") if "count" in ev else 1}


def _gift(ev: dict[str, Any], currency: str) -> _GiftFields:
    minor = _money(ev, "value", currency)
    return {"gift": _text(ev, "gift", MAX_NAME), "count": _int(ev, "count"),
            "value": from_minor(minor, currency), "value_minor": minor}


def _platform(ev: dict[str, Any]) -> str:
    platform = ev.get("platform")
    if platform is None:
        raise InvalidEvent("missing_field", "platform is required")
    if not isinstance(platform, str) or not _PLATFORM.fullmatch(platform):
        raise InvalidEvent("bad_field", "platform must be 1-32 characters of a-z, 0-9, '_', '.', '-'")
    return platform


def _viewers(ev: dict[str, Any]) -> _ViewersFields:
    return {"count": _int(ev, "count", low=0, high=MAX_VIEWERS), "platform": _platform(ev)}


def _order(ev: dict[str, Any], currency: str) -> _OrderFields:
    status = ev.get("status")
    if status not in ORDER_STATUSES:
        raise InvalidEvent("bad_field", f"status must be one of {', '.join(ORDER_STATUSES)}")
    fields: _OrderFields = {"order_id": _text(ev, "order_id", MAX_ID),
                            "product_id": _text(ev, "product_id", MAX_ID), "qty": _int(ev, "qty"),
                            "amount": 0, "status": status, "amount_minor": 0}
    minor = _money(ev, "amount", currency)  # after the fields above: their errors come first
    fields["amount"], fields["amount_minor"] = from_minor(minor, currency), minor  # exact beside the number
    if ev.get("claim_id") is not None:
        fields["claim_id"] = _text(ev, "claim_id", MAX_ID)
    return fields


def validate_event(raw: Any, now_ms: int, currency: str = LEGACY_CURRENCY) -> Event:
    """The normalised event, or InvalidEvent. Unknown extra fields are dropped, not stored. Money is
    read in the room's `currency`: its exponent says how many decimals an amount may have."""
    if not isinstance(raw, dict):
        raise InvalidEvent("not_an_object", "each event must be an object")
    event_id = _text(raw, "id", MAX_ID)
    kind = raw.get("type")
    if not isinstance(kind, str) or kind not in EVENT_TYPES:
        raise InvalidEvent("bad_type", f"type must be one of {', '.join(EVENT_TYPES)}")
    user = raw.get("user")
    if kind == "viewers" and user is None:  # a count is nobody's: the platform stands in as its author
        user = {"id": _platform(raw), "name": _platform(raw)}
    if not isinstance(user, dict):
        raise InvalidEvent("missing_field", "user {id, name} is required")
    user_id = _text(user, "id", MAX_ID)
    name = user.get("name", user_id)
    if not isinstance(name, str) or len(name) > MAX_NAME:
        raise InvalidEvent("bad_field", f"user.name must be a string of at most {MAX_NAME} characters")
    ts = raw.get("ts")
    if ts is None:
        ts = now_ms
    elif isinstance(ts, bool) or not isinstance(ts, int) or not 0 <= ts < 2**53:
        raise InvalidEvent("bad_field", "ts must be an integer of milliseconds")
    who: User = {"id": user_id, "name": name}
    match kind:  # one display per kind (the same keys in the same order): mypy checks each against its type
        case "comment":
            return {"id": event_id, "type": kind, "user": who, "ts": ts, **_comment(raw)}
        case "like":
            return {"id": event_id, "type": kind, "user": who, "ts": ts, **_like(raw)}
        case "gift":
            return {"id": event_id, "type": kind, "user": who, "ts": ts, **_gift(raw, currency)}
        case "order":
            return {"id": event_id, "type": kind, "user": who, "ts": ts, **_order(raw, currency)}
        case "viewers":
            return {"id": event_id, "type": kind, "user": who, "ts": ts, **_viewers(raw)}
        case "share" | "follow" | "join" | "leave":
            return {"id": event_id, "type": kind, "user": who, "ts": ts}


def carries_money(event: Event) -> bool:
    """Whether the event has an amount in the room's currency (its append must pin that currency)."""
    return event["type"] in ("gift", "order")


def counter_deltas(event: Mapping[str, Any]) -> dict[str, int]:
    """How an accepted event moves the room counters (money in minor units). An order moves them by its
    order's state, which only append.lua knows (see order_clause): {} here; `logged_counter_deltas`
    reads what it moved from the logged order."""
    kind = event["type"]
    if kind == "comment":
        return {"comments": 1}
    if kind == "like":
        return {"likes": int(event["count"])}
    if kind in ("share", "follow", "join", "leave"):
        return {kind + "s": 1}
    if kind == "gift":
        minor = event.get("value_minor")
        if minor is None:  # a gift logged before `value_minor` existed: its value was in cents
            minor = round(event["value"] * 100)
        return {"gifts": int(event["count"]), "gifts_value_cents": int(minor)}
    if kind == "viewers":  # a latest value (LATEST_COUNTERS): append.lua sets it, never adds it
        return {"platform_viewers": int(event["count"])}
    return {}


def logged_counter_deltas(event: Mapping[str, Any]) -> dict[str, int]:
    """How an event of the room log moved the room counters: `counter_deltas`, and for an order what
    append.lua counted (it marks a repeated status or a refund of an unpaid order `"counted": false`,
    and a refund larger than the payment `counted_cents`)."""
    if event["type"] != "order":
        return counter_deltas(event)
    if event.get("counted") is False:
        return {}
    cents = int(event.get("counted_cents", event.get("amount_minor", round(event["amount"] * 100))))
    if event["status"] == "paid":
        return {"orders": 1, "gmv_cents": cents}
    if event["status"] == "refunded":
        return {"refunds": 1, "gmv_cents": -cents}
    return {}


def order_clause(event: Event) -> str:
    """What append.lua needs to count an order once per (order_id, status) and a refund only against a
    paid order: "paid|refunded <cents> <order_id>", or "" for any other event. A second `paid` for one
    order, or a refund of an order never paid (which made GMV negative), is stored but not counted,
    and marked `"counted": false`; a refund larger than the payment takes back only the payment."""
    if event["type"] != "order" or event["status"] not in ("paid", "refunded"):
        return ""
    return f"{event['status']} {event['amount_minor']} {event['order_id']}"


def counters_to_wire(raw: dict[str, int], currency: str = LEGACY_CURRENCY) -> dict[str, float | int]:
    """Counters as clients see them: every known counter present; money both as a number (`gmv`, in
    `currency`'s decimals) and as exact integer minor units (`gmv_minor`: fen, cents, yen), which a
    client can add up without drift."""
    wire: dict[str, float | int] = {}
    for name in COUNTERS:
        value = raw.get(name, 0)
        if name.endswith("_cents"):
            wire[name[: -len("_cents")]] = from_minor(value, currency)
            wire[name[: -len("_cents")] + "_minor"] = int(value)
        else:
            wire[name] = value
    return wire
