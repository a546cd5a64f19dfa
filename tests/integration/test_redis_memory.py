"""Redis stays bounded and watched: the embedded redis-server runs with a maxmemory and noeviction (at the
limit a write fails and is retried, never a claim silently dropped), and /metrics shows its memory."""

from __future__ import annotations

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from livecart.node import Node
from tests.conftest import node_settings


async def scrape(port: int) -> dict[str, float]:
    async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/metrics") as resp:
        text = await resp.text()
    return {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples}


async def test_the_embedded_redis_has_a_maxmemory_without_eviction_and_metrics_show_it(tmp_path):
    node = Node(node_settings(None, tmp_path / "data", redis_maxmemory="64mb"))
    await node.start()
    try:
        config = await node.store.client.config_get("maxmemory*")
        assert config["maxmemory"] == str(64 * 1024 * 1024)
        assert config["maxmemory-policy"] == "noeviction"
        metrics = await scrape(node.port)
        assert metrics["livecart_redis_maxmemory_bytes"] == 64 * 1024 * 1024
        assert 0 < metrics["livecart_redis_used_memory_bytes"] < 64 * 1024 * 1024
    finally:
        await node.stop()
