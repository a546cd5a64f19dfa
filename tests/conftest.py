"""Shared fixtures: a real redis-server on a free port, real livecart nodes on 127.0.0.1:0.

No mocks: every integration test talks to a real Redis and real sockets. Rooms are unique per test
(`room` fixture), so tests share one Redis without seeing each other's data.
"""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import gc
import os
import re
import signal
import sys
import uuid
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
import uvloop

from livecart.config import Settings
from livecart.node import Node
from tests.support import RedisProcess

SECRET = "test-secret"

# scripts/test sends SIGUSR1 to a run that hangs, before stopping it: every thread's stack, to name where.
# Into a file it prints afterwards: pytest's output capture holds stderr's file descriptor by then.
if os.environ.get("LIVECART_HANG_DUMP"):
    _hang_dump = open(os.environ["LIVECART_HANG_DUMP"], "w")  # open for the whole run
    faulthandler.register(signal.SIGUSR1, file=_hang_dump, all_threads=True)


class LeakCheckingLoop(uvloop.Loop):
    """uvloop, as production runs it, with one difference at close: a transport, server or timer a test
    left open fails that test, by name, instead of hanging the whole run.

    Why: uvloop's close() walks the handles still open and, for each, warns ResourceWarning *before*
    closing it, inside a callback that cannot raise. Under this suite's `filterwarnings = error` the
    warning is raised there, the handle is never closed, and close() then waits in epoll for it forever
    (the "pytest hangs after a test passed" seen in CI; reproduced in tests/unit/test_leak_checking_loop.py).
    Here the warnings are recorded rather than raised, so every handle closes, and then reported."""

    def close(self) -> None:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ResourceWarning)
            super().close()
        leaks = sorted({str(w.message) for w in caught if issubclass(w.category, ResourceWarning)})
        if leaks:
            raise AssertionError("left open when the test's event loop closed:\n  "
                                 + "\n  ".join(map(describe_leak, leaks)))


def describe_leak(message: str) -> str:
    """uvloop's warning names a transport by its id(): find it, and say whose it was and where it went
    (its protocol's class, its addresses), which is what tells the leaking code apart."""
    found = re.search(r"0x[0-9a-f]+", message)
    if found is None:
        return message
    wanted = int(found.group(), 16)
    for obj in gc.get_objects():
        if id(obj) == wanted and hasattr(obj, "get_protocol"):
            ends = []
            for key in ("sockname", "peername"):
                with contextlib.suppress(Exception):
                    ends.append(f"{key}={obj.get_extra_info(key)}")
            protocol = type(obj.get_protocol())
            return f"{message}: {protocol.__module__}.{protocol.__qualname__} {' '.join(ends)}"
    return message


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> dict[str, object]:
    # Production runs on uvloop; its transports differ from asyncio's in ways that matter here.
    return {"uvloop": LeakCheckingLoop}


@pytest.fixture(autouse=True)
async def no_task_outlives_its_test() -> AsyncIterator[None]:
    """After each test (and after its nodes stopped), end every task it left behind.

    pytest-asyncio's runner then cancels what is left and waits for it without a bound: a task that does
    not end on cancellation hung the whole run once in about ten CI runs (after the backpressure test;
    which task it was is not known yet). Here each straggler is cancelled, and so is the very future it
    waits on, a few times over; any that still will not end is printed with its stack, to name it."""
    yield
    current = asyncio.current_task()
    for attempt in range(50):
        stragglers = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
        if not stragglers:
            return
        if attempt == 0:  # shown when the test then fails: a task that outlived its node may have
            # opened the Redis connection the loop's close reports as leaked (the pool was closed)
            print("tasks still running after the test and its nodes:", file=sys.stderr)
            for task in stragglers:
                task.print_stack(limit=3, file=sys.stderr)
        for task in stragglers:
            task.cancel()
            waiter = getattr(task, "_fut_waiter", None)
            if waiter is not None and not waiter.done():
                waiter.cancel()
        await asyncio.sleep(0.1)
    for task in asyncio.all_tasks():
        if task is not current and not task.done():
            task.print_stack(limit=10)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisProcess]:
    # No AOF: nothing restarts the shared Redis (the restart tests start their own), and an fsync on
    # every write made each of the suite's thousands of writes wait for the disk.
    server = RedisProcess(tmp_path_factory.mktemp("redis"), appendonly=False)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisProcess]:
    """A redis-server for this test alone. For tests that read node-wide numbers (a director's room
    gauge, cue counters): on the shared Redis, other tests' live rooms are there for any node to take.
    Ask for it before `make_node`, so it stops after the test's nodes."""
    server = RedisProcess(tmp_path / "own-redis", appendonly=False)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def room() -> str:
    return "r-" + uuid.uuid4().hex[:10]


def node_settings(redis_url: str | None, data_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {"port": 0, "redis_url": redis_url, "data_dir": data_dir,
                                 "secret": SECRET, "presence_s": 0.2, "heartbeat_s": 5.0}
    values.update(overrides)
    return Settings.from_env({}, {k: str(v) if v is not None else None for k, v in values.items()})


NodeFactory = Callable[..., Awaitable[Node]]


@pytest.fixture
async def make_node(redis_server: RedisProcess, tmp_path: Path) -> AsyncIterator[NodeFactory]:
    nodes: list[Node] = []

    async def start(redis_url: str | None = None, **overrides: object) -> Node:
        url = redis_url if redis_url is not None else redis_server.url
        node = Node(node_settings(url, tmp_path / f"node{len(nodes)}", **overrides))
        await node.start()
        nodes.append(node)
        return node

    yield start
    try:
        await asyncio.wait_for(asyncio.gather(*(n.stop() for n in nodes)), 20 * timeout_factor())
    except TimeoutError:
        # A node that cannot stop is a bug: show what it is waiting for instead of hanging CI.
        for task in asyncio.all_tasks():
            task.print_stack(limit=8)
        raise


@pytest.fixture
async def node(make_node: NodeFactory) -> Node:
    return await make_node()


def timeout_factor() -> float:
    return float(os.environ.get("LIVECART_TESTS_TIMEOUT_FACTOR", "1"))
