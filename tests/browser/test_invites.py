"""Invites across the pages in real headless Chromium against a real node: a viewer's page shows their
invite link; friends who open it are welcomed and credited; the console's top-inviters list and funnel
follow live; the console's goal and coupon forms work, and the inviter's page shows their progress and
coupon; the inviter's own link is refused kindly; "Show on overlay" puts the board on the overlay.

Waits are Playwright waits with generous timeouts (UI_WAIT_MS): they check that something happens, never
how fast.
"""

from __future__ import annotations

from playwright.async_api import expect

from tests.browser.conftest import Browsing, screenshot
from tests.browser.test_pages import XSS_NAME, live, page_path

PROGRESS_EVERY_MS = 5_000  # client_web/viewer/invites.js


async def test_invite_links_credit_the_inviter_on_the_console_the_overlay_and_the_viewer_page(make_node, room,
                                                                                             browser):
    node = await make_node()
    b = Browsing(browser, node.port)
    console = await b.open(page_path("console", room, user="amy"), 1440, 1000)
    await live(console)

    # The assistant sets a goal (every 2 friends -> a coupon, at most 1) and uploads a coupon.
    form = console.locator("#invite-goal-form")
    await form.locator("input[name=target]").fill("2")
    await form.locator("select[name=reward]").select_option("coupon")
    await form.locator("input[name=cap]").fill("1")
    await form.locator("button[type=submit]").click()
    await expect(console.locator("#toast")).to_have_text("Invite goal saved")
    await console.locator("#coupon-codes").fill("SPRING-1\nSPRING-2\n")
    await console.locator("#coupon-form button[type=submit]").click()
    await expect(console.locator("#coupons-left")).to_have_text("2 coupons left")

    # The inviter's page shows their link; a user id full of markup stays text everywhere.
    inviter = await b.open(page_path("viewer", room, user=XSS_NAME), 430, 900, clock=True)
    await expect(inviter.locator("#invite-progress")).to_contain_text("You brought 0 friends")
    await expect(inviter.locator("#invite-progress")).to_contain_text("2 more for a coupon")
    link = await inviter.locator("#invite-link").input_value()
    assert "ref=" in link
    path = link.split(str(node.port), 1)[1]

    # Two friends open it (their own tokens, as the platform adds them): welcomed, credited.
    def as_user(user: str) -> str:  # the share link with the user's own token and language
        return f"{path}&token={page_path('viewer', room, user=user).split('token=')[1]}"

    for friend in ("bo", "cy"):
        page = await b.open(as_user(friend), 430, 900)
        await expect(page.locator("#invite-note")).to_have_text(f"Welcome! {XSS_NAME} invited you")

    # The console's list follows live (the invites frames), the funnel too.
    row = console.locator("#top-inviters li").first
    await expect(row).to_contain_text("2 joined")
    await expect(row.locator("b")).to_have_text(XSS_NAME)
    await expect(console.locator("#invite-funnel")).to_contain_text("joins 2")

    # The inviter's page shows the progress and the coupon won, read by its next poll (fired now, not
    # in up to PROGRESS_EVERY_MS).
    await inviter.clock.fast_forward(PROGRESS_EVERY_MS)
    await expect(inviter.locator("#invite-progress")).to_contain_text("You brought 2 friends")
    await expect(inviter.locator("#invite-progress")).to_contain_text("Your coupons: SPRING-1")
    await expect(inviter.locator("#invite-progress")).to_contain_text("All rewards earned")
    assert await inviter.locator("#invite-progress").get_attribute("data-joins") == "2"

    # Their own link: a kind refusal, nothing counted.
    own = await b.open(as_user(XSS_NAME), 430, 900)
    await expect(own.locator("#invite-note")).to_have_text(
        "This is your own invite link: share it with friends")

    # "Show on overlay": the overlay shows the board, read once as it connects and live after.
    overlay = await b.open(page_path("overlay", room), 1920, 1080)
    await live(overlay)
    await expect(overlay.locator("#inviters")).to_be_hidden()
    await console.locator("#invite-overlay").check()
    await expect(overlay.locator("#inviters .inviter-name")).to_have_text(XSS_NAME)
    await expect(overlay.locator("#inviters .inviter-joins")).to_have_text("2 joined")
    late = await b.open(page_path("overlay", room), 1920, 1080)
    await expect(late.locator("#inviters .inviter-joins")).to_have_text("2 joined")
    await screenshot(console, "console-invites")
    await screenshot(inviter, "viewer-invites")
    await screenshot(overlay, "overlay-inviters")

    assert await inviter.evaluate("window.__pwned") is None
    assert await console.evaluate("window.__pwned") is None
    # The only refusals a page saw were the one the test asked for (the own link's 409).
    assert [m for m in b.errors.messages if "status of 409" not in m] == []
