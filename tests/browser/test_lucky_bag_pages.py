"""A lucky bag in real headless Chromium: opened from the console, joined from the viewer page and by
ingested comments, counted on the overlay, drawn from the console, won and claimed on the viewer page.

Waits are Playwright waits (they check that something happens, never how fast)."""

from __future__ import annotations

from playwright.async_api import expect

from livecart.lucky_bag import verify
from tests.browser.conftest import Browsing, screenshot
from tests.browser.test_pages import live, page_path, show_on_dark
from tests.support import api, comment, post_events, token

XSS_NAME = '<img src=x onerror="window.__pwned=1">'


async def test_a_lucky_bag_from_the_console_to_the_overlay_and_the_winner(make_node, room, browser):
    node = await make_node()
    b = Browsing(browser, node.port)
    console = await b.open(page_path("console", room), 1440, 1000)
    overlay = await b.open(page_path("overlay", room, lang="zh"), 1920, 1080)
    lin = await b.open(page_path("viewer", room, user="lin"), 390, 844)
    for page in (console, overlay, lin):
        await live(page)

    # The assistant opens a bag for one winner, present at the draw, keyword 福袋.
    form = console.locator("#bag-form")
    await form.locator("[name=product_name]").fill("Mystery box 盲盒")
    await form.locator("[name=winners]").fill("1")
    await form.locator("[name=duration_s]").fill("600")
    await form.locator("button[type=submit]").click()
    card = console.locator("#bag-card")
    await expect(card).to_have_attribute("data-state", "open")
    await expect(card.locator(".do-draw")).to_be_enabled()
    await expect(form.locator("button[type=submit]")).to_be_disabled()
    commitment = (await card.locator(".bag-commitment code").text_content() or "").strip()
    assert len(commitment) == 64

    widget = overlay.locator("#bag")
    await expect(widget).to_have_attribute("data-phase", "open")
    await expect(widget.locator(".bag-keyword")).to_have_text("评论「福袋」参与")
    await expect(widget.locator(".bag-count")).to_have_text("0 人已参与")

    # 1,283 platform viewers comment the keyword (one with a name full of HTML), then Lin taps Join.
    users = [f"p{i}" for i in range(1283)]
    for start in range(0, len(users), 500):
        batch = [comment(f"c{u}", "福袋福袋", user=u) for u in users[start:start + 500]]
        if start == 0:
            batch[0]["user"]["name"] = XSS_NAME
        await post_events(node.port, room, batch)
    await lin.locator("#bag .do-join").click()
    await expect(lin.locator("#bag")).to_have_attribute("data-entry", "entered")
    await expect(widget.locator(".bag-count")).to_have_text("1,284 人已参与")
    await expect(card.locator(".bag-count")).to_have_text("1,284 joined")
    await show_on_dark(overlay)
    await screenshot(overlay, "lucky-bag-overlay-open")

    # Everyone but Lin leaves before the draw: the presence rule makes Lin the winner.
    leaves = [{"id": f"l{u}", "type": "leave", "user": {"id": u, "name": u}} for u in users]
    for start in range(0, len(leaves), 500):
        await post_events(node.port, room, leaves[start:start + 500])
    await card.locator(".do-draw").click()
    await expect(card).to_have_attribute("data-state", "claiming")
    await expect(widget).to_have_attribute("data-phase", "winners")
    await expect(widget.locator(".bag-winner")).to_have_text(["lin"])
    await screenshot(overlay, "lucky-bag-overlay-winners")

    # Lin's page got `won`: she claims within the window; the console shows the prize claimed.
    await expect(lin.locator("#bag")).to_have_attribute("data-won", "pending")
    await lin.locator("#bag .do-claim-prize").click()
    await expect(lin.locator("#bag .bag-note")).to_have_text("Prize claimed — we'll be in touch")
    await expect(card).to_have_attribute("data-state", "done")
    await expect(card.locator(".bag-winners li[data-user=lin]")).to_have_attribute("data-state", "claimed")
    seed = (await card.locator(".bag-seed code").text_content() or "").strip()
    await screenshot(console, "lucky-bag-console-done")

    status, listing = await api(node.port, "GET", f"/api/rooms/{room}/bags", token("viewer", room))
    bag_id = listing["bags"][0]["id"]
    status, record = await api(node.port, "GET", f"/api/rooms/{room}/bags/{bag_id}/record",
                               token("viewer", room))
    assert status == 200 and record["seed"] == seed and record["commitment"] == commitment
    assert verify(record) == [] and record["rounds"][0]["winners"] == ["lin"]
    assert await overlay.evaluate("window.__pwned") is None
    assert b.errors.messages == []


async def test_the_console_cancels_an_open_bag_and_the_overlay_hides_it(make_node, room, browser):
    node = await make_node()
    b = Browsing(browser, node.port)
    console = await b.open(page_path("console", room), 1440, 1000)
    overlay = await b.open(page_path("overlay", room), 1920, 1080)
    for page in (console, overlay):
        await live(page)
    form = console.locator("#bag-form")
    await form.locator("[name=product_name]").fill("Tea set")
    await form.locator("[name=keyword]").fill("tea")
    await form.locator("[name=duration_s]").fill("20")
    await form.locator("button[type=submit]").click()
    await expect(form.locator("#bag-form-error")).to_have_text("duration must be 30-1800 s")
    await form.locator("[name=duration_s]").fill("45")
    await form.locator("button[type=submit]").click()
    await expect(overlay.locator("#bag")).to_have_attribute("data-phase", "open")
    await expect(overlay.locator("#bag .bag-keyword")).to_have_text("Comment “tea” to join")
    await console.locator("#bag-card .do-cancel").click()
    await expect(console.locator("#bag-card")).to_have_attribute("data-state", "cancelled")
    await expect(overlay.locator("#bag")).to_be_hidden()
    await expect(form.locator("button[type=submit]")).to_be_enabled()
    assert b.errors.messages == []


BAG_RULES_SCRIPT = """async () => {
  const m = await import("/client/lib/lucky_bag.js");
  const form = (changes = {}) => ({ product_name: " Box ", product_id: "", winners: "3", keyword: " 福袋 ",
    duration_s: "60", claim_s: "120", present: "on", ...changes });
  const error = (changes) => m.bagFromFields(form(changes))[1];
  const bag = (state, extra = {}) => ({ state, ends_at: 100, closed_at: 100, claim_until: 200, ...extra });
  const t = m.bagWords("zh");
  return {
    plain: m.bagFromFields(form()),
    errors: [error({ product_name: " " }), error({ winners: "0" }), error({ winners: "1.5" }),
             error({ keyword: "" }), error({ duration_s: "29" }), error({ duration_s: "1801" }),
             error({ claim_s: "5" })],
    phases: [m.bagPhase(null, 0), m.bagPhase(bag("open"), 50), m.bagPhase(bag("open"), 100),
             m.bagPhase(bag("drawing"), 150), m.bagPhase(bag("claiming"), 150), m.bagPhase(bag("done"), 250),
             m.bagPhase(bag("done"), 200 + m.SHOW_DONE_MS + 1), m.bagPhase(bag("cancelled"), 50)],
    actions: ["open", "claiming", "done"].map((state) => m.bagActions({ state }))
      .concat([m.bagActions(null)]),
    joined: [m.joinedText(t, { entrants: 1284 }), m.joinedText(m.bagWords("en"), { entrants: 0 })],
    names: m.winnerNames({ winners: [{ user: "a", name: "Ann", state: "expired" },
                                     { user: "b", name: "", state: "pending" }] }),
    mine: [m.myPrize({ winners: [{ user: "b", state: "pending", round: 1 }] }, "b")?.state,
           m.myPrize({ winners: [] }, "b"), m.myPrize(null, "b")],
  };
}"""


async def test_the_pages_bag_rules_check_the_form_and_say_what_to_show(make_node, room, browser):
    node = await make_node()
    page = await Browsing(browser, node.port).open(page_path("console", room))
    out = await page.evaluate(BAG_RULES_SCRIPT)
    assert out["plain"] == [{"product": {"id": "", "name": "Box"}, "winners": 3, "keyword": "福袋",
                             "duration_s": 60, "claim_s": 120, "rules": {"follows": False, "present": True}},
                            None]
    assert out["errors"] == ["the prize needs a product name", "winners must be 1-1000",
                             "winners must be 1-1000", "a keyword is required", "duration must be 30-1800 s",
                             "duration must be 30-1800 s", "the claim window must be 10-600 s"]
    assert out["phases"] == [None, "open", "drawing", "drawing", "winners", "winners", None, None]
    assert out["actions"] == [
        {"draw": True, "cancel": True, "finish": False, "create": False},
        {"draw": False, "cancel": False, "finish": True, "create": False},
        {"draw": False, "cancel": False, "finish": False, "create": True},
        {"draw": False, "cancel": False, "finish": False, "create": True}]
    assert out["joined"] == ["1,284 人已参与", "0 joined"]
    assert out["names"] == ["b"]
    assert out["mine"] == ["pending", None, None]
