"""Pure modules stay pure: importing them loads no Redis client and no HTTP stack (they read the
store's value types)."""

from __future__ import annotations

import subprocess
import sys

import pytest

# The pure layer of docs/architecture.md's first picture, every module of it.
PURE = ["livecart.store.values", "livecart.store.channel", "livecart.room", "livecart.first_frames",
        "livecart.batch", "livecart.outbound", "livecart.deals", "livecart.stats", "livecart.events",
        "livecart.config", "livecart.cues", "livecart.audience", "livecart.money", "livecart.comments",
        "livecart.report", "livecart.protocol", "livecart.framing", "livecart.errors", "livecart.auth",
        "livecart.intake", "livecart.invites", "livecart.goals", "livecart.tiers", "livecart.goal_report"]


@pytest.mark.parametrize("module", PURE)
def test_a_pure_module_imports_no_redis_and_no_http(module):
    code = (f"import sys, {module}; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('redis', 'aiohttp')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", f"{module} pulls in {out.strip()}"
