"""The post-stream report in headless Chromium (Debian's, driven by Playwright; no browser download):
it renders offline with no errors, and the numbers on the page are the ingested ones."""

from __future__ import annotations

import asyncio
import os
import shutil

import aiohttp
import pytest

from livecart.report import TABLES
from tests.support import WAIT, api, comment, create_deal, post_events, token

playwright_api = pytest.importorskip(
    "playwright.async_api", reason="Playwright is installed by the browser test setup (scripts/setup test)")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


async def report_html(port: int, room: str, comments: int) -> str:
    """The page once the director has folded every event (it folds once a second)."""
    deadline = asyncio.get_running_loop().time() + 2 * WAIT
    while True:
        status, data = await api(port, "GET", f"/api/rooms/{room}/report?format=json", token("host", room))
        if status == 200 and data["totals"]["comments"] == comments:
            break
        assert asyncio.get_running_loop().time() < deadline, data
        await asyncio.sleep(0.2)
    async with aiohttp.ClientSession() as session, session.get(
            f"http://127.0.0.1:{port}/api/rooms/{room}/report",
            headers={"Authorization": f"Bearer {token('host', room)}"}) as resp:
        assert resp.status == 200
        return await resp.text()


async def test_the_report_renders_offline_without_errors_and_shows_the_ingested_numbers(node, room,
                                                                                        tmp_path):
    if not os.path.exists(CHROMIUM):
        pytest.fail("chromium is missing: scripts/setup test installs Debian's chromium")
    await create_deal(node.port, room, stock=5)
    texts = ["尺码怎么选？", "多少钱？", "<img src=x onerror=alert(1)>", "how much?", "好看"]
    await post_events(node.port, room, [comment(f"c{i}", t, user=f"u{i}") for i, t in enumerate(texts)])
    await api(node.port, "POST", f"/api/rooms/{room}/cues", token("assistant", room, "amy"),
              {"text": "<b>pin</b> the scarf"})
    page_file = tmp_path / "report.html"
    page_file.write_text(await report_html(node.port, room, len(texts)), "utf-8")

    async with playwright_api.async_playwright() as playwright:
        # --no-sandbox: CI runs as root, where chromium's sandbox cannot start.
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                   args=["--no-sandbox", "--disable-dev-shm-usage"])
        page = await browser.new_page()
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        await page.goto(page_file.as_uri())
        assert await page.locator("svg").count() == 4  # viewers, comments, orders, GMV
        kpi = page.locator(".kpi", has_text="comments").locator("b")
        assert await kpi.inner_text() == str(len(texts))
        # Strangers' and assistants' text is shown as text, never as markup.
        assert await page.locator("td", has_text="<b>pin</b> the scarf").count() == 1
        assert await page.evaluate("document.querySelectorAll('img, script, td b').length") == 0
        assert await page.locator("a[download]").count() == 1 + len(TABLES)  # JSON + one CSV per table
        await browser.close()
    assert problems == []
    assert requests == [page_file.as_uri()]  # nothing fetched: the page is self-contained
