"""Goals and group buys in real Chromium: the console arms a goal and makes a group buy, the overlay and
the viewer page draw the goal bars and the price ladder, and both follow the room as it changes."""

from __future__ import annotations

from playwright.async_api import expect

from tests.browser.conftest import Browsing, screenshot
from tests.browser.test_pages import live, page_path, product, show_on_dark
from tests.support import api, create_deal, post_events, token


def likes(event_id: str, count: int) -> dict:
    return {"id": event_id, "type": "like", "user": {"id": "u9"}, "count": count}


async def test_goal_bars_fill_and_a_reached_goal_starts_its_deal(make_node, room, browser):
    node = await make_node()
    b = Browsing(browser, node.port)
    overlay = await b.open(page_path("overlay", room), 1920, 1080)
    viewer = await b.open(page_path("viewer", room, user="mei"), 430, 900)
    await live(overlay)
    await live(viewer)
    assert await overlay.locator("#goal").is_hidden()  # no goals, no bars
    now = (await api(node.port, "GET", f"/api/rooms/{room}/deals", token("assistant", room)))[1]["now"]
    deal = await create_deal(node.port, room, product=product(node.port), start_at=now + 600_000)
    assistant = token("assistant", room, "amy")
    status, body = await api(node.port, "POST", f"/api/rooms/{room}/goals", assistant,
                             {"metric": "likes", "target": 1000, "label": "1,000 likes 解锁秒杀",
                              "action": {"type": "start_deal", "deal": deal["id"]}})
    assert status == 201, body
    await api(node.port, "POST", f"/api/rooms/{room}/goals", assistant,
              {"metric": "gmv", "target": 5000, "label": "GMV ¥5,000"})
    await api(node.port, "POST", f"/api/rooms/{room}/goals", assistant,  # a label is text, never markup
              {"metric": "shares", "target": 50, "label": '<img src=x onerror="window.__pwned=1">'})
    await post_events(node.port, room, [likes("l1", 250)])
    bar = overlay.locator('#goal [data-metric="likes"]')
    await expect(bar.locator(".goal-label")).to_have_text("1,000 likes 解锁秒杀")
    await expect(bar.locator(".goal-count")).to_have_text("250 / 1,000")
    await expect(bar.locator(".goal-fill")).to_have_attribute("style", "width: 25%;")
    # The public never sees GMV: the GMV goal shows its label and no numbers.
    gmv = overlay.locator('#goal [data-metric="gmv"]')
    await expect(gmv.locator(".goal-label")).to_have_text("GMV ¥5,000")
    await expect(gmv.locator(".goal-count")).to_have_text("")
    await expect(viewer.locator('#goals [data-metric="likes"] .goal-count')).to_have_text("250 / 1,000")
    await expect(viewer.locator("#deal")).to_have_attribute("data-state", "scheduled")
    await expect(overlay.locator('#goal [data-metric="shares"] .goal-label')).to_have_text(
        '<img src=x onerror="window.__pwned=1">')
    pwned = "document.querySelectorAll('#goal img').length + (window.__pwned || 0)"
    assert await overlay.evaluate(pwned) == 0
    await show_on_dark(overlay)
    await screenshot(overlay, "overlay-goals")

    await post_events(node.port, room, [likes("l2", 800)])
    await expect(bar).to_have_attribute("data-state", "fired")
    await expect(bar.locator(".goal-count")).to_have_text("Reached!")
    await expect(viewer.locator("#deal")).to_have_attribute("data-state", "live")
    await expect(overlay.locator("#deal")).to_have_attribute("data-state", "live")
    assert b.errors.messages == []


async def test_the_tier_widget_follows_a_group_buy_on_overlay_and_viewer(make_node, room, browser):
    node = await make_node()
    b = Browsing(browser, node.port)
    overlay = await b.open(page_path("overlay", room, lang="zh"), 1920, 1080)
    viewer = await b.open(page_path("viewer", room, user="mei"), 430, 900)
    await live(overlay)
    await live(viewer)
    deal = await create_deal(node.port, room, product=product(node.port, "茶具套装 Tea set"), stock=50,
                             tiers=[{"buyers": 2, "price": 89}, {"buyers": 3, "price": 79}])
    ladder = viewer.locator("#deal-tiers")
    await expect(ladder.locator(".tier-step")).to_have_count(3)
    await expect(ladder).to_have_attribute("data-tier", "0")
    await expect(ladder.locator(".tier-next")).to_have_text("2 more buyers: ¥89 for everyone")
    await expect(overlay.locator("#deal .deal-tiers .tier-next")).to_have_text("再来 2 人，全员 ¥89")
    await viewer.locator("#claim").click()  # Mei is the first buyer
    await api(node.port, "POST", f"/api/rooms/{room}/deals/{deal['id']}/claims", token("viewer", room, "bo"),
              {"qty": 1, "key": "k"})
    await expect(ladder).to_have_attribute("data-tier", "1")
    await expect(viewer.locator("#deal-price")).to_have_text("¥89")
    await expect(ladder.locator(".tier-step.reached .tier-price")).to_have_text("¥89")
    await expect(ladder.locator(".tier-next")).to_have_text("1 more buyers: ¥79 for everyone")
    await api(node.port, "POST", f"/api/rooms/{room}/deals/{deal['id']}/claims", token("viewer", room, "cy"),
              {"qty": 1, "key": "k"})
    await expect(overlay.locator("#deal .deal-tiers")).to_have_attribute("data-tier", "2")
    await expect(overlay.locator("#deal .deal-price")).to_have_text("¥79")
    await expect(overlay.locator("#deal .deal-tiers .tier-next")).to_have_text("已解锁最低价！")
    await show_on_dark(overlay)
    await screenshot(overlay, "overlay-group-buy")
    assert b.errors.messages == []


async def test_the_console_makes_a_group_buy_and_arms_edits_and_cancels_goals(make_node, room, browser):
    node = await make_node()
    b = Browsing(browser, node.port)
    console = await b.open(page_path("console", room), 1440, 1000)
    await live(console)
    form = console.locator("#deal-form")
    for name, value in (("product_id", "p7"), ("product_name", "Tea set"), ("price", "129"),
                        ("deal_price", "99"), ("stock", "50"), ("tiers", "50:89, 40:79")):
        await form.locator(f"[name={name}]").fill(value)
    await form.locator("button[type=submit]").click()
    await expect(console.locator("#deal-form-error")).to_have_text("tiers: buyers must increase")
    await form.locator("[name=tiers]").fill("50:89, 200:79")
    await form.locator("button[type=submit]").click()
    await expect(console.locator("#deals [data-deal]")).to_have_count(1)
    [deal] = (await api(node.port, "GET", f"/api/rooms/{room}/deals", token("assistant", room)))[1]["deals"]
    assert [t["price"] for t in deal["tiers"]] == [99, 89, 79]

    goals = console.locator("#goal-form")
    await goals.locator("[name=metric]").select_option("deal_buyers")
    await goals.locator("[name=target]").fill("30")
    await goals.locator("[name=action]").select_option("next_tier")
    await goals.locator("button[type=submit]").click()
    await expect(console.locator("#goal-form-error")).to_have_text("choose the deal")
    await goals.locator("[name=deal]").select_option(deal["id"])
    await goals.locator("[name=label]").fill("30 buyers: next price")
    await goals.locator("button[type=submit]").click()
    row = console.locator("#goal-list .goal")
    await expect(row).to_have_count(1)
    await expect(row).to_have_attribute("data-state", "armed")
    await expect(row.locator(".progress")).to_have_text("0% (0 / 30)")
    await row.locator(".target-n").fill("1")
    await row.locator(".do-edit").click()
    await api(node.port, "POST", f"/api/rooms/{room}/deals/{deal['id']}/claims", token("viewer", room, "ann"),
              {"qty": 1, "key": "k"})
    await expect(row).to_have_attribute("data-state", "fired")
    await expect(row.locator(".result")).to_contain_text("✓ tier 1")
    await expect(console.locator("#deals .prices")).to_have_text("¥89 / ¥129 · tier 1/2")

    await goals.locator("[name=metric]").select_option("shares")
    await goals.locator("[name=target]").fill("100")
    await goals.locator("[name=action]").select_option("announce")
    await goals.locator("[name=text]").fill("100 shares! 谢谢")
    await goals.locator("button[type=submit]").click()
    await expect(row).to_have_count(2)
    newest = console.locator("#goal-list .goal").first
    await newest.locator(".do-cancel").click()
    await expect(console.locator("#goal-list .goal")).to_have_count(1)  # a cancelled goal leaves the list
    await expect(console.locator("#audit li b", has_text="goal_cancel")).to_have_count(1)
    assert b.errors.messages == []
