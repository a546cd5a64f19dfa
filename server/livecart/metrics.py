"""Prometheus metrics, one registry per node (two nodes in one test process do not share counters)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["Metrics", "SupervisorMetrics"]


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.connections = Gauge("livecart_connections", "Open room sockets", registry=r)
        self.rooms = Gauge("livecart_rooms", "Rooms with sockets on this node", registry=r)
        self.events_in = Counter("livecart_events_in", "Room events received from Redis", registry=r)
        self.events_ingested = Counter("livecart_events_ingested", "Events accepted by ingest", registry=r)
        self.events_out = Counter("livecart_events_out", "Room events written to sockets", registry=r)
        self.frames_out = Counter("livecart_frames_out", "Shared frames written to sockets", registry=r)
        self.bytes_out = Counter("livecart_bytes_out", "Bytes of shared frames written to sockets",
                                 registry=r)
        self.encodes = Counter("livecart_encodes", "Batch encodes (one per tick per format)", registry=r)
        self.connects_refused = Counter("livecart_connects_refused",
                                        "Socket upgrades refused with 503 busy (over the connect rate)",
                                        registry=r)
        self.refused_from_memory = Gauge("livecart_claims_refused_from_memory",
                                         "Claims refused sold out by the node's shortcut, without the claim "
                                         "script, since the node started", registry=r)
        self.intake_waits = Counter("livecart_intake_waits",
                                    "Socket input chunks that waited for a later loop pass (intake.py)",
                                    registry=r)
        self.slow_closes = Counter("livecart_slow_consumer_closes", "Sockets closed 1013 for falling behind",
                                   registry=r)
        self.ip_rejections = Counter("livecart_ip_rejections",
                                     "Upgrades, claims and comments refused by a per-client-IP limit",
                                     ["limit"], registry=r)
        self.client_ips = Gauge("livecart_client_ips",
                                "Client addresses (IPv4, IPv6 /64) with open sockets on this node",
                                registry=r)
        self.unfinished = Gauge("livecart_unfinished_connections",
                                "Connections that have not completed a request head (or upgrade) yet",
                                registry=r)
        self.handshake_timeouts = Counter("livecart_handshake_timeouts",
                                          "Connections closed for not completing a request or upgrade "
                                          "within the handshake deadline", registry=r)
        self.resumes = Counter("livecart_resumes", "Resume attempts by outcome", ["outcome"], registry=r)
        self.tick_seconds = Histogram("livecart_tick_seconds",
                                      "Time spent writing one round of a room (every socket once)",
                                      buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25),
                                      registry=r)
        self.pubsub_reconnects = Gauge("livecart_pubsub_reconnects", "Times the Redis subscriber reconnected",
                                       registry=r)
        self.redis_restarts = Gauge("livecart_embedded_redis_restarts",
                                    "Restart attempts of the embedded redis-server after it died", registry=r)
        self.redis_used_memory = Gauge("livecart_redis_used_memory_bytes",
                                       "Redis used_memory, read at each scrape", registry=r)
        self.redis_maxmemory = Gauge("livecart_redis_maxmemory_bytes",
                                     "Redis maxmemory (0: no limit), read at each scrape", registry=r)
        self.redis_seconds = Histogram("livecart_redis_seconds", "Redis round trip (health probe)",
                                       buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1.0),
                                       registry=r)
        self.webhooks = Counter("livecart_webhooks", "Shop webhook deliveries by shop and outcome "
                                "(accepted, duplicate, rejected, unmapped, bad_signature, no_secret, ...)",
                                ["shop", "outcome"], registry=r)

        self.cues = Counter("livecart_cues", "Cues this node stored and published, by kind", ["kind"],
                            registry=r)
        self.directed_rooms = Gauge("livecart_directed_rooms", "Rooms whose director lease this node holds",
                                    registry=r)
        self.director_seconds = Histogram("livecart_director_step_seconds", "One room's director step",
                                          buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
                                          registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class SupervisorMetrics:
    """What only the supervisor of `serve --workers N` knows, on its own probe port (metrics_port + N)."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.workers = Gauge("livecart_workers", "Worker processes the supervisor keeps running", registry=r)
        self.worker_restarts = Gauge("livecart_worker_restarts", "Workers started again after they exited",
                                     registry=r)
        self.redis_restarts = Gauge("livecart_embedded_redis_restarts",
                                    "Restart attempts of the embedded redis-server after it died", registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)
