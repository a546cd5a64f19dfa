"""Stopping the node's own tasks: cancel, and make sure they end.

Python 3.11's asyncio.wait_for drops a cancel that arrives just as what it waits on completes, and
redis-py writes every command under one (socket_timeout): a task cancelled once may carry on, and one
that carries on past the node's stop may open a Redis connection after the pool was closed (a leak).
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from typing import Any

__all__ = ["cancel_and_wait"]


async def cancel_and_wait(tasks: Collection[asyncio.Task[Any]], timeout_s: float) -> None:
    """Cancel `tasks` and wait (at most `timeout_s`) for them to end, cancelling again every few ms any
    that is still running. A loop between Redis calls (the director, the bag timers) went on as if never
    cancelled about one stop in five, and each stop waited out the whole timeout."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    pending = set(tasks)
    while pending and loop.time() < deadline:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=min(0.05, max(0.0, deadline - loop.time())))
