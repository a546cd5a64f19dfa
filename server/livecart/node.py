"""One livecart node, and the one place its parts are put together (the composition root).

`Node.start()` builds its Redis clients (embedded or shared Redis), the stores, the room hub, the
director, the claim desk, ingest, the HTTP app and the socket listener, handing each exactly the parts
it uses (constructor arguments; nothing else reaches through the node), and brings them up in
dependency order. `Node.stop()` takes them down in reverse: stop accepting, close every socket with
1001 "going away, resume elsewhere", let buffers flush, stop the hub, the HTTP app, Redis clients and
finally the embedded redis-server (which flushes its AOF).
Several nodes can run in one process (tests do): nothing here is global.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging

import redis.asyncio as aioredis
from aiohttp import web
from redis.asyncio import BlockingConnectionPool, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from livecart.bag_desk import BagDesk
from livecart.claims import ClaimDesk
from livecart.clock import Clock
from livecart.clock_sync import ClockSync
from livecart.config import Settings, cluster_address
from livecart.cues import load_rules
from livecart.currencies import RoomCurrencies
from livecart.deal_timers import DealTimers
from livecart.director import Director
from livecart.errors import CloseCode, StoreUnavailable
from livecart.goal_watch import GoalWatch
from livecart.hub import RoomHub
from livecart.ingest import Ingest
from livecart.intake import Intake
from livecart.interactions import RoomInteractions
from livecart.logs import quiet_bad_requests
from livecart.metrics import Metrics
from livecart.moderator import Moderator
from livecart.poll_desk import PollDesk
from livecart.presence import Presence
from livecart.ratelimit import RateLimiter
from livecart.show_desk import ShowDesk
from livecart.shutdown import cancel_and_wait
from livecart.source_log import SourceLog
from livecart.store.bag_store import BagStore
from livecart.store.cue_store import CueStore
from livecart.store.deal_store import DealStore
from livecart.store.embedded import EmbeddedRedis
from livecart.store.goal_store import GoalStore
from livecart.store.invite_store import InviteStore
from livecart.store.moderation_store import ModerationStore
from livecart.store.poll_store import PollStore
from livecart.store.redis_store import RedisStore
from livecart.store.shop_store import ShopStore
from livecart.store.show_store import ShowStore
from livecart.store.source_store import SourceStore
from livecart.store.stats_store import StatsStore
from livecart.store.subscriber import subscriber_for
from livecart.web.admission import Admission
from livecart.web.app import create_app, create_probe_app
from livecart.web.ingest_socket import IngestEndpoint
from livecart.web.interactions import add_interaction_routes, interaction_report_reader
from livecart.web.listener import Listener
from livecart.web.revocation import Revocations
from livecart.web.room_socket import RoomEndpoint
from livecart.web.ws import Endpoint, SocketLimits

__all__ = ["Node"]

log = logging.getLogger("livecart.node")
REDIS_CONNECTIONS = 64


class Node:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.metrics = Metrics()
        self.clock = Clock()
        self.ingest_limiter = RateLimiter(settings.ingest_rate, settings.ingest_burst)
        self.comment_limiter = RateLimiter(settings.comment_rate, settings.comment_burst)
        self.admission = Admission(settings, self.metrics)  # per-IP limits and the node's connect limit
        quiet_bad_requests()  # a malformed request is answered 400, not logged as a node error
        self.embedded: EmbeddedRedis | None = None
        self.port = 0
        self._server: asyncio.Server | None = None
        self._runner: web.AppRunner | None = None
        self._probe_runner: web.AppRunner | None = None  # /healthz and /metrics on metrics_port
        self._hub_task: asyncio.Task[None] | None = None
        # The Redis clients, set by start(); stop() closes those that were made.
        self.redis: aioredis.Redis | RedisCluster | None = None
        self.subscriber_client: aioredis.Redis | RedisCluster | None = None
        self.deal_store: DealStore | None = None  # its claim path has a connection of its own

    @property
    def redis_url(self) -> str:
        if self.embedded is not None:
            return self.embedded.url
        assert self.settings.redis_url is not None
        return self.settings.redis_url

    async def start(self) -> None:
        s = self.settings
        if s.redis_url is None:
            self.embedded = EmbeddedRedis(s.data_dir, s.redis_server, s.redis_maxmemory)
            await self.embedded.start()
        # One quick retry on a fresh connection hides a pooled connection that died with a Redis restart.
        # Retrying is safe: every write script is idempotent (event ids, claim keys).
        retry = Retry(ExponentialBackoff(cap=0.2, base=0.02), retries=1)
        cluster = cluster_address(self.redis_url)
        redis: aioredis.Redis | RedisCluster
        if cluster is not None:
            # Every key of a room carries its hash tag, so each script runs on the room's shard; room
            # channels are sharded (SPUBLISH/SSUBSCRIBE) so a message only travels to that shard.
            redis = self.redis = RedisCluster(host=cluster[0], port=cluster[1], retry=retry,
                                              max_connections=REDIS_CONNECTIONS, socket_timeout=5,
                                              socket_connect_timeout=2)
            await redis.initialize()
        else:
            # A bounded pool that makes callers wait for a connection (redis-py 8's default pool fails
            # the 101st concurrent caller instead); claims and joins are batched, so a few dozen suffice.
            pool = BlockingConnectionPool.from_url(self.redis_url, max_connections=REDIS_CONNECTIONS,
                                                   timeout=10, socket_timeout=5, socket_connect_timeout=2,
                                                   retry=retry, retry_on_error=[RedisConnectionError])
            redis = self.redis = aioredis.Redis(connection_pool=pool)
        # The subscriber's connections idle for long stretches: no read timeout, but a health check.
        subscriber_client = redis if cluster is not None else aioredis.Redis.from_url(
            self.redis_url, socket_connect_timeout=2, health_check_interval=5)
        self.subscriber_client = subscriber_client
        sharded = cluster is not None
        self.store = RedisStore(redis, history_max=s.history_max, history_max_age_s=s.history_max_age_s,
                                dedup_window_s=s.dedup_window_s, sharded_pubsub=sharded,
                                default_currency=s.default_currency)
        self.deal_store = DealStore(redis, sharded_pubsub=sharded)
        self.hub = RoomHub(self.store, subscriber_for(subscriber_client), clock=self.clock,
                           tick_ms=s.tick_ms, max_tick_ms=s.max_tick_ms, state_tick_ms=s.state_tick_ms,
                           revocation_check_s=s.revocation_check_s, metrics=self.metrics,
                           fanout_slice=s.fanout_slice)
        self.presence = Presence(self.store, self.hub, clock=self.clock, node_id=s.node_id,
                                 presence_s=s.presence_s)
        self.deal_timers = DealTimers(self.deal_store, self.hub, clock=self.clock)
        self.clock_sync = ClockSync(self.store, self.clock)
        self.hub.on_room_closed = self.presence.room_closed
        self.hub.on_deals_changed = self.deal_timers.watch
        self.goal_store = GoalStore(redis, sharded_pubsub=sharded)
        self.goal_watch = GoalWatch(self.goal_store, clock=self.clock, node_id=s.node_id)
        self.hub.on_numbers = self.goal_watch.saw
        self.revocations = Revocations(self.store)
        self.hub.on_revoked = self.revocations.note
        # Measure the shared clock before serving anything: the sync loop only does so after its first
        # second, and until then a node whose machine clock is wrong stamped its frames (countdowns) and
        # checked `start_at` with that wrong clock (tests/reliability/test_clock_skew.py).
        await self.clock_sync.sync()
        with contextlib.suppress(StoreUnavailable):  # Redis down: the first claims load them instead
            await self.deal_store.load_scripts()
        hub = self.hub
        self.claims = ClaimDesk(self.deal_store, self.clock, hold_s=s.hold_s,
                                limiter=RateLimiter(s.claim_rate, s.claim_burst),
                                known_deal=lambda room, deal: (r.deals.get(deal) if (r := hub.rooms.get(room))
                                                               else None),
                                holding=self.deal_timers.note_hold, limit_address=self.admission.claim)
        self.currencies = RoomCurrencies(self.store)
        self.cue_store = CueStore(redis, retention_days=s.stats_retention_days, sharded_pubsub=sharded)
        self.stats_store = StatsStore(redis, retention_days=s.stats_retention_days)
        # Room interactions (issue 17): polls, buyer shows, moderation.
        self.poll_store = PollStore(redis, sharded_pubsub=sharded)
        self.show_store = ShowStore(redis, sharded_pubsub=sharded)
        self.moderation_store = ModerationStore(redis)
        self.moderator = Moderator(self.moderation_store, self.show_store, self.clock)
        # Lucky bags: a user muted for the show enters no bag (bag.lua checks moderation's mutes).
        self.bag_store = BagStore(redis, sharded_pubsub=sharded)
        self.bags = BagDesk(self.bag_store, self.clock, cue_store=self.cue_store, cue_lang=s.cue_lang)
        self.invite_store = InviteStore(redis, sharded_pubsub=sharded)
        self.director = Director(self.store, self.deal_store, self.cue_store, self.stats_store,
                                 clock=self.clock, node_id=s.node_id, rules=load_rules(s.cue_rules or None),
                                 lang=s.cue_lang, local_rooms=self.hub.rooms, metrics=self.metrics,
                                 deal_retention_ms=int(s.deal_retention_days * 86_400_000),
                                 room_retention_ms=int(s.room_retention_days * 86_400_000),
                                 step_s=s.director_step_s)
        self._director_task = asyncio.create_task(self.director.run(), name="director")
        self._director_task.add_done_callback(_report_crash)
        self._hub_task = asyncio.create_task(self.hub.run(), name="hub")
        self._hub_task.add_done_callback(_report_crash)
        self._companion_tasks = [asyncio.create_task(c.run(), name=n) for c, n in (
            (self.presence, "presence"), (self.deal_timers, "deal-timers"), (self.clock_sync, "clock-sync"),
            (self.bags, "lucky-bags"), (self.goal_watch, "goal-watch"))]
        for task in self._companion_tasks:
            task.add_done_callback(_report_crash)
        self._claims_task = asyncio.create_task(self.claims.run(), name="claim-stats")
        self.source_store = SourceStore(redis, keep_days=s.room_retention_days)
        self.source_log = SourceLog(self.source_store)
        source_task = asyncio.create_task(self.source_log.run(), name="source-log")
        source_task.add_done_callback(_report_crash)
        self._companion_tasks.append(source_task)
        show_desk = ShowDesk(self.show_store, self.cue_store, self.moderator, self.clock)
        self.poll_desk = PollDesk(self.poll_store, self.clock)
        self.interactions = RoomInteractions(self.moderator, self.poll_desk, show_desk)
        self.ingest = Ingest(self.store, self.deal_store, self.claims, self.currencies, self.clock,
                             self.metrics, limiter=self.ingest_limiter, max_events=s.ingest_max_events,
                             touch=self.director.touch, sources=self.source_log,
                             lucky_bags=self.bags.observe, interactions=self.interactions,
                             invite_store=self.invite_store)
        limits = SocketLimits(high_water=s.outbound_high_water, max_bytes=s.outbound_max_bytes,
                              max_inbound=s.max_inbound_bytes, heartbeat_s=s.heartbeat_s,
                              handshake_s=s.handshake_timeout_s)
        self.rooms = RoomEndpoint(self.hub, self.store, self.cue_store, self.claims, self.revocations,
                                  self.clock, token_keys=s.token_keys, allowed_origins=s.allowed_origin_list,
                                  comment_limiter=self.comment_limiter, limit_address=self.admission.comment,
                                  bags=self.bags, interactions=self.interactions)
        routes: dict[str, Endpoint] = {"/ws/rooms/": self.rooms,
                                       "/ws/ingest/": IngestEndpoint(self.ingest, s.token_keys)}
        self.listener = Listener(routes, limits, self.metrics, self.admission,
                                 Intake(s.intake_messages, s.intake_ms / 1000))
        self.deal_store.after_answers(self.listener.write_replies)  # answers leave with their batch
        app = create_app(settings=s, store=self.store, deal_store=self.deal_store, cue_store=self.cue_store,
                         stats_store=self.stats_store, claim_desk=self.claims, ingest=self.ingest,
                         currencies=self.currencies, clock=self.clock, metrics=self.metrics,
                         admission=self.admission, revocations=self.revocations, listener=self.listener,
                         segmenter=self.director.segmenter, refresh_gauges=self._refresh_gauges,
                         invite_store=self.invite_store, goal_store=self.goal_store,
                         shop_store=ShopStore(redis), source_store=self.source_store,
                         bag_desk=self.bags, bag_store=self.bag_store,
                         interaction_routes=functools.partial(
                             add_interaction_routes, interactions=self.interactions, polls=self.poll_store,
                             shows=self.show_store, moderation=self.moderation_store, clock=self.clock),
                         interaction_report=interaction_report_reader(self.poll_store, self.show_store,
                                                                      self.moderation_store, self.clock))
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        assert self._runner.server is not None
        self.listener.serve_http(self._runner.server)
        # jieba's dictionary (~60 MB of Python objects, a second or two of CPU) before the port opens: a
        # node that accepts sockets is fully started, so no comment waits on it and what it holds idle is
        # not counted against the first sockets (shared/bench reads RSS as soon as the port answers).
        await asyncio.to_thread(self.director.segmenter.warm)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self.listener.protocol, s.host, s.port, backlog=4096,
                                                reuse_address=True, reuse_port=s.reuse_port or None)
        self.port = self._server.sockets[0].getsockname()[1]
        if s.metrics_port:
            self._probe_runner = web.AppRunner(create_probe_app(
                store=self.store, metrics=self.metrics, refresh_gauges=self._refresh_gauges,
                node_id=s.node_id), handle_signals=False, access_log=None)
            await self._probe_runner.setup()
            await web.TCPSite(self._probe_runner, s.host, s.metrics_port, reuse_address=True).start()
        self.listener.start_heartbeat()
        log.info("node %s listening on %s:%s (redis %s)", s.node_id, s.host, self.port,
                 "embedded" if self.embedded else "shared")

    def _refresh_gauges(self) -> None:
        """The gauges a /metrics scrape reads from the node's parts."""
        self.metrics.rooms.set(len(self.hub.rooms))
        self.metrics.pubsub_reconnects.set(self.hub.subscriber.reconnects)
        self.metrics.client_ips.set(len(self.admission.sockets))
        self.metrics.unfinished.set(len(self.listener.unfinished))
        self.metrics.refused_from_memory.set(self.claims.refused_from_memory)
        if self.embedded is not None:
            self.metrics.redis_restarts.set(self.embedded.restarts)

    async def stop(self) -> None:
        if self.embedded is not None:
            self.embedded.stopping()
        if self._server is not None:
            self._server.close()
            await self.listener.close_all(CloseCode.GOING_AWAY, "going away, resume elsewhere",
                                          grace_s=min(3.0, self.settings.shutdown_timeout_s))
        if self._hub_task is not None:
            self._claims_task.cancel()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.claims.flush(), 2)  # refusals answered from memory
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.source_log.flush(), 2)  # the last second of source counts
            await cancel_and_wait([self._hub_task, self._director_task, *self._companion_tasks], 2)
            await self.hub.stop()
            await self.rooms.stop()
            await self.poll_desk.stop()
            await self.goal_watch.stop()
        for runner in (self._probe_runner, self._runner):
            if runner is not None:
                await runner.cleanup()
        if self.deal_store is not None:
            self.deal_store.close()
        for client in {id(c): c for c in (self.redis, self.subscriber_client)}.values():
            if isinstance(client, RedisCluster):
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(client.aclose(), 2)
            elif client is not None:
                with contextlib.suppress(Exception):  # the pool is ours, so it is not closed by default
                    await asyncio.wait_for(client.aclose(close_connection_pool=True), 2)
        if self.embedded is not None:
            await self.embedded.stop()


def _report_crash(task: asyncio.Task[None]) -> None:
    # The hub's loops handle Redis outages themselves; anything escaping them is a bug worth shouting.
    if not task.cancelled() and task.exception() is not None:
        log.critical("%s stopped", task.get_name(), exc_info=task.exception())
