"""Polls, buyer shows and moderation across the pages in real headless Chromium against a real node:
the console starts a poll and the overlay's bars move as viewers vote (by button and by comment); a
buyer's show goes from the viewer page's prompt through the console's queue onto the overlay's wall
(as text); blocked words and mutes keep comments off the overlay while the console still shows them.

Waits are Playwright waits with generous timeouts: they check that something happens, never how fast.
"""

from __future__ import annotations

from playwright.async_api import expect

from tests.browser.conftest import Browsing, screenshot
from tests.browser.test_pages import XSS_NAME, XSS_TEXT, live, page_path
from tests.support import comment, post_events


def paid(order_id: str, user: str, name: str) -> dict:
    return {"id": f"o-{order_id}", "type": "order", "user": {"id": user, "name": name}, "order_id": order_id,
            "product_id": "p1", "qty": 1, "amount": 99, "status": "paid"}


async def no_xss(page) -> None:
    assert await page.evaluate("window.__pwned") is None


async def test_a_console_poll_moves_the_overlay_bars_as_viewers_vote_and_closes(make_node, room, browser):
    node = await make_node()
    b = Browsing(browser, node.port)
    console = await b.open(page_path("console", room, user="amy"), 1600, 1000)
    overlay = await b.open(page_path("overlay", room), 1920, 1080)
    viewer = await b.open(page_path("viewer", room, user="lin"), 430, 900)
    for page in (console, overlay, viewer):
        await live(page)

    form = console.locator("#poll-form")
    await form.locator("[name=question]").fill(f"Next colour? {XSS_TEXT}")
    await form.locator("[name=option0]").fill("Red")
    await form.locator("[name=option1]").fill("Blue")
    await form.locator("[name=keyword1]").fill("蓝色")
    await form.locator("[name=option2]").fill("Green")
    await form.locator("button[type=submit]").click()
    await expect(console.locator("#toast")).to_have_text("Poll started")

    bars = overlay.locator("#poll")
    await expect(bars.locator(".poll-question")).to_have_text(f"Next colour? {XSS_TEXT}")
    await expect(bars.locator(".poll-option")).to_have_count(3)
    await expect(bars).to_have_attribute("data-state", "open")
    await expect(console.locator("#poll-close")).to_be_visible()

    # The viewer taps "Blue"; two viewers comment "1" and "我要蓝色"; a third comment is no vote.
    await viewer.locator("#poll .poll-option[data-option='1'] button").click()
    await expect(viewer.locator("#vote-result")).to_have_text("Vote counted")
    await post_events(node.port, room, [comment("c1", "1", "u1"), comment("c2", "我要蓝色", "u2"),
                                        comment("c3", "nice", "u3")])
    await expect(bars.locator(".poll-option[data-option='0']")).to_have_attribute("data-votes", "1")
    await expect(bars.locator(".poll-option[data-option='1']")).to_have_attribute("data-votes", "2")
    await expect(bars.locator(".poll-option[data-option='1']")).to_have_class("poll-option leading")
    await expect(bars.locator(".poll-total")).to_have_text("3 votes")
    console_bar = console.locator("#poll-now .poll-option[data-option='1']")
    await expect(console_bar).to_have_attribute("data-votes", "2")
    width = await bars.locator(".poll-option[data-option='1'] .poll-fill").evaluate("n => n.style.width")
    assert width == "67%"
    await screenshot(overlay, "overlay-poll")

    # A second tap on another option is refused (the poll does not allow changing a vote).
    await viewer.locator("#poll .poll-option[data-option='2'] button").click()
    await expect(viewer.locator("#vote-result")).to_have_text("You have voted already")

    await console.locator("#poll-close").click()
    await expect(bars).to_have_attribute("data-state", "closed")
    await expect(bars.locator(".poll-clock")).to_have_text("Final result")
    await expect(viewer.locator("#poll .poll-option button").first).to_be_disabled()
    await no_xss(overlay)
    assert b.errors.messages == []


async def test_a_buyer_show_goes_from_the_prompt_through_review_onto_the_wall(make_node, room, browser):
    node = await make_node()
    b = Browsing(browser, node.port)
    console = await b.open(page_path("console", room, user="amy"), 1600, 1000)
    overlay = await b.open(page_path("overlay", room), 1920, 1080)
    host = await b.open(page_path("host", room, user="hana"), 1280, 720)
    viewer = await b.open(page_path("viewer", room, user="lin"), 430, 900)
    for page in (console, overlay, host, viewer):
        await live(page)

    await expect(console.locator("#show-queue .empty")).to_have_text("No shows waiting")
    await expect(viewer.locator("#show-prompt")).to_be_hidden()
    await post_events(node.port, room, [paid("1", "lin", XSS_NAME)])
    prompt = viewer.locator("#show-prompt")
    await expect(prompt).to_be_visible()
    # A javascript: photo link is refused with the server's reason, and nothing is queued.
    await viewer.locator("#show-text").fill("Lovely")
    await viewer.locator("#show-image").fill("javascript:alert(1)")
    await viewer.locator("#show-send").click()
    await expect(viewer.locator("#show-result")).to_contain_text("http")
    await viewer.locator("#show-text").fill(f"Fits well {XSS_TEXT}")
    await viewer.locator("#show-image").fill(f"http://127.0.0.1:{node.port}/client/lib/sample-product.svg")
    await viewer.locator("#show-send").click()
    await expect(viewer.locator("#show-result")).to_have_text("Thanks! Your show waits for approval.")

    queued = console.locator("#show-queue .show")
    await expect(queued).to_have_count(1)
    await expect(queued.locator(".show-text")).to_have_text(f"Fits well {XSS_TEXT}")
    await expect(overlay.locator("#wall")).to_be_hidden()  # nothing before approval
    await queued.locator(".do-approve").click()
    await expect(console.locator("#show-queue .empty")).to_be_visible()

    wall = overlay.locator("#wall")
    await expect(wall.locator(".wall-text")).to_have_text(f"Fits well {XSS_TEXT}")
    await expect(wall.locator(".wall-name")).to_have_text(XSS_NAME)
    await expect(wall.locator("img.wall-image")).to_have_count(1)
    await expect(viewer.locator("#wall .wall-text")).to_have_text(f"Fits well {XSS_TEXT}")
    await expect(host.locator("#cues .cue-text")).to_contain_text("posted a show — thank them")
    await screenshot(overlay, "overlay-wall")
    for page in (overlay, viewer, console, host):
        await no_xss(page)
    assert [m for m in b.errors.messages if "400" not in m] == []  # the refused photo link's 400 only


async def test_blocked_words_and_mutes_keep_comments_off_the_overlay_but_not_the_console(make_node, room,
                                                                                          browser):
    node = await make_node()
    b = Browsing(browser, node.port)
    console = await b.open(page_path("console", room, user="amy"), 1600, 1000)
    overlay = await b.open(page_path("overlay", room), 1920, 1080)
    for page in (console, overlay):
        await live(page)

    await console.locator("#blocked-words").fill("Scam\n\n假货")
    await console.locator("#words-form button").click()
    await expect(console.locator("#toast")).to_have_text("Blocked words saved (2)")
    await expect(console.locator("#blocked-words")).to_have_value("scam\n假货")
    await console.locator("#mute-user").fill("troll")
    await console.locator("#mute-form button").click()
    await expect(console.locator("#mute-list .muted-user[data-user='troll']")).to_have_count(1)

    await post_events(node.port, room, [
        comment("c1", "hello all", "u1"), comment("c2", "total ＳＣＡＭ", "u2"),
        comment("c3", "I am a troll", "troll"), comment("c4", "last one", "u4")])
    shown = overlay.locator("#comments .comment")
    await expect(shown).to_have_count(2)
    await expect(shown.locator(".comment-text")).to_have_text(["hello all", "last one"])
    feed = console.locator("#comment-feed .comment")
    await expect(feed).to_have_count(4)
    await expect(console.locator("#comment-feed .comment[data-hidden='blocked'] .comment-text")).to_have_text(
        "total ＳＣＡＭ")
    await expect(console.locator("#comment-feed .comment[data-hidden='muted'] .comment-text")).to_have_text(
        "I am a troll")

    await console.locator("#mute-list .do-unmute").click()
    await expect(console.locator("#mute-list .empty")).to_be_visible()
    await post_events(node.port, room, [comment("c5", "sorry", "troll")])
    await expect(overlay.locator("#comments .comment-text").last).to_have_text("sorry")
    # The feed's own mute button mutes the comment's author.
    await console.locator("#comment-feed .comment[data-offset='4'] .do-mute").click()
    await expect(console.locator("#mute-list .muted-user[data-user='u4']")).to_have_count(1)
    await screenshot(console, "console-interactions", full_page=True)
    assert b.errors.messages == []
