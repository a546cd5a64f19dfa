"""Room socket messages of the audience's interactions: a viewer's `vote` and `show`.

    {"type": "vote", "poll": ID, "option": INT, "req"?: STR}
        -> {"type": "vote_result", "req", "ok", ...}
    {"type": "show", "text": STR, "image_url"?: STR, "req": STR}
        -> {"type": "show_result", "req", "ok": true, "show": SHOW}

Both need a viewer token with a user (403 `forbidden` otherwise) and count against the user's comment
rate. A vote's refusals are answers (`ok: false`, `reason`), as a claim's are; a bad show is an error
frame (`bad_field`, `bad_image_url`, `forbidden`, `limit_reached`), as over HTTP.
"""

from __future__ import annotations

import time
from typing import Any

from livecart.auth import Action, Claims, authorize
from livecart.errors import BadRequest, LivecartError, RateLimited
from livecart.interactions import RoomInteractions
from livecart.protocol import echo_req
from livecart.ratelimit import RateLimiter
from livecart.shows import SHOW_ID_HEX
from livecart.web.idempotency import key_digest
from livecart.web.ws import WebSocket

__all__ = ["interaction_message"]


async def interaction_message(interactions: RoomInteractions, limiter: RateLimiter, ws: WebSocket,
                              message: dict[str, Any]) -> None:
    req = echo_req(message.get("req"))
    try:
        authorize(Claims(ws.role, ws.room, ws.user, 0), ws.room, Action.COMMENT)
        assert ws.user is not None
        retry = limiter.take(f"{ws.room}\0{ws.user}", time.monotonic())
        if retry:
            raise RateLimited(retry)
        if message["type"] == "vote":
            answer = await interactions.polls.vote(ws.room, ws.user, message.get("poll"),
                                                   message.get("option"))
            ws.send({"type": "vote_result", "req": req, **answer})
            return
        if not isinstance(req, str) or not req:
            raise BadRequest("bad_field", "req must be a string of 1-100 characters (the idempotency key)")
        # The show's id comes from (user, req): the same message sent again finds the first show.
        show_id = key_digest(f"show:{ws.user}", req)[:SHOW_ID_HEX]
        show = await interactions.shows.post(ws.room, ws.user, message, show_id)
        ws.send({"type": "show_result", "req": req, "ok": True, "show": show})
    except LivecartError as exc:
        ws.send_error(exc, req)
