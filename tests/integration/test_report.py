"""Stats and the post-stream report: every number matches the ingested events exactly, on the API, in
the JSON, the CSV and the HTML page, and `livecart report` saves the same page."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import subprocess
import sys

import aiohttp

from tests.support import SECRET, WAIT, api, claim, create_deal, post_events, token


def ev(n: int, kind: str, ts: int, user: str = "u1", **fields: object) -> dict[str, object]:
    return {"id": f"e{n}", "type": kind, "ts": ts, "user": {"id": user, "name": user.upper()}, **fields}


async def until_report(port: int, room: str, want: dict[str, object]) -> dict:
    """The report once the director has folded everything (it folds once a second)."""
    deadline = asyncio.get_running_loop().time() + 2 * WAIT
    while True:
        status, body = await api(port, "GET", f"/api/rooms/{room}/report?format=json", token("host", room))
        assert status == 200, body
        if all(body["totals"].get(k) == v for k, v in want.items()):
            return body
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"report totals {body['totals']} never became {want}")
        await asyncio.sleep(0.2)


async def get_text(port: int, path: str, tok: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(
            f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"Bearer {tok}"}) as resp:
        return resp.status, await resp.text()


async def test_report_numbers_match_the_ingested_events_exactly(node, room, tmp_path):
    now = node.clock.now_ms()
    base = now - 100_000  # before: 100 s of events; the cue comes at `now`
    deal = await create_deal(node.port, room, stock=10, limit_per_user=1)
    answers = [await claim(node.port, room, deal["id"], user, key="k") for user in ("a", "b", "c")]
    assert all(status == 200 for status, _ in answers)
    assert (await claim(node.port, room, deal["id"], "a", key="again"))[0] == 409  # limit_reached
    claim_id = answers[0][1]["claim"]["id"]
    events = [
        ev(1, "comment", base, text="多少钱？"), ev(2, "comment", base + 1000, "u2", text="尺码怎么选"),
        ev(3, "comment", base + 61_000, "u3", text="好看"), ev(4, "like", base + 2000, count=5),
        ev(5, "like", base + 3000, count=7), ev(6, "share", base + 4000), ev(7, "share", base + 4000, "u2"),
        ev(8, "follow", base), ev(9, "follow", base + 1, "u2"), ev(10, "follow", base + 2, "u3"),
        ev(11, "join", base), ev(12, "join", base, "u2"), ev(13, "join", base, "u3"),
        ev(14, "join", base, "u4"), ev(15, "join", base, "u5"), ev(16, "leave", base + 9000, "u5"),
        ev(17, "gift", base + 5000, gift="rose", count=3, value=1.5),
        ev(18, "gift", base + 6000, "u2", gift="rocket", count=1, value=10),
        ev(19, "order", base + 30_000, order_id="o1", product_id="p9", qty=1, amount=19.99, status="paid"),
        ev(20, "order", base + 40_000, order_id="o2", product_id="p9", qty=1, amount=5.01, status="paid"),
        ev(21, "order", base + 50_000, order_id="o2", product_id="p9", qty=1, amount=5.01, status="refunded"),
        ev(22, "order", base + 70_000, "a", order_id="o3", product_id="p1", qty=1, amount=99.0, status="paid",
           claim_id=claim_id),
        ev(23, "order", base + 70_000, order_id="o4", product_id="p9", qty=1, amount=3.0, status="placed"),
        ev(24, "comment", now + 10_000, "u4", text="after the cue"),
        ev(25, "comment", now + 20_000, "u5", text="after the cue too"),
        # The platform's own viewer count, from a bridge: a gauge (its peak), never a sum.
        {"id": "e26", "type": "viewers", "ts": base + 2000, "platform": "tiktok", "count": 1200},
        {"id": "e27", "type": "viewers", "ts": base + 62_000, "platform": "tiktok", "count": 900},
    ]
    assert (await post_events(node.port, room, events))[1]["accepted"] == len(events)
    status, made = await api(node.port, "POST", f"/api/rooms/{room}/cues", token("assistant", room, "amy"),
                             {"text": "push the scarf", "priority": "high"})
    assert status == 201
    want = {"comments": 5, "likes": 12, "shares": 2, "follows": 3, "entries": 5, "leaves": 1,
            "gifts_value": 11.5, "orders": 3, "gmv": 118.99, "claims": 3, "claim_rejections": 1,
            "platform_viewers_peak": 1200}
    report = await until_report(node.port, room, want)
    assert report["totals"] == dict(want, viewers_peak=report["totals"]["viewers_peak"])
    status, state = await api(node.port, "GET", f"/api/rooms/{room}/state", token("host", room))
    assert state["counters"]["gmv"] == report["totals"]["gmv"] and state["counters"]["comments"] == 5

    timeline = report["timeline"]
    for name in ("comments", "likes", "orders", "entries", "claims"):
        assert sum(r[name] for r in timeline) == want[name], name
    assert round(sum(r["gmv"] for r in timeline), 2) == want["gmv"]
    platform = [r["platform_viewers"] for r in timeline]
    assert max(platform) == 1200 and platform[-1] == 900  # carried forward after its last sample

    (funnel,) = report["deals"]
    assert (funnel["deal"], funnel["claim_attempts"], funnel["claims"], funnel["paid"], funnel["buyers"]) == (
        deal["id"], 4, 3, 1, 3)
    assert funnel["gmv"] == 99.0 and funnel["stock"] == 10

    (cue,) = [c for c in report["cues"] if c["id"] == made["cue"]["id"]]
    # In the 120 s before the cue: orders o1 (paid), o2 (paid) and o3 (paid) -> 3 per 2 min; comments
    # e1, e2, e3 -> 3. After it: no order, comments e24 and e25.
    at = cue["created_at"] // 1000
    before_orders = sum(1 for e in events if e["type"] == "order" and e["status"] == "paid"
                        and at - 120 <= e["ts"] // 1000 < at)
    assert cue["orders_per_min_before"] == before_orders / 2 == 1.5
    assert cue["orders_per_min_after"] == 0 and cue["comments_per_min_after"] == 1.0
    assert cue["comments_per_min_before"] == 1.5

    topics = {q["topic"]: q["askers"] for q in report["questions"]}
    assert topics == {"price": 1, "size": 1}

    first, last = report["from"], report["to"]
    status, stats = await api(node.port, "GET", f"/api/rooms/{room}/stats?from={first}&to={last}&step=10",
                              token("assistant", room, "amy"))
    assert status == 200 and stats["step"] == 10
    assert {k: stats["totals"][k] for k in want} == want

    status, text = await get_text(node.port, f"/api/rooms/{room}/report?format=csv", token("host", room))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert status == 200 and sum(int(r["comments"]) for r in rows) == 5
    status, page = await get_text(node.port, f"/api/rooms/{room}/report", token("host", room))
    assert status == 200 and page.startswith("<!doctype html>") and "<svg" in page
    assert "<script" not in page and "src=" not in page and 'href="http' not in page and "url(" not in page
    assert "push the scarf" in page and "Silk scarf" in page and "Watching on the platform" in page

    out = tmp_path / "report.html"
    env = dict(os.environ, LIVECART_SECRET=SECRET, LIVECART_DATA_DIR=str(tmp_path))
    command = [sys.executable, "-m", "livecart", "report", "--room", room, "--out", str(out),
               "--url", f"http://127.0.0.1:{node.port}"]
    done = await asyncio.to_thread(subprocess.run, command, env=env, capture_output=True, text=True,
                                   timeout=60)
    assert done.returncode == 0, done.stderr
    saved = out.read_text("utf-8")
    assert saved.startswith("<!doctype html>") and room in saved and "push the scarf" in saved


async def test_stats_and_report_are_for_hosts_and_assistants_and_check_their_input(node, room):
    for role in ("viewer", "overlay", "ingest"):
        for path in ("stats", "report", "cues"):
            status, _ = await get_text(node.port, f"/api/rooms/{room}/{path}", token(role, room, "x"))
            assert status == 403, (role, path)
    tok = token("host", room)
    for query, code in (("from=x", "bad_field"), ("from=10&to=5", "bad_field"), ("step=0", "bad_field"),
                        ("from=0&to=100000000000&step=1", "bad_field")):
        status, body = await api(node.port, "GET", f"/api/rooms/{room}/stats?{query}", tok)
        assert (status, body["error"]) == (400, code), query
    status, body = await api(node.port, "GET", f"/api/rooms/{room}/report?format=pdf", tok)
    assert (status, body["error"]) == (400, "bad_format")
    status, body = await api(node.port, "GET", f"/api/rooms/{room}/recording", tok)
    assert status == 403  # the raw log (user ids) is for assistants
