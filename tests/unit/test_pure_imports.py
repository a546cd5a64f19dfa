"""Pure modules stay pure: importing them loads no Redis client (they read the store's value types)."""

from __future__ import annotations

import subprocess
import sys

import pytest

PURE = ["livecart.store.values", "livecart.room", "livecart.first_frames", "livecart.batch",
        "livecart.outbound", "livecart.deals", "livecart.stats", "livecart.events", "livecart.config"]


@pytest.mark.parametrize("module", PURE)
def test_a_pure_module_imports_no_redis(module):
    code = f"import sys, {module}; print(sorted(m for m in sys.modules if m.split('.')[0] == 'redis'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", f"{module} pulls in {out.strip()}"
