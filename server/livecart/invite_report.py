"""The report's invite part, pure: the invite funnel (links opened -> joins -> buyers -> GMV) and the top
inviters, as data (JSON, CSV tables `invite_funnel` and `inviters`) and as one HTML section.

Input: InviteStore.board's standing (money in minor units); report.build puts `section`'s tables
beside its own, and report.html renders `html_section` from them, so the page, the JSON and the CSV
agree. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

from livecart.money import from_minor

__all__ = ["TABLES", "html_section", "section"]

TABLES = ("invite_funnel", "inviters")


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def section(board: Mapping[str, Any] | None, currency: str) -> dict[str, Any]:
    """{"invite_funnel": [step rows], "inviters": [rank rows], "invite_gmv": NUM} from a board."""
    if board is None:
        board = {"funnel": {}, "top": []}
    f = board["funnel"]
    opens, joins, buyers = int(f.get("opens", 0)), int(f.get("joins", 0)), int(f.get("buyers", 0))
    gmv = from_minor(int(f.get("gmv_minor", 0)), currency)
    return {
        "invite_funnel": [
            {"step": "links_opened", "count": opens, "of_previous": None},
            {"step": "joins", "count": joins, "of_previous": _share(joins, opens)},
            {"step": "buyers", "count": buyers, "of_previous": _share(buyers, joins)},
        ],
        "invite_gmv": gmv,
        "inviters": [{"rank": i, "user": row["user"], "joins": int(row["joins"]),
                      "buyers": int(row.get("buyers", 0)),
                      "gmv": from_minor(int(row.get("gmv_minor", 0)), currency)}
                     for i, row in enumerate(board["top"], 1)],
    }


def html_section(report: Mapping[str, Any], table: Any) -> str:
    """The invite funnel and top inviters, rendered with the report's own table helper `table`."""
    currency = escape(str(report.get("currency", "")))
    funnel = table(report.get("invite_funnel", []),
                   [("step", "step"), ("count", "count"), ("of_previous", "of previous step")],
                   frozenset({"step"}))
    inviters = table(report.get("inviters", []), [
        ("rank", "#"), ("user", "inviter"), ("joins", "friends joined"), ("buyers", "friends who bought"),
        ("gmv", f"their GMV ({currency})")], frozenset({"user"}))
    gmv = escape(str(report.get("invite_gmv", 0)))
    return (f"<h2>Invites</h2><p>GMV of invited buyers: <b>{gmv}</b> {currency}</p>{funnel}"
            f"<h2>Top inviters</h2>{inviters}")
