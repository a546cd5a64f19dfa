"""The report as data and as a page: totals from buckets, cue impact, text kept as text, CSV tables."""

from __future__ import annotations

import csv
import io

from livecart.comments import Segmenter
from livecart.report import TABLES, build, csv_table, html

S = 1_800_000_000  # a unix second


def make_report(currency: str = "CNY") -> dict:
    buckets = {S + i: {"comments": 1, "viewers": 10 + i} for i in range(240)}
    for i in (10, 20, 30, 200):
        buckets[S + i]["orders"] = 1
        buckets[S + i]["gmv_cents"] = 1999
    deals = [{"id": "d1", "product_name": "<i>Scarf</i>", "stock": "5", "sold": "5",
              "starts_at": str(S * 1000), "ends_at": str((S + 120) * 1000), "attempts": "9", "claims": "5",
              "paid": "4", "released": "1", "buyers": "5", "gmv_cents": "39600"}]
    cues = [{"id": "c1", "kind": "manual", "priority": "high", "text": "<script>alert(1)</script>",
             "created_at": (S + 120) * 1000, "acked_at": None}]
    comments = [((S + i) * 1000, f"u{i}", "尺码怎么选？") for i in range(6)]
    return build("demo", buckets, deals, {"d1:launch_viewers": 50, "d1:sold_out_at": (S + 60) * 1000}, cues,
                 comments, Segmenter(), (S + 300) * 1000, currency)


def test_totals_timeline_and_cue_impact():
    report = make_report()
    assert report["totals"]["comments"] == 240 and report["totals"]["orders"] == 4
    assert report["totals"]["gmv"] == 79.96 and report["totals"]["viewers_peak"] == 249
    assert sum(r["comments"] for r in report["timeline"]) == 240
    (cue,) = report["cues"]
    # Orders at +10, +20, +30 s are in the two minutes before the cue (+120 s); +200 s after it.
    assert (cue["orders_per_min_before"], cue["orders_per_min_after"], cue["orders_per_min_change"]) == (
        1.5, 0.5, -1.0)
    assert cue["comments_per_min_before"] == 60.0 and cue["comments_per_min_after"] == 60.0
    (deal,) = report["deals"]
    assert deal["sell_through_s"] == 60.0 and deal["conversion"] == 0.08
    assert report["questions"][0]["topic"] == "size" and report["questions"][0]["askers"] == 6


def test_the_page_keeps_text_as_text_and_carries_its_exports():
    page = html(make_report())
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<i>Scarf</i>" not in page and "&lt;i&gt;Scarf&lt;/i&gt;" in page
    assert page.count("<svg") == 4 and page.count('download="') == 1 + len(TABLES)


def test_each_table_exports_as_csv():
    report = make_report()
    for table in TABLES:
        rows = list(csv.DictReader(io.StringIO(csv_table(report, table))))
        assert len(rows) == len(report[table]), table
    assert csv_table({"cues": []}, "cues") == ""


def test_csv_cells_that_a_spreadsheet_would_run_as_formulas_stay_text():
    hostile = ["=HYPERLINK(\"http://evil\",\"x\")", "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"]
    report = {"cues": [{"text": t, "change": -3.5, "n": 2} for t in hostile]
              + [{"text": "fine", "change": 1, "n": -1}],
              "questions": [{"topic": "=cmd", "examples": ["=1+1", "ok"], "askers": 2}]}
    rows = list(csv.DictReader(io.StringIO(csv_table(report, "cues"), newline="")))
    assert [r["text"] for r in rows] == ["'" + t for t in hostile] + ["fine"]
    assert [r["change"] for r in rows] == ["-3.5"] * len(hostile) + ["1"]  # our numbers stay numbers
    assert rows[-1]["n"] == "-1"
    question = next(csv.DictReader(io.StringIO(csv_table(report, "questions"))))
    assert (question["topic"], question["examples"]) == ("'=cmd", "'=1+1 | ok")


def test_the_report_says_its_currency_and_has_its_decimals():
    report = make_report("KWD")  # three decimals: 4 orders of 1999 fils
    assert report["currency"] == "KWD" and report["totals"]["gmv"] == 7.996
    assert "GMV (KWD)" in html(report) and "Money in KWD" in html(report)
    for table in ("timeline", "deals"):
        assert {r["currency"] for r in csv.DictReader(io.StringIO(csv_table(report, table)))} == {"KWD"}


def test_the_invite_funnel_and_top_inviters_are_in_the_data_the_csv_and_the_page():
    buckets = {S: {"comments": 1}}
    invites = {"funnel": {"opens": 10, "joins": 4, "buyers": 1, "gmv_minor": 19900},
               "top": [{"user": "=cmd|' /C calc'!A0", "joins": 3, "buyers": 1, "gmv_minor": 19900},
                       {"user": "<b>bo</b>", "joins": 1, "buyers": 0, "gmv_minor": 0}]}
    report = build("demo", buckets, [], {}, [], [], Segmenter(), (S + 60) * 1000, "CNY", invites=invites)
    assert report["invite_funnel"] == [
        {"step": "links_opened", "count": 10, "of_previous": None},
        {"step": "joins", "count": 4, "of_previous": 0.4},
        {"step": "buyers", "count": 1, "of_previous": 0.25}]
    assert report["invite_gmv"] == 199.0
    assert report["inviters"][0] == {"rank": 1, "user": "=cmd|' /C calc'!A0", "joins": 3, "buyers": 1,
                                     "gmv": 199.0}
    rows = list(csv.DictReader(io.StringIO(csv_table(report, "inviters"))))
    assert rows[0]["user"].startswith("'=") and rows[0]["currency"] == "CNY"  # a name is never a formula
    page = html(report)
    assert "&lt;b&gt;bo&lt;/b&gt;" in page and "<b>bo</b>" not in page
    assert "GMV of invited buyers: <b>199.0</b> CNY" in page


def test_a_report_without_invites_has_an_empty_funnel():
    report = build("demo", {S: {"comments": 1}}, [], {}, [], [], Segmenter(), (S + 60) * 1000)
    assert [r["count"] for r in report["invite_funnel"]] == [0, 0, 0] and report["inviters"] == []
    assert csv_table(report, "inviters") == ""
