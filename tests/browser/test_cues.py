"""Cues across the pages in real headless Chromium against a real node: an assistant's cue goes from the
console to every host screen, a host acks it with a key and it is done everywhere; a rush that takes a
deal under 10 % raises a `low_stock` cue on the host view, and nothing of it reaches the overlay or the
viewer page (their DOM, and the frames their sockets received).

Waits are Playwright waits with generous timeouts (UI_WAIT_MS): they check that something happens, never
how fast.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from playwright.async_api import expect

from tests.browser.conftest import UI_WAIT_MS, Browsing, screenshot
from tests.browser.test_pages import XSS_TEXT, live, page_path, product
from tests.support import api, claim, create_deal, token


async def until(predicate: Callable[[], bool]) -> None:
    """A generous wait for something observed outside the page (never a speed check)."""
    deadline = asyncio.get_running_loop().time() + UI_WAIT_MS / 1000
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not met"
        await asyncio.sleep(0.1)


def cue_frames(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Anything cue-like a socket received: cue or stats frames, ack results, or cues inside a batch."""
    return [f for f in frames if f.get("type") in ("cue", "stats", "ack_result") or "cues" in f]


async def test_a_console_cue_reaches_every_host_and_an_ack_with_a_key_is_done_everywhere(make_node, room,
                                                                                         browser):
    node = await make_node()
    b = Browsing(browser, node.port)
    console = await b.open(page_path("console", room, user="amy"), 1440, 900)
    host_frames: list[dict[str, Any]] = []
    host = await b.open(page_path("host", room, user="hana"), 1280, 720, frames=host_frames)
    second = await b.open(page_path("host", room, user="hugo", lang="zh"), 1280, 720)
    for page in (console, host, second):
        await live(page)

    # The assistant sends a cue from the console form: the real route, no "not available" notice.
    text = f"Show the blue one 蓝色的 {XSS_TEXT}"
    await console.locator("#cue-text").fill(text)
    await console.locator("#cue-priority").select_option("high")
    await console.locator("#cue-form button[type=submit]").click()
    await expect(console.locator("#toast")).to_have_text("Cue sent")
    sent = console.locator("#cue-list .cue")
    await expect(sent).to_have_count(1)
    await expect(sent.locator(".cue-text")).to_have_text(text)
    await expect(sent.locator(".cue-kind")).to_have_text("manual")
    await expect(sent).to_have_attribute("data-state", "open")
    cue_id = await sent.get_attribute("data-cue")
    assert cue_id

    # Both host screens show it, as text.
    for page in (host, second):
        row = page.locator(f"#cues .cue[data-cue='{cue_id}']")
        await expect(row.locator(".cue-text")).to_have_text(text)
        await expect(row).to_have_class("cue cue-high")
    await screenshot(host, "host-cue")

    # The host acks it with Space: it leaves both host screens, the console shows who did it.
    await host.locator("body").focus()
    await host.keyboard.press("Space")
    for page in (host, second):
        await expect(page.locator(f"#cues [data-cue='{cue_id}']")).to_have_count(0)
        await expect(page.locator("#cues .empty")).to_be_visible()
    await expect(sent).to_have_attribute("data-state", "acked")
    await expect(sent.locator(".cue-state")).to_have_text("done by hana")
    await expect(sent.locator(".do-ack")).to_be_hidden()
    listed = (await api(node.port, "GET", f"/api/rooms/{room}/cues", token("host", room, "x")))[1]["cues"]
    assert [(c["id"], c["acked_by"]) for c in listed] == [(cue_id, "hana")]
    assert any(f.get("type") == "ack_result" and f.get("ok") for f in host_frames)  # the socket's ack

    # Two more: high before low on the host; "2" acks the second in the queue (the low one).
    for words, priority in (("Read the size question", "low"), ("Restock soon", "high")):
        await console.locator("#cue-text").fill(words)
        await console.locator("#cue-priority").select_option(priority)
        await console.locator("#cue-text").press("Enter")
        await expect(console.locator("#cue-list .cue .cue-text").first).to_have_text(words)
    queue = host.locator("#cues .cue .cue-text")
    both = ["Restock soon", "Read the size question"]
    await expect(queue).to_have_text(both)
    await expect(second.locator("#cues .cue .cue-text")).to_have_text(both)
    await host.keyboard.press("2")
    await expect(queue).to_have_text(["Restock soon"])
    await expect(second.locator("#cues .cue .cue-text")).to_have_text(["Restock soon"])

    # Done from the console instead: every host screen drops it.
    console_row = console.locator("#cue-list .cue", has_text="Restock soon")
    await console_row.locator(".do-ack").click()
    await expect(console_row).to_have_attribute("data-state", "acked")
    await expect(console_row.locator(".cue-state")).to_have_text("done by amy")
    for page in (host, second):
        await expect(page.locator("#cues .cue")).to_have_count(0)

    # A host screen opened later loads the room's cues (GET …/cues) and shows none of the done ones.
    late = await b.open(page_path("host", room, user="lee"), 1280, 720)
    await live(late)
    await console.locator("#cue-text").fill("Say hi to the new viewers")
    await console.locator("#cue-text").press("Enter")
    await expect(late.locator("#cues .cue .cue-text")).to_have_text(["Say hi to the new viewers"])

    for page in (console, host, second, late):
        assert await page.evaluate("window.__pwned") is None
        assert await page.locator("#cues img, #cue-list img, script:not([src])").count() == 0
    await screenshot(console, "console-cues")
    assert b.errors.messages == []


async def test_a_rush_under_ten_percent_cues_the_host_and_never_the_overlay_or_viewers(make_node, room,
                                                                                      browser):
    node = await make_node()
    b = Browsing(browser, node.port)
    frames: dict[str, list[dict[str, Any]]] = {"host": [], "overlay": [], "viewer": [], "console": []}
    host = await b.open(page_path("host", room, user="hana"), 1280, 720, frames=frames["host"])
    console = await b.open(page_path("console", room, user="amy"), 1440, 900, frames=frames["console"])
    overlay = await b.open(page_path("overlay", room), 1920, 1080, frames=frames["overlay"])
    lin = await b.open(page_path("viewer", room, user="lin"), 390, 844, frames=frames["viewer"])
    for page in (host, console, overlay, lin):
        await live(page)

    deal = await create_deal(node.port, room, product=product(node.port, "Silk scarf 真丝围巾"), stock=10,
                             limit_per_user=1)
    await expect(lin.locator("#claim")).to_be_enabled()
    await lin.locator("#claim").click()
    await expect(lin.locator("#claim-result")).to_have_class("ok")
    # The rush: eight more at once leave 1 of 10.
    answers = await asyncio.gather(*(claim(node.port, room, deal["id"], f"u{i}", key=f"rush{i}")
                                     for i in range(8)))
    assert [status for status, _body in answers] == [200] * 8
    await expect(overlay.locator("#deal")).to_have_attribute("data-left", "1")

    cue_row = host.locator("#cues .cue[data-kind='low_stock']")
    await expect(cue_row).to_have_count(1)
    await expect(cue_row).to_have_class("cue cue-high")
    await expect(cue_row.locator(".cue-text")).to_contain_text("Silk scarf 真丝围巾")
    await expect(console.locator("#cue-list .cue[data-kind='low_stock'] .cue-kind")).to_have_text("low_stock")
    listed = (await api(node.port, "GET", f"/api/rooms/{room}/cues", token("host", room, "x")))[1]["cues"]
    [low] = [c for c in listed if c["kind"] == "low_stock"]
    assert low["data"]["deal"] == deal["id"] and low["data"]["left"] == 1
    await expect(cue_row.locator(".cue-text")).to_have_text(low["texts"]["en"])
    await screenshot(host, "host-low-stock")

    # The live numbers come from the stats frames the host and console sockets asked for.
    await expect(host.locator("#numbers")).to_have_attribute("data-source", "stats")
    await expect(console.locator("#live-stats")).not_to_be_empty()

    # A cue and the stats frames went to host and console while the overlay and viewer were connected
    # to the same room; give the overlay and the viewer a few more frames, then look at what they got.
    stats_then = sum(1 for f in frames["host"] if f.get("type") == "stats")
    await until(lambda: sum(1 for f in frames["host"] if f.get("type") == "stats") >= stats_then + 2)
    assert any(f.get("type") == "cue" and f["cue"]["kind"] == "low_stock" for f in frames["host"])
    assert any(f.get("type") == "cue" and f["cue"]["kind"] == "low_stock" for f in frames["console"])
    assert any(f.get("type") == "stats" for f in frames["host"])
    for name in ("overlay", "viewer"):
        assert frames[name], f"the {name} socket received nothing: the observation is broken"
        assert cue_frames(frames[name]) == [], name
    for page in (overlay, lin):
        body = await page.locator("body").inner_text()
        for words in (low["text"], *low["texts"].values()):
            assert words not in body
        assert await page.locator(".cue, [data-cue], [data-kind]").count() == 0
    assert b.errors.messages == []
