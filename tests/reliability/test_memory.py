"""Big comments toward a client that never reads (issue 13, point 5): the node's memory stays bounded and
the fast reader in the same room gets every comment once, in order.

240 ingest requests of 100 comments of 4 KB: about 96 MB toward each of the two sockets. The node runs
in its own process so that its RSS is its own. Before the fix the node's RSS peaked about 119 MB above
its settled start here (the director kept each comment's "words", a 4,000-letter run among them, for
its one-minute hot-words window); tests/reliability/memory_probe.py shows where with tracemalloc."""

from __future__ import annotations

from tests.reliability.fleet import NodeProcess
from tests.reliability.memory_scenario import run_scenario

MAX_GROWTH_MB = 64


async def test_a_never_reading_client_and_big_comments_keep_the_nodes_memory_bounded(redis_server, tmp_path):
    node = await NodeProcess(redis_server.url, tmp_path / "node").start()
    try:
        assert node.proc is not None
        outcome = await run_scenario(node.port, node.proc.pid, room="big-" + tmp_path.name[-8:])
    finally:
        await node.terminate()
    assert outcome.comments_read == outcome.comments_sent and outcome.in_order
    assert outcome.slow_closes == 1  # the never-reading socket was closed 1013 at its outbound bound
    assert outcome.growth_mb < MAX_GROWTH_MB, outcome
