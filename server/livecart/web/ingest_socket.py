"""`/ws/ingest/{room}`: the socket of connectors that stream events (the work is in livecart/ingest.py)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from livecart.auth import Action, authorize, check_room_name, verify
from livecart.errors import BadRequest, Busy, LivecartError
from livecart.handshake import RequestHeaders
from livecart.ingest import Ingest, limit_key
from livecart.sources import Source, source_id
from livecart.web.ws import WebSocket

__all__ = ["IngestEndpoint"]

MAX_QUEUED_BATCHES = 64  # per ingest socket, before it is told to slow down


@dataclass(slots=True)
class _IngestSession:
    queue: asyncio.Queue[dict[str, Any]]
    limit_key: str
    source: Source
    task: asyncio.Task[None] | None = None


class IngestEndpoint:
    """`/ws/ingest/{room}?token=` for connectors that stream: `{"type": "events", "req": R, "events": [...]}`
    in, `{"type": "ack", "req": R, "accepted", "duplicates", "rejected"}` out, in order."""

    def __init__(self, ingest: Ingest, token_keys: tuple[str, ...]) -> None:
        self.ingest = ingest
        self.token_keys = token_keys

    def accept(self, ws: WebSocket, path: str, query: dict[str, str], headers: RequestHeaders) -> None:
        room = check_room_name(path.removeprefix("/ws/ingest/"))
        claims = verify(self.token_keys, query.get("token"))
        authorize(claims, room, Action.INGEST)
        ws.room, ws.role, ws.user = room, claims.role, claims.user
        ws.expires_at = claims.expires_at
        source = Source(source_id(query.get("source"), claims.user), "socket")
        ws.session = _IngestSession(asyncio.Queue(MAX_QUEUED_BATCHES), limit_key(claims), source)

    def opened(self, ws: WebSocket) -> None:
        ws.session.task = asyncio.create_task(self._run(ws, ws.session.queue))

    def received(self, ws: WebSocket, message: Any) -> None:
        if message["type"] != "events":
            raise BadRequest("unknown_type", "an ingest socket accepts only 'events' messages")
        self.ingest.admit(ws.session.limit_key, message.get("events"))
        try:
            ws.session.queue.put_nowait(message)
        except asyncio.QueueFull:
            raise Busy("too many batches waiting for acknowledgement") from None

    def closed(self, ws: WebSocket) -> None:
        if ws.session.task is not None:
            ws.session.task.cancel()

    async def _run(self, ws: WebSocket, queue: asyncio.Queue[dict[str, Any]]) -> None:
        while True:
            message = await queue.get()
            req = message.get("req")
            try:
                result = await self.ingest.batch(ws.room, message.get("events"), ws.session.source)
                ws.send({"type": "ack", "req": req, **result.to_wire()})
            except LivecartError as exc:
                ws.send_error(exc, req)
