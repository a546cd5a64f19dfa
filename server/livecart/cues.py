"""Host cues (场控提词), the pure part: the CUE map, manual cues, and the rule engine.

Each rule reads a `RoomView` (recent per-second buckets, deals, question clusters, hot words, the
events new this second) and reports the *signals* that hold right now, each with a key. The engine
turns signals into cues on their rising edge only:
- a key that was signalled last step and still is stays quiet (de-duplication: "stock under 10 %"
  is said once, not every second);
- a key that stops being signalled clears, and may fire again when it comes back;
- a rising edge within the rule's cooldown of the last cue of the same group is held back, and fires
  when the cooldown is over if it still holds.
Thresholds, cooldowns, priorities and the zh/en texts live in a TOML rules file (`cue_rules.toml`
is the built-in one). The director (director.py) runs one engine per room, on one node at a time;
the store's emit script is a second guard so a lease handover cannot say the same thing twice.
"""

from __future__ import annotations

import math
import tomllib
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from livecart.deals import DealState, deal_state
from livecart.errors import BadRequest
from livecart.stats import Window

if TYPE_CHECKING:
    from livecart.comments import QuestionCluster

__all__ = ["ONCE_RULES", "PRIORITIES", "Cue", "CueEngine", "RoomView", "Signal", "load_rules", "manual_cue"]

PRIORITIES = ("low", "normal", "high")
MAX_TEXT = 500
MANUAL_TTL_S = 300
ONCE_GUARD_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class Cue:
    id: str
    kind: str
    priority: str
    text: str
    created_at: int
    expires_at: int
    data: dict[str, Any] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)
    key: str = ""  # de-duplication key ("" for manual cues); not on the wire
    cooldown_ms: int = 0

    def to_wire(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "priority": self.priority, "text": self.text,
                "texts": self.texts, "data": self.data, "created_at": self.created_at,
                "expires_at": self.expires_at, "acked_at": None, "acked_by": None}


def new_id() -> str:
    return uuid.uuid4().hex[:16]


def manual_cue(body: Any, by: str, now_ms: int) -> Cue:
    """An assistant's cue from `{"text", "priority"}`, or BadRequest."""
    if not isinstance(body, dict):
        raise BadRequest("bad_body", "the body must be an object")
    text = body.get("text")
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT:
        raise BadRequest("bad_field", f"text must be a string of 1-{MAX_TEXT} characters")
    priority = body.get("priority", "normal")
    if priority not in PRIORITIES:
        raise BadRequest("bad_field", "priority must be one of low, normal, high")
    return Cue(id=new_id(), kind="manual", priority=priority, text=text, created_at=now_ms,
               expires_at=now_ms + MANUAL_TTL_S * 1000, data={"by": by})


# --- rules -----------------------------------------------------------------------------------------


def load_rules(path: str | Path | None = None) -> dict[str, dict[str, Any]]:
    """The rules table: the built-in file, or `path`. A rule missing from `path` is off."""
    if path:
        text = Path(path).read_text(encoding="utf-8")
    else:
        text = resources.files("livecart").joinpath("cue_rules.toml").read_text(encoding="utf-8")
    rules = tomllib.loads(text)
    for name, rule in rules.items():
        if name not in RULES:
            raise ValueError(f"cue rules: unknown rule [{name}]; known: {', '.join(RULES)}")
        if rule.get("priority", "normal") not in PRIORITIES:
            raise ValueError(f"cue rules: [{name}] priority must be one of {', '.join(PRIORITIES)}")
        for key, value in rule.items():
            if key in ("zh", "en"):
                ok = isinstance(value, str)
            elif key in ("priority", "enabled"):
                ok = True
            else:  # thresholds: a number, or a list of them
                items = value if isinstance(value, list) else [value]
                ok = all(isinstance(v, int | float) and not isinstance(v, bool) for v in items)
            if not ok:
                raise ValueError(f"cue rules: [{name}] {key} has the wrong type")
    return rules


@dataclass(slots=True)
class RoomView:
    """What the rules see of one room at one step (seconds are unix seconds)."""

    now_ms: int
    window: Window
    deals: list[dict[str, str]] = field(default_factory=list)  # stored deal fields, newest first
    follows: int = 0  # the room's follow counter
    new_events: list[dict[str, Any]] = field(default_factory=list)
    questions: list[QuestionCluster] = field(default_factory=list)
    hot_words: list[tuple[str, int]] = field(default_factory=list)

    @property
    def second(self) -> int:
        return self.now_ms // 1000


@dataclass(frozen=True, slots=True)
class Signal:
    """A condition that holds now. `key` de-duplicates; `group` shares one cooldown (default: key)."""

    key: str
    data: dict[str, Any]
    group: str = ""
    ttl_s: float | None = None


Rule = Callable[[RoomView, Mapping[str, Any]], Iterator[Signal]]


def _product(fields: Mapping[str, str]) -> str:
    return fields.get("product_name", "") or fields.get("product_id", "")


def _live(view: RoomView) -> Iterator[dict[str, str]]:
    return (d for d in view.deals if deal_state(d, view.now_ms) is DealState.LIVE)


def _stock_data(d: Mapping[str, str]) -> dict[str, Any]:
    return {"deal": d["id"], "product": _product(d), "left": int(d["left"]), "stock": int(d["stock"])}


def low_stock(view: RoomView, cfg: Mapping[str, Any]) -> Iterator[Signal]:
    """CONTRACT: a live deal's `left` first at or below the fraction. A sold-out deal counts too: a
    rush can take the last units between two steps, and `left` did drop below 10 % while live (the
    key is the deal, so the cue is said once however far it drops)."""
    fraction = float(cfg.get("fraction", 0.10))
    for d in view.deals:
        if deal_state(d, view.now_ms) not in (DealState.LIVE, DealState.SOLD_OUT):
            continue
        if int(d["left"]) <= int(d["stock"]) * fraction:
            yield Signal(f"{d['id']}", _stock_data(d))


def stock_level(view: RoomView, cfg: Mapping[str, Any]) -> Iterator[Signal]:
    """50 %, 20 % (configurable): only the lowest level crossed is signalled, so a deal that drops
    from 60 % to 15 % in one second says "20 %", not both."""
    levels = sorted(float(x) for x in cfg.get("levels", [0.5, 0.2]))
    for d in _live(view):
        left, stock = int(d["left"]), int(d["stock"])
        crossed = [lv for lv in levels if left <= stock * lv]
        if crossed:
            level = crossed[0]
            yield Signal(f"{d['id']}:{level}", dict(_stock_data(d), percent=round(level * 100)))


def last_units(view: RoomView, cfg: Mapping[str, Any]) -> Iterator[Signal]:
    units = int(cfg.get("units", 10))
    for d in _live(view):
        if int(d["stock"]) > units and 0 < int(d["left"]) <= units:
            yield Signal(d["id"], _stock_data(d))


def countdown(view: RoomView, cfg: Mapping[str, Any]) -> Iterator[Signal]:
    """T-60/T-30/T-10 before a live deal ends and before a scheduled one starts: each mark holds from
    its time down to the next mark, so a late engine still says the nearest one."""
    for phase, key in (("end", "before_end_s"), ("start", "before_start_s")):
        marks = sorted((int(x) for x in cfg.get(key, [60, 30, 10])), reverse=True)
        for d in view.deals:
            state = deal_state(d, view.now_ms)
            if (phase, state) not in (("end", DealState.LIVE), ("end", DealState.SOLD_OUT),
                                      ("start", DealState.SCHEDULED)):
                continue
            at = int(d["ends_at"] if phase == "end" else d["starts_at"])
            left_s = (at - view.now_ms) / 1000
            for i, mark in enumerate(marks):
                below = marks[i + 1] if i + 1 < len(marks) else 0
                if below < left_s <= mark:
                    yield Signal(f"{d['id']}:{phase}:{mark}",
                                 {"deal": d["id"], "product": _product(d), "phase": phase,
                                  "phase_zh": "结束" if phase == "end" else "开抢",
                                  "phase_en": "ends" if phase == "end" else "starts",
                                  "seconds": mark}, ttl_s=max(1.0, left_s))


def sold_out(view: RoomView, cfg: Mapping[str, Any]) -> Iterator[Signal]:
    """A deal sold out: suggest the next prepared (scheduled) deal, the one starting soonest."""
    prepared = sorted((d for d in view.deals if deal_state(d, view.now_ms) is DealState.SCHEDULED),
                      key=lambda d: int(d["starts_at"]))
    nxt = prepared[0] if prepared else None
    for d in view.deals:
        if deal_state(d, view.now_ms) is DealState.SOLD_OUT:
            yield Signal(d["id"], {"deal": d["id"], "product": _product(d),
                                   "next_deal": nxt["id"] if nxt else None,
                                   "next_product": _product(nxt) if nxt else ""},
                         group=d["id"])


def order_drop(view: RoomView, cfg: Mapping[str, Any]) -> Iterator[Signal]:
    """Orders per minute over the last window (the current second included) well below the baseline
    before it."""
    end, w, b = view.second + 1, int(cfg.get("window_s", 60)), int(cfg.get("baseline_s", 600))
    baseline = view.window.per_min("orders", end - w - b, end - w)
    current = view.window.per_min("orders", end - w, end)
    if baseline >= float(cfg.get("min_baseline_per_min", 2.0)) and current < baseline * float(
            cfg.get("below", 0.4)):
        yield Signal("orders", {"per_min": round(current, 1), "baseline_per_min": round(baseline, 1)})


def _viewer_change(view: RoomView, cfg: Mapping[str, Any]) -> tuple[float, float] | None:
    now = view.second
    current = view.window.mean_viewers(now - int(cfg.get("window_s", 10)), now + 1)
    b = int(cfg.get("baseline_s", 120))
    baseline = view.window.mean_viewers(now - 60 - b, now - 60)
    if current is None or baseline is None or baseline < float(cfg.get("min_viewers", 20)):
        return None
    return current, baseline


def viewer_drop(view: RoomView, cfg: Mapping[str, Any]) -> Iterator[Signal]:
    change = _viewer_change(view, cfg)
    if change and change[0] < change[1] * (1 - float(cfg.get("drop", 0.3))):
        yield Signal("viewers", {"viewers": round(change[0]), "before": round(change[1]),
                                 "percent": round(100 * (1 - change[0] / change[1]))})


def viewer_spike(view: RoomView, cfg: Mapping[str, Any]) -> Iterator[Signal]:
    change = _viewer_change(view, cfg)
    if change and change[0] > change[1] * (1 + float(cfg.get("rise", 0.5))):
        yield Signal("viewers", {"viewers": round(change[0]), "before": round(change[1]),
                                 "percent": round(100 * (change[0] / change[1] - 1))})


def comment_surge(view: RoomView, cfg: Mapping[str, Any]) -> Iterator[Signal]:
    end, w, b = view.second + 1, int(cfg.get("window_s", 30)), int(cfg.get("baseline_s", 300))
    current = view.window.total("comments", end - w, end)
    baseline = view.window.per_min("comments", end - w - b, end - w) * w / 60
    if current >= int(cfg.get("min_comments", 20)) and current >= float(cfg.get("ratio", 3.0)) * baseline:
        yield Signal("comments", {"comments": current, "seconds": w, "usual": round(baseline, 1)})


def questions(view: RoomView, cfg: Mapping[str, Any]) -> Iterator[Signal]:
    """A topic many people ask about: said again each time the askers double (5, 10, 20, ...)."""
    least = int(cfg.get("min_askers", 5))
    for cluster in view.questions:
        if cluster.topic == "other" or cluster.askers < least:
            continue
        level = int(math.log2(cluster.askers / least))
        data = dict(cluster.to_wire(), example=cluster.examples[0] if cluster.examples else "")
        yield Signal(f"{cluster.topic}:{level}", data, group=cluster.topic)


def hot_words(view: RoomView, cfg: Mapping[str, Any]) -> Iterator[Signal]:
    top = [(w, n) for w, n in view.hot_words if n >= int(cfg.get("min_count", 5))][: int(cfg.get("top", 5))]
    if top:
        minute = view.second // 60
        words = "、".join(w for w, _ in top)
        yield Signal(str(minute), {"words": [[w, n] for w, n in top], "list": words}, group="hot_words")


def thank_order(view: RoomView, cfg: Mapping[str, Any]) -> Iterator[Signal]:
    least = float(cfg.get("min_amount", 500))
    for e in view.new_events:
        if e["type"] == "order" and e["status"] == "paid" and e["amount"] >= least:
            yield Signal(e["id"], {"user": e["user"]["name"], "amount": e["amount"], "qty": e["qty"]},
                         group=e["id"])


def thank_gift(view: RoomView, cfg: Mapping[str, Any]) -> Iterator[Signal]:
    least = float(cfg.get("min_value", 100))
    for e in view.new_events:
        if e["type"] == "gift" and e["value"] >= least:
            yield Signal(e["id"], {"user": e["user"]["name"], "gift": e["gift"], "count": e["count"],
                                   "value": e["value"]}, group=e["id"])


def followers(view: RoomView, cfg: Mapping[str, Any]) -> Iterator[Signal]:
    """The highest follower milestone reached; each is said once (its key never clears)."""
    reached = [m for m in (int(x) for x in cfg.get("milestones", [100, 500, 1000])) if view.follows >= m]
    if reached:
        yield Signal(str(max(reached)), {"followers": view.follows, "milestone": max(reached)},
                     group="followers")


RULES: dict[str, Rule] = {
    "low_stock": low_stock, "stock_level": stock_level, "last_units": last_units, "countdown": countdown,
    "sold_out": sold_out, "order_drop": order_drop, "viewer_drop": viewer_drop,
    "viewer_spike": viewer_spike, "comment_surge": comment_surge, "questions": questions,
    "hot_words": hot_words, "thank_order": thank_order, "thank_gift": thank_gift, "followers": followers,
}
# Keys that stay taken once said, even after their condition clears (a milestone is reached once).
ONCE_RULES = frozenset({"followers", "thank_order", "thank_gift"})


class _Template(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def render(template: str, data: Mapping[str, Any]) -> str:
    return template.format_map(_Template(data))


class CueEngine:
    """One room's rules and the memory that turns signals into cues (see the module docstring)."""

    def __init__(self, rules: Mapping[str, Mapping[str, Any]], lang: str = "zh") -> None:
        self.rules = rules
        self.lang = lang
        self.active: set[str] = set()  # signal keys that held on the last step
        self.fired: dict[str, int] = {}  # cooldown group -> ms of its last cue
        self.said: set[str] = set()  # keys of the once-only rules
        self.waiting = False  # a signal held on the last step but was held back by its cooldown

    def step(self, view: RoomView) -> list[Cue]:
        now = view.now_ms
        active: set[str] = set()
        self.waiting = False
        cues: list[Cue] = []
        for name, cfg in self.rules.items():
            if not cfg.get("enabled", True):
                continue
            cooldown_ms = int(float(cfg.get("cooldown_s", 60)) * 1000)
            for signal in RULES[name](view, cfg):
                key = f"{name}:{signal.key}"
                group = f"{name}:{signal.group or signal.key}"
                if key in self.active or key in self.said:
                    active.add(key)
                    continue
                if now - self.fired.get(group, -cooldown_ms) < cooldown_ms:
                    self.waiting = True
                    continue  # held back, not active: it fires once the cooldown is over
                active.add(key)
                self.fired[group] = now
                if name in ONCE_RULES:
                    self.said.add(key)
                cues.append(self._cue(name, cfg, key, signal, now, cooldown_ms))
        self.active = active
        longest = max((float(c.get("cooldown_s", 60)) for c in self.rules.values()), default=0) * 1000
        self.fired = {g: at for g, at in self.fired.items() if now - at < longest}
        return cues

    def _cue(self, name: str, cfg: Mapping[str, Any], key: str, signal: Signal, now: int,
             cooldown_ms: int) -> Cue:
        texts = {lang: render(str(cfg[lang]), signal.data) for lang in ("zh", "en") if lang in cfg}
        text = texts.get(self.lang) or next(iter(texts.values()), name)
        ttl = signal.ttl_s if signal.ttl_s is not None else float(cfg.get("ttl_s", 120))
        # The store's guard holds a once-only key for a day (as long as it remembers keys at all).
        guard_ms = ONCE_GUARD_MS if name in ONCE_RULES else max(cooldown_ms, 1000)
        return Cue(id=new_id(), kind=name, priority=str(cfg.get("priority", "normal")), text=text,
                   created_at=now, expires_at=now + int(ttl * 1000), data=signal.data, texts=texts,
                   key=key, cooldown_ms=guard_ms)
