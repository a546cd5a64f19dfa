"""The bridge process's own Prometheus metrics, served by `livecart connect --metrics-port` on
/metrics (a bridge is its own process, so it exposes them itself; nothing is pushed)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

__all__ = ["BridgeMetrics"]


class BridgeMetrics:
    def __init__(self, platform: str) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.platform_events = Counter(
            "livecart_bridge_platform_events",
            "platform events received, by the platform's type and what "
            "became of them (mapped, pending, dropped, unmapped)",
            ["platform", "type", "outcome"],
            registry=r,
        )
        self.sent = Counter(
            "livecart_bridge_events_sent",
            "room events sent to ingest, by the node's answer",
            ["result"],
            registry=r,
        )
        self.dropped = Counter(
            "livecart_bridge_dropped", "room events the bridge dropped before sending", ["reason"], registry=r
        )
        self.notices = Counter("livecart_bridge_notices", "notices for staff", ["kind", "result"], registry=r)
        self.retries = Counter("livecart_bridge_ingest_retries", "ingest requests sent again", registry=r)
        self.reconnects = Counter(
            "livecart_bridge_reconnects", "connections to the platform made again", registry=r
        )
        self.connected = Gauge("livecart_bridge_connected", "1 while connected to the platform", registry=r)
        self.node_up = Gauge(
            "livecart_bridge_node_up", "1 when the last ingest request was answered", registry=r
        )
        self.viewers = Gauge(
            "livecart_bridge_platform_viewers", "the platform's viewer count, as last reported", registry=r
        )
        self.open_streaks = Gauge(
            "livecart_bridge_open_gift_streaks", "gift streaks not yet ended", registry=r
        )
        self.platform = platform

    def text(self) -> bytes:
        return generate_latest(self.registry)
