"""The `growth` scenario: viewers arrive through invite links and like toward a goal that unlocks a deal.

    setup    a scheduled deal (stock `--stock`, default a quarter of the invitees, limit 1) and a like
             goal whose action starts it (`arm_goal`, the one step that needs the goals API:
             docs/protocol.md "Goals"); `inviters` viewers fetch their invite codes
    arrive   every invitee opens two inviters' links at once (a race for the first touch) and then
             opens a room socket; every inviter also tries its own link (409 self_invite), a code
             nobody has (404) and a malformed one (400): the hostile part
    like     likes are ingested at `--rate` events per second (1-5 likes each, from the invitees) until
             the goal fires
    rush     every socket claims one unit the moment it sees the deal live; each won claim is paid
             (an order event), so invited buyers' GMV can be checked

It passes when: the goal fired exactly once (its state, and one `goal_fired` in the audit log); every
invitee was credited exactly once, to one of the two inviters whose links it opened, and the server's
counts per inviter, its funnel and each invitee's `invited_by` agree with the answers; the hostile
arrivals got their refusals and counted nothing; the deal's stock is exact (`left + held + sold =
stock`, won claims = min(stock, invitees), nobody above the limit); invited buyers' GMV per inviter is
the sum of their friends' paid orders; and every socket saw the deal live.

Uses only the public API (HTTP and room sockets through livecart.client), like the other scenarios.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from typing import Any

import aiohttp

from livecart.client import RoomClient
from loadtest.histogram import Histogram
from loadtest.publisher import Console
from loadtest.scenarios import Scenario
from loadtest.tokens import mint

__all__ = ["GrowthRun", "arm_goal", "summary"]

CONCURRENCY = 64  # HTTP calls in flight
LIKE_STEP_S = 0.05
DEAL_PRICE = 99.0
ORDER_BATCH = 25  # each paid order settles a claim and credits an inviter: small requests, quick answers


async def arm_goal(console: Console, deal_id: str, likes: int) -> str:
    """THE GOAL STEP (the goals API, docs/protocol.md "Goals"): a like goal whose action starts the
    scheduled deal. Returns the goal's id."""
    status, body = await console.call("POST", "/goals", "assistant", {
        "metric": "likes", "target": likes, "label": f"{likes} likes unlock the deal",
        "action": {"type": "start_deal", "deal": deal_id}}, idempotency_key=uuid.uuid4().hex)
    if status != 201:
        raise RuntimeError(f"create goal: {status} {body}")
    return str(body["goal"]["id"])


async def goal_state(console: Console, goal_id: str) -> dict[str, Any]:
    """The goal's GOAL map (GET …/goals)."""
    status, body = await console.call("GET", "/goals", "assistant")
    if status != 200:
        raise RuntimeError(f"GET goals: {status} {body}")
    goal: dict[str, Any] = next(g for g in body["goals"] if g["id"] == goal_id)
    return goal


class GrowthRun:
    def __init__(self, scenario: Scenario, *, url: str, room: str | None, secret: str, fmt: str,
                 quiet: bool, drain_s: float) -> None:
        self.s = scenario
        self.url = url.rstrip("/")
        self.room = room or f"growth-{uuid.uuid4().hex[:8]}"
        self.secret = secret
        self.fmt = fmt
        self.quiet = quiet
        self.drain_s = drain_s
        self.invitees = [f"friend-{i}" for i in range(scenario.clients)]
        self.inviters = [f"inviter-{i}" for i in range(max(2, int(scenario.extra.get("inviters", 0))
                                                          or scenario.clients // 20))]
        self.stock = scenario.stock or max(1, scenario.clients // 4)
        self.like_target = int(scenario.extra.get("likes") or 3 * scenario.clients)
        self.reasons: list[str] = []
        self.rng = random.Random(18)
        self.firings = 0
        self.throttled = 0  # like batches the node refused with 429 or 503 (sent again)

    def say(self, text: str) -> None:
        if not self.quiet:
            print(f"[growth {time.strftime('%H:%M:%S')}] {text}", flush=True)

    def viewer(self, user: str) -> str:
        return mint(self.secret, "viewer", self.room, user)

    async def run(self) -> dict[str, Any]:
        tokens = {"assistant": mint(self.secret, "assistant", self.room, "loadtest"),
                  "ingest": mint(self.secret, "ingest", self.room, "loadtest")}
        started = time.time()
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONCURRENCY)) as session:
            console = Console(session, self.url, self.room, tokens)
            self.session = session
            deal = await console.create_deal("growth-deal", self.stock, 1, 3600,
                                             duration_s=int(self.s.duration + self.drain_s + 600))
            goal_id = await arm_goal(console, deal["id"], self.like_target)
            self.say(f"room {self.room}: deal {deal['id']} (stock {self.stock}) unlocked by "
                     f"{self.like_target} likes (goal {goal_id})")
            codes = dict(zip(self.inviters, await self._bounded(
                [self._code(u) for u in self.inviters]), strict=True))
            arrivals = await self._arrive(codes)
            hostile = await self._hostile(codes)
            sockets = await self._connect()
            likes_sent, fired_goal = await self._like(console, goal_id)
            self.firings = await self._firings(console, goal_id)  # now, before the rush fills the log
            claims = await self._rush(sockets, deal["id"])
            await self._pay(console, claims)
            checked = await self._check(console, arrivals, deal["id"], goal_id, fired_goal, claims)
            for client, _ in sockets:
                await client.close()
        return self._result(started, arrivals, hostile, sockets, likes_sent, fired_goal, claims, checked)

    async def _bounded(self, calls: list[Any]) -> list[Any]:
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(call: Any) -> Any:
            async with gate:
                return await call

        return await asyncio.gather(*(one(c) for c in calls))

    async def _api(self, method: str, path: str, token: str, body: Any = None) -> tuple[int, Any]:
        async with self.session.request(method, f"{self.url}/api/rooms/{self.room}{path}", json=body,
                                        headers={"Authorization": f"Bearer {token}"},
                                        timeout=aiohttp.ClientTimeout(total=30)) as resp:
            return resp.status, await resp.json()

    async def _code(self, user: str) -> str:
        status, body = await self._api("GET", "/invites/me", self.viewer(user))
        if status != 200:
            raise RuntimeError(f"GET invites/me: {status} {body}")
        return str(body["code"])

    async def _arrive(self, codes: dict[str, str]) -> dict[str, list[tuple[str, dict[str, Any]]]]:
        """Every invitee opens two different inviters' links at once. -> invitee: [(inviter, answer)]."""
        plans = {friend: self.rng.sample(self.inviters, 2) for friend in self.invitees}

        async def arrive(friend: str, inviter: str) -> tuple[str, str, dict[str, Any]]:
            status, body = await self._api("POST", "/invites/open", self.viewer(friend),
                                           {"ref": codes[inviter]})
            return friend, inviter, body if status == 200 else {"answer": f"http_{status}", **body}

        answers = await self._bounded([arrive(f, i) for f, pair in plans.items() for i in pair])
        out: dict[str, list[tuple[str, dict[str, Any]]]] = {f: [] for f in self.invitees}
        for friend, inviter, body in answers:
            out[friend].append((inviter, body))
        self.say(f"{len(self.invitees)} invitees arrived through {len(answers)} links")
        return out

    async def _hostile(self, codes: dict[str, str]) -> Counter[str]:
        """Own links, codes nobody has, malformed codes: each must be refused with its own answer."""
        expected = {"self_invite": 409, "no_such_invite": 404, "bad_ref": 400}
        calls = []
        for inviter, code in codes.items():
            calls.append((inviter, code, "self_invite"))
            calls.append((inviter, "".join(reversed(code)), "no_such_invite"))  # well formed, nobody's
            calls.append((inviter, code.upper(), "bad_ref"))
        got = await self._bounded([self._api("POST", "/invites/open", self.viewer(u), {"ref": c})
                                   for u, c, _ in calls])
        seen: Counter[str] = Counter()
        for (_u, _c, error), (status, body) in zip(calls, got, strict=True):
            if status == expected[error] and body.get("error") == error:
                seen[error] += 1
            elif error == "no_such_invite" and status == 200:
                pass  # a reversed code that happens to be an inviter's (never, in 2^80): not a refusal
            else:
                self.reasons.append(f"hostile ref ({error}) answered {status} {body}")
        return seen

    async def _connect(self) -> list[tuple[RoomClient, dict[str, Any]]]:
        """One room socket per invitee; each remembers when it first saw the deal live."""
        sockets: list[tuple[RoomClient, dict[str, Any]]] = []

        def watcher(seen: dict[str, Any]) -> Any:
            def on_frame(frame: dict[str, Any], _events: list[dict[str, Any]]) -> None:
                for deal in frame.get("deals") or ():
                    if deal.get("state") == "live" and "live_at" not in seen:
                        seen["live_at"] = time.monotonic()
                        seen["live"].set()
            return on_frame

        for friend in self.invitees:
            seen: dict[str, Any] = {"user": friend, "live": asyncio.Event()}
            client = RoomClient(self.url, self.room, self.viewer(friend), fmt=self.fmt,
                                on_frame=watcher(seen))
            sockets.append((client, seen))
        await self._bounded([client.connect() for client, _ in sockets])
        for client, _ in sockets:
            seen_task = asyncio.create_task(client.run())
            seen_task.add_done_callback(lambda t: t.cancelled() or t.exception())
        self.say(f"{len(sockets)} sockets open")
        return sockets

    async def _like(self, console: Console, goal_id: str) -> tuple[int, dict[str, Any]]:
        """Ingest likes at the scenario's rate until the goal fires (or the run's time is up)."""
        sent, batch_no = 0, 0
        deadline = time.monotonic() + self.s.duration + self.drain_s
        per_step = max(1, round(self.s.rate * LIKE_STEP_S))
        next_check = 0.0
        while time.monotonic() < deadline:
            events = [self._like_event(f"like-{batch_no}-{i}") for i in range(per_step)]
            batch_no += 1
            if sent < 2 * self.like_target:  # enough to cross; then only wait for the goal
                try:
                    status, body = await console.call("POST", "/events", "ingest", events)
                except (aiohttp.ClientError, TimeoutError):
                    status, body = 503, {}  # a busy node: the same ids again next step count once
                if status == 200 and body["accepted"] == len(events):
                    sent += sum(int(e["count"]) for e in events)
                elif status in (429, 503):  # the node's ingest limit, or busy: slow down, not a failure
                    self.throttled += 1
                    await asyncio.sleep(0.2)
                else:
                    self.reasons.append(f"likes refused: {status} {body}")
            if time.monotonic() >= next_check:
                next_check = time.monotonic() + 0.25
                goal = await goal_state(console, goal_id)
                if goal["state"] != "armed":
                    self.say(f"goal {goal['state']} at {goal.get('fired_value')} likes ({sent} sent)")
                    return sent, goal
            await asyncio.sleep(LIKE_STEP_S)
        goal = await goal_state(console, goal_id)
        self.reasons.append(f"the goal did not fire ({goal['state']}) after {sent} likes")
        return sent, goal

    def _like_event(self, event_id: str) -> dict[str, Any]:
        user = self.rng.choice(self.invitees)
        return {"id": event_id, "type": "like", "count": self.rng.randint(1, 5),
                "user": {"id": user, "name": user}}

    async def _rush(self, sockets: list[tuple[RoomClient, dict[str, Any]]],
                    deal_id: str) -> list[dict[str, Any]]:
        """Each socket claims once, as soon as it has seen the deal live."""

        async def claim(client: RoomClient, seen: dict[str, Any]) -> dict[str, Any]:
            try:
                await asyncio.wait_for(seen["live"].wait(), self.drain_s)
            except TimeoutError:
                return {"user": seen["user"], "answer": None}
            sent = time.monotonic()
            try:
                answer = await client.claim(deal_id, 1, req=f"growth-{seen['user']}", timeout_s=self.drain_s)
            except Exception as exc:  # any failure is a claim without an answer
                answer = {"type": "error", "error": repr(exc)}
            return {"user": seen["user"], "answer": answer, "latency_ms": (time.monotonic() - sent) * 1000}

        claims = await asyncio.gather(*(claim(c, s) for c, s in sockets))
        won = sum(1 for c in claims if c["answer"] and c["answer"].get("ok"))
        self.say(f"{won} claims won of {len(claims)}")
        return claims

    async def _pay(self, console: Console, claims: list[dict[str, Any]]) -> None:
        """Every won claim is paid: an order event, counted for the buyer's inviter."""
        orders = [{"id": f"order-{c['user']}", "type": "order", "user": {"id": c["user"], "name": c["user"]},
                   "order_id": f"o-{c['user']}", "product_id": "growth-deal", "qty": 1, "amount": DEAL_PRICE,
                   "status": "paid", "claim_id": c["answer"]["claim"]["id"]}
                  for c in claims if c["answer"] and c["answer"].get("ok")]
        for start in range(0, len(orders), ORDER_BATCH):
            for attempt in range(3):  # ingest is idempotent by event id: a retry counts nothing twice
                try:
                    status, body = await console.call("POST", "/events", "ingest",
                                                      orders[start : start + ORDER_BATCH])
                    break
                except (aiohttp.ClientError, TimeoutError):
                    if attempt == 2:
                        raise
            if status != 200 or body["rejected"]:
                self.reasons.append(f"orders refused: {status} {body}")

    async def _firings(self, console: Console, goal_id: str) -> int:
        """`goal_fired` entries of the goal in the audit log (its newest 200 entries)."""
        _s, audit = await console.call("GET", "/audit", "assistant")
        return sum(1 for e in audit["entries"] if e.get("op") == "goal_fired" and e.get("goal") == goal_id)

    async def _check(self, console: Console, arrivals: dict[str, list[tuple[str, dict[str, Any]]]],
                     deal_id: str, goal_id: str, fired: dict[str, Any],
                     claims: list[dict[str, Any]]) -> dict[str, Any]:
        r = self.reasons
        credited: dict[str, str] = {}
        for friend, tries in arrivals.items():
            joined = [inviter for inviter, body in tries if body.get("answer") == "joined"]
            others = [b for _i, b in tries if b.get("answer") != "joined"]
            if len(joined) != 1 or any(b.get("answer") != "already" for b in others):
                answers = [b.get("answer") for _i, b in tries]
                r.append(f"{friend}: answers {answers} (want one joined, one already)")
            elif any(b.get("inviter") != joined[0] for b in others):
                r.append(f"{friend}: the second answer names another inviter than the credited {joined[0]}")
            if joined:
                credited[friend] = joined[0]
        # The server's view: every invitee's invited_by, every inviter's count, the funnel.
        progress = await self._bounded([self._api("GET", "/invites/me", self.viewer(f))
                                        for f in self.invitees])
        wrong = [f for f, (_s, body) in zip(self.invitees, progress, strict=True)
                 if body.get("invited_by") != credited.get(f)]
        if wrong:
            r.append(f"{len(wrong)} invitees' invited_by differ from their answers, e.g. {wrong[:3]}")
        status, board = await console.call("GET", "/invites?top=200", "assistant")
        counts = Counter(credited.values())
        server_counts = {row["user"]: row["joins"] for row in board["top"]}
        if server_counts != dict(counts):
            r.append(f"per-inviter joins differ: server {server_counts} vs answers {dict(counts)}")
        if board["funnel"]["joins"] != len(self.invitees):
            r.append(f"funnel joins {board['funnel']['joins']} != invitees {len(self.invitees)}")
        if board["funnel"]["opens"] != 2 * len(self.invitees):
            r.append(f"funnel opens {board['funnel']['opens']} != links opened {2 * len(self.invitees)}: "
                     "the hostile arrivals must count nothing")
        # Invited buyers' GMV, per inviter.
        won = [c for c in claims if c["answer"] and c["answer"].get("ok")]
        gmv: dict[str, float] = dict.fromkeys(self.inviters, 0.0)
        for c in won:
            inviter = credited.get(c["user"], "?")
            gmv[inviter] = gmv.get(inviter, 0.0) + DEAL_PRICE
        buyers = Counter(credited.get(c["user"], "?") for c in won)
        for row in board["top"]:
            if abs(row["gmv"] - gmv[row["user"]]) > 1e-6 or row["buyers"] != buyers[row["user"]]:
                r.append(f"{row['user']}: GMV {row['gmv']} / buyers {row['buyers']}, expected "
                         f"{gmv[row['user']]} / {buyers[row['user']]}")
        # The goal: fired once (one goal_fired entry when it fired, and the same firing at the end).
        goal = await goal_state(console, goal_id)
        if goal["state"] != "fired" or self.firings != 1:
            r.append(f"goal state {goal['state']}, {self.firings} goal_fired entries (want fired, 1)")
        firing = (fired.get("fired_at"), fired.get("fired_value"))
        if (goal.get("fired_at"), goal.get("fired_value")) != firing:
            r.append(f"the goal's firing changed after it fired: {fired} -> {goal}")
        # The deal: exact stock.
        deal = await console.deal(deal_id)
        if deal["left"] + deal["held"] + deal["sold"] != deal["stock"]:
            r.append(f"deal: left {deal['left']} + held {deal['held']} + sold {deal['sold']} "
                     f"!= stock {deal['stock']}")
        if len(won) != min(self.stock, len(self.invitees)) or deal["sold"] + deal["held"] != len(won):
            r.append(f"deal: {len(won)} claims won, sold {deal['sold']} + held {deal['held']}, "
                     f"stock {self.stock}")
        unanswered = [c["user"] for c in claims if not c["answer"] or c["answer"].get("type") == "error"]
        if unanswered:
            r.append(f"{len(unanswered)} claims without an answer, e.g. {unanswered[:3]}")
        return {"goal": goal, "deal": deal, "board": board, "won": len(won), "credited": len(credited)}

    def _result(self, started: float, arrivals: dict[str, Any], hostile: Counter[str],
                sockets: list[tuple[RoomClient, dict[str, Any]]], likes_sent: int, goal: dict[str, Any],
                claims: list[dict[str, Any]], checked: dict[str, Any]) -> dict[str, Any]:
        saw_live = sum(1 for _c, seen in sockets if "live_at" in seen)
        if saw_live != len(sockets):
            self.reasons.append(f"{len(sockets) - saw_live} sockets never saw the deal live")
        latency = Histogram()
        for c in claims:
            if "latency_ms" in c:
                latency.record_ms(c["latency_ms"])
        duplicates = sum(c.cursor.duplicates for c, _ in sockets)
        gaps = sum(c.cursor.gaps for c, _ in sockets)
        if duplicates or gaps:
            self.reasons.append(f"{duplicates} duplicate and {gaps} missing events on the sockets")
        deal, board = checked["deal"], checked["board"]
        return {
            "scenario": "growth", "room": self.room, "started_at": started,
            "took_s": round(time.time() - started, 2),
            "clients_connected": sum(1 for c, _ in sockets if c.connects),
            "deliveries_expected": len(sockets), "deliveries": saw_live,
            "completeness_pct": round(100 * saw_live / len(sockets), 2) if sockets else 100.0,
            "duplicates": duplicates, "gaps": gaps,
            "latency_is": "claim answer after the goal-unlocked deal was seen live",
            "latency_ms": latency.summary(),
            "growth": {
                "inviters": len(self.inviters), "invitees": len(self.invitees),
                "links_opened": sum(len(t) for t in arrivals.values()), "credited": checked["credited"],
                "hostile_refused": dict(hostile), "likes_sent": likes_sent, "like_target": self.like_target,
                "like_batches_throttled": self.throttled,
                "goal": {k: goal.get(k) for k in ("id", "state", "fired_value", "result")},
                "deal": {k: deal[k] for k in ("id", "state", "stock", "left", "held", "sold", "buyers")},
                "claims_won": checked["won"], "funnel": board["funnel"], "top_inviters": board["top"][:5],
            },
            "verdict": "fail" if self.reasons else "pass", "reasons": self.reasons,
        }


def summary(r: dict[str, Any]) -> str:
    g = r["growth"]
    lines = [
        f"growth: {r['verdict'].upper()}",
        f"  {g['invitees']} invitees through {g['links_opened']} links of {g['inviters']} inviters: "
        f"{g['credited']} credited once each; hostile refusals {g['hostile_refused']}",
        f"  likes {g['likes_sent']} toward {g['like_target']}: goal {g['goal']['state']} at "
        f"{g['goal']['fired_value']}; deal {g['deal']['state']}: stock {g['deal']['stock']}, left "
        f"{g['deal']['left']}, held {g['deal']['held']}, sold {g['deal']['sold']}",
        f"  sockets that saw the deal live {r['deliveries']} of {r['deliveries_expected']}; claim answer "
        f"p50 {r['latency_ms']['p50']} ms, p99 {r['latency_ms']['p99']} ms",
        f"  funnel {g['funnel']}",
    ]
    lines += [f"  - {reason}" for reason in r["reasons"]]
    return "\n".join(lines)
