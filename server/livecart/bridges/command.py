"""`livecart connect tiktok|bilibili`: one bridge process for one stream and one room.

It reads the room's currency once (`GET …/state`, with its ingest token) to round gift values to it,
then supervises the platform connection until SIGINT/SIGTERM, sending what is still queued before it
exits. The platform libraries are imported here, on demand: without the `connectors` extra the
command says how to install it.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import aiohttp

from livecart import money
from livecart.bridges.bilibili import BilibiliMapper
from livecart.bridges.metrics import BridgeMetrics
from livecart.bridges.outbox import Outbox
from livecart.bridges.run import Sink, now_ms, serve_metrics, supervise
from livecart.bridges.tiktok import TikTokMapper
from livecart.bridges.viewer_count import ViewerThrottle
from livecart.protocol import load_json

__all__ = ["BridgeOptions", "MissingConnectors", "run"]

log = logging.getLogger("livecart.bridge")


class MissingConnectors(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class BridgeOptions:
    platform: str  # tiktok | bilibili
    target: str  # @handle or a Bilibili room id
    room: str
    url: str
    token: Callable[[], str]
    gift_value: float | None  # room currency per diamond / gold coin; None: the default for the currency
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = None

    @property
    def source(self) -> str:
        return f"{self.platform}:{self.target}"


Events = list[dict[str, Any]]
Platform = tuple[Callable[[Sink], Awaitable[None]], Callable[[], Events], Callable[[int], Events] | None]


async def room_currency(session: aiohttp.ClientSession, opts: BridgeOptions) -> str:
    url = f"{opts.url.rstrip('/')}/api/rooms/{opts.room}/state"
    async with session.get(url, headers={"Authorization": f"Bearer {opts.token()}"}) as resp:
        body = await resp.read()
        if resp.status != 200:
            raise RuntimeError(f"GET {url}: {resp.status} {body[:300].decode(errors='replace')}")
    return str(load_json(body).get("currency") or money.DEFAULT_CURRENCY)


async def run(
    opts: BridgeOptions,
    stop: asyncio.Event | None = None,
    platform: Platform | None = None,
    metrics: BridgeMetrics | None = None,
) -> None:
    """Until `stop` is set (by default: SIGINT or SIGTERM). `platform` replaces the live connection
    (tests: the platforms cannot be reached from here)."""
    live = None if platform else _live(opts.platform)  # before anything connects: the extra is there
    metrics = metrics or BridgeMetrics(opts.platform)
    runner = await serve_metrics(metrics, opts.metrics_host, opts.metrics_port) if opts.metrics_port else None
    if stop is None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as session:
            currency = await room_currency(session, opts)
            exponent = money.exponent(currency)
            outbox = Outbox(session, opts.url, opts.room, opts.source, opts.token, metrics)
            connect, flush, expire = platform or _platform(opts, currency, exponent, metrics, live)
            sink = Sink(opts.platform, outbox, metrics, expire, ViewerThrottle(opts.platform, opts.target))
            tasks = [
                asyncio.create_task(outbox.run()),
                asyncio.create_task(
                    supervise(
                        lambda: connect(sink), source=opts.source, sink=sink, metrics=metrics, flush=flush
                    )
                ),
                asyncio.create_task(_ticks(sink)),
            ]
            log.info("bridge %s → room %s (%s)", opts.source, opts.room, currency)
            await stop.wait()
            tasks[1].cancel()
            tasks[2].cancel()
            outbox.put(flush())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(outbox.drained(), 10)
            tasks[0].cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        if runner is not None:
            await runner.cleanup()


async def _ticks(sink: Sink) -> None:
    while True:
        await asyncio.sleep(1)
        sink.tick(now_ms())


def _live(platform: str) -> ModuleType:
    """The live connection's module, which imports the platform's library (the connectors extra)."""
    try:
        return importlib.import_module(f"livecart.bridges.{platform}_live")
    except ImportError as exc:
        raise MissingConnectors(str(exc)) from exc


def _platform(
    opts: BridgeOptions, currency: str, exponent: int, metrics: BridgeMetrics, live: ModuleType | None
) -> Platform:
    """(connect, flush open streaks, expire quiet streaks) for the platform."""
    assert live is not None
    if opts.platform == "tiktok":
        tt = TikTokMapper(opts.target, diamond_value=opts.gift_value or 0.0, exponent=exponent)

        def expire(at: int) -> Events:
            quiet = tt.expire(at)
            metrics.open_streaks.set(tt.open_streaks)
            return quiet

        return (lambda sink: live.connect(opts.target, tt, sink)), tt.flush, expire
    gold = opts.gift_value if opts.gift_value is not None else (0.001 if currency == "CNY" else 0.0)
    bb = BilibiliMapper(opts.target, gold_value=gold, exponent=exponent)
    return (lambda sink: live.connect(int(opts.target), bb, sink)), list, None  # no streaks
