"""The pages in real headless Chromium against real nodes: load cleanly, follow a deal from the console
to the overlay and the viewer's claim to sold out, keep strangers' text as text, resume after a restart.

Waits are Playwright waits with generous timeouts (UI_WAIT_MS): they check that something happens, never
how fast.
"""

from __future__ import annotations

import re
from typing import Any

from playwright.async_api import Page, expect

from livecart.config import Settings
from livecart.node import Node
from tests.browser.conftest import UI_WAIT_MS, Browsing, screenshot
from tests.conftest import node_settings
from tests.support import api, comment, create_deal, free_port, post_events, token

PAGE_ROLES = {"overlay": "overlay", "host": "host", "console": "assistant", "viewer": "viewer"}
XSS_TEXT = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'
XSS_NAME = "<b onmouseover=alert(1)>Lin</b>"


def page_path(page: str, room: str, user: str | None = None, lang: str = "en", **query: Any) -> str:
    tok = token(PAGE_ROLES[page], room, user)
    extra = "".join(f"&{k}={v}" for k, v in query.items())
    return f"/{page}?room={room}&token={tok}&lang={lang}{extra}"


async def live(page: Page) -> None:
    await page.locator("body[data-status='live']").wait_for(state="attached")


def product(port: int, name: str = "Silk scarf 真丝围巾") -> dict[str, str]:
    return {"id": "p1", "name": name, "image_url": f"http://127.0.0.1:{port}/client/lib/sample-product.svg"}


async def show_on_dark(page: Page) -> None:
    """The overlay must be see-through; paint the page dark only for the screenshot."""
    transparent = await page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert transparent == "rgba(0, 0, 0, 0)"
    await page.evaluate("document.documentElement.style.background = '#1c2230'")


async def test_every_page_loads_with_a_strict_csp_and_no_console_errors(make_node, room, browser):
    node = await make_node()
    browsing = Browsing(browser, node.port)
    for name in PAGE_ROLES:
        ctx = await browser.new_context()
        page = await ctx.new_page()
        browsing.errors.watch(page)
        response = await page.goto(f"http://127.0.0.1:{node.port}{page_path(name, room, user='lin')}")
        assert response is not None and response.status == 200
        csp = await response.header_value("content-security-policy")
        assert csp is not None and "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert await response.header_value("referrer-policy") == "no-referrer"
        await live(page)
        await ctx.close()
    assert browsing.errors.messages == []


async def test_files_outside_client_web_are_not_served(make_node):
    node = await make_node()
    for path in ("/client/../pyproject.toml", "/client/lib/%2e%2e/%2e%2e/cli.py", "/client/lib/missing.js",
                 "/client/README.md"):
        status, body = await api(node.port, "GET", path, "")
        assert status == 404 and body["error"] == "not_found", path


async def test_a_deal_goes_from_console_to_overlay_and_sells_out_everywhere(make_node, room, browser):
    node = await make_node()
    b = Browsing(browser, node.port)
    console = await b.open(page_path("console", room), 1440, 900)
    overlay = await b.open(page_path("overlay", room, lang="zh"), 1920, 1080)
    host = await b.open(page_path("host", room), 1280, 720)
    lin = await b.open(page_path("viewer", room, user="lin"), 390, 844)
    mei = await b.open(page_path("viewer", room, user="mei"), 390, 844)
    for page in (console, overlay, host, lin, mei):
        await live(page)
    await expect(console.locator("#overlay-presence")).to_have_attribute("data-overlays", "1",
                                                                           timeout=UI_WAIT_MS)

    # The assistant creates a deal of 2 units in the console form.
    form = console.locator("#deal-form")
    await form.locator("[name=product_id]").fill("p1")
    await form.locator("[name=product_name]").fill("Silk scarf 真丝围巾")
    await form.locator("[name=image_url]").fill(product(node.port)["image_url"])
    await form.locator("[name=price]").fill("199")
    await form.locator("[name=deal_price]").fill("99")
    await form.locator("[name=stock]").fill("2")
    await form.locator("[name=limit_per_user]").fill("1")
    await form.locator("button[type=submit]").click()

    deal = overlay.locator("#deal")
    await expect(deal).to_have_attribute("data-state", "live")
    await expect(deal.locator(".stock-text")).to_have_text("仅剩 2 件")
    await expect(deal.locator(".deal-name")).to_have_text("Silk scarf 真丝围巾")
    full_width = await deal.locator(".stock-fill").evaluate("e => e.style.width")
    assert full_width == "100%"

    # Lin claims in the viewer page: the overlay's bar drops, the console's numbers agree with the API.
    await lin.locator("#claim").click()
    await expect(lin.locator("#claim-result")).to_have_class("ok")
    await expect(deal).to_have_attribute("data-left", "1")
    await expect(deal.locator(".stock-text")).to_have_text("仅剩 1 件")
    assert await deal.locator(".stock-fill").evaluate("e => e.style.width") == "50%"
    status, listing = await api(node.port, "GET", f"/api/rooms/{room}/deals", token("assistant", room))
    [stored] = listing["deals"]
    row = console.locator(f"[data-deal='{stored['id']}']")
    for cell, value in (("left", 1), ("held", 1), ("sold", 0), ("buyers", 1), ("stock", 2)):
        await expect(row.locator(f".{cell}")).to_have_text(str(value))
        assert stored[cell] == value
    await expect(mei.locator("#deal")).to_have_attribute("data-left", "1")

    # Lin may not take a second unit (limit 1): the refusal is shown, nothing changes.
    await lin.locator("#claim").click()
    await expect(lin.locator("#claim-result")).to_have_class("refused")
    await expect(lin.locator("#claim-result")).to_have_text("You reached the limit for this deal")

    # Mei takes the last one: sold out on every page.
    await mei.locator("#claim").click()
    await expect(mei.locator("#claim-result")).to_have_class("ok")
    await expect(deal).to_have_attribute("data-state", "sold_out")
    await expect(deal.locator(".sold-out-stamp")).to_be_visible()
    await expect(row.locator(".state")).to_have_text("Sold out")
    await expect(row.locator(".left")).to_have_text("0")
    await expect(lin.locator("#stock-text")).to_have_text("Sold out")
    await expect(lin.locator("#claim")).to_be_disabled()
    await expect(host.locator("#deal-left")).to_have_text("Sold out")

    # Lin comments from the viewer page; the assistant puts it on the overlay and announces.
    await lin.locator("#comment-text").fill("抢到了！Got one")
    await lin.locator("#comment-text").press("Enter")
    await expect(overlay.locator("#comments .comment-text")).to_have_text("抢到了！Got one")
    await console.locator("#comment-feed .comment .do-highlight").click()
    await expect(overlay.locator("#highlight .highlight-text")).to_have_text("抢到了！Got one")
    await expect(overlay.locator("#highlight .highlight-name")).to_have_text("lin")
    await console.locator("#announce-text").fill("Next deal at 8 pm 晚八点下一波")
    await console.locator("#announce-text").press("Enter")
    await expect(overlay.locator("#announcement")).to_have_text("Next deal at 8 pm 晚八点下一波")
    await expect(lin.locator("#announcement")).to_have_text("Next deal at 8 pm 晚八点下一波")

    await show_on_dark(overlay)
    await overlay.wait_for_timeout(700)  # let the sell-out animation land for the picture
    await screenshot(overlay, "overlay")
    await screenshot(console, "console")
    await screenshot(host, "host")
    await screenshot(lin, "viewer")
    assert b.errors.messages == []


async def test_a_risky_price_needs_confirmation_and_the_console_mints_a_working_obs_url(make_node, room,
                                                                                        browser):
    node = await make_node()
    b = Browsing(browser, node.port)
    console = await b.open(page_path("console", room, lang="zh"), 1440, 900)
    await live(console)
    await expect(console.locator("#overlay-presence")).to_have_attribute("data-overlays", "0")
    form = console.locator("#deal-form")
    for name, value in (("product_id", "p2"), ("product_name", "Tea"), ("price", "100"), ("deal_price", "5")):
        await form.locator(f"[name={name}]").fill(value)
    await form.locator("button[type=submit]").click()
    dialog = console.locator("#confirm-dialog")
    await expect(dialog).to_be_visible()
    await console.keyboard.press("Escape")  # cancel by keyboard: nothing is created
    await expect(dialog).to_be_hidden()
    assert (await api(node.port, "GET", f"/api/rooms/{room}/deals", token("viewer", room)))[1]["deals"] == []
    await form.locator("button[type=submit]").click()
    await dialog.locator("button[value=yes]").click()
    await expect(console.locator("#deals [data-deal]")).to_have_count(1)
    [deal] = (await api(node.port, "GET", f"/api/rooms/{room}/deals", token("viewer", room)))[1]["deals"]
    assert deal["deal_price"] == 5 and deal["price"] == 100

    # "Copy OBS URL" mints an overlay token; the URL works, and the console sees the overlay connect.
    await console.locator("#copy-obs").click()
    url_field = console.locator("#copied-url")
    await expect(url_field).to_have_attribute("data-role", "overlay")
    obs_url = await url_field.input_value()
    assert obs_url.startswith(f"http://127.0.0.1:{node.port}/overlay?room={room}&token=")
    overlay = await b.open(obs_url.removeprefix(f"http://127.0.0.1:{node.port}"), 1920, 1080)
    await expect(overlay.locator("#deal .deal-name")).to_have_text("Tea")
    await expect(console.locator("#overlay-presence")).to_have_attribute("data-overlays", "1",
                                                                           timeout=UI_WAIT_MS)
    await overlay.context.close()
    await expect(console.locator("#overlay-presence")).to_have_attribute("data-overlays", "0",
                                                                           timeout=UI_WAIT_MS)
    assert b.errors.messages == []


async def test_html_in_comments_and_names_is_shown_as_text_and_runs_nothing(make_node, room, browser):
    node = await make_node()
    b = Browsing(browser, node.port)
    console = await b.open(page_path("console", room), 1440, 900)
    overlay = await b.open(page_path("overlay", room), 1920, 1080)
    viewer = await b.open(page_path("viewer", room, user="lin"), 390, 844)
    for page in (console, overlay, viewer):
        await live(page)
    event = comment("x1", XSS_TEXT, user="u-x")
    event["user"]["name"] = XSS_NAME
    assert (await post_events(node.port, room, [event]))[0] == 200

    await expect(overlay.locator("#comments .comment-text")).to_have_text(XSS_TEXT)
    await expect(overlay.locator("#comments .comment-name")).to_have_text(XSS_NAME)
    await expect(viewer.locator("#comments .comment")).to_have_text(f"{XSS_NAME} {XSS_TEXT}")
    feed_item = console.locator("#comment-feed .comment")
    await expect(feed_item.locator(".comment-text")).to_have_text(XSS_TEXT)

    # Pinned to the overlay from the console: still text.
    await feed_item.locator(".do-highlight").click()
    await expect(overlay.locator("#highlight .highlight-text")).to_have_text(XSS_TEXT)
    await expect(overlay.locator("#highlight .highlight-name")).to_have_text(XSS_NAME)

    # The filter finds it by its text.
    await console.locator("#comment-filter").fill("no such words")
    await expect(feed_item).to_be_hidden()
    await console.locator("#comment-filter").fill("onerror")
    await expect(feed_item).to_be_visible()

    for page in (console, overlay, viewer):
        assert await page.evaluate("window.__pwned") is None
        injected = page.locator("#comments img, #comment-feed img, #highlight img, script:not([src])")
        assert await injected.count() == 0
    assert b.errors.messages == []


async def test_the_overlay_resumes_after_the_node_restarts_without_a_reload(redis_server, tmp_path, room,
                                                                            browser):
    port = free_port()

    def settings() -> Settings:
        return node_settings(redis_server.url, tmp_path / "node", port=port)

    node = Node(settings())
    await node.start()
    try:
        b = Browsing(browser, port)
        overlay = await b.open(page_path("overlay", room), 1920, 1080)
        await live(overlay)
        await create_deal(port, room, product=product(port), stock=5)
        await expect(overlay.locator("#deal")).to_have_attribute("data-left", "5")
        await overlay.evaluate("window.__sameDocument = true")

        await node.stop()
        await expect(overlay.locator("body")).not_to_have_attribute("data-status", "live")
        node = Node(settings())
        await node.start()

        await live(overlay)
        await post_events(port, room, [comment("after-restart", "back on air")])
        await expect(overlay.locator("#comments .comment-text")).to_have_text("back on air")
        await expect(overlay.locator("#deal")).to_have_attribute("data-left", "5")  # kept its state
        assert await overlay.evaluate("window.__sameDocument") is True  # never reloaded
    finally:
        await node.stop()
    # While the port is closed the browser logs refused connections (the socket, and the page's
    # GET /state token check after a few refused opens); nothing else.
    refused = ("WebSocket connection", "ERR_CONNECTION_REFUSED")
    assert [m for m in b.errors.messages if not any(r in m for r in refused)] == []


async def test_every_overlay_widget_shows_its_part_of_the_room(make_node, room, browser):
    node = await make_node()
    b = Browsing(browser, node.port)
    overlay = await b.open(page_path("overlay", room), 1920, 1080)
    await live(overlay)
    assistant = token("assistant", room, "amy")
    # The like and share bars are goals (a bar only: no action).
    for metric, target in (("likes", 1000), ("shares", 10)):
        await api(node.port, "POST", f"/api/rooms/{room}/goals", assistant,
                  {"metric": metric, "target": target})
    deal = await create_deal(node.port, room, product=product(node.port, "真丝围巾 Silk scarf"), stock=20)
    image = product(node.port)["image_url"]
    question = "Does the scarf come in blue? 有蓝色吗？"
    await api(node.port, "POST", f"/api/rooms/{room}/pin", assistant,
              {"product": {"name": "Jasmine tea 茉莉花茶", "price": 39, "image_url": image}})
    await api(node.port, "POST", f"/api/rooms/{room}/announcement", assistant,
              {"text": "Free shipping today 今日包邮"})
    await api(node.port, "POST", f"/api/rooms/{room}/highlight", assistant, {"text": question, "name": "Mei"})
    likes = {"id": "l1", "type": "like", "user": {"id": "u9", "name": "Bo"}, "count": 640}
    order = {"id": "o1", "type": "order", "user": {"id": "u1", "name": "Lin"}, "order_id": "o1",
             "product_id": "p1", "qty": 2, "amount": 198, "status": "paid"}
    placed = dict(order, id="o1-placed", status="placed")  # then paid: one toast per order
    share = {"id": "s1", "type": "share", "user": {"id": "u3"}}
    comments = [comment("c1", "好漂亮！", "ann"), comment("c2", "Just bought one", "jo")]
    await post_events(node.port, room, [*comments, likes, share, placed, order])
    for user in ("u1", "u2", "u3", "u4", "u5", "u6", "u7"):
        await api(node.port, "POST", f"/api/rooms/{room}/deals/{deal['id']}/claims",
                  token("viewer", room, user), {"qty": 2, "key": "k"})

    # 20 units: 7 claims of 2, and the paid order of 2 (no claim_id) sells deal stock externally.
    await expect(overlay.locator("#deal")).to_have_attribute("data-left", "4")
    await expect(overlay.locator("#deal .stock-text")).to_have_text("Only 4 left")
    await expect(overlay.locator("#deal .list-price")).to_have_text("¥199")
    await expect(overlay.locator("#deal .deal-price")).to_have_text("¥99")
    await expect(overlay.locator("#deal .clock")).to_have_text(re.compile(r"^[0-9]:[0-5][0-9]$"))
    await expect(overlay.locator("#pinned .pinned-name")).to_have_text("Jasmine tea 茉莉花茶")
    await expect(overlay.locator("#announcement")).to_have_text("Free shipping today 今日包邮")
    await expect(overlay.locator("#highlight .highlight-text")).to_have_text(question)
    await expect(overlay.locator("#orders .order")).to_have_text(["Lin just bought 2"])
    await expect(overlay.locator('#goal [data-metric="likes"] .goal-count')).to_have_text("640 / 1,000")
    await expect(overlay.locator('#goal [data-metric="shares"] .goal-count')).to_have_text("1 / 10")
    await expect(overlay.locator('#goal [data-metric="likes"] .goal-label')).to_have_text("Likes")
    await expect(overlay.locator("#comments .comment")).to_have_count(2)
    await show_on_dark(overlay)
    await overlay.wait_for_timeout(700)  # entry animations done, for the picture
    await screenshot(overlay, "overlay-widgets")

    # widgets= leaves out what a scene does not want.
    only_deal = await b.open(page_path("overlay", room, widgets="deal", theme="light", scale=0.8), 1920, 1080)
    await expect(only_deal.locator("#deal")).to_have_attribute("data-left", "4")
    assert await only_deal.locator("#pinned, #goal, #comments, #orders, #announcement").count() == 0
    assert b.errors.messages == []


async def test_the_console_works_from_the_keyboard(make_node, room, browser):
    node = await make_node()
    b = Browsing(browser, node.port)
    console = await b.open(page_path("console", room, lang="zh"), 1440, 900)
    await live(console)
    keys = console.keyboard
    await console.locator("#deal-form [name=product_id]").focus()
    for value in ("p3", "茉莉花茶", "", "59", "29"):  # id, name, image, price, deal price
        await keys.type(value)
        await keys.press("Tab")
    await keys.press("Control+A")
    await keys.type("2")  # stock
    await keys.press("Enter")  # submits the form
    row = console.locator("#deals [data-deal]")
    await expect(row.locator(".stock")).to_have_text("2")
    await expect(row.locator(".state")).to_have_text("抢购中")

    await row.locator(".restock-n").focus()
    await keys.press("Control+A")
    await keys.type("5")
    await keys.press("Tab")  # to the Restock button
    await keys.press("Enter")
    await expect(row.locator(".stock")).to_have_text("7")
    await row.locator(".do-stop").focus()
    await keys.press("Space")
    await expect(row.locator(".state")).to_have_text("已停止")
    [deal] = (await api(node.port, "GET", f"/api/rooms/{room}/deals", token("viewer", room)))[1]["deals"]
    assert (deal["stock"], deal["state"], deal["product"]["name"]) == (7, "stopped", "茉莉花茶")

    await console.locator("body").focus()
    await keys.press("/")
    assert await console.evaluate("document.activeElement.id") == "comment-filter"
    await expect(console.locator("#audit li")).not_to_have_count(0)  # the ledger follows the deals
    assert b.errors.messages == []


async def test_a_scheduled_deal_counts_down_and_starts_from_the_console(make_node, room, browser):
    node = await make_node()
    b = Browsing(browser, node.port)
    console = await b.open(page_path("console", room), 1440, 900)
    overlay = await b.open(page_path("overlay", room, lang="zh"), 1920, 1080)
    await live(console)
    form = console.locator("#deal-form")
    for name, value in (("product_id", "p4"), ("product_name", "Umbrella"), ("price", "80"),
                        ("deal_price", "40"), ("countdown_s", "120")):
        await form.locator(f"[name={name}]").fill(value)
    await form.locator("button[type=submit]").click()
    row = console.locator("#deals [data-deal]")
    await expect(row.locator(".state")).to_have_text("Coming up")
    await expect(overlay.locator("#deal")).to_have_attribute("data-state", "scheduled")
    await expect(overlay.locator("#deal .clock-label")).to_have_text("距开抢")
    await expect(overlay.locator("#deal .clock")).to_have_text(re.compile(r"^[12]:[0-5][0-9]$"))
    await row.locator(".do-start").click()
    await expect(overlay.locator("#deal")).to_have_attribute("data-state", "live")
    await expect(overlay.locator("#deal .clock-label")).to_have_text("距结束")
    await expect(row.locator(".do-start")).to_be_disabled()

    # Both a delay and a time: refused in the page, nothing sent.
    await form.locator("[name=product_id]").fill("p5")
    await form.locator("[name=product_name]").fill("Hat")
    await form.locator("[name=price]").fill("80")
    await form.locator("[name=deal_price]").fill("40")
    await form.locator("[name=countdown_s]").fill("30")
    await form.locator("[name=start_at]").fill("2030-01-01T20:00")
    await form.locator("button[type=submit]").click()
    error = console.locator("#deal-form-error")
    await expect(error).to_have_text("give a start delay or a start time, not both")
    listing = (await api(node.port, "GET", f"/api/rooms/{room}/deals", token("viewer", room)))[1]
    assert len(listing["deals"]) == 1
    assert b.errors.messages == []


async def test_a_usd_room_shows_dollars_on_every_page(make_node, room, browser):
    # The pages once wrote a hard-coded "¥" before every amount, whatever the room sold in.
    node = await make_node()
    b = Browsing(browser, node.port)
    assistant = token("assistant", room, "amy")
    status, _ = await api(node.port, "POST", f"/api/rooms/{room}/currency", assistant, {"currency": "USD"})
    assert status == 200
    await create_deal(node.port, room, product=product(node.port), price=19.99, deal_price=9.5)
    order = {"id": "o1", "type": "order", "user": {"id": "u1", "name": "Lin"}, "order_id": "o1",
             "product_id": "p9", "qty": 1, "amount": 1234.5, "status": "paid"}
    await post_events(node.port, room, [order])
    overlay = await b.open(page_path("overlay", room), 1920, 1080)
    viewer = await b.open(page_path("viewer", room, user="lin"), 390, 844)
    host = await b.open(page_path("host", room), 1280, 800)
    for page in (overlay, viewer, host):
        await live(page)
    await expect(overlay.locator("#deal .list-price")).to_have_text("$19.99")
    await expect(overlay.locator("#deal .deal-price")).to_have_text("$9.50")
    await expect(viewer.locator("#deal-price")).to_have_text("$9.50")
    await expect(host.locator("#gmv")).to_have_text("$1,234.50")
