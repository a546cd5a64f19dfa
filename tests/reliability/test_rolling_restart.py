"""Both nodes restarted one after the other (SIGTERM, start again) during steady ingest: every client
resumes on the other node and nobody misses or repeats an event."""

from __future__ import annotations

from tests.reliability.fleet import Follower, NodeProcess, Publisher, wait_followers, wait_health
from tests.support import WAIT


async def test_a_rolling_restart_of_both_nodes_loses_no_event_for_any_client(redis_server, room, tmp_path):
    nodes = [NodeProcess(redis_server.url, tmp_path / f"node{i}") for i in range(2)]
    try:
        for node in nodes:
            await node.start()
        ports = [n.port for n in nodes]
        followers = [Follower(ports, room, start=i) for i in range(8)]
        await wait_followers(followers)
        publisher = Publisher(ports, room)
        for node in nodes:
            await publisher.more(30, "steady ingest")
            assert await node.terminate() == 0  # 1001 "going away, resume elsewhere" to its sockets
            await publisher.more(30, "ingest on the other node alone")
            await node.start()  # the same port: the balancer would send new sockets here again
            await wait_health(node.port, 200)
        await publisher.more(30, "ingest after the restarts")
        await publisher.stop()

        for f in followers:
            await f.reach(len(publisher.ids), 6 * WAIT)
        for f in followers:
            f.assert_complete(publisher.ids)
            assert 1001 in f.closes and f.first_frames["recovered"] >= 1, (f.closes, f.first_frames)
        for f in followers:
            await f.stop()
    finally:
        for node in nodes:
            await node.close()
