"""Runs `livecart-loadtest` as users run it: a subprocess with LIVECART_SECRET, against a real node."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support import SECRET, WAIT


@dataclass
class ToolRun:
    code: int
    path: Path
    result: dict[str, Any]
    stdout: str
    stderr: str


class LoadTool:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.runs = 0

    async def start(self, scenario: str, port: int, *args: str) -> tuple[asyncio.subprocess.Process, Path]:
        self.runs += 1
        out = self.tmp_path / f"{scenario}-{self.runs}.json"
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "loadtest", scenario, "--url", f"http://127.0.0.1:{port}",
            "--json", str(out), "--drain", "10", *args, env=dict(os.environ, LIVECART_SECRET=SECRET),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        return proc, out

    async def finish(self, proc: asyncio.subprocess.Process, out: Path) -> ToolRun:
        stdout, stderr = await asyncio.wait_for(proc.communicate(), 24 * WAIT)
        assert proc.returncode in (0, 1), stderr.decode()
        return ToolRun(proc.returncode, out, json.loads(out.read_text()), stdout.decode(), stderr.decode())

    async def run(self, scenario: str, port: int, *args: str) -> ToolRun:
        return await self.finish(*await self.start(scenario, port, *args))


@pytest.fixture
def loadtool(tmp_path: Path) -> LoadTool:
    return LoadTool(tmp_path)


@pytest.fixture
async def node(make_node: Any) -> Any:
    """The node under load. Its heartbeat (which aborts a socket silent for two periods) is relaxed from
    the suite's 5 s: here the loader's processes share the machine with the node and the test runner,
    and a loader event loop that lags for seconds is load, not a dead peer."""
    return await make_node(heartbeat_s=30.0)
