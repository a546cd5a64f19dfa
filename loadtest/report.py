"""Result rendering: a short text summary, and a self-contained HTML report (inline SVG, no network).

The HTML has no script and loads nothing: it can be mailed, attached to a ticket, or opened offline.
Every piece of text from the result goes through `html.escape`.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

__all__ = ["PAGE_STYLE", "line_chart", "render", "summary_text"]

COLORS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563"]
PAGE_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1100px;color:#111827;padding:0 16px}
h1{font-size:22px} h2{font-size:17px;margin-top:28px}
table{border-collapse:collapse;margin:8px 0;display:block;overflow-x:auto}
td,th{border:1px solid #e5e7eb;padding:4px 10px;text-align:left} th{background:#f9fafb}
td.n{text-align:right;font-variant-numeric:tabular-nums} .pass{color:#15803d} .fail{color:#b91c1c}
.charts{display:grid;grid-template-columns:1fr 1fr;gap:16px} svg{background:#fff;border:1px solid #e5e7eb}
.muted{color:#6b7280} code{background:#f3f4f6;padding:1px 4px}
"""
Series = tuple[str, Sequence[tuple[float, float]]]


def summary_text(r: dict[str, Any]) -> str:
    lat = r["latency_ms"]
    lines = [
        f"{r['scenario']}: {r['verdict'].upper()}",
        f"  sockets connected {r['clients_connected']}, deliveries {r['deliveries']} of "
        f"{r['deliveries_expected']} ({r['completeness_pct']} %), duplicates {r['duplicates']}, "
        f"gaps {r['gaps']}",
        f"  latency ({r['latency_is']}): p50 {lat['p50']} ms, p99 {lat['p99']} ms, max {lat['max']} ms",
        f"  loader: {r['loader']['note']} (worker CPU mean {r['loader']['worker_cpu_pct_mean']} %, "
        f"{r['loader']['deliveries_per_loader_cpu_s']} deliveries per loader CPU-second)",
    ]
    for d in r.get("deals", {}).values():
        lines.append(f"  {d['name']}: stock {d['stock']}, claimed {d['units_claimed']} by "
                     f"{d['buyers']} buyers, {d['claims_answered']}/{d['claims_sent']} claims answered, "
                     f"{d['claims_per_s']} claims/s"
                     + (f" (asked {d['claim_rate_asked']:g}/s)" if d.get("claim_rate_asked") else "")
                     + f", claim p50 {d['claim_latency_ms']['p50']} ms"
                     f" p99 {d['claim_latency_ms']['p99']} ms, "
                     f"live to sold out on every socket "
                     f"{d['live_to_sold_out_on_every_socket_s']} s")
    if "lucky_bag" in r:
        b = r["lucky_bag"]
        lines.append(f"  lucky bag: {b['entrants']} entrants ({b['via_ingest']} by ingest, "
                     f"{b['via_sockets']} by socket, {b['left_before_draw']} left), "
                     f"{b['entries_per_s']} entries/s, close to "
                     f"winners on the overlay {b['close_to_winners_on_overlay_ms']} ms (draw in the node "
                     f"{b['draw_in_node_ms']} ms), winners recomputed: {b['recomputed']}")
    if "rooms" in r:
        rm = r["rooms"]
        for group, g in rm["groups"].items():
            lines.append(f"  {g['rooms']} {group} rooms × {g['sockets_per_room']}: {g['deliveries']} of "
                         f"{g['deliveries_expected']} ({g['completeness_pct']} %), "
                         f"p50 {g['latency_ms']['p50']} p99 {g['latency_ms']['p99']} ms, "
                         f"deal seen live by {g['sockets_saw_deal_live']} "
                         f"of {g['sockets_connected']} sockets")
        lines.append(f"  node: CPU {rm['server_cpu_pct_mean']} % mean, {rm['server_cpu_pct_peak']} % peak, "
                     f"RSS {rm['server_rss_mb_peak']} MB peak (with --server-pid)")
    if "redis_limit" in r:
        rl = r["redis_limit"]
        lines.append(f"  claim.lua alone on one Redis core (redis-benchmark, {rl['clients']} clients): "
                     f"{rl['one_per_call']} claims/s with one claim per call, {rl['batched']} claims/s "
                     f"with {rl['batch']} per call")
    if "reconnect" in r:
        rc = r["reconnect"]
        lines.append(f"  reconnect: {rc['resumed']} of {rc['dropped']} resumed, fully resumed after "
                     f"{rc['time_to_fully_resumed_s']} s; {rc['refused_busy']} upgrades refused after the "
                     f"drop (503 busy; Retry-After s over the run: {r['sockets']['retry_after_s']})")
    if "slow_consumers" in r:
        sc = r["slow_consumers"]
        lines.append(f"  slow consumers: {sc['slow_sockets']} stalled, {sc['slow_closes_1013']} closed 1013; "
                     f"readers p99 {sc['readers_p99_before_ms']} -> {sc['readers_p99_during_ms']} ms")
    lines += [f"  - {reason}" for reason in r["reasons"]]
    for e in r.get("evidence", [])[:3]:
        lines.append(f"  evidence ({e['user']}, last offset {e['cursor_last']}): frame {e['frame']} after "
                     f"{e['previous_frame']}  [type, offset, first, last, events, connection]")
    return "\n".join(lines)


def render(r: dict[str, Any]) -> str:
    e = html.escape
    t = r["timeline"]
    marks = [(m["t"], m["what"]) for m in r.get("events", [])]
    charts = [
        line_chart("Fan-out latency per second (ms)", [
            ("p50", _xy(t, lambda row: row["latency_ms"]["p50"])),
            ("p99", _xy(t, lambda row: row["latency_ms"]["p99"])),
            ("max", _xy(t, lambda row: row["latency_ms"]["max"]))], marks),
        line_chart("Throughput (per second)", [
            ("deliveries/s", _xy(t, lambda row: row["deliveries_per_s"])),
            ("events published/s", _xy(t, lambda row: row["published_per_s"]))], marks),
        line_chart("Open sockets", [("sockets", _xy(t, lambda row: row["connections"]))], marks),
        line_chart("Loader CPU (% of a core)", [
            (f"worker {i}", _xy(t, lambda row, i=i: row["worker_cpu_pct"][i]))
            for i in range(len(t[0]["worker_cpu_pct"]) if t else 0)]
            + [("conductor", _xy(t, lambda row: row["conductor_cpu_pct"]))]
            + ([("node (--server-pid)", _xy(t, lambda row: row["server_cpu_pct"] or 0))]
               if any(row.get("server_cpu_pct") is not None for row in t) else []), marks),
    ]
    outcomes = sorted({k for row in t for k in row["claims"]})
    if outcomes:
        charts.append(line_chart("Claim outcomes per second", [
            (k, _xy(t, lambda row, k=k: row["claims"].get(k, 0))) for k in outcomes], marks))
    verdict = r["verdict"]
    started = datetime.fromtimestamp(r["meta"]["started_at"], UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    parts = [
        "<!doctype html><html lang=en><meta charset=utf-8>",
        f"<title>livecart-loadtest {e(r['scenario'])}: {e(verdict)}</title><style>{PAGE_STYLE}</style>",
        f"<h1>{e(r['scenario'])} — <span class={e(verdict)}>{e(verdict.upper())}</span></h1>",
        f"<p class=muted>{e(started)} · {e(r['meta']['url'])} · room <code>{e(r['meta']['room'])}</code> · "
        f"{r['meta']['workers']} loader processes · load average before "
        f"{e(_load(r['meta']['loadavg_before']))}, after {e(_load(r['meta']['loadavg_after']))}</p>",
    ]
    if r["reasons"]:
        parts.append("<ul>" + "".join(f"<li class=fail>{e(x)}</li>" for x in r["reasons"]) + "</ul>")
    lat = r["latency_ms"]
    parts.append(_table(["measure", "value"], [
        ["sockets connected", r["clients_connected"]],
        ["deliveries / expected",
         f"{r['deliveries']} / {r['deliveries_expected']} ({r['completeness_pct']} %)"],
        ["duplicates / gaps", f"{r['duplicates']} / {r['gaps']}"],
        [f"latency: {r['latency_is']}", f"p50 {lat['p50']} ms · p99 {lat['p99']} ms · max {lat['max']} ms"],
        ["closes by code", json.dumps(r["sockets"]["closes_by_code"])],
        ["resumes", r["sockets"]["resumes"]],
        ["events published", r["publisher"]["events_sent"]],
        ["loader", r["loader"]["note"]],
        ["deliveries per loader CPU-second", r["loader"]["deliveries_per_loader_cpu_s"]],
    ]))
    if r.get("deals"):
        parts.append("<h2>Deals</h2>")
        keys = ["name", "stock", "units_claimed", "buyers", "max_units_per_user", "claims_sent",
                "claims_answered", "refusals", "live_to_sold_out_s", "live_to_sold_out_on_every_socket_s",
                "sold_out_on_every_socket_ms"]
        parts.append(_table(keys + ["claim p50/p99 ms"], [
            [json.dumps(d[k]) if isinstance(d[k], dict) else d[k] for k in keys]
            + [f"{d['claim_latency_ms']['p50']} / {d['claim_latency_ms']['p99']}"]
            for d in r["deals"].values()]))
    if r.get("evidence"):
        parts.append("<h2>Evidence: the frames around the first duplicates or gaps</h2>")
        parts.append(_table(["socket", "its last offset", "frame before", "frame", "duplicates", "gaps"],
                            [[e["user"], e["cursor_last"], json.dumps(e["previous_frame"]),
                              json.dumps(e["frame"]), e["duplicates"], e["gaps"]] for e in r["evidence"]]))
    for section in ("reconnect", "slow_consumers"):
        if section in r:
            parts.append(f"<h2>{e(section.replace('_', ' '))}</h2>")
            parts.append(_table(["measure", "value"], [[k, json.dumps(v) if isinstance(v, dict) else v]
                                                       for k, v in r[section].items()]))
    parts.append("<h2>Over time</h2><div class=charts>" + "".join(charts) + "</div>")
    if marks:
        parts.append("<h2>What happened when</h2>" + _table(["t (s)", "event"], [[m, w] for m, w in marks]))
    parts.append("<h2>Settings</h2><pre>" + e(json.dumps(r["settings"], ensure_ascii=False, indent=1))
                 + "</pre>")
    return "\n".join(parts) + "\n</html>\n"


def line_chart(title: str, series: Sequence[Series], marks: Sequence[tuple[float, str]] = (),
               width: int = 520, height: int = 240) -> str:
    """An SVG line chart: one polyline per series, 5 ticks per axis, event marks as dashed lines."""
    e = html.escape
    left, right, top, bottom = 56, 12, 28, 44
    xs = [x for _, pts in series for x, _ in pts] or [0.0, 1.0]
    ys = [y for _, pts in series for _, y in pts] or [0.0]
    x0, x1 = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
    y1 = _nice(max(ys) if max(ys) > 0 else 1.0)
    w, h = width - left - right, height - top - bottom

    def px(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * w

    def py(y: float) -> float:
        return top + h - y / y1 * h

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
           f'aria-label="{e(title)}"><text x="{left}" y="18" font-size="13" font-weight="600">'
           f'{e(title)}</text>']
    for i in range(6):
        y = y1 * i / 5
        out.append(f'<line x1="{left}" x2="{left + w}" y1="{py(y):.1f}" y2="{py(y):.1f}" stroke="#f3f4f6"/>'
                   f'<text x="{left - 6}" y="{py(y) + 4:.1f}" font-size="10" text-anchor="end">'
                   f'{_fmt(y)}</text>')
        x = x0 + (x1 - x0) * i / 5
        out.append(f'<text x="{px(x):.1f}" y="{top + h + 14}" font-size="10" text-anchor="middle">'
                   f'{x:.0f}s</text>')
    for t, what in marks:
        if x0 <= t <= x1:
            out.append(f'<line x1="{px(t):.1f}" x2="{px(t):.1f}" y1="{top}" y2="{top + h}" stroke="#9ca3af" '
                       f'stroke-dasharray="3 3"><title>{e(what)} at {t:.1f} s</title></line>')
    for i, (name, pts) in enumerate(series):
        color = COLORS[i % len(COLORS)]
        path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in pts)
        if path:
            out.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.6" points="{path}"/>')
        out.append(f'<rect x="{left + 110 * i}" y="{height - 14}" width="10" height="10" fill="{color}"/>'
                   f'<text x="{left + 14 + 110 * i}" y="{height - 5}" font-size="11">{e(name)}</text>')
    out.append("</svg>")
    return "".join(out)


def _xy(timeline: list[dict[str, Any]], value: Any) -> list[tuple[float, float]]:
    return [(row["t"], float(value(row))) for row in timeline]


def _nice(v: float) -> float:
    """The smallest 1/2/5 × 10^k at or above v: round axis maxima."""
    k = 1.0
    while k * 10 <= v:
        k *= 10
    while k > v * 10:
        k /= 10
    for m in (1, 2, 5, 10):
        if m * k >= v:
            return m * k
    return 10 * k


def _fmt(v: float) -> str:
    return f"{v / 1000:g}k" if v >= 10_000 else f"{v:g}"


def _load(avg: Sequence[float]) -> str:
    return " ".join(f"{x:.2f}" for x in avg)


def _table(head: list[str], rows: list[list[Any]]) -> str:
    e = html.escape
    out = ["<table><tr>" + "".join(f"<th>{e(str(h))}</th>" for h in head) + "</tr>"]
    for row in rows:
        out.append("<tr>" + "".join(
            f"<td class=n>{e(str(c))}</td>" if isinstance(c, int | float) else f"<td>{e(str(c))}</td>"
            for c in row) + "</tr>")
    return "".join(out) + "</table>"
