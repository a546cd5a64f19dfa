"""Runs `livecart-loadtest` as users run it: a subprocess with LIVECART_SECRET, against a real node."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support import LoadTool


@pytest.fixture
def loadtool(tmp_path: Path) -> LoadTool:
    return LoadTool(tmp_path)


@pytest.fixture
async def node(make_node: Any) -> Any:
    """The node under load. Its heartbeat (which aborts a socket silent for two periods) is relaxed from
    the suite's 5 s: here the loader's processes share the machine with the node and the test runner,
    and a loader event loop that lags for seconds is load, not a dead peer."""
    return await make_node(heartbeat_s=30.0)
