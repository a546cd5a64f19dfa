"""The one claim path, shared by room sockets, HTTP and keyword comments (`ClaimDesk`)."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import itertools
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from livecart.clock import Clock
from livecart.deals import DealState, RejectReason, deal_state, is_deal_id
from livecart.errors import BadRequest, NotFound, RateLimited, StoreUnavailable
from livecart.events import Event
from livecart.protocol import encode_json
from livecart.ratelimit import RateLimiter
from livecart.store.batcher import Deliver, as_future
from livecart.store.deal_store import DealStore
from livecart.store.values import ClaimAnswer

__all__ = ["ClaimDesk", "KnownDeal"]

MAX_KEY = 100
SOLD_OUT_REPLY = encode_json({"ok": False, "reason": RejectReason.SOLD_OUT.value})
KEYWORD_CACHE_S = 1.0

# (room, deal id) -> the deal's fields as this node's hub last saw them, None when it has not
KnownDeal = Callable[[str, str], dict[str, Any] | None]


class ClaimDesk:
    """Where claims come in, from sockets, HTTP and keyword comments, and go to one Lua script.

    A claim on a deal this node has seen sold out skips the claim script: one write stores the
    refusal as the key's answer unless the key has one (then that first answer is given again).

    What it needs from the rest of the node comes in as arguments: `known_deal` (the hub's view of a
    deal, to spot one sold out), `holding(room)` (a claim now holds units in the room: the hub's deal
    loop releases them when they expire) and `limit_address(ip_key)` (raises RateLimited over the
    client address's claim rate, web/admission.py).
    """

    def __init__(self, deal_store: DealStore, clock: Clock, *, hold_s: float, limiter: RateLimiter,
                 known_deal: KnownDeal, holding: Callable[[str], None],
                 limit_address: Callable[[str | None], None]) -> None:
        self.deal_store = deal_store
        self.clock = clock
        self.hold_ms = int(hold_s * 1000)
        self._known_deal = known_deal
        self._holding = holding
        self._limit_address = limit_address
        self._answers: OrderedDict[tuple[str, str, str, str], bytes] = OrderedDict()
        self._limiter = limiter
        # (room, deal) -> how many refusals the sold-out shortcut stored, not yet counted in the deal
        # statistics (`flush`)
        self.local_rejections: dict[tuple[str, str], int] = {}
        self.refused_from_memory = 0  # claims the sold-out shortcut answered, since the node started
        self._keywords: dict[str, tuple[float, list[tuple[str, str]]]] = {}
        # Claim ids: random per process, then a counter (uuid4 per claim was a visible cost in a rush).
        self._id_prefix = uuid.uuid4().hex[:10]
        self._ids = itertools.count(1)

    def submit(self, room: str, user: str, deal_id: Any, qty: Any, key: Any, ip_key: str | None,
               deliver: Deliver) -> None:
        """Claim: `deliver` gets the ClaimAnswer (its `reply` is the JSON `{"ok": ...}`), or NotFound
        (unknown deal) or StoreUnavailable, exactly once: at once for a key already answered here, else
        as soon as Redis has answered, with no task or future per claim. Raises BadRequest at once for
        a malformed claim (RateLimited over the user's or the client address's rate, `ip_key` from
        web/admission.py)."""
        if not isinstance(deal_id, str):
            raise BadRequest("bad_field", "deal must be a deal id")
        if not isinstance(key, str) or not 1 <= len(key) <= MAX_KEY:
            raise BadRequest("bad_field", f"key must be a string of 1-{MAX_KEY} characters")
        # An invalid quantity goes to the script as 0: it answers invalid_qty, counts it, and keeps the
        # answer for the key like any other.
        qty = min(qty, 1_000_000) if isinstance(qty, int) and not isinstance(qty, bool) and qty >= 1 else 0
        if not is_deal_id(deal_id):
            # No deal has this id, and it must never reach Redis as part of a key name.
            raise NotFound("no_such_deal", "no such deal in this room")
        ident = (room, deal_id, user, key)
        remembered = self._answers.get(ident)
        if remembered is not None:
            deliver(ClaimAnswer("again", remembered))
            return
        # Only new claims count: a retry of an answered key costs nothing and must get its answer.
        retry = self._limiter.take(f"{room}\0{user}", time.monotonic())
        if retry:
            raise RateLimited(retry)
        # The user's limit first: a flooder behind a shared address is stopped by their own limit
        # without using up the budget of the people who share the address.
        self._limit_address(ip_key)
        if self._known_sold_out(room, deal_id):
            # The contract's "same key, same answer" holds across nodes: a key answered elsewhere (say,
            # by a node that died before its reply reached the viewer) gets that answer. Only a key
            # never seen is refused here, with one cheap batched write instead of the claim script.
            # The refusal is stored before it is sent (only its statistics wait for `flush`): kept only
            # in memory until then, it died with a killed node, and once units came back (restock,
            # released holds) the same key sent to another node claimed them
            # (tests/reliability/test_node_kill.py).
            self.refused_from_memory += 1
            self.deal_store.refuse_once(room, deal_id, user, key, SOLD_OUT_REPLY,
                                        functools.partial(self._refused, ident, deliver))
            return
        claim_id = f"{self._id_prefix}{next(self._ids):x}"
        self.deal_store.claim(room, deal_id, user, qty, key, claim_id, self.hold_ms,
                              functools.partial(self._answered, ident, deliver))

    async def claim(self, room: str, user: str, deal_id: Any, qty: Any, key: Any,
                    ip_key: str | None = None) -> dict[str, Any]:
        """`submit`, awaited and parsed (HTTP and keyword comments)."""
        answer: ClaimAnswer = await as_future(self.submit, room, user, deal_id, qty, key, ip_key)
        return answer.parsed()

    def _answered(self, ident: tuple[str, str, str, str], deliver: Deliver, result: Any) -> None:
        if isinstance(result, ClaimAnswer):
            if result.status == "ok":
                self._holding(ident[0])
            self._remember(ident, result.reply)
        deliver(result)

    def _refused(self, ident: tuple[str, str, str, str], deliver: Deliver, result: Any) -> None:
        if isinstance(result, ClaimAnswer):
            if result.status == "rejected":  # stored now: its statistics go with the next `flush`
                counted = (ident[0], ident[1])
                self.local_rejections[counted] = self.local_rejections.get(counted, 0) + 1
            self._remember(ident, result.reply)
        deliver(result)

    async def run(self) -> None:
        """Every second, write the statistics of the refusals answered from memory to Redis (their
        answers were stored before they were sent)."""
        while True:
            await asyncio.sleep(1.0)
            await self.flush()

    async def flush(self) -> None:
        pending, self.local_rejections = self.local_rejections, {}
        for (room, deal_id), count in pending.items():
            try:
                await self.deal_store.add_refusals(room, deal_id, RejectReason.SOLD_OUT.value, count)
            except StoreUnavailable:
                self.local_rejections[room, deal_id] = self.local_rejections.get((room, deal_id), 0) + count

    def _known_sold_out(self, room_name: str, deal_id: str) -> bool:
        fields = self._known_deal(room_name, deal_id)
        # `left` first: while a deal sells, that one look answers (this runs for every claim).
        return (fields is not None and int(fields.get("left", 1)) <= 0
                and deal_state(fields, self.clock.now_ms()) is DealState.SOLD_OUT)

    def _remember(self, key: tuple[str, str, str, str], reply: bytes) -> None:
        self._answers[key] = reply
        if len(self._answers) > 100_000:
            self._answers.popitem(last=False)

    async def armed_keywords(self, room: str) -> list[tuple[str, str]]:
        """(deal id, keyword) for the room's live deals with a keyword, cached for a second."""
        now = time.monotonic()
        cached = self._keywords.get(room)
        if cached is not None and now - cached[0] < KEYWORD_CACHE_S:
            return cached[1]
        clock = self.clock.now_ms()
        armed = [(f["id"], f["keyword"]) for f in await self.deal_store.newest(room, limit=20)
                 if f.get("keyword") and deal_state(f, clock) is DealState.LIVE]
        self._keywords[room] = (now, armed)
        if len(self._keywords) > 10_000:
            self._keywords.clear()
        return armed

    async def comment_claims(self, room: str, event: Event) -> dict[str, Any] | None:
        """Comment-to-claim: a comment containing an armed keyword claims one unit for its author,
        idempotent by the comment's event id. Any other event, and a comment moderation hid (a blocked
        word, a muted author: moderator.py), claims nothing."""
        if event["type"] != "comment" or event.get("hidden"):  # moderation: a hidden comment claims nothing
            return None
        armed = await self.armed_keywords(room)
        text = event["text"].casefold()
        for deal_id, keyword in armed:
            if keyword.casefold() in text:
                key = "comment:" + hashlib.sha1(event["id"].encode()).hexdigest()
                try:
                    return await self.claim(room, event["user"]["id"], deal_id, 1, key)
                except NotFound:
                    return None  # the deal was removed between the cache and the claim
        return None
