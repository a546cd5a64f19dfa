"""Lucky bags on this node: entries from comments, the draw and its redraws, and the bags' timers.

The rules and the draw are lucky_bag.py's (pure); the state is store/bag_store.py's. This service ties
them together:
- `observe(room, events)`: stored events of an ingest batch. Keyword comments enter the room's open bag
  (one script call per batch), `follow` events record followers, `join`/`leave` of entrants their
  presence. `comment(room, event)` does the same for one viewer-socket comment and answers the entry.
- `draw(room, bag)`: the console's "draw now". `run()`: every node's timer loop, which draws bags whose
  time is up, redraws prizes left unclaimed when their window closes, and publishes entry counts that
  the entry script's throttle left unpublished. Nodes race freely: each round commits once
  (bag_store.py), and every node computes the same winners.
- Muted users (moderation) enter nothing: the entry script checks each entrant against the room's mutes
  in the same atomic call that enters them.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import Any

from livecart.clock import Clock
from livecart.errors import BadRequest, Conflict, StoreUnavailable
from livecart.events import Event
from livecart.lucky_bag import BagSpec, commitment, draw_round, keyword_in, new_seed, winners_cue
from livecart.store.bag_store import BagStore, Freeze
from livecart.store.cue_store import CueStore

__all__ = ["BagDesk"]

log = logging.getLogger("livecart.bags")

TIMER_S = 0.1  # how often the timers look for due bags (the draw's delay after a bag closes)
COUNTS_S = 0.5  # how often they publish entry counts that the entry script's throttle held back
CACHE_S = 0.1  # how old the room's bag may be when a comment is matched against its keyword


class BagDesk:
    def __init__(self, store: BagStore, clock: Clock, *, cue_store: CueStore | None = None,
                 cue_lang: str = "zh") -> None:
        self.store = store
        self.cue_store = cue_store  # the host's cue "announce the winners" after each round
        self.cue_lang = cue_lang
        self.clock = clock
        # The rooms with a bag in progress (lc:bags-due, read by every timer pass: room -> due ms). A
        # room not in it has no bag to enter, and costs ingest nothing; a bag opened on another node
        # takes entries here from the next pass (TIMER_S).
        self.in_progress: dict[str, int] = {}
        # Rooms whose bag was opened here since the timer pass's read of lc:bags-due began: that read
        # may have missed them, and must not drop them from `in_progress` when it lands (until the next
        # pass, every entry to the new bag was skipped: a load-tool run lost all 580 of its entries).
        self._opened: dict[str, int] = {}
        # Each such room's BAG map as last read (loop time, map or None), at most CACHE_S old when
        # entries are matched against it. The entry script itself checks that the bag is open, by
        # Redis's clock.
        self._current: dict[str, tuple[float, dict[str, Any] | None]] = {}
        # Rounds this node committed, per room: one node's timers serve every room, so a count over all
        # of them says nothing about one bag.
        self.draws: Counter[str] = Counter()

    # --- the console -------------------------------------------------------------------------------

    async def create(self, room: str, bag: str, spec: BagSpec, by: str) -> dict[str, Any]:
        seed = new_seed()
        bag_map = await self.store.create(room, bag, spec, seed, commitment(seed), by)
        self.in_progress[room] = self._opened[room] = bag_map["ends_at"]
        self._current.pop(room, None)
        return bag_map

    async def draw(self, room: str, bag: str) -> dict[str, Any]:
        """Close an open bag now and draw it; the BAG map after (Conflict not_open when it is not open)."""
        current = await self.store.get(room, bag)
        if current["state"] != "open":
            raise Conflict("not_open", "the bag is not open: it was drawn or cancelled already")
        await self._advance(room, bag, now=True)
        return await self.store.get(room, bag)

    # --- entries -----------------------------------------------------------------------------------

    async def open_bag(self, room: str) -> dict[str, Any] | None:
        """The room's bag if it takes entries (as of at most CACHE_S ago), else None."""
        if room not in self.in_progress:
            return None
        now = asyncio.get_running_loop().time()
        read_at, bag = self._current.get(room, (-CACHE_S, None))
        if now - read_at >= CACHE_S:
            bag = await self.store.current(room)
            self._current[room] = (now, bag)
        if bag is None or bag["state"] != "open" or self.clock.now_ms() >= bag["ends_at"]:
            return None
        return bag

    async def observe(self, room: str, events: list[Event]) -> None:
        """An ingest batch's events (duplicates too: entering and presence are idempotent)."""
        followers = [e["user"]["id"] for e in events if e["type"] == "follow"]
        if followers:
            await self.store.note_followers(room, followers)
        if not any(e["type"] in ("comment", "join", "leave") for e in events):
            return
        bag = await self.open_bag(room)
        if bag is None:
            return
        keyword = bag["keyword"]
        entries: dict[str, str] = {}
        signals: list[tuple[str, str]] = []
        for event in events:
            user = event["user"]
            if event["type"] == "comment":
                if keyword_in(keyword, event["text"]) and user["id"] not in entries:
                    entries[user["id"]] = user.get("name") or user["id"]
            elif event["type"] in ("join", "leave"):
                signals.append((user["id"], "back" if event["type"] == "join" else "away"))
        if entries:
            await self.store.enter(room, list(entries.items()))
        if signals:
            await self.store.presence(room, signals)

    async def comment(self, room: str, event: Event) -> dict[str, Any] | None:
        """A viewer socket's stored comment: its entry answer `{bag, result, entrants}` when it carries
        the open bag's keyword (result: entered | again | not_following | closed | muted), else None."""
        if event["type"] != "comment":
            return None
        bag = await self.open_bag(room)
        user = event["user"]["id"]
        if bag is None or not keyword_in(bag["keyword"], event["text"]):
            return None
        is_open, entrants, codes = await self.store.enter(room, [(user, event["user"].get("name") or user)])
        return {"bag": bag["id"], "result": codes[0] if is_open else "closed", "entrants": entrants}

    async def presence(self, room: str, user: str | None, here: bool) -> None:
        """A viewer socket of `user` opened (here) or closed in `room`: an entrant's presence signal.
        Best effort: the draw uses the signals that reached Redis."""
        if user is None:
            return
        try:
            if await self.open_bag(room) is not None:
                await self.store.presence(room, [(user, "back" if here else "away")])
        except StoreUnavailable:
            pass

    # --- the draw ------------------------------------------------------------------------------------

    async def _advance(self, room: str, bag: str, now: bool = False) -> None:
        """Draw every round that is due (at most a few: each commit starts a claim window), then note
        when the bag needs its timer next."""
        for _ in range(8):
            frozen = await self.store.freeze(room, bag, now)
            now = False
            if isinstance(frozen, Freeze):
                winners = draw_round(frozen.seed, frozen.entrants, frozen.count, frozen.absent, frozen.drawn)
                first, bag_map = await self.store.commit(room, bag, frozen.round, winners)
                if first:
                    self.draws[room] += 1
                    await self._cue(room, bag_map, frozen.round)
                continue
            await self._note_due(room, -1 if frozen is None else frozen)
            return

    async def _cue(self, room: str, bag_map: dict[str, Any], round_: int) -> None:
        if self.cue_store is not None and bag_map.get("winners"):
            now = self.clock.now_ms()
            await self.cue_store.emit(room, [winners_cue(bag_map, round_, now, self.cue_lang)], now)

    async def _note_due(self, room: str, at_ms: int) -> None:
        await self.store.due(room, at_ms)
        if at_ms < 0:
            # A bag created meanwhile (on another node) must keep its timer: look once more.
            state, due = await self.store.tick(room)
            if state in ("open", "drawing", "claiming"):
                await self.store.due(room, due)

    async def claim(self, room: str, bag: str, user: str) -> tuple[bool, str, dict[str, Any] | None]:
        return await self.store.claim(room, bag, user)

    # --- timers --------------------------------------------------------------------------------------

    async def step(self) -> None:
        """One look at the bags in progress: draw or redraw those whose time has come."""
        self._opened = {}
        self.in_progress = {**dict(await self.store.due_rooms(2**62)), **self._opened}
        now = self.clock.now_ms()
        for room in [r for r, due in self.in_progress.items() if due <= now]:
            try:
                await self._advance(room, "")
            except (BadRequest, StoreUnavailable) as exc:
                log.warning("lucky bag timer in %s: %s", room, exc, extra={"room": room})
        for room in list(self._current):
            if room not in self.in_progress:
                del self._current[room]

    async def publish_counts(self) -> None:
        """Publish the entry counts the entry script's throttle left unpublished (open bags only)."""
        now = self.clock.now_ms()
        # A copy: a bag opened here meanwhile (create) adds its room while this loop awaits Redis.
        for room, due in list(self.in_progress.items()):
            if due > now:
                await self.store.tick(room)

    async def run(self) -> None:
        """The timer loop; cancel to stop."""
        passes = round(COUNTS_S / TIMER_S)
        count = 0
        while True:
            try:
                await self.step()
                if count % passes == 0:
                    await self.publish_counts()
            except StoreUnavailable:
                pass  # Redis away: the next pass tries again
            except Exception:  # one bad pass must not stop every room's draws on this node
                log.exception("lucky bag timer pass failed")
            count += 1
            await asyncio.sleep(TIMER_S)
