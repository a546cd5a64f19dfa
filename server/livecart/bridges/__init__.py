"""Bridges: `livecart connect tiktok|bilibili` feed a room from a platform's live stream.

A bridge is an ingest client like any other (docs/protocol.md, "Sources"): the platform's own client
library receives the stream, a pure mapping (`tiktok`, `bilibili`) turns each of the library's event
objects into livecart room events with ids derived from the platform's message ids, and `outbox`
posts them to `POST /api/rooms/{room}/events` with the room's ingest token. `run` supervises the
connection (reconnects with backoff) and serves the bridge's own /metrics. Only `tiktok_live` and
`bilibili_live` import the platform libraries (the `connectors` extra); nothing here is imported by
a node.
"""
