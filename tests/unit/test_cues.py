"""Every built-in cue rule on synthetic windows: it fires, it stays quiet while its condition holds, it
respects its cooldown, and it clears so it can fire again."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from livecart.comments import QuestionCluster
from livecart.cues import ONCE_RULES, RULES, CueEngine, RoomView, load_rules, manual_cue
from livecart.errors import BadRequest
from livecart.stats import Window

RULEBOOK = load_rules()
T0 = 1_800_000_000_000 // 60_000 * 60_000  # on a minute boundary (hot words are keyed by minute)


def deal(deal_id: str = "d1", *, stock: int = 100, left: int = 100, starts: int = 0,
         ends: int = 2 * T0, product: str = "Silk scarf") -> dict[str, str]:
    return {"id": deal_id, "stock": str(stock), "left": str(left), "starts_at": str(starts),
            "ends_at": str(ends), "product_name": product, "product_id": "p-" + deal_id}


def window(per_second: Callable[[int], dict[str, int]], now: int, span: int = 900) -> Window:
    """Buckets for the `span` seconds before `now` (ms): per_second(seconds ago) -> bucket."""
    w = Window()
    second = now // 1000
    for ago in range(span, -1, -1):
        bucket = per_second(ago)
        if bucket:
            w.add(second - ago, bucket)
    return w


def orders(recent: bool) -> Callable[[int], Callable[[int], dict[str, int]]]:
    # An order every 12 s (5/min) for ten minutes; in the last minute only if `recent`.
    return lambda now: (lambda ago: {"orders": 1} if ago % 12 == 0 and (recent or ago >= 60) else {})


def viewers(last: int) -> Callable[[int], Callable[[int], dict[str, int]]]:
    return lambda now: (lambda ago: {"viewers": last if ago < 10 else 100})


def comments(last_30s: int) -> Callable[[int], Callable[[int], dict[str, int]]]:
    # One comment every 10 s as the usual rate; `last_30s` comments in the last 30 s.
    return lambda now: (lambda ago: ({"comments": last_30s} if ago == 0 else {}) if ago < 30
                        else ({"comments": 1} if ago % 10 == 0 else {}))


def view(now: int, **kw: object) -> RoomView:
    make = kw.pop("window", None)
    w = window(make(now), now) if callable(make) else Window()
    return RoomView(now_ms=now, window=w, **kw)


def order_event(event_id: str, amount: float) -> dict[str, object]:
    return {"id": event_id, "type": "order", "status": "paid", "amount": amount, "qty": 1,
            "user": {"id": "u1", "name": "Lin"}, "order_id": "o1", "product_id": "p1"}


def gift_event(event_id: str, value: float) -> dict[str, object]:
    return {"id": event_id, "type": "gift", "gift": "rocket", "count": 1, "value": value,
            "user": {"id": "u2", "name": "Bo"}}


# rule -> (a view where it holds, a view where it does not), both as functions of now (ms)
CASES: dict[str, tuple[Callable[[int], RoomView], Callable[[int], RoomView]]] = {
    "low_stock": (lambda t: view(t, deals=[deal(left=10)]), lambda t: view(t, deals=[deal(left=11)])),
    "stock_level": (lambda t: view(t, deals=[deal(left=50)]), lambda t: view(t, deals=[deal(left=51)])),
    "last_units": (lambda t: view(t, deals=[deal(left=8)]), lambda t: view(t, deals=[deal(left=50)])),
    "countdown": (lambda t: view(t, deals=[deal(ends=t + 25_000)]),
                  lambda t: view(t, deals=[deal(ends=t + 500_000)])),
    "sold_out": (lambda t: view(t, deals=[deal(left=0), deal("d2", starts=t + 60_000, product="Hat")]),
                 lambda t: view(t, deals=[deal(left=3), deal("d2", starts=t + 60_000, product="Hat")])),
    "order_drop": (lambda t: view(t, window=orders(recent=False)),
                   lambda t: view(t, window=orders(recent=True))),
    "viewer_drop": (lambda t: view(t, window=viewers(50)), lambda t: view(t, window=viewers(100))),
    "viewer_spike": (lambda t: view(t, window=viewers(200)), lambda t: view(t, window=viewers(100))),
    "comment_surge": (lambda t: view(t, window=comments(40)), lambda t: view(t, window=comments(3))),
    "questions": (lambda t: view(t, questions=[QuestionCluster("size", 6, 7, ["尺码多少"])]),
                  lambda t: view(t, questions=[QuestionCluster("size", 2, 2, ["尺码多少"])])),
    "hot_words": (lambda t: view(t, hot_words=[("尺码", 8), ("发货", 6)]),
                  lambda t: view(t, hot_words=[("尺码", 2)])),
    "thank_order": (lambda t: view(t, new_events=[order_event("o-big", 800.0)]),
                    lambda t: view(t, new_events=[order_event("o-small", 20.0)])),
    "thank_gift": (lambda t: view(t, new_events=[gift_event("g-big", 520.0)]),
                   lambda t: view(t, new_events=[gift_event("g-small", 1.0)])),
    "followers": (lambda t: view(t, follows=120), lambda t: view(t, follows=99)),
}


def test_every_built_in_rule_has_a_case_and_texts_in_both_languages():
    assert set(CASES) == set(RULES) == set(RULEBOOK)
    for name, cfg in RULEBOOK.items():
        assert cfg["zh"] and cfg["en"], name


def engine_for(rule: str) -> CueEngine:
    return CueEngine({rule: RULEBOOK[rule]}, lang="en")


@pytest.mark.parametrize("rule", sorted(CASES))
def test_rule_fires_once_while_its_condition_holds(rule):
    holds, _quiet = CASES[rule]
    engine = engine_for(rule)
    cues = engine.step(holds(T0))
    assert [c.kind for c in cues] == [rule]
    cue = cues[0]
    assert cue.text and "{" not in cue.text and set(cue.texts) == {"zh", "en"} and "{" not in cue.texts["zh"]
    assert cue.priority == RULEBOOK[rule]["priority"] and cue.expires_at > cue.created_at
    assert engine.step(holds(T0 + 1000)) == []


@pytest.mark.parametrize("rule", sorted(CASES))
def test_rule_is_quiet_when_its_condition_does_not_hold(rule):
    _holds, quiet = CASES[rule]
    assert engine_for(rule).step(quiet(T0)) == []


@pytest.mark.parametrize("rule", sorted(set(CASES) - ONCE_RULES))
def test_rule_clears_and_fires_again_after_its_cooldown(rule):
    holds, quiet = CASES[rule]
    engine = engine_for(rule)
    cooldown_ms = int(RULEBOOK[rule]["cooldown_s"] * 1000)
    assert len(engine.step(holds(T0))) == 1
    assert engine.step(quiet(T0 + 1000)) == []  # clears
    assert cooldown_ms > 2000
    assert engine.step(holds(T0 + 2000)) == []  # back within the cooldown: held back
    later = T0 + cooldown_ms + 3000
    assert [c.kind for c in engine.step(holds(later))] == [rule]  # after it: fires again


@pytest.mark.parametrize("rule", sorted(ONCE_RULES))
def test_once_only_rules_never_repeat_the_same_thing(rule):
    holds, quiet = CASES[rule]
    engine = engine_for(rule)
    assert len(engine.step(holds(T0))) == 1
    engine.step(quiet(T0 + 1000))
    assert engine.step(holds(T0 + 3_600_000)) == []


def test_low_stock_is_about_the_share_of_stock_and_only_for_live_deals():
    engine = engine_for("low_stock")
    ended = deal(left=1, ends=T0 - 1)
    scheduled = deal("d2", left=1, starts=T0 + 10_000)
    assert engine.step(view(T0, deals=[ended, scheduled, deal("d3", stock=1000, left=101)])) == []
    cues = engine.step(view(T0 + 1000, deals=[deal("d3", stock=1000, left=100)]))
    assert [c.data["deal"] for c in cues] == ["d3"]


def test_low_stock_is_said_once_even_when_a_rush_takes_the_last_units_between_two_steps():
    engine = engine_for("low_stock")
    assert [c.data["left"] for c in engine.step(view(T0, deals=[deal(left=0)]))] == [0]
    assert engine.step(view(T0 + 1000, deals=[deal(left=0)])) == []
    engine = engine_for("low_stock")
    assert len(engine.step(view(T0, deals=[deal(left=3)]))) == 1
    assert engine.step(view(T0 + 1000, deals=[deal(left=0)])) == []


def test_stock_level_says_only_the_lowest_level_crossed():
    cues = engine_for("stock_level").step(view(T0, deals=[deal(left=15)]))
    assert [c.data["percent"] for c in cues] == [20]


def test_countdown_marks_before_start_and_end():
    engine = engine_for("countdown")
    cues = engine.step(view(T0, deals=[deal("s", starts=T0 + 55_000), deal("e", ends=T0 + 9_000)]))
    assert sorted((c.data["deal"], c.data["phase"], c.data["seconds"]) for c in cues) == [
        ("e", "end", 10), ("s", "start", 60)]


def test_sold_out_suggests_the_next_prepared_deal():
    cues = engine_for("sold_out").step(view(T0, deals=[
        deal("gone", left=0), deal("later", starts=T0 + 600_000, product="Later"),
        deal("soon", starts=T0 + 60_000, product="Soon")]))
    assert cues[0].data["next_deal"] == "soon" and "Soon" in cues[0].text


def test_question_cues_come_back_when_the_askers_double():
    engine = engine_for("questions")

    def asked_by(n: int) -> RoomView:
        return view(T0 + n * 61_000, questions=[QuestionCluster("size", n, n, ["size?"])])

    assert engine.step(asked_by(5))[0].data["askers"] == 5
    assert engine.step(asked_by(9)) == []
    assert engine.step(asked_by(10))[0].data["askers"] == 10


def test_one_cue_per_event_for_thank_yous():
    engine = engine_for("thank_order")
    cues = engine.step(view(T0, new_events=[order_event("a", 600), order_event("b", 900),
                                            order_event("c", 10)]))
    assert sorted(c.data["amount"] for c in cues) == [600, 900]


def test_a_rules_file_may_leave_rules_out_and_must_name_known_ones(tmp_path):
    path = tmp_path / "rules.toml"
    path.write_text('[low_stock]\nfraction = 0.5\nzh = "少"\nen = "low"\n', encoding="utf-8")
    rules = load_rules(path)
    assert list(rules) == ["low_stock"]
    assert [c.text for c in CueEngine(rules, "zh").step(view(T0, deals=[deal(left=50)]))] == ["少"]
    path.write_text("[no_such_rule]\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no_such_rule"):
        load_rules(path)


def test_manual_cues_are_validated():
    cue = manual_cue({"text": "pin the scarf", "priority": "low"}, "amy", T0)
    assert (cue.kind, cue.priority, cue.data) == ("manual", "low", {"by": "amy"})
    assert manual_cue({"text": "x"}, "amy", T0).priority == "normal"
    for body in ({"text": "  "}, {"text": 5}, {"text": "x", "priority": "urgent"}, "x"):
        with pytest.raises(BadRequest):
            manual_cue(body, "amy", T0)


def test_a_rules_file_with_a_wrong_type_is_refused(tmp_path):
    path = tmp_path / "rules.toml"
    path.write_text('[low_stock]\nfraction = "ten percent"\n', encoding="utf-8")
    with pytest.raises(ValueError, match="fraction"):
        load_rules(path)
    path.write_text('[countdown]\nbefore_end_s = [60, "x"]\n', encoding="utf-8")
    with pytest.raises(ValueError, match="before_end_s"):
        load_rules(path)
