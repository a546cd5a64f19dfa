"""Redis key names. Every key of a room shares the hash tag {room}, so a room lives on one cluster shard."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["HOLD_ROOMS", "ROOMS", "ROOMS_SEEN", "RoomKeys", "claim_answer_field", "room_from_channel"]

PREFIX = "lc:"
ROOMS = PREFIX + "rooms"  # sorted set, no hash tag: rooms by their last activity (ms), for the director
# sorted set, no hash tag: every room with data by its last activity (ms), kept until the room is purged
# (ROOMS forgets a room after a quiet day); idle rooms are purged from it (room_retention_days)
ROOMS_SEEN = PREFIX + "rooms-seen"
# sorted set, no hash tag: rooms that may hold claims, scored by when a node last looked after them
HOLD_ROOMS = PREFIX + "hold-rooms"


@dataclass(frozen=True, slots=True)
class RoomKeys:
    room: str

    @property
    def _base(self) -> str:
        return f"{PREFIX}{{{self.room}}}:"

    @property
    def meta(self) -> str:  # hash: epoch, offset (last assigned)
        return self._base + "meta"

    @property
    def log(self) -> str:  # stream: entry id "<offset>-0", fields e (event JSON) and t (receipt ms)
        return self._base + "log"

    @property
    def counters(self) -> str:  # hash: COUNTERS from events.py
        return self._base + "counters"

    @property
    def ids(self) -> str:  # sorted set: accepted event ids scored by receipt ms (idempotency window)
        return self._base + "ids"

    @property
    def orders(self) -> str:  # hash: order id -> "paid:<cents>" | "refunded:<cents>" (append.lua)
        return self._base + "orders"

    @property
    def presence(self) -> str:  # hash: node id -> "count:expires_ms" of viewer sockets
        return self._base + "presence"

    def presence_of(self, role: str) -> str:  # the same, counting the sockets of another role
        return self.presence if role == "viewer" else self._base + "presence:" + role

    @property
    def channel(self) -> str:  # pub/sub channel of room updates
        return self._base + "ch"

    @property
    def prefix(self) -> str:  # Lua scripts derive deal keys from it: prefix + "deal:" + id, ...
        return self._base

    @property
    def deals(self) -> str:  # sorted set: deal ids by creation time
        return self._base + "deals"

    def deal(self, deal_id: str) -> str:  # hash: the deal's fields (see deal_create.lua)
        return self._base + "deal:" + deal_id

    @property
    def claims(self) -> str:  # hash: claim id -> {deal, user, qty, expires_at, state}
        return self._base + "claims"

    @property
    def holds(self) -> str:  # sorted set: held claim ids by expiry (ms)
        return self._base + "holds"

    @property
    def ledger(self) -> str:  # stream: every claim, settlement and console action (the audit log)
        return self._base + "ledger"

    @property
    def revoked(self) -> str:  # hash: role -> unix seconds; that role's tokens issued before are refused
        return self._base + "revoked"

    @property
    def cues(self) -> str:  # hash: cue id -> CUE JSON
        return self._base + "cues"

    @property
    def cue_order(self) -> str:  # sorted set: cue ids by creation ms
        return self._base + "cue-order"

    @property
    def cue_keys(self) -> str:  # sorted set: rule cue de-duplication keys by the ms they last fired
        return self._base + "cue-keys"

    @property
    def cue_acks(self) -> str:  # hash: cue id -> "ms by" of its first ack
        return self._base + "cue-acks"

    @property
    def answered(self) -> str:  # hash: question topic -> ms the host last acked a cue about it
        return self._base + "answered"

    @property
    def director(self) -> str:  # string: the node id holding the room's director lease (PX)
        return self._base + "director"

    def stats(self, day: int) -> str:  # hash per UTC day (second // 86400): second -> bucket JSON
        return f"{self._base}stats:{day}"

    @property
    def stats_days(self) -> str:  # sorted set: the days that have a stats hash, scored by day
        return self._base + "stats-days"

    @property
    def stats_cursor(self) -> str:  # hash: at ("epoch:offset" folded so far), claims, rejections
        return self._base + "stats-cursor"

    def idempotency(self, digest: str) -> str:  # string (24 h): an Idempotency-Key's first answer
        return f"{self._base}idem:{digest}"

    @property
    def goals(self) -> str:  # hash: goal id -> GOAL JSON (goal.lua); the stage list is meta's `goals`
        return self._base + "goals"

    @property
    def goal_seeds(self) -> str:  # hash: goal id -> the secret seed of its open_bag action (goal.lua)
        return self._base + "goal-seeds"

    @property
    def funnel(self) -> str:  # hash: "<deal>:launch_viewers" and "<deal>:sold_out_at", set once
        return self._base + "funnel"

    @property
    def sources(self) -> str:  # sorted set: source id -> ms of its last delivery (source_note.lua)
        return self._base + "sources"

    def source(self, source_id: str) -> str:  # hash: via, first_at, last_at and the delivery counts
        return self._base + "source:" + source_id

    @property
    def source_deliveries(self) -> str:  # sorted set: webhook delivery ids -> first ms (24 h)
        return self._base + "source-deliveries"

    @property
    def shop(self) -> str:  # hash: webhook secrets, the generic mapping, the checkout link (shop_store.py)
        return self._base + "shop"

    @property
    def shop_claims(self) -> str:  # hash: shop order id -> the claim it paid for (for its refunds)
        return self._base + "shop-claims"
    # --- room interactions (issue 17: polls, buyer shows, moderation) ---

    @property
    def polls(self) -> str:  # sorted set: poll ids by creation ms (hash poll:<id> and its :voters, :moves)
        return self._base + "polls"

    def poll(self, poll_id: str) -> str:  # hash: the poll's fields (see poll.lua)
        return self._base + "poll:" + poll_id

    @property
    def shows(self) -> str:  # hash: show id -> SHOW JSON (see show.lua)
        return self._base + "shows"

    @property
    def show_order(self) -> str:  # sorted set: show ids by posted ms
        return self._base + "show-order"

    @property
    def shows_approved(self) -> str:  # sorted set: approved show ids by approval ms (the wall's source)
        return self._base + "shows-approved"

    @property
    def show_authors(self) -> str:  # hash: user -> shows posted
        return self._base + "show-authors"

    @property
    def buyers(self) -> str:  # hash: user -> display name, set by a paid order (who may post a show)
        return self._base + "buyers"

    @property
    def muted(self) -> str:  # hash: user -> "ms by"; Lua checks a user with HEXISTS (one check for all)
        return self._base + "muted"

    @property
    def blocked_words(self) -> str:  # string: the room's blocked words, a JSON list (normalised)
        return self._base + "blocked-words"


def room_from_channel(channel: str) -> str | None:
    if channel.startswith(PREFIX + "{") and channel.endswith("}:ch"):
        return channel[len(PREFIX) + 1 : -len("}:ch")]
    return None


def claim_answer_field(user: str, key: str) -> str:
    """The field of a deal's `:keys` hash holding the first answer to (user, key). Length-prefixed, so
    no user id or key can make another pair's field ("a\nb" + "c" and "a" + "b\nc" once met). The
    length is in UTF-8 bytes, as claim.lua builds the same field with Lua's `#`."""
    return f"{len(user.encode())}:{user}{key}"
