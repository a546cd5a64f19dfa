"""Goals, the pure part: what a console may ask for, and how far a goal is from its target.

A goal is a target on one room number (a counter, or a deal's sold / claimed / buyers count) and an
action that fires once when the number reaches it. Firing is goal.lua's: the check and the action are
one atomic call, so two nodes that both see the number cross fire it once. This module validates
console input (`parse_goal`, `parse_changes`), says which number a goal watches (`metric_value`, the
same rule goal.lua's `metric_value` applies), and shapes the GOAL map for each audience.

Adding an action type: a parser in ACTIONS here, and a function in goal.lua's ACTIONS table. The
open_bag action's parser also picks its lucky bag's secret seed (goal.lua keeps it out of the goal).
"""

from __future__ import annotations

import math
import re
import secrets
from collections.abc import Callable, Mapping
from typing import Any

from livecart.deals import is_deal_id
from livecart.errors import BadRequest
from livecart.lucky_bag import commitment, new_seed, parse_spec
from livecart.money import LEGACY_CURRENCY, exponent, to_minor

__all__ = ["ACTIONS", "COUNTER_METRICS", "DEAL_METRICS", "GOAL_ID_HEX", "MAX_ARMED", "MONEY_METRICS",
           "goal_view", "goals_view", "is_goal_id", "metric_value", "new_goal_id", "parse_changes",
           "parse_goal", "reached"]

GOAL_ID_HEX = 12
_GOAL_ID = re.compile(rf"[0-9a-f]{{{GOAL_ID_HEX}}}\Z")
MAX_ARMED = 20  # armed goals per room (goal.lua refuses more: too_many_goals)
MAX_TARGET = 10**12
MAX_MONEY = 1e10
MAX_LABEL = 60
MAX_TEXT = 280  # as the console's announcement
MAX_RESTOCK = 10_000_000

# metric -> the counter it reads (stored name; gmv in minor units) ...
COUNTER_METRICS = {"likes": "likes", "shares": "shares", "follows": "follows", "joins": "joins",
                   "orders": "orders", "gmv": "gmv_cents"}
# ... or the deal fields it adds up
DEAL_METRICS = {"deal_sold": ("sold",), "deal_claimed": ("held", "sold"), "deal_buyers": ("buyers",)}
MONEY_METRICS = frozenset({"gmv"})
# what a wire counter is called (events.counters_to_wire) for the metrics whose stored name differs
_WIRE_COUNTER = {"gmv": "gmv_minor"}


def new_goal_id() -> str:
    return secrets.token_hex(GOAL_ID_HEX // 2)


def is_goal_id(value: object) -> bool:
    """Ids are ours; any other shape names no goal (and never reaches a Redis key name)."""
    return isinstance(value, str) and _GOAL_ID.match(value) is not None


def _deal(body: Mapping[str, Any], what: str) -> str:
    deal = body.get("deal")
    if not is_deal_id(deal):
        raise BadRequest("bad_field", f"{what} needs \"deal\": the id of a deal of this room")
    return str(deal)


def _int(body: Mapping[str, Any], key: str, low: int, high: int) -> int:
    value = body.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BadRequest("bad_field", f"{key} must be an integer from {low} to {high}")
    return value


def _text(body: Mapping[str, Any], key: str, high: int) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not 1 <= len(value.strip()) <= high or len(value) > high:
        raise BadRequest("bad_field", f"{key} must be text of 1-{high} characters")
    return value


def _open_bag(action: Mapping[str, Any]) -> dict[str, Any]:
    """A lucky bag to open when the goal fires: the fields of `POST …/bags` (lucky_bag.parse_spec
    checks them now, so a bad bag is a 400 when the goal is made). Its draw's secret seed is chosen
    now too (Lua in Redis has no SHA-256 to commit to one later): goal.lua keeps `seed` apart from the
    goal (lc:{room}:goal-seeds), so no goal map, list or audit entry ever shows it; `commitment` is
    public, as on any bag."""
    spec = parse_spec(action)
    seed = new_seed()
    return {"type": "open_bag",
            "product": {"id": spec.product_id, "name": spec.product_name, "image_url": spec.image_url},
            "winners": spec.winners, "keyword": spec.keyword,
            "rules": {"follows": spec.follows, "present": spec.present},
            "duration_s": spec.duration_ms / 1000, "claim_s": spec.claim_ms / 1000,
            "commitment": commitment(seed), "seed": seed}


# type -> parser of the rest of the action; each returns the action as goal.lua reads it.
ACTIONS: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    "none": lambda a: {"type": "none"},
    "start_deal": lambda a: {"type": "start_deal", "deal": _deal(a, "start_deal")},
    "restock": lambda a: {"type": "restock", "deal": _deal(a, "restock"),
                          "add": _int(a, "add", 1, MAX_RESTOCK)},
    "next_tier": lambda a: {"type": "next_tier", "deal": _deal(a, "next_tier")},
    "announce": lambda a: {"type": "announce", "text": _text(a, "text", MAX_TEXT)},
    "open_bag": _open_bag,
}


def _action(body: Mapping[str, Any]) -> dict[str, Any]:
    action = body.get("action", {"type": "none"})
    if not isinstance(action, dict) or action.get("type") not in ACTIONS:
        raise BadRequest("bad_field", f"action must be an object whose type is one of {', '.join(ACTIONS)}")
    return ACTIONS[action["type"]](action)


def _target(body: Mapping[str, Any], metric: str, currency: str) -> int:
    """The target in the metric's stored unit (minor units for money)."""
    if metric not in MONEY_METRICS:
        return _int(body, "target", 1, MAX_TARGET)
    value = body.get("target")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
            or not 0 < value <= MAX_MONEY:
        raise BadRequest("bad_field", f"target must be money above 0 and at most {MAX_MONEY:.0f}")
    minor = to_minor(value, currency)
    if not minor:
        raise BadRequest("bad_field", f"target must be whole minor units of {currency} "
                                      f"(at most {exponent(currency)} decimals), not {value!r}")
    return minor


def parse_goal(body: Any, currency: str = LEGACY_CURRENCY) -> dict[str, Any]:
    """A console's create request as goal.lua's spec: {metric, deal?, target (stored unit), label?,
    action}. 400 for anything else. Whether the deals it names exist is goal.lua's to say."""
    if not isinstance(body, dict):
        raise BadRequest("bad_body", "the body must be an object")
    metric = body.get("metric")
    if metric not in COUNTER_METRICS and metric not in DEAL_METRICS:
        raise BadRequest("bad_field", "metric must be one of "
                                      f"{', '.join([*COUNTER_METRICS, *DEAL_METRICS])}")
    spec: dict[str, Any] = {"metric": metric, "target": _target(body, metric, currency),
                            "action": _action(body)}
    if metric in MONEY_METRICS:  # goal.lua shows money as target / scale beside target_minor
        spec["scale"] = 10 ** exponent(currency)
    if metric in DEAL_METRICS:
        spec["deal"] = _deal(body, f"metric {metric}")
    if body.get("label") is not None:
        spec["label"] = _text(body, "label", MAX_LABEL)
    return spec


def parse_changes(body: Any, metric: str, currency: str = LEGACY_CURRENCY) -> dict[str, Any]:
    """An edit: any of target, label (null clears it), action; at least one."""
    if not isinstance(body, dict):
        raise BadRequest("bad_body", "the body must be an object")
    changes: dict[str, Any] = {}
    if "target" in body:
        changes["target"] = _target(body, metric, currency)
    if "label" in body:
        changes["label"] = "" if body["label"] is None else _text(body, "label", MAX_LABEL)
    if "action" in body:
        changes["action"] = _action(body)
    if not changes:
        raise BadRequest("bad_body", "give at least one of target, label, action")
    return changes


def metric_value(goal: Mapping[str, Any], counters: Mapping[str, Any],
                 deals: Mapping[str, Mapping[str, Any]]) -> int | None:
    """The goal's number from a node's latest view: wire counters (events.counters_to_wire) and stored
    deal fields. None when this node does not know it (a deal it has not seen)."""
    metric = goal.get("metric")
    if metric in COUNTER_METRICS:
        value = counters.get(_WIRE_COUNTER.get(metric, metric))
        return int(value) if isinstance(value, int | float) else None
    if metric in DEAL_METRICS:
        deal = deals.get(goal.get("deal", ""))
        if deal is None:
            return None
        return sum(int(deal.get(name) or 0) for name in DEAL_METRICS[metric])
    return None


def reached(goals: Any, counters: Mapping[str, Any], deals: Mapping[str, Mapping[str, Any]]) -> bool:
    """Whether an armed goal of `goals` (the stage list) has reached its target in this view: the node
    then asks goal.lua, which decides on Redis's own numbers."""
    if not isinstance(goals, list):
        return False
    for goal in goals:
        if isinstance(goal, dict) and goal.get("state") == "armed":
            value = metric_value(goal, counters, deals)
            target = goal.get("target_minor", goal.get("target"))
            if value is not None and isinstance(target, int | float) and value >= target:
                return True
    return False


def goal_view(goal: Mapping[str, Any], public: bool) -> dict[str, Any]:
    """The GOAL map for an audience: viewers and overlays never see GMV, so a money goal reaches them
    without its numbers."""
    if public and goal.get("metric") in MONEY_METRICS:
        return {k: v for k, v in goal.items()
                if k not in ("target", "base", "target_minor", "base_minor", "fired_value",
                             "fired_value_minor")}
    return dict(goal)


def goals_view(goals: Any, public: bool) -> Any:
    if not public or not isinstance(goals, list):
        return goals
    return [goal_view(g, True) if isinstance(g, dict) else g for g in goals]

