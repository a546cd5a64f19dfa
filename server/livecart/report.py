"""The post-stream report, the pure part: numbers from the stats buckets, deals, cues and comments, and
their renderings as one self-contained HTML page (inline SVG, no script, nothing fetched), JSON and CSV.

`build` takes plain data and returns one dict; `html`, `csv_table` render it. Every number on the page
comes from that dict, so the HTML, the JSON and the CSV always agree.
"""

from __future__ import annotations

import base64
import csv
import io
import math
import time
from collections.abc import Iterable, Mapping
from html import escape
from typing import Any

from livecart import goal_report, interaction_report, invite_report
from livecart.comments import QuestionBoard, Segmenter, count_words
from livecart.money import LEGACY_CURRENCY
from livecart.protocol import encode_json
from livecart.stats import GAUGES, METRICS, Bucket, deal_funnel, series, to_wire

__all__ = ["TABLES", "build", "csv_cell", "csv_table", "html"]

IMPACT_S = 120  # a cue's effect: rates over this long before and after it
MAX_POINTS = 720
TABLES = ("timeline", "deals", "cues", "questions", "hot_words", "lucky_bags", *goal_report.TABLES,
          *invite_report.TABLES)
# their CSV says which currency the amounts are in
MONEY_TABLES = frozenset({"timeline", "deals", "tier_timeline", "inviters"})


def build(room: str, buckets: Mapping[int, Bucket], deals: list[dict[str, str]], marks: Mapping[str, int],
          cues: list[dict[str, Any]], comments: Iterable[tuple[int, str, str]], segmenter: Segmenter,
          now_ms: int, currency: str = LEGACY_CURRENCY,
          lucky_bags: list[dict[str, Any]] | None = None, goals: list[dict[str, Any]] | None = None,
          invites: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The whole report as data. `comments` are (ts, user, text) from the room's history; money is in
    the room's `currency` (its decimals; `currency` names it). `lucky_bags`: lucky_bag.report_rows;
    `goals` are the room's GOAL maps; `invites` is InviteStore.board's."""
    seconds = sorted(buckets)
    starts = [int(d["starts_at"]) // 1000 for d in deals]
    first = min(seconds + starts) if seconds or starts else now_ms // 1000
    end = max(seconds + [s + 1 for s in starts]) + 1 if seconds or starts else first + 1
    step = max(1, math.ceil((end - first) / MAX_POINTS))
    rows = series(buckets, first, end, step)
    totals = {name: sum(b.get(name, 0) for b in buckets.values()) for name in METRICS if name not in GAUGES}
    totals_wire = to_wire(totals, currency)
    for gauge in sorted(GAUGES):  # viewers_peak, platform_viewers_peak
        totals_wire[f"{gauge}_peak"] = max((b.get(gauge, 0) for b in buckets.values()), default=0)
    board = QuestionBoard(window_ms=2**62)
    texts: list[str] = []
    for ts, user, text in comments:
        board.add(ts, user, text)
        texts.append(text)
    funnels = [deal_funnel(d, marks.get(f"{d['id']}:launch_viewers"), marks.get(f"{d['id']}:sold_out_at"))
               for d in sorted(deals, key=lambda d: int(d["starts_at"]))]
    return {
        "room": room,
        "currency": currency,
        "generated_at": now_ms,
        "from": first * 1000,
        "to": end * 1000,
        "step_s": step,
        "totals": totals_wire,
        "timeline": [dict(to_wire(r, currency), t=r["t"] * 1000) for r in rows],
        "deals": funnels,
        "cues": [_impact(c, buckets) for c in cues],
        "questions": [c.to_wire() for c in board.clusters(now_ms)[:10]],
        "hot_words": [{"word": w, "comments": n} for w, n in count_words(map(segmenter.words, texts), 30)],
        "lucky_bags": lucky_bags or [],
        **goal_report.sections(goals or [], deals, currency),
        **invite_report.section(invites, currency),
    }


def _rate(buckets: Mapping[int, Bucket], metric: str, start: int, end: int) -> float:
    return round(sum(buckets.get(s, {}).get(metric, 0) for s in range(start, end)) * 60 / (end - start), 2)


def _impact(cue: Mapping[str, Any], buckets: Mapping[int, Bucket]) -> dict[str, Any]:
    """What changed in the two minutes after a cue, against the two minutes before it (per minute)."""
    at = int(cue["created_at"]) // 1000
    out = {"id": cue["id"], "kind": cue["kind"], "priority": cue["priority"], "text": cue["text"],
           "created_at": cue["created_at"], "acked_at": cue.get("acked_at")}
    for metric, name in (("orders", "orders_per_min"), ("comments", "comments_per_min")):
        before, after = _rate(buckets, metric, at - IMPACT_S, at), _rate(buckets, metric, at, at + IMPACT_S)
        out[name + "_before"], out[name + "_after"] = before, after
        out[name + "_change"] = round(after - before, 2)
    return out


# --- CSV -------------------------------------------------------------------------------------------


# A spreadsheet reads a cell starting with one of these as a formula (OWASP "CSV Injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """`value` safe to open in a spreadsheet: text that starts like a formula gets a leading `'`, as
    OWASP recommends (comments are strangers' text: "=HYPERLINK(...)" must stay text). Numbers are ours
    and stay numbers, negative ones too."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def csv_table(report: Mapping[str, Any], table: str = "timeline") -> str:
    """One table of the report as CSV (header row first), every text cell through `csv_cell`."""
    rows: list[dict[str, Any]] = list(report[table])
    if table == "questions":
        rows = [dict(r, examples=" | ".join(r["examples"])) for r in rows]
    if table in MONEY_TABLES:  # a spreadsheet row alone must say what its amounts are in
        rows = [dict(r, currency=report.get("currency", LEGACY_CURRENCY)) for r in rows]
    rows = [{k: csv_cell(v) for k, v in r.items()} for r in rows]
    out = io.StringIO()
    if rows:
        # CRLF rows (RFC 4180): the writer then quotes a cell holding a lone CR, which with "\n" rows it
        # wrote bare, and a spreadsheet split the row there.
        writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(rows)
    return out.getvalue()


# --- HTML ------------------------------------------------------------------------------------------

_CSS = """body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#222;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}.muted{color:#777}
table{border-collapse:collapse;margin:4px 0}td,th{padding:3px 10px;border-bottom:1px solid #eee;
text-align:right}th{background:#f6f6f6}td.l,th.l{text-align:left}.kpis{display:flex;gap:22px;flex-wrap:wrap}
.kpi b{display:block;font-size:20px}.up{color:#1a7f37}.down{color:#c62828}svg{display:block;margin:6px 0}
a{color:#0b5cad}"""
_SERIES = (("viewers", "Viewers online", "#1f6feb"),
           ("platform_viewers", "Watching on the platform", "#0a7f8c"), ("comments", "Comments", "#8250df"),
           ("orders", "Orders", "#1a7f37"), ("gmv", "GMV", "#bf8700"))


def _time(ms: int) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(ms / 1000))


def _chart(report: Mapping[str, Any], key: str, label: str, color: str) -> str:
    width, height, pad_l, pad_r, pad_y = 960, 130, 60, 10, 18
    x0: int = report["from"]
    x1: int = max(report["to"], x0 + 1)
    rows = report["timeline"]
    top = max((r[key] for r in rows), default=0) or 1

    def x(ms: float) -> float:
        return pad_l + (min(max(ms, x0), x1) - x0) / (x1 - x0) * (width - pad_l - pad_r)

    def y(v: float) -> float:
        return height - pad_y - v / top * (height - 2 * pad_y)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             f'aria-label="{escape(label)}">',
             f'<text x="{pad_l + 4}" y="12" font-size="12">{escape(label)}</text>',
             f'<text x="{pad_l - 4}" y="{pad_y + 4}" font-size="10" text-anchor="end">{top:g}</text>',
             f'<line x1="{pad_l}" y1="{height - pad_y}" x2="{width - pad_r}" y2="{height - pad_y}" '
             'stroke="#ccc"/>']
    for d in report["deals"]:
        left, right = x(d["starts_at"]), x(d["ends_at"])
        parts.append(f'<rect x="{left:.1f}" y="{pad_y}" width="{max(1.0, right - left):.1f}" '
                     f'height="{height - 2 * pad_y}" fill="#bf8700" fill-opacity="0.12">'
                     f'<title>{escape(d["product"])} ({_time(d["starts_at"])}–{_time(d["ends_at"])})'
                     '</title></rect>')
    for c in report["cues"]:
        cx = x(c["created_at"])
        parts.append(f'<line x1="{cx:.1f}" y1="{pad_y}" x2="{cx:.1f}" y2="{height - pad_y}" stroke="#c62828" '
                     f'stroke-dasharray="3,3"><title>{escape(c["kind"])}: {escape(c["text"])}</title></line>')
    step_ms = report["step_s"] * 1000
    points = " ".join(f"{x(r['t'] + step_ms / 2):.1f},{y(r[key]):.1f}" for r in rows)
    parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{points}"/>')
    parts.append(f'<text x="{pad_l}" y="{height - 3}" font-size="10">{_time(x0)} UTC</text>')
    parts.append(f'<text x="{width - pad_r}" y="{height - 3}" font-size="10" text-anchor="end">'
                 f'{_time(x1)}</text></svg>')
    return "".join(parts)


def _table(rows: list[Mapping[str, Any]], columns: list[tuple[str, str]], text_cols: frozenset[str]) -> str:
    if not rows:
        return '<p class="muted">None.</p>'
    head = "".join(f'<th class="{"l" if k in text_cols else ""}">{escape(t)}</th>' for k, t in columns)
    body = []
    for row in rows:
        cells = []
        for key, _title in columns:
            value = row.get(key)
            shown = "–" if value is None else _time(value) if key.endswith("_at") else value
            css = "l" if key in text_cols else ""
            if key.endswith("_change") and isinstance(value, int | float) and value:
                css = "up" if value > 0 else "down"
            cells.append(f'<td class="{css}">{escape(str(shown))}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _download(name: str, mime: str, data: str) -> str:
    encoded = base64.b64encode(data.encode()).decode()
    return f'<a download="{escape(name)}" href="data:{mime};base64,{encoded}">{escape(name)}</a>'


def html(report: Mapping[str, Any]) -> str:
    """One self-contained page: styles inline, charts as inline SVG, exports as data: links."""
    room, totals = report["room"], report["totals"]
    currency = escape(str(report.get("currency", LEGACY_CURRENCY)))
    kpis = "".join(f'<div class="kpi"><b>{escape(str(totals.get(k, 0)))}</b>{escape(t)}</div>' for k, t in (
        ("viewers_peak", "peak viewers"), ("platform_viewers_peak", "peak on the platform"),
        ("entries", "entries"), ("comments", "comments"),
        ("likes", "likes"), ("orders", "orders"), ("gmv", f"GMV ({currency})"),
        ("gifts_value", f"gifts value ({currency})"),
        ("claims", "claims"), ("claim_rejections", "claim rejections"), ("follows", "follows"),
        ("shares", "shares")))
    charts = "".join(_chart(report, key, label, color) for key, label, color in _SERIES  # no bridge: no chart
                     if key != "platform_viewers" or totals.get("platform_viewers_peak"))
    deals = _table(report["deals"], [
        ("product", "product"), ("starts_at", "start"), ("ends_at", "end"), ("stock", "stock"),
        ("viewers_at_launch", "viewers at launch"), ("claim_attempts", "attempts"), ("claims", "claims"),
        ("paid", "paid"), ("cancelled_or_expired", "cancelled/expired"), ("conversion", "paid/viewer"),
        ("sell_through_s", "sell-through s"), ("gmv", f"GMV ({currency})")], frozenset({"product"}))
    cues = _table(report["cues"], [
        ("created_at", "at"), ("kind", "kind"), ("text", "cue"), ("acked_at", "acked"),
        ("orders_per_min_before", "orders/min before"), ("orders_per_min_after", "after"),
        ("orders_per_min_change", "change"), ("comments_per_min_before", "comments/min before"),
        ("comments_per_min_after", "after"), ("comments_per_min_change", "change")],
        frozenset({"kind", "text"}))
    questions = _table([dict(q, examples=" · ".join(q["examples"])) for q in report["questions"]], [
        ("label_zh", "topic"), ("label_en", ""), ("askers", "askers"), ("asked", "questions"),
        ("examples", "examples")], frozenset({"label_zh", "label_en", "examples"}))
    bags = _table(report.get("lucky_bags", []), [
        ("product", "prize"), ("opens_at", "opened"), ("closed_at", "closed"), ("entrants", "entrants"),
        ("prizes", "prizes"), ("winners", "winners"), ("bought_during_bag", "entrants who bought"),
        ("verified", "draw verified"), ("commitment", "commitment (SHA-256 of the seed)"), ("seed", "seed")],
        frozenset({"product", "winners", "commitment", "seed"}))
    words = _table(report["hot_words"], [("word", "word"), ("comments", "comments")], frozenset({"word"}))
    goals = _table(report.get("goals", []), [
        ("label", "goal"), ("metric", "number"), ("target", "target"), ("state", "state"),
        ("created_at", "made"), ("fired_at", "fired"), ("fired_value", "value then"), ("action", "action"),
        ("result", "result")], frozenset({"label", "metric", "state", "action", "result"}))
    tiers = _table(report.get("tier_timeline", []), [
        ("product", "group buy"), ("changed_at", "at"), ("tier", "tier"), ("price", f"price ({currency})"),
        ("buyers", "buyers"), ("by", "by"), ("rebate_at_close", f"owed back ({currency})")],
        frozenset({"product", "by"}))
    exports = " · ".join([_download(f"{room}-report.json", "application/json",
                                    encode_json(report).decode())]
                         + [_download(f"{room}-{t}.csv", "text/csv", csv_table(report, t)) for t in TABLES])
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>livecart report: {escape(room)}</title>
<meta name="viewport" content="width=device-width,initial-scale=1"><style>{_CSS}</style></head><body>
<h1>Stream report: {escape(room)}</h1>
<p class="muted">{_time(report["from"])}–{_time(report["to"])} UTC, {report["step_s"]} s per point.
Generated {time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(report["generated_at"] / 1000))} UTC.
Money in {currency}. Shaded: deal windows. Dashed: cues.</p>
<div class="kpis">{kpis}</div>
<h2>Timeline</h2>{charts}
<h2>Deals</h2>{deals}
<h2>Cues and what followed (two minutes before and after)</h2>{cues}
<h2>Top questions</h2>{questions}
<h2>Hot words</h2>{words}
<h2>Lucky bags</h2>{bags}
{interaction_report.html_section(report.get("interactions"))}
<h2>Goals</h2>{goals}
<h2>Group buys: tier timeline</h2>{tiers}
{invite_report.html_section(report, _table)}
<h2>Exports</h2><p>{exports}</p>
</body></html>
"""
