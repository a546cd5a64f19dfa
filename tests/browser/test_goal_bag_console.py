"""The console's goal form with the "open a lucky bag" action, in real Chromium: the bag's fields show
for that action only, a bad bag is refused before it is sent, and a reached goal opens the bag."""

from __future__ import annotations

from playwright.async_api import expect

from tests.browser.conftest import Browsing
from tests.browser.test_pages import live, page_path
from tests.support import api, post_events, token


async def test_the_console_arms_a_goal_that_opens_a_lucky_bag(make_node, room, browser):
    node = await make_node()
    b = Browsing(browser, node.port)
    console = await b.open(page_path("console", room), 1440, 1000)
    await live(console)
    goals = console.locator("#goal-form")
    bag = console.locator("#goal-bag")
    await expect(bag).to_be_hidden()
    await goals.locator("[name=metric]").select_option("likes")
    await goals.locator("[name=target]").fill("10")
    await goals.locator("[name=action]").select_option("open_bag")
    await expect(bag).to_be_visible()
    await expect(bag.locator("[data-bag-word=bagPrize]")).not_to_be_empty()
    await goals.locator("button[type=submit]").click()
    await expect(console.locator("#goal-form-error")).to_have_text("the prize needs a product name")
    await bag.locator("[name=product_name]").fill("Mystery box")
    await bag.locator("[name=winners]").fill("2")
    await goals.locator("button[type=submit]").click()
    row = console.locator("#goal-list .goal")
    await expect(row).to_have_attribute("data-state", "armed")
    [goal] = (await api(node.port, "GET", f"/api/rooms/{room}/goals", token("assistant", room)))[1]["goals"]
    action = goal["action"]
    assert (action["type"], action["product"]["name"], action["winners"], action["keyword"]) \
        == ("open_bag", "Mystery box", 2, "福袋")
    assert action["rules"] == {"follows": False, "present": True} and action["duration_s"] == 60
    await post_events(node.port, room, [{"id": "l1", "type": "like", "user": {"id": "u9"}, "count": 10}])
    await expect(row).to_have_attribute("data-state", "fired")
    await expect(row.locator(".result")).to_contain_text("✓ opened")
    await expect(console.locator("#bag-panel")).to_contain_text("Mystery box")
    assert b.errors.messages == []
