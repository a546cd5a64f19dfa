"""Two result files side by side with ratios: to see what a change did.

`after / before` is printed for every measure; whether higher is better is said next to it, so a
reader does not have to know that 0.5 is good for latency and bad for deliveries.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from loadtest.report import PAGE_STYLE, line_chart

__all__ = ["compare_html", "compare_rows", "compare_text"]

Getter = Callable[[dict[str, Any]], Any]
MEASURES: list[tuple[str, Getter, str]] = [
    ("verdict", lambda r: r["verdict"], ""),
    ("sockets connected", lambda r: r["clients_connected"], "higher"),
    ("deliveries", lambda r: r["deliveries"], "higher"),
    ("completeness %", lambda r: r["completeness_pct"], "higher"),
    ("duplicates", lambda r: r["duplicates"], "lower"),
    ("gaps", lambda r: r["gaps"], "lower"),
    ("latency p50 ms", lambda r: r["latency_ms"]["p50"], "lower"),
    ("latency p99 ms", lambda r: r["latency_ms"]["p99"], "lower"),
    ("latency max ms", lambda r: r["latency_ms"]["max"], "lower"),
    ("peak deliveries/s", lambda r: max((row["deliveries_per_s"] for row in r["timeline"]), default=0),
     "higher"),
    ("events published", lambda r: r["publisher"]["events_sent"], "higher"),
    ("server closes (not ours)", lambda r: sum(n for c, n in r["sockets"]["closes_by_code"].items()
                                                if c != "1000"), "lower"),
    ("loader worker CPU % (max mean)", lambda r: max(r["loader"]["worker_cpu_pct_mean"], default=0), ""),
    ("deliveries per loader CPU-s", lambda r: r["loader"]["deliveries_per_loader_cpu_s"], ""),
    ("claims answered", lambda r: sum(d["claims_answered"] for d in r.get("deals", {}).values()) or None,
     "higher"),
    ("time to fully resumed s", lambda r: r.get("reconnect", {}).get("time_to_fully_resumed_s"), "lower"),
]


def compare_rows(before: dict[str, Any], after: dict[str, Any]) -> list[list[str]]:
    rows = []
    for name, get, better in MEASURES:
        a, b = _get(get, before), _get(get, after)
        if a is None and b is None:
            continue
        ratio = f"{b / a:.2f}×" if isinstance(a, int | float) and isinstance(b, int | float) and a else "–"
        rows.append([name, _s(a), _s(b), ratio, f"{better} is better" if better else ""])
    return rows


def compare_text(before: dict[str, Any], after: dict[str, Any]) -> str:
    head = ["measure", "before", "after", "after/before", ""]
    rows = [head, *compare_rows(before, after)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    title = (f"{before['scenario']} ({before['meta']['room']}) -> "
             f"{after['scenario']} ({after['meta']['room']})")
    return "\n".join([title] + ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                                for r in rows])


def compare_html(before: dict[str, Any], after: dict[str, Any]) -> str:
    e = html.escape
    rows = compare_rows(before, after)
    table = ("<table><tr><th>measure</th><th>before</th><th>after</th><th>after/before</th><th></th></tr>"
             + "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in rows)
             + "</table>")
    charts = [
        line_chart("Latency p99 per second (ms)", [
            ("before", [(row["t"], row["latency_ms"]["p99"]) for row in before["timeline"]]),
            ("after", [(row["t"], row["latency_ms"]["p99"]) for row in after["timeline"]])]),
        line_chart("Deliveries per second", [
            ("before", [(row["t"], row["deliveries_per_s"]) for row in before["timeline"]]),
            ("after", [(row["t"], row["deliveries_per_s"]) for row in after["timeline"]])]),
    ]
    return (f"<!doctype html><html lang=en><meta charset=utf-8><title>livecart-loadtest compare</title>"
            f"<style>{PAGE_STYLE}</style><h1>{e(before['scenario'])} vs {e(after['scenario'])}</h1>"
            f"{table}<div class=charts>{''.join(charts)}</div></html>\n")


def _get(get: Getter, r: dict[str, Any]) -> Any:
    try:
        return get(r)
    except (KeyError, TypeError, ValueError):
        return None


def _s(v: Any) -> str:
    return "–" if v is None else str(v)
