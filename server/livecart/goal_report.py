"""The report's growth part, pure: each goal with when it fired and what it did, and each group buy's
tier timeline (when its price dropped, to what, at how many buyers, and why). report.py adds these
tables to the post-stream report; they come from the goals hash and the deals' stored fields."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from livecart.money import LEGACY_CURRENCY, from_minor
from livecart.protocol import load_json

__all__ = ["TABLES", "sections"]

TABLES = ("goals", "tier_timeline")


def _action(action: Mapping[str, Any]) -> str:
    kind = str(action.get("type", "none"))
    product = action.get("product")
    prize: Mapping[str, Any] = product if isinstance(product, dict) else {}
    detail = {"restock": f" +{action.get('add')}", "announce": f": {action.get('text', '')}",
              "open_bag": f": {prize.get('name', '')} ×{action.get('winners')}"}.get(kind, "")
    return kind + (f" {action['deal']}" if action.get("deal") else "") + detail


def goal_rows(goals: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per goal, oldest first: armed, fired (when, at what value, with what result) or cancelled."""
    rows = []
    for g in sorted(goals, key=lambda g: g.get("created_at", 0)):
        result = g.get("result") or {}
        said = " ".join(str(x) for x in (result.get("detail"), result.get("bag")) if x)  # bag: open_bag's
        rows.append({"goal": g.get("id"), "label": g.get("label") or g.get("metric"),
                     "metric": g.get("metric"), "deal": g.get("deal"), "target": g.get("target"),
                     "state": g.get("state"),
                     "created_at": g.get("created_at"), "fired_at": g.get("fired_at"),
                     "fired_value": g.get("fired_value"), "action": _action(g.get("action") or {}),
                     "result": said or None, "ok": result.get("ok")})
    return rows


def tier_rows(deals: Sequence[Mapping[str, str]], currency: str) -> list[dict[str, Any]]:
    """Each group buy's tiers over time: its opening price at its start, then every drop."""
    rows = []
    for d in sorted(deals, key=lambda d: int(d["starts_at"])):
        if "tiers" not in d:
            continue
        tiers = load_json(d["tiers"])
        money = d.get("currency") or currency
        opening = {"at": int(d["starts_at"]), "tier": 0, "price_minor": tiers[0][1], "buyers": 0,
                   "by": "open"}
        steps = [opening, *load_json(d.get("tier_log") or "[]")]
        for step in steps:
            rows.append({"deal": d["id"], "product": d.get("product_name", ""), "changed_at": step["at"],
                         "tier": step["tier"], "price": from_minor(int(step["price_minor"]), money),
                         "buyers": step["buyers"], "by": step["by"],
                         "rebate_at_close": from_minor(int(d.get("rebate_cents", 0)), money)})
    return rows


def sections(goals: Sequence[Mapping[str, Any]], deals: Sequence[Mapping[str, str]],
             currency: str = LEGACY_CURRENCY) -> dict[str, list[dict[str, Any]]]:
    return {"goals": goal_rows(goals), "tier_timeline": tier_rows(deals, currency)}
