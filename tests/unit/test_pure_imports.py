"""Pure modules stay pure: importing them loads no Redis client and no HTTP stack (they read the
store's value types)."""

from __future__ import annotations

import subprocess
import sys

import pytest

# The pure layer of docs/architecture.md's first picture, every module of it.
# One module a line, sorted: branches that add pure modules then rarely touch the same line.
PURE = [
    "livecart.audience",
    "livecart.auth",
    "livecart.batch",
    "livecart.bridges.bilibili",
    "livecart.bridges.mapped",
    "livecart.bridges.tiktok",
    "livecart.comments",
    "livecart.config",
    "livecart.cues",
    "livecart.deals",
    "livecart.errors",
    "livecart.events",
    "livecart.first_frames",
    "livecart.framing",
    "livecart.goal_report",
    "livecart.goals",
    "livecart.handshake",
    "livecart.intake",
    "livecart.interaction_report",
    "livecart.invites",
    "livecart.lucky_bag",
    "livecart.moderation",
    "livecart.money",
    "livecart.outbound",
    "livecart.polls",
    "livecart.protocol",
    "livecart.report",
    "livecart.room",
    "livecart.shop_orders",
    "livecart.shows",
    "livecart.source_cues",
    "livecart.sources",
    "livecart.stats",
    "livecart.store.channel",
    "livecart.store.values",
    "livecart.tiers",
    "livecart.webhook_signature",
]


@pytest.mark.parametrize("module", PURE)
def test_a_pure_module_imports_no_redis_and_no_http(module):
    code = (f"import sys, {module}; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('redis', 'aiohttp')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", f"{module} pulls in {out.strip()}"
