"""Browser fixtures: Debian's chromium driven by Playwright (no browser download), real nodes.

Each test gets its own browser (a function-scoped event loop cannot share one), and every page it
opens records console errors and uncaught exceptions, so a test can assert there were none.
Screenshots go to $LIVECART_ARTIFACTS (default: a temp dir), for docs/ and for looking at a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, WebSocket, async_playwright, expect

from tests.support import WAIT

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Waits for something to appear on a page: generous, the machine may be busy. Never a speed check.
UI_WAIT_MS = int(WAIT * 2000)
expect.set_options(timeout=UI_WAIT_MS)


def artifacts_dir() -> Path:
    path = Path(os.environ.get("LIVECART_ARTIFACTS") or Path(tempfile.gettempdir()) / "livecart-artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass
class PageErrors:
    messages: list[str] = field(default_factory=list)

    def watch(self, page: Page) -> None:
        page.on("console", lambda m: self.messages.append(f"console.{m.type}: {m.text}")
                if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: self.messages.append(f"uncaught: {e}"))


@dataclass
class Browsing:
    browser: Browser
    port: int
    errors: PageErrors = field(default_factory=PageErrors)

    async def open(self, path: str, width: int = 1280, height: int = 800,
                   frames: list[dict[str, Any]] | None = None, clock: bool = False, **context: Any) -> Page:
        """Open `path` in a fresh context. With `frames`, every JSON frame the page's websockets
        receive is appended to it, as the browser saw it on the wire. With `clock`, the page runs on
        Playwright's clock (time flows as usual; `page.clock.fast_forward` fires a poll's timer now
        instead of waiting seconds for it)."""
        ctx = await self.browser.new_context(viewport={"width": width, "height": height}, **context)
        page = await ctx.new_page()
        if clock:
            await page.clock.install()
        self.errors.watch(page)
        if frames is not None:
            record_frames(page, frames)
        page.set_default_timeout(UI_WAIT_MS)
        await page.goto(f"http://127.0.0.1:{self.port}{path}")
        return page


def record_frames(page: Page, frames: list[dict[str, Any]]) -> None:
    def on_socket(ws: WebSocket) -> None:
        ws.on("framereceived", lambda payload: frames.append(
            json.loads(payload) if isinstance(payload, str) else {"type": "<binary>"}))

    page.on("websocket", on_socket)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not os.path.exists(CHROMIUM):
        pytest.fail("chromium is missing: scripts/setup test installs Debian's chromium")
    async with async_playwright() as playwright:
        # --no-sandbox: CI runs as root, where chromium's sandbox cannot start.
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"])
        yield launched
        await launched.close()


async def screenshot(page: Page, name: str, **options: Any) -> Path:
    path = artifacts_dir() / f"{name}.png"
    await page.screenshot(path=str(path), **options)
    return path
