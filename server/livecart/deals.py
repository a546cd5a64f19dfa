"""Flash deals (秒杀), the pure part: the spec a console may create, the state machine, the claim rules.

claim.lua enforces `check_claim`'s rules atomically in Redis (a stateful test checks that the two
agree); this module validates console input, derives a deal's state from its fields and the clock
(hub timers, the sold-out shortcut) and turns the stored fields into the DEAL map clients see.
Money is integer minor units of the room's currency inside (money.py), a number on the wire; a deal
keeps the currency it was priced in (`currency` field), so its map never needs the room's.

States (derived from stored fields and the clock, so no timer is needed for correctness):
    scheduled ──starts_at / start──▶ live ──left = 0──▶ sold_out ──restock──▶ live
    live | sold_out ──ends_at──▶ ended        any but ended ──stop──▶ stopped
"""

from __future__ import annotations

import math
import re
import secrets
from dataclasses import dataclass
from enum import Enum
from typing import Any

from livecart.errors import BadRequest
from livecart.money import LEGACY_CURRENCY, exponent, from_minor, to_minor
from livecart.protocol import load_json
from livecart.tiers import parse_tiers, tiers_to_wire

__all__ = [
    "DEAL_ID_HEX",
    "DealState",
    "DealSpec",
    "RejectReason",
    "check_claim",
    "deal_state",
    "deal_to_wire",
    "is_deal_id",
    "new_deal_id",
    "next_transition",
    "parse_spec",
]

MIN_DURATION_S, MAX_DURATION_S = 60, 1200
MIN_COUNTDOWN_S, MAX_COUNTDOWN_S = 10, 300
MAX_STOCK = 10_000_000
MAX_LIMIT = 1000
MAX_PRICE = 10_000_000.0
DEFAULT_PRICE_FLOOR = 0.10  # a deal price under 10 % of list needs "confirm": true


# The server makes every deal id (`new_deal_id`), so an id of any other shape names no deal. Checked at
# the edge because the id becomes part of Redis key names: `<id>:ops` or `<id>:external` would name
# another key of a real deal (tests/integration/test_hostile_claims.py).
DEAL_ID_HEX = 12
_DEAL_ID = re.compile(rf"[0-9a-f]{{{DEAL_ID_HEX}}}\Z")


def new_deal_id() -> str:
    return secrets.token_hex(DEAL_ID_HEX // 2)


def is_deal_id(value: object) -> bool:
    """Whether `value` has the shape of an id `new_deal_id` makes (whether it names a deal is Redis's)."""
    return isinstance(value, str) and _DEAL_ID.match(value) is not None


class DealState(Enum):
    SCHEDULED = "scheduled"
    LIVE = "live"
    SOLD_OUT = "sold_out"
    ENDED = "ended"
    STOPPED = "stopped"


class RejectReason(Enum):
    """Why a claim was refused: a closed set, each one wire reason (CONTRACT `reason`)."""

    NOT_LIVE = "not_live"
    ENDED = "ended"
    SOLD_OUT = "sold_out"
    LIMIT_REACHED = "limit_reached"
    INVALID_QTY = "invalid_qty"


@dataclass(frozen=True, slots=True)
class DealSpec:
    product_id: str
    product_name: str
    image_url: str
    sku: str
    price_cents: int
    deal_price_cents: int
    stock: int
    limit_per_user: int
    duration_ms: int
    starts_at: int  # ms, server time
    keyword: str
    currency: str = LEGACY_CURRENCY  # the room's, when the deal was priced: the unit of *_cents
    tiers: tuple[tuple[int, int], ...] = ()  # a group buy's (buyers, price) after the opening one (tiers.py)

    @property
    def ends_at(self) -> int:
        return self.starts_at + self.duration_ms


def _minor(body: dict[str, Any], key: str, currency: str) -> int:
    value = body.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
            or not 0 < value <= MAX_PRICE:
        raise BadRequest("bad_field", f"{key} must be a number above 0 and at most {MAX_PRICE:.0f}")
    minor = to_minor(value, currency)
    if not minor:  # a sub-cent price (0.001) once became 0; 12.5 JPY is no price either
        places = exponent(currency)
        raise BadRequest("bad_field", f"{key} must be whole minor units of {currency} (at most {places} "
                                      f"decimal{'' if places == 1 else 's'}), not {value!r}")
    return minor


def _int(body: dict[str, Any], key: str, low: int, high: int, default: int | None = None) -> int:
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BadRequest("bad_field", f"{key} must be an integer from {low} to {high}")
    return value


def _str(body: dict[str, Any], key: str, max_len: int, required: bool = True) -> str:
    value = body.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not (1 if required else 0) <= len(value) <= max_len:
        raise BadRequest("bad_field", f"{key} must be a string of at most {max_len} characters")
    return value


def parse_spec(body: Any, now_ms: int, price_floor: float = DEFAULT_PRICE_FLOOR,
               currency: str = LEGACY_CURRENCY) -> DealSpec:
    """A console's create request, validated, with the guard rails of a careful shop. Prices are in
    the room's `currency`, with at most its decimals."""
    if not isinstance(body, dict):
        raise BadRequest("bad_body", "the body must be an object")
    product = body.get("product")
    if not isinstance(product, dict):
        raise BadRequest("bad_field", "product {id, name, image_url?, sku?} is required")
    price = _minor(body, "price", currency)
    deal_price = _minor(body, "deal_price", currency)
    if deal_price >= price:
        raise BadRequest("bad_price", "deal_price must be below the list price")
    if deal_price < price * price_floor and body.get("confirm") is not True:
        raise BadRequest("confirm_price", f"deal_price is under {price_floor:.0%} of the list price; "
                                          "send \"confirm\": true if that is intended")
    start_at = body.get("start_at")
    countdown = body.get("countdown_s")
    if start_at is not None and countdown is not None:
        raise BadRequest("bad_field", "give start_at or countdown_s, not both")
    if countdown is not None:
        starts_at = now_ms + 1000 * _int(body, "countdown_s", MIN_COUNTDOWN_S, MAX_COUNTDOWN_S)
    elif start_at is None:
        starts_at = now_ms
    else:
        starts_at = _int(body, "start_at", now_ms - 60_000, now_ms + 30 * 24 * 3600 * 1000)
    keyword = _str(body, "keyword", 20, required=False)
    return DealSpec(
        product_id=_str(product, "id", 200), product_name=_str(product, "name", 200),
        image_url=_str(product, "image_url", 2000, required=False), sku=_str(product, "sku", 200, False),
        price_cents=price, deal_price_cents=deal_price,
        stock=_int(body, "stock", 1, MAX_STOCK), limit_per_user=_int(body, "limit_per_user", 1, MAX_LIMIT),
        duration_ms=1000 * _int(body, "duration_s", MIN_DURATION_S, MAX_DURATION_S),
        starts_at=starts_at, keyword=keyword, currency=currency,
        tiers=parse_tiers(body.get("tiers"), price=price, deal_price=deal_price, floor=price_floor,
                          confirmed=body.get("confirm") is True, currency=currency))


def deal_state(fields: dict[str, Any], now_ms: int) -> DealState:
    """The state of a stored deal (fields as ints/strs, see store) at `now_ms`."""
    if fields.get("status") == "stopped":
        return DealState.STOPPED
    if now_ms >= int(fields["ends_at"]):
        return DealState.ENDED
    if now_ms < int(fields["starts_at"]):
        return DealState.SCHEDULED
    return DealState.SOLD_OUT if int(fields["left"]) <= 0 else DealState.LIVE


def check_claim(fields: dict[str, Any], user_count: int, qty: Any, now_ms: int) -> RejectReason | None:
    """None if the claim may go ahead, else the reason. claim.lua applies exactly these rules.

    A closed deal answers `ended` before anything else, whatever the quantity: it never opens again, so
    claim.lua need not store that answer per key (a flood of keys on an ended deal stored nothing) and
    the same key still gets the same answer."""
    state = deal_state(fields, now_ms)
    if state in (DealState.ENDED, DealState.STOPPED):
        return RejectReason.ENDED
    if isinstance(qty, bool) or not isinstance(qty, int) or qty < 1:
        return RejectReason.INVALID_QTY
    if state is DealState.SCHEDULED:
        return RejectReason.NOT_LIVE
    if user_count + qty > int(fields["limit_per_user"]):
        return RejectReason.LIMIT_REACHED
    if qty > int(fields["left"]):
        return RejectReason.SOLD_OUT
    return None


def next_transition(fields: dict[str, Any], now_ms: int) -> int | None:
    """When this deal's state next changes by the clock alone (ms), or None."""
    state = deal_state(fields, now_ms)
    if state is DealState.SCHEDULED:
        return int(fields["starts_at"])
    if state in (DealState.LIVE, DealState.SOLD_OUT):
        return int(fields["ends_at"])
    return None


_INT_FIELDS = ("stock", "left", "held", "sold", "buyers", "limit_per_user", "starts_at", "ends_at",
               "attempts", "claims", "paid", "released", "created_at")


def deal_to_wire(fields: dict[str, Any], now_ms: int) -> dict[str, Any]:
    """The DEAL map of CONTRACT.md from the stored fields."""
    rejections = {r.value: int(fields.get("rej_" + r.value, 0)) for r in RejectReason}
    currency = fields.get("currency") or LEGACY_CURRENCY  # deals made before rooms had one: cents
    wire: dict[str, Any] = {name: int(fields.get(name, 0)) for name in _INT_FIELDS}
    wire.update({
        "id": fields["id"],
        "state": deal_state(fields, now_ms).value,
        "currency": currency,
        "price": from_minor(int(fields["price_cents"]), currency),
        "deal_price": from_minor(int(fields["deal_price_cents"]), currency),
        "gmv": from_minor(int(fields.get("gmv_cents", 0)), currency),
        # The same money as exact integer minor units (fen, cents, yen): what a client should add up.
        "price_minor": int(fields["price_cents"]),
        "deal_price_minor": int(fields["deal_price_cents"]),
        "gmv_minor": int(fields.get("gmv_cents", 0)),
        "product": {"id": fields["product_id"], "name": fields["product_name"],
                    "image_url": fields.get("image_url", ""), "sku": fields.get("sku", "")},
        "keyword": fields.get("keyword", ""),
        "rejections": rejections,
        "claims_per_s": 0.0,  # measured by the node that sends the map (room.Room), when it can
    })
    if "tiers" in fields:  # a group buy (tiers.py): its tiers, the one reached, what it owes back
        wire["tiers"] = tiers_to_wire(load_json(fields["tiers"]), currency)
        wire["tier"] = int(fields.get("tier", 0))
        wire["rebate"] = from_minor(int(fields.get("rebate_cents", 0)), currency)
        wire["rebate_minor"] = int(fields.get("rebate_cents", 0))
    return wire
