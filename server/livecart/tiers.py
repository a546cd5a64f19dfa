"""Group-buy price tiers (拼团), the pure part: the console's tier list, and tiers as DEAL fields.

A tiered deal's price drops as distinct buyers join: ¥99, ¥89 from 50 buyers, ¥79 from 200. Stored on
the deal as `tiers` = JSON [[buyers, price_minor], ...] with tier 0 = [0, the opening deal price], and
`tier`, the index reached. lib.lua `apply_tier` moves it, inside the claim call whose buyers reach a
threshold (or the goal call that unlocks the next tier), and applies `tier_for`'s rule below.
"""

from __future__ import annotations

from typing import Any

from livecart.errors import BadRequest
from livecart.money import from_minor, to_minor

__all__ = ["MAX_TIERS", "parse_tiers", "stored_tiers", "tier_for", "tiers_to_wire"]

MAX_TIERS = 10
MAX_BUYERS = 10_000_000


def parse_tiers(raw: Any, *, price: int, deal_price: int, floor: float, confirmed: bool,
                currency: str) -> tuple[tuple[int, int], ...]:
    """The `tiers` of a create request as ((buyers, price_minor), ...) after the opening tier; () when
    absent. Thresholds must rise and prices fall (each below the one before and below `deal_price`);
    a price under `floor` of the list price needs `confirmed` (the flash-deal guard rail)."""
    if raw is None:
        return ()
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_TIERS:
        raise BadRequest("bad_tiers", f"tiers must be a list of 1-{MAX_TIERS} {{buyers, price}} objects")
    tiers: list[tuple[int, int]] = []
    last_buyers, last_price = 0, deal_price
    for n, tier in enumerate(raw, 1):
        if not isinstance(tier, dict):
            raise BadRequest("bad_tiers", f"tier {n} must be an object {{buyers, price}}")
        buyers, amount = tier.get("buyers"), tier.get("price")
        if isinstance(buyers, bool) or not isinstance(buyers, int) or not 1 <= buyers <= MAX_BUYERS:
            raise BadRequest("bad_tiers", f"tier {n}: buyers must be an integer from 1 to {MAX_BUYERS}")
        if buyers <= last_buyers:
            raise BadRequest("bad_tiers", f"tier {n}: buyers must be more than the tier before "
                                          f"({last_buyers}): thresholds must increase")
        minor = to_minor(amount, currency) if isinstance(amount, int | float) \
            and not isinstance(amount, bool) and 0 < amount < 1e10 else None
        if not minor:
            raise BadRequest("bad_tiers", f"tier {n}: price must be a number above 0 in whole minor units "
                                          f"of {currency}")
        if minor >= last_price:
            raise BadRequest("bad_tiers", f"tier {n}: price must be lower than the tier before "
                                          f"({from_minor(last_price, currency)}): prices must decrease")
        if minor < price * floor and not confirmed:
            raise BadRequest("confirm_price", f"tier {n}'s price is under {floor:.0%} of the list price; "
                                              "send \"confirm\": true if that is intended")
        tiers.append((buyers, minor))
        last_buyers, last_price = buyers, minor
    return tuple(tiers)


def stored_tiers(deal_price: int, tiers: tuple[tuple[int, int], ...]) -> list[list[int]]:
    """The deal's `tiers` field (before JSON): tier 0 is the opening price from 0 buyers."""
    return [[0, deal_price], *([b, p] for b, p in tiers)]


def tier_for(tiers: list[list[int]], buyers: int, boost: int = 0) -> int:
    """The tier a deal is at: the last whose threshold its buyers reached, or the goals' boost if
    higher, never past the last tier (lib.lua apply_tier applies the same rule)."""
    reached = max((i for i, (threshold, _) in enumerate(tiers) if buyers >= threshold), default=0)
    return min(max(reached, boost), len(tiers) - 1)


def tiers_to_wire(tiers: list[list[int]], currency: str) -> list[dict[str, Any]]:
    return [{"buyers": b, "price": from_minor(p, currency), "price_minor": p} for b, p in tiers]
