"""The live TikTok connection: the thin part that cannot be tested from here (it needs TikTok).

`TikTokLiveClient` (the `TikTokLive` package) signs the connection, opens the webcast websocket and
parses every message into its event classes, which it emits by name. This subclass hands every
emitted event to the mapping instead of keeping per-type handlers, so the bridge also counts the types
it does not map.
"""

from __future__ import annotations

from typing import Any

from TikTokLive import TikTokLiveClient

from livecart.bridges.run import Sink, now_ms
from livecart.bridges.tiktok import TikTokMapper

__all__ = ["connect"]


async def connect(handle: str, mapper: TikTokMapper, sink: Sink) -> None:
    """Until the stream ends or the connection drops."""

    class _Client(TikTokLiveClient):  # type: ignore[misc]  # the library is untyped for mypy
        def emit(self, event: str, *args: Any, **kwargs: Any) -> bool:
            if args:
                sink.take(mapper.map(args[0], now_ms()))
            return bool(super().emit(event, *args, **kwargs))

    client = _Client(unique_id=handle)
    try:
        await client.connect(fetch_room_info=False)
    finally:
        if client.connected:
            await client.disconnect()
