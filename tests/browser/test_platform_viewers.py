"""The console's live numbers show the platform's viewer count (a bridge's `viewers` events) beside
livecart's own viewers online, in real headless Chromium against a real node."""

from __future__ import annotations

from playwright.async_api import expect

from tests.browser.conftest import Browsing, screenshot
from tests.browser.test_pages import live, page_path
from tests.support import post_events


def viewers(event_id: str, count: int) -> dict[str, object]:
    return {"id": event_id, "type": "viewers", "platform": "tiktok", "count": count}


async def test_the_console_shows_the_platform_s_viewers_beside_its_own(make_node, room, browser):
    node = await make_node()
    b = Browsing(browser, node.port)
    console = await b.open(page_path("console", room, user="amy"), 1280, 800)
    await live(console)
    counters = console.locator("#counters")
    await expect(counters).to_contain_text("Viewers online")
    await expect(counters).not_to_contain_text("on the platform")  # no bridge has sent a count yet
    await post_events(node.port, room, [viewers("v1", 1234)])
    await expect(counters).to_contain_text("Watching on the platform 1234")
    await post_events(node.port, room, [viewers("v2", 987)])  # the latest, not a sum
    await expect(counters).to_contain_text("Watching on the platform 987")
    await screenshot(console, "console-platform-viewers", clip={"x": 0, "y": 0, "width": 1280, "height": 120})
    zh = await b.open(page_path("console", room, user="amy", lang="zh"), 1280, 800)
    await live(zh)
    await expect(zh.locator("#counters")).to_contain_text("平台在看 987")
