"""The live Bilibili connection: the thin part that cannot be tested from here (it needs Bilibili).

`blivedm.BLiveClient` resolves the room, opens the danmaku websocket, decompresses and splits its
packets and hands each command to its handlers; `BaseHandler` turns the commands it knows into its
models. This handler sends those models, and the raw commands the mapping reads itself, through the
mapping; everything else is counted as unmapped.
"""

from __future__ import annotations

import asyncio
from typing import Any

import blivedm

from livecart.bridges.bilibili import RAW_COMMANDS, BilibiliMapper
from livecart.bridges.run import Sink, now_ms

__all__ = ["Handler", "connect"]


class Handler(blivedm.BaseHandler):  # type: ignore[misc]  # the library is untyped
    def __init__(self, mapper: BilibiliMapper, sink: Sink) -> None:
        self.mapper, self.sink = mapper, sink

    async def handle(self, client: Any, command: dict[str, Any]) -> None:
        cmd = str(command.get("cmd", "")).split(":", 1)[0]
        if cmd in RAW_COMMANDS:
            self.sink.take(self.mapper.map_command(command, now_ms()))
        elif cmd in self._CMD_CALLBACK_DICT and self._CMD_CALLBACK_DICT[cmd] is not None:
            await super().handle(client, command)  # → the _on_* methods below, with blivedm's model
        else:
            self.sink.take(self.mapper.map_command(command, now_ms()))  # counted as unmapped

    async def _on_heartbeat(self, client: Any, message: Any) -> None:
        self.sink.take(self.mapper.map_message(message))

    _on_danmaku = _on_gift = _on_buy_guard = _on_super_chat = _on_super_chat_delete = _on_heartbeat


async def connect(room_id: int, mapper: BilibiliMapper, sink: Sink) -> None:
    """Until the connection fails for good (blivedm reconnects by itself while it can). blivedm makes
    its own HTTP session: given one, it reads the session's deprecated `loop`."""
    client = blivedm.BLiveClient(room_id)
    client.add_handler(Handler(mapper, sink))
    client.start()
    try:
        await client.join()
    finally:
        await client.stop_and_close()
        await asyncio.sleep(0)
