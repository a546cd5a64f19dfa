"""A bridge's life: connect to the platform, feed what it sends through the mapping into the outbox,
and connect again with backoff when the connection ends or fails.

`Sink` is the one place a mapped event goes through: it counts it (per platform type and outcome),
puts its room events and notices in the outbox, records viewer counts (the gauge, and `viewers` room
events at most every few seconds: viewer_count.py), and sends the gift streaks
that went quiet. The platform connection (`tiktok_live`, `bilibili_live`) is a function that calls
`sink.take(...)` for each of its library's events and returns or raises when the connection ends;
`supervise` runs it again, waiting 1 s doubling to 60 s (reset once a connection has lasted a
minute), and tells staff once when the source has failed three tries in a row, and again when it has
been back for a minute.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from livecart.bridges.mapped import Mapped, Notice
from livecart.bridges.metrics import BridgeMetrics
from livecart.bridges.outbox import Outbox
from livecart.bridges.viewer_count import ViewerThrottle

__all__ = ["Sink", "serve_metrics", "supervise"]

log = logging.getLogger("livecart.bridge")


def now_ms() -> int:
    return int(time.time() * 1000)


class Sink:
    def __init__(
        self,
        platform: str,
        outbox: Outbox,
        metrics: BridgeMetrics,
        expire: Callable[[int], list[dict[str, Any]]] | None = None,
        viewers: ViewerThrottle | None = None,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self.platform = platform
        self.outbox = outbox
        self.metrics = metrics
        self._expire = expire
        self._viewers = viewers  # the platform's viewer count as `viewers` room events, throttled
        self._clock = clock
        self._kinds: set[str] = set()

    MAX_KINDS = 200  # a platform names its own types: label values stay bounded whatever it sends

    def take(self, mapped: Mapped) -> None:
        kind = mapped.kind
        if kind not in self._kinds:
            if len(self._kinds) >= self.MAX_KINDS:
                kind = "other"
            else:
                self._kinds.add(kind)
        self.metrics.platform_events.labels(self.platform, kind, mapped.outcome).inc()
        events = mapped.events
        if mapped.viewers is not None:
            self.metrics.viewers.set(mapped.viewers)
            if self._viewers is not None:
                events = events + self._viewers.offer(mapped.viewers, self._clock())
        self.outbox.put(events, mapped.notices)

    def tick(self, at_ms: int) -> None:
        """Send the gift streaks that went quiet (`livecart connect` calls it every second: a streak may
        be the last thing a stream sends, so no later message can be what notices it), and the viewer
        count held back by the throttle once its interval is over."""
        if self._viewers is not None:
            held = self._viewers.tick(at_ms)
            if held:
                self.outbox.put(held)
        if self._expire is not None:
            quiet = self._expire(at_ms)
            if quiet:
                self.metrics.platform_events.labels(self.platform, "gift_streak_timeout", "mapped").inc(
                    len(quiet)
                )
                self.outbox.put(quiet)

    def notice(self, notice: Notice) -> None:
        self.outbox.put([], [notice])


Connect = Callable[[], Awaitable[None]]


async def supervise(
    connect: Connect,
    *,
    source: str,
    sink: Sink,
    metrics: BridgeMetrics,
    flush: Callable[[], list[dict[str, Any]]] = list,
    first_delay_s: float = 1.0,
    cap_s: float = 60.0,
    healthy_s: float = 60.0,
) -> None:
    """Run `connect` forever (until cancelled), with backoff between tries. A connection that has run
    `healthy_s` counts as up: the backoff starts over, and staff told it was down hear it is back."""
    delay, failures, told_down = first_delay_s, 0, False
    while True:
        metrics.connected.set(1)
        running = asyncio.ensure_future(connect())
        try:
            done, _ = await asyncio.wait({running}, timeout=healthy_s)
            if not done:
                delay, failures = first_delay_s, 0
                if told_down:
                    text = f"{source} is connected again"
                    sink.notice(Notice(f"{source}:up:{now_ms()}", "source_up", "low", text))
                    told_down = False
            await running
            log.warning("%s: the connection ended", source)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # any failure of the platform's library: log it and connect again
            log.warning("%s: connection failed: %r", source, exc)
        finally:
            running.cancel()
            metrics.connected.set(0)
            sink.outbox.put(flush())  # streaks open when the connection ended are sent, not lost
        failures += 1
        if failures == 3 and not told_down:
            text = f"{source}: cannot reach the stream (retrying)"
            sink.notice(Notice(f"{source}:down:{now_ms()}", "source_down", "normal", text))
            told_down = True
        metrics.reconnects.inc()
        await asyncio.sleep(random.uniform(delay / 2, delay))
        delay = min(delay * 2, cap_s)


async def serve_metrics(metrics: BridgeMetrics, host: str, port: int) -> web.AppRunner:
    async def handle(_request: web.Request) -> web.Response:
        return web.Response(body=metrics.text(), content_type="text/plain", charset="utf-8")

    app = web.Application()
    app.router.add_get("/metrics", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
