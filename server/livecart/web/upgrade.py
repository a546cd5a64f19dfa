"""Websocket upgrades that arrive on a keep-alive connection aiohttp is already serving.

The port-sharing listener (web/ws.py) sends a connection whose *first* request is `GET /ws/...` straight
to a `WebSocket`. HTTP/1.1 allows an upgrade on any request of a persistent connection, and pooling
clients (an aiohttp session, browsers' fetch pools) and balancers with upstream keep-alive (nginx
`keepalive`, Envoy, HAProxy `http-reuse`) send one after other requests. aiohttp has parsed that request;
this route takes the connection back from aiohttp and hands it, with the request's head, to the same
websocket code, so both ways in share one handshake, one set of checks and one socket type.

Why here rather than parsing every request in the listener: aiohttp handles the requests of one
connection in order and only runs this handler once the responses to all earlier (even pipelined) ones
are written, so the switch happens exactly between two responses. Parsing every request in front of
aiohttp would need a second HTTP parser and a way to know when aiohttp's last response is complete.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import web

__all__ = ["request_head", "websocket_route"]


def request_head(request: web.BaseRequest) -> bytes:
    """The request line and headers of `request` as they came (aiohttp keeps raw header bytes)."""
    lines = [f"{request.method} {request.raw_path} HTTP/{request.version.major}.{request.version.minor}"
             .encode("latin-1")]
    lines.extend(name + b": " + value for name, value in request.raw_headers)
    return b"\r\n".join(lines) + b"\r\n\r\n"


def websocket_route(adopt: Callable[[asyncio.Transport, bytes], None]
                    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """The aiohttp handler for `GET /ws/...`: `adopt(transport, head)` serves the connection from then on."""

    async def hand_over(request: web.Request) -> web.StreamResponse:
        transport = request.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("the connection closed before its upgrade")
        head = request_head(request)
        # aiohttp lets go of the connection as if it had ended: it stops its keep-alive timer, forgets
        # the connection (its shutdown will not close it), and the response returned below is never
        # written (aiohttp sees no transport and drops it). Its `transport` is cleared first, or ending
        # would close the connection too.
        protocol = request.protocol
        protocol.transport = None
        protocol.connection_lost(None)
        adopt(transport, head)
        return web.Response()

    return hand_over
