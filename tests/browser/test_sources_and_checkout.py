"""The console's sources panel and the viewer's checkout link, in real headless Chromium against real
nodes: every ingest client and webhook shows with its last delivery on every node's console, and the
claim the viewer page passes to the shop comes back in the shop's webhook and settles the claim."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import aiohttp
import orjson
from playwright.async_api import expect

from livecart.webhook_signature import sign
from tests.browser.conftest import Browsing
from tests.support import WAIT, api, comment, create_deal, post_events, token

FIXTURES = Path(__file__).parent.parent / "fixtures" / "shopify"
SECRET = "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"


async def shopify(port: int, room: str, topic: str, body: bytes, webhook_id: str) -> dict:
    headers = {"Content-Type": "application/json", "X-Shopify-Topic": topic,
               "X-Shopify-Webhook-Id": webhook_id, "X-Shopify-Hmac-Sha256": sign(SECRET, body)}
    async with aiohttp.ClientSession() as session, session.post(
            f"http://127.0.0.1:{port}/api/rooms/{room}/webhooks/shopify", data=body, headers=headers) as resp:
        assert resp.status == 200
        return await resp.json()


POLL_MS = 5_000  # client_web/console/sources.js


async def until_listed(port: int, room: str, tok: str, *sources: str) -> None:
    """Until GET …/sources on this node lists `sources` (a bound on failure, not a speed check)."""
    for _ in range(int(WAIT / 0.05)):
        status, body = await api(port, "GET", f"/api/rooms/{room}/sources", tok)
        assert status == 200, body
        if set(sources) <= {row["id"] for row in body["sources"]}:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{sources} never listed: {body}")


async def test_the_console_lists_every_source_and_its_last_delivery_on_every_node(make_node, room, browser):
    a, b = await make_node(), await make_node()
    assistant = token("assistant", room, "amy")
    await api(a.port, "POST", f"/api/rooms/{room}/webhooks/shopify/secret", assistant, {"secret": SECRET})
    async with aiohttp.ClientSession() as session, session.post(
            f"http://127.0.0.1:{a.port}/api/rooms/{room}/events",
            data=orjson.dumps([comment("c1"), comment("c2"), comment("c1")]),
            headers={"Authorization": f"Bearer {token('ingest', room)}",
                     "X-Livecart-Source": "tiktok:@streamer"}) as resp:
        assert resp.status == 200
    await shopify(a.port, room, "orders/create", b"{}", "wh-1")

    # The console reads the sources on load, then every POLL_MS: open it once both deliveries are
    # counted in Redis (each node writes its counts every second), so its first read has them.
    await until_listed(b.port, room, assistant, "tiktok:@streamer", "shopify:webhook")
    browsing = Browsing(browser, b.port)  # the console on the other node
    console = await browsing.open(f"/console?room={room}&token={assistant}&lang=en", 1440, 900, clock=True)
    tiktok = console.locator('#sources li[data-source="tiktok:@streamer"]')
    await expect(tiktok).to_contain_text("accepted 2")
    await expect(tiktok).to_contain_text("duplicates 1")
    await expect(tiktok).to_contain_text("HTTP")
    await expect(tiktok).to_have_attribute("data-live", "true")
    await expect(tiktok.locator(".source-ago")).to_have_text(re.compile(r"^\d+ s ago$"))
    shop = console.locator('#sources li[data-source="shopify:webhook"]')
    await expect(shop).to_contain_text("unmapped 1")
    await expect(shop).to_contain_text("webhook")
    await expect(console.locator("#sources-title")).to_have_text("Sources")

    # A bridge that connects while the console is open appears without a reload.
    await post_events(a.port, room, [comment("c3")], tok=token("ingest", room, "bilibili-bridge"))
    await until_listed(b.port, room, assistant, "bilibili-bridge")
    await console.clock.fast_forward(POLL_MS)  # the console's next read of the sources, now
    await expect(console.locator('#sources li[data-source="bilibili-bridge"]')).to_contain_text("accepted 1")
    assert browsing.errors.messages == []


async def test_the_viewers_checkout_link_carries_the_claim_that_the_shops_webhook_settles(make_node, room,
                                                                                           browser):
    node = await make_node()
    assistant = token("assistant", room, "amy")
    await api(node.port, "POST", f"/api/rooms/{room}/currency", assistant, {"currency": "USD"})
    await api(node.port, "POST", f"/api/rooms/{room}/webhooks/shopify/secret", assistant, {"secret": SECRET})
    template = "https://jsmith.myshopify.com/cart/{product}:{qty}?attributes[livecart_claim]={claim}"
    status, _ = await api(node.port, "POST", f"/api/rooms/{room}/checkout", assistant, {"url": template})
    assert status == 200
    deal = await create_deal(node.port, room, product={"id": "808950810", "name": "IPod Nano"}, stock=2)

    browsing = Browsing(browser, node.port)
    lin = token("viewer", room, "lin")
    viewer = await browsing.open(f"/viewer?room={room}&token={lin}&lang=en", 390, 844)
    await expect(viewer.locator("#checkout")).to_be_hidden()
    await expect(viewer.locator("#claim")).to_be_enabled()
    await viewer.locator("#claim").click()
    await expect(viewer.locator("#claim-result")).to_have_class("ok")
    link = viewer.locator("#checkout")
    await expect(link).to_be_visible()
    await expect(link).to_have_text("Check out")
    href = await link.get_attribute("href")
    assert href is not None
    parts = urlsplit(href)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "jsmith.myshopify.com", "/cart/808950810:1")
    [claim_id] = parse_qs(parts.query)["attributes[livecart_claim]"]

    # The shop copies the cart attribute into the order's note attributes; its webhook settles the claim.
    order = json.loads((FIXTURES / "orders_paid.json").read_text())
    order["test"] = False  # the documented sample is a test order; this one is paid for real
    order["note_attributes"] = [{"name": "livecart_claim", "value": claim_id}]
    answer = await shopify(node.port, room, "orders/paid", json.dumps(order).encode(), "wh-paid")
    assert answer["accepted"] == 1
    deals = (await api(node.port, "GET", f"/api/rooms/{room}/deals", assistant))[1]["deals"]
    settled = next(d for d in deals if d["id"] == deal["id"])
    assert (settled["left"], settled["held"], settled["sold"]) == (1, 0, 1)
    assert browsing.errors.messages == []


PURE_SCRIPT = """async () => {
  const { checkoutLink } = await import("/client/viewer/checkout.js");
  const { since, sourceRows } = await import("/client/console/sources.js");
  const values = { claim: "c1&x=<y>", deal: "d1", product: "p 1", qty: 2 };
  return {
    links: [checkoutLink("https://s.example/cart/{product}:{qty}?c={claim}&d={deal}", values),
            checkoutLink("javascript:alert(1)//{claim}", values), checkoutLink(null, values),
            checkoutLink("not a url {claim}", values)],
    since: [since(0), since(59_400), since(61_000), since(3 * 3600_000), since(50 * 3600_000), since(-5)],
    rows: sourceRows({ now: 100_000, sources: [
      { id: "a", via: "http", last_at: 99_000, accepted: 3, duplicates: 0, rejected: 1, unmapped: 0 },
      { id: "b", via: "webhook", last_at: 30_000, accepted: 0, duplicates: 0, rejected: 0, unmapped: 2 }] }),
  };
}"""


async def test_the_checkout_link_and_source_rows_are_built_safely(make_node, room, browser):
    node = await make_node()
    page = await Browsing(browser, node.port).open(f"/console?room={room}&token={token('assistant', room)}")
    out = await page.evaluate(PURE_SCRIPT)
    assert out["links"] == ["https://s.example/cart/p%201:2?c=c1%26x%3D%3Cy%3E&d=d1", None, None, None]
    assert out["since"] == ["0 s", "59 s", "1 min", "3 h", "2 d", "0 s"]
    rows = [(r["id"], r["live"], r["ago"]) for r in out["rows"]]
    assert rows == [("a", True, "1 s"), ("b", False, "1 min")]
    assert out["rows"][0]["counts"] == {"accepted": 3, "duplicates": 0, "rejected": 1, "unmapped": 0}


async def test_the_assistant_sets_the_shop_secret_and_checkout_link_in_the_console(make_node, room, browser):
    node = await make_node()
    assistant = token("assistant", room, "amy")
    browsing = Browsing(browser, node.port)
    console = await browsing.open(f"/console?room={room}&token={assistant}&lang=en", 1440, 900)
    shopify_line = console.locator('#shop-lines li[data-shop="shopify"]')
    await expect(shopify_line).to_contain_text("no secret")
    await expect(shopify_line).to_contain_text(f"/api/rooms/{room}/webhooks/shopify")

    await console.locator("#shop-secret").fill(SECRET)
    await console.locator("#shop-save").click()
    await expect(console.locator("#shop-result")).to_have_text("Saved")
    await expect(shopify_line).to_contain_text("…" + SECRET[-4:] + " (set by amy)")
    await expect(console.locator("#shop-secret")).to_have_value("")
    assert SECRET not in await console.content()
    settings = (await api(node.port, "GET", f"/api/rooms/{room}/webhooks", assistant))[1]
    assert settings["shops"]["shopify"]["secret"]["hint"] == "…" + SECRET[-4:]
    # The secret the console saved is the one deliveries are checked with.
    assert (await shopify(node.port, room, "orders/create", b"{}", "wh-console"))["unmapped"]

    await console.locator("#checkout-url").fill("https://shop.example/cart?c={nope}")
    await console.locator("#checkout-save").click()
    await expect(console.locator("#shop-result")).to_contain_text("unknown placeholders nope")
    link = "https://jsmith.myshopify.com/cart/{product}:{qty}?attributes[livecart_claim]={claim}"
    await console.locator("#checkout-url").fill(link)
    await console.locator("#checkout-save").click()
    await expect(console.locator("#shop-result")).to_have_text("Saved")
    viewer = token("viewer", room, "v")
    assert (await api(node.port, "GET", f"/api/rooms/{room}/checkout", viewer))[1] == {"url": link}
    # The one error the page logged is the refused link above (the browser reports the 400 itself).
    assert [m for m in browsing.errors.messages if "400 (Bad Request)" not in m] == []
    assert len(browsing.errors.messages) == 1
