"""client_web/console's model and API module in a real page, as test_client_library does for lib/: the
new-deal form's checks, which buttons a deal's state allows, the cue and comment lists, the console's
own state folded from API answers, and the API module's retry of a write with one Idempotency-Key."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Route

from tests.browser.conftest import Browsing
from tests.support import token

CONSOLE = Path(__file__).resolve().parents[2] / "client_web" / "console"

FORM_SCRIPT = """async () => {
  const { dealFromFields, needsConfirm } = await import("/client/console/model.js");
  const form = (changes = {}) => ({ product_id: " p1 ", product_name: " Tea ", image_url: "", price: "100",
    deal_price: "40", stock: "5", limit_per_user: "1", duration_s: "300", countdown_s: "", start_at: "",
    keyword: "", ...changes });
  const error = (changes) => dealFromFields(form(changes))[1];
  const out = {};
  out.plain = dealFromFields(form());
  out.extras = dealFromFields(form({ image_url: " https://cdn.example/t.png ", keyword: " tea ",
                                     countdown_s: "30" }))[0];
  const at = "2030-01-01T20:00";
  out.startAt = [dealFromFields(form({ start_at: at }), 1500)[0].start_at - new Date(at).getTime()];
  out.errors = [error({ product_id: " " }), error({ price: "0" }), error({ deal_price: "100" }),
                error({ stock: "1.5" }), error({ limit_per_user: "0" }), error({ duration_s: "59" }),
                error({ countdown_s: "30", start_at: at }), error({ countdown_s: "5" })];
  out.confirm = [needsConfirm({ price: 100, deal_price: 5 }), needsConfirm({ price: 100, deal_price: 10 })];
  return out;
}"""

LISTS_SCRIPT = """async () => {
  const m = await import("/client/console/model.js");
  const deal = (id, state, created_at) => ({ id, state, created_at, starts_at: 10, ends_at: 20 });
  const deals = new Map([["a", deal("a", "live", 1)], ["b", deal("b", "scheduled", 3)],
                         ["c", deal("c", "ended", 2)]]);
  const out = {};
  out.order = m.dealsNewestFirst(deals).map((d) => d.id);
  out.actions = ["scheduled", "live", "sold_out", "stopped", "ended"]
    .map((state) => m.dealActions({ state }));
  out.clocks = [...deals.values()].map(m.dealClockAt);
  out.rejections = [m.rejectionsText({ rejections: { not_live: 2, sold_out: 3, limit_reached: 0 } }),
                    m.rejectionsText({})];
  out.comments = m.newComments([{ type: "comment", offset: 3 }, { type: "like", offset: 4 },
                                { type: "comment", offset: 5 }], 3).map((e) => e.offset);
  out.names = [m.commenterName({ user: { id: "u1", name: "Lin" } }), m.commenterName({ user: { id: "u2" } })];
  const cues = Array.from({ length: 105 }, (_, i) => ({ id: `q${i}`, created_at: i }));
  const shown = m.cuesShown(cues);
  out.cues = [shown.length, shown[0].id, shown[99].id, cues[0].id];
  out.cueStates = [m.cueState({ acked_at: 5, expires_at: 1 }, 10), m.cueState({ expires_at: 10 }, 10),
                   m.cueState({ expires_at: 11 }, 10), m.cueState({}, 10)];
  return out;
}"""

MODEL_SCRIPT = """async () => {
  const { ConsoleModel } = await import("/client/console/model.js");
  const { RoomState } = await import("/client/lib/livecart.js");
  const room = new RoomState();
  const model = new ConsoleModel(room);
  const deal = { id: "a", state: "live", claims: 0, stock: 5, sold: 0 };
  room.deals.set("a", deal);
  const out = {};
  // The ledger is re-read once per change of the deals, and never twice at a time.
  out.audit = [model.roomChanged(room), model.roomChanged(room)];
  deal.sold = 1;
  out.audit.push(model.roomChanged(room));  // changed, but a re-read is still waiting
  model.auditStarted();
  out.audit.push(model.roomChanged(room), model.roomChanged(room));
  model.auditStarted();
  out.audit.push(model.roomChanged(room));  // nothing new since the last one asked for
  model.auditRead({ entries: [{ op: "create", deal: "a" }] });
  out.entries = model.audit.map((e) => e.op);
  // A sent cue is in the room at once; the socket's copy of it later does not add a second one.
  model.cueSent({ cue: { id: "q1", text: "smile", created_at: 1 } });
  room.apply({ type: "cue", cue: { id: "q1", text: "smile", created_at: 1 } });
  out.cues = room.cues.map((c) => c.id);
  out.copied = model.tokenMinted("overlay", { path: "/overlay?room=r&token=T" }, "http://n:1", "zh");
  model.setFilter("  LIN ");
  out.filter = [model.filter, model.shows("lin: hello"), model.shows("mei: hi")];
  model.setFilter("");
  out.filter.push(model.shows("anything"));
  return out;
}"""

RETRY_SCRIPT = """async ([room, token]) => {
  const { ConsoleApi, refusal } = await import("/client/console/api.js");
  const t = (key) => ({ errorPrefix: "Refused" })[key] ?? key;
  const api = new ConsoleApi(room, token);
  const sent = await api.sendCue("smile", "high");
  const refused = await api.controlDeal("no-such-deal", "stop");
  return { sent: [sent.ok, sent.status, sent.body.cue.text], refused: [refused.ok, refusal(t, refused)],
           unknownStatus: refusal(t, { status: 0 }) };
}"""


async def test_the_deal_form_is_checked_before_anything_is_sent(make_node, room, browser):
    node = await make_node()
    b = Browsing(browser, node.port)
    page = await b.open(f"/console?room={room}&token={token('assistant', room)}&lang=en")
    out = await page.evaluate(FORM_SCRIPT)
    numbers = {"price": 100, "deal_price": 40, "stock": 5, "limit_per_user": 1, "duration_s": 300}
    assert out["plain"] == [{"product": {"id": "p1", "name": "Tea"}, **numbers, "start_at": None}, None]
    assert out["extras"] == {"product": {"id": "p1", "name": "Tea", "image_url": "https://cdn.example/t.png"},
                             **numbers, "keyword": "tea", "countdown_s": 30}
    assert out["startAt"] == [1500]  # a local time, moved onto the server's clock
    assert out["errors"] == ["product id and name are required", "prices must be above 0",
                             "the deal price must be below the list price",
                             "stock must be a whole number of at least 1",
                             "limit per user must be at least 1",
                             "duration must be 60-1200 s", "give a start delay or a start time, not both",
                             "start in 10-300 s, or empty"]
    assert out["confirm"] == [True, False]  # under 10% of the list price asks first; 10% does not
    assert b.errors.messages == []


async def test_the_model_orders_deals_cues_and_comments_and_knows_which_buttons_work(make_node, room,
                                                                                      browser):
    node = await make_node()
    b = Browsing(browser, node.port)
    page = await b.open(f"/console?room={room}&token={token('assistant', room)}&lang=en")
    out = await page.evaluate(LISTS_SCRIPT)
    assert out["order"] == ["b", "c", "a"]
    assert out["actions"] == [{"start": True, "stop": True, "restock": True},
                              {"start": False, "stop": True, "restock": True},
                              {"start": False, "stop": True, "restock": True},
                              {"start": False, "stop": False, "restock": False},
                              {"start": False, "stop": False, "restock": False}]
    assert out["clocks"] == [20, 10, None]  # live: its end; scheduled: its start; ended: none
    assert out["rejections"] == ["sold_out 3 · not_live 2", "–"]
    assert out["comments"] == [5]
    assert out["names"] == ["Lin", "u2"]
    assert out["cues"] == [100, "q104", "q5", "q0"]  # newest 100, and the room's own list untouched
    assert out["cueStates"] == ["acked", "stale", "open", "open"]
    assert b.errors.messages == []


async def test_the_console_model_folds_api_answers_into_its_state(make_node, room, browser):
    node = await make_node()
    b = Browsing(browser, node.port)
    page = await b.open(f"/console?room={room}&token={token('assistant', room)}&lang=en")
    out = await page.evaluate(MODEL_SCRIPT)
    assert out["audit"] == [True, False, False, True, False, False]
    assert out["entries"] == ["create"]
    assert out["cues"] == ["q1"]
    assert out["copied"] == {"role": "overlay", "url": "http://n:1/overlay?room=r&token=T&lang=zh"}
    assert out["filter"] == ["lin", True, False, True]
    assert b.errors.messages == []


async def test_the_api_module_retries_a_write_with_one_idempotency_key(make_node, room, browser):
    node = await make_node()
    b = Browsing(browser, node.port)
    page = await b.open(f"/console?room={room}&token={token('assistant', room)}&lang=en")
    keys: list[str | None] = []

    async def busy_twice(route: Route) -> None:
        if route.request.method != "POST":  # the page's own socket lists the cues with a GET
            await route.continue_()
            return
        keys.append(route.request.headers.get("idempotency-key"))
        if len(keys) == 1:  # a balancer's 503 page: not livecart's answer, temporary by its status
            await route.fulfill(status=503, body="Service Unavailable")
        elif len(keys) == 2:  # livecart's own answer says whether to try again, whatever its status
            await route.fulfill(status=409, json={"error": "idempotency_in_progress", "detail": "running",
                                                  "temporary": True})
        else:
            await route.continue_()

    await page.route(f"**/api/rooms/{room}/cues", busy_twice)
    out = await page.evaluate(RETRY_SCRIPT, [room, token("assistant", room, "amy")])
    assert out["sent"] == [True, 201, "smile"]
    assert len(keys) == 3 and keys[0] and len(set(keys)) == 1  # the same write, asked three times
    assert out["refused"][0] is False and out["refused"][1].startswith("Refused: ")
    assert out["unknownStatus"] == "Refused: 0"
    # Chromium logs the 503, the 409 and the unknown deal's 404 itself; nothing else.
    assert [m for m in b.errors.messages
            if not any(f"status of {s}" in m for s in (503, 409, 404))] == []


def test_the_model_and_the_api_module_never_touch_the_dom():
    # The split is the point: the model runs without a page or a node, the API module without a page.
    model = (CONSOLE / "model.js").read_text()
    api = (CONSOLE / "api.js").read_text()
    for word in ("document", "window", "fetch(", "import "):
        assert word not in model, word
    for word in ("document", "window", "fetch("):
        assert word not in api, word
