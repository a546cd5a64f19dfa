"""client_web/lib in a real page: the room view's resume rules (protocol §11), cues (replaced by id when
acked), live stats, the stage, the DOM helpers' text-only insertion, and a page that stops for good when
its token is refused."""

from __future__ import annotations

from playwright.async_api import expect

from tests.browser.conftest import Browsing
from tests.support import api, token

ROOM_STATE_SCRIPT = """async () => {
  const { RoomState, TERMINAL_CLOSE_CODES } = await import("/client/lib/livecart.js");
  const deal = (id, state, created_at, left = 5) => ({ id, state, created_at, left, stock: 5 });
  const s = new RoomState();
  const out = {};
  s.apply({ type: "snapshot", offset: 4, epoch: "e1", counters: { likes: 1 },
            deals: [deal("a", "scheduled", 1), deal("b", "sold_out", 2)], pinned: { name: "Tea" },
            highlight: null, announcement: { text: "hi" },
            recent: [{ offset: 4, type: "comment", text: "old" }] });
  out.featuredFirst = s.featuredDeal().id;
  out.duplicate = s.apply({ type: "batch", offset: 5, events: [{ offset: 3 }, { offset: 4 }, { offset: 5 }],
                            counters: { online: 2 }, deals: [deal("c", "live", 3)] });
  out.afterBatch = [s.last, s.events.length, s.counters.likes, s.counters.online, s.featuredDeal().id,
                    s.pinned && s.pinned.name];
  out.hole = s.apply({ type: "batch", offset: 8, events: [{ offset: 8 }] });
  out.lastAfterHole = s.last;
  s.apply({ type: "recovered", offset: 9, epoch: "e1", counters: { likes: 7 }, deals: [], pinned: null });
  out.afterRecovered = [s.last, s.counters.likes, s.pinned, s.announcement && s.announcement.text];
  s.apply({ type: "cue", cue: { id: "q1", priority: "high", text: "smile" } });
  s.apply({ type: "batch", offset: 5, events: [], cues: [{ id: "q1" }, { id: "q2", priority: "low" }] });
  out.cues = s.cues.map((c) => c.id);
  // An acked cue comes again with acked_at: it replaces the first copy, in place.
  const acked = { id: "q1", priority: "high", text: "smile", acked_at: 9, acked_by: "hana" };
  out.ackedWhy = s.apply({ type: "cue", cue: acked });
  s.apply({ type: "ack_result", req: "a1", ok: true, cue: { ...acked, id: "q2", priority: "low" } });
  // A GET …/cues listing read before the ack never un-acks; a new cue in it is added.
  s.mergeCues([{ id: "q1", priority: "high", text: "smile", acked_at: null }, { id: "q3" }]);
  out.cueStates = s.cues.map((c) => [c.id, c.acked_at ?? null]);
  out.statsWhy = s.apply({ type: "stats", stats: { viewers: 12, last_min: { orders: 3 } } });
  out.stats = [s.stats.viewers, s.stats.last_min.orders];
  s.apply({ type: "snapshot", offset: 1, epoch: "e2", counters: {}, deals: [], recent: [] });
  out.afterReset = [s.epoch, s.last, s.events.length, s.deals.size];
  out.unknown = s.apply({ type: "mystery" });  // a newer server frame type: ignored, not fatal
  out.terminal = [1001, 1006, 1008, 1009, 1011, 1013, 4000, 4001].filter((c) => TERMINAL_CLOSE_CODES.has(c));
  return out;
}"""

DOM_SCRIPT = """async () => {
  const { h, countdown, safeImageUrl, money } = await import("/client/lib/dom.js");
  const node = h("p", { title: '"><script>x()</script>' }, "<b>bold</b>", 3, null);
  return { html: node.innerHTML, children: node.children.length, title: node.getAttribute("title"),
           countdowns: [countdown(83000), countdown(3723000), countdown(-5), countdown(400)],
           urls: [safeImageUrl("javascript:alert(1)"), safeImageUrl("https://cdn.example/a.png")],
           money: [money(9.9), money(100)] };
}"""


async def test_the_room_view_follows_the_resume_rules(make_node, room, browser):
    node = await make_node()
    b = Browsing(browser, node.port)
    page = await b.open(f"/overlay?room={room}&token={token('overlay', room)}")
    out = await page.evaluate(ROOM_STATE_SCRIPT)
    assert out["featuredFirst"] == "b"  # sold out before scheduled
    assert out["duplicate"] == "state"
    assert out["afterBatch"] == [5, 2, 1, 2, "c", "Tea"]  # 3 and 4 dropped; counters merged; live first
    assert out["hole"] == "hole" and out["lastAfterHole"] == 5
    assert out["afterRecovered"] == [5, 7, None, "hi"]  # last stays; absent stage field kept
    assert out["cues"] == ["q1", "q2"]
    assert out["ackedWhy"] == "state" and out["cueStates"] == [["q1", 9], ["q2", 9], ["q3", None]]
    assert out["statsWhy"] == "stats" and out["stats"] == [12, 3]
    assert out["afterReset"] == ["e2", 1, 0, 0]
    assert out["unknown"] == "ignored"
    assert out["terminal"] == [1008, 1009, 4001]
    assert b.errors.messages == []


ACK_OFFLINE_SCRIPT = """async ([room, token, cue]) => {
  const { RoomConnection } = await import("/client/lib/livecart.js");
  const conn = new RoomConnection({ room, token });  // never started: the socket cannot carry the ack
  const done = await conn.ack(cue);
  const unknown = await conn.ack("0000000000000000");
  return { ok: done.ok, by: done.cue.acked_by, inState: conn.state.cues.map((c) => c.acked_by),
           unknown: [unknown.ok, unknown.error] };
}"""


async def test_an_ack_without_a_socket_goes_over_http(make_node, room, browser):
    node = await make_node()
    b = Browsing(browser, node.port)
    page = await b.open(f"/overlay?room={room}&token={token('overlay', room)}")
    status, made = await api(node.port, "POST", f"/api/rooms/{room}/cues", token("assistant", room, "amy"),
                             {"text": "smile"})
    assert status == 201
    out = await page.evaluate(ACK_OFFLINE_SCRIPT, [room, token("host", room, "hana"), made["cue"]["id"]])
    assert out == {"ok": True, "by": "hana", "inState": ["hana"], "unknown": [False, "no_such_cue"]}
    listed = (await api(node.port, "GET", f"/api/rooms/{room}/cues", token("host", room)))[1]["cues"]
    assert listed[0]["acked_by"] == "hana"
    # Chromium logs the unknown cue's 404 itself; nothing else.
    assert [m for m in b.errors.messages if "status of 404" not in m] == []


async def test_dom_helpers_insert_text_never_html(make_node, room, browser):
    node = await make_node()
    b = Browsing(browser, node.port)
    page = await b.open(f"/overlay?room={room}&token={token('overlay', room)}")
    out = await page.evaluate(DOM_SCRIPT)
    assert out["html"] == "&lt;b&gt;bold&lt;/b&gt;3" and out["children"] == 0
    assert out["title"] == '"><script>x()</script>'
    assert out["countdowns"] == ["1:23", "1:02:03", "0:00", "0:01"]
    assert out["urls"] == ["", "https://cdn.example/a.png"]
    assert out["money"] == ["¥9.90", "¥100"]


async def test_a_page_with_an_expired_token_stops_and_says_so(make_node, room, browser):
    node = await make_node()
    b = Browsing(browser, node.port)
    expired = token("assistant", room, "amy", ttl=-1)
    console = await b.open(f"/console?room={room}&token={expired}&lang=en")
    # The refused upgrade looks like 1006; after a few, the page asks GET /state, which says 401.
    await expect(console.locator("body")).to_have_attribute("data-status", "stopped")
    await expect(console.locator("#status")).to_have_text("Stopped: token expired")
