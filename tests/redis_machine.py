"""Hypothesis state machines that drive the real Lua scripts in the suite's redis-server.

Each example runs on an event loop of its own (Hypothesis calls rules synchronously): `run` awaits a
coroutine there. `run_machine` points a machine at the suite's Redis and runs it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import redis.asyncio as aioredis
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine

__all__ = ["RedisMachine", "run_machine"]

T = TypeVar("T")


class RedisMachine(RuleBasedStateMachine):
    redis_url = ""  # set by run_machine
    connections = 1  # Redis clients: several stand for nodes racing each other

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.clients = [aioredis.Redis.from_url(self.redis_url) for _ in range(self.connections)]
        self.client = self.clients[0]
        self.to_close: list[Any] = []  # stores with connections of their own (DealStore): closed first

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    def teardown(self) -> None:
        for store in self.to_close:
            store.close()
        for client in self.clients:
            self.run(client.aclose())
        self.loop.close()


def run_machine(machine: type[RedisMachine], redis_url: str, *, max_examples: int, steps: int) -> None:
    machine.redis_url = redis_url
    case = machine.TestCase
    case.settings = settings(max_examples=max_examples, stateful_step_count=steps, deadline=None,
                             suppress_health_check=[HealthCheck.too_slow])
    case().runTest()
