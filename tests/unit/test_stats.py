"""Per-second buckets folded from events, series over steps, and deal funnels."""

from __future__ import annotations

from livecart.stats import Window, bucket_second, deal_funnel, fold, series, to_wire

T = 1_800_000_000_000


def ev(kind: str, ts: int, **fields: object) -> dict[str, object]:
    return {"id": f"{kind}{ts}", "type": kind, "ts": ts, "user": {"id": "u", "name": "u"}, **fields}


def test_fold_counts_each_event_in_its_second_with_money_in_cents():
    events = [ev("comment", T, text="hi"), ev("comment", T + 999, text="yo"), ev("like", T + 1000, count=5),
              ev("join", T), ev("leave", T), ev("share", T), ev("follow", T),
              ev("gift", T, gift="rose", count=3, value=1.5),
              ev("order", T, status="paid", amount=19.99, qty=1, order_id="o", product_id="p"),
              ev("order", T, status="placed", amount=5.0, qty=1, order_id="o2", product_id="p"),
              ev("order", T + 1000, status="refunded", amount=19.99, qty=1, order_id="o", product_id="p")]
    buckets = fold((e, T) for e in events)
    s = T // 1000
    assert buckets[s] == {"comments": 2, "entries": 1, "leaves": 1, "shares": 1, "follows": 1,
                          "gifts_value_cents": 150, "orders": 1, "gmv_cents": 1999}
    assert buckets[s + 1] == {"likes": 5, "gmv_cents": -1999}


def test_an_implausible_ts_counts_at_receipt():
    assert bucket_second({"ts": 0}, T) == T // 1000
    assert bucket_second({"ts": T - 5000}, T) == T // 1000 - 5


def test_series_sums_counts_and_shows_the_viewer_peak_carried_over_quiet_steps():
    s = T // 1000
    buckets = {s - 5: {"viewers": 7}, s: {"comments": 2, "viewers": 10},
               s + 1: {"comments": 1, "viewers": 12}, s + 3: {"orders": 1, "gmv_cents": 500}}
    rows = series(buckets, s - 2, s + 6, 2)
    assert [(r["t"], r["comments"], r["viewers"], r["orders"]) for r in rows] == [
        (s - 2, 0, 7, 0), (s, 3, 12, 0), (s + 2, 0, 12, 1), (s + 4, 0, 12, 0)]
    assert to_wire(rows[2])["gmv"] == 5.0


def test_the_platform_s_viewer_count_is_a_gauge_of_its_own_beside_livecart_s_viewers():
    s = T // 1000
    buckets = fold([(ev("viewers", T, platform="tiktok", count=1200), T),
                    (ev("viewers", T + 300, platform="tiktok", count=1100), T),  # same second: the latest
                    (ev("viewers", T + 4000, platform="tiktok", count=0), T)])  # 0 is a sample too
    assert buckets == {s: {"platform_viewers": 1100}, s + 4: {"platform_viewers": 0}}
    buckets.update({s - 9: {"platform_viewers": 50, "viewers": 3}, s + 1: {"viewers": 9}})
    rows = series(buckets, s - 2, s + 6, 2)
    assert [(r["t"], r["viewers"], r["platform_viewers"]) for r in rows] == [
        (s - 2, 3, 50), (s, 9, 1100), (s + 2, 9, 1100), (s + 4, 9, 0)]


def test_window_rates_and_viewer_samples():
    w = Window()
    for i in range(60):
        w.add(i, {"orders": 1} if i % 10 == 0 else {"viewers": i})
    assert w.total("orders", 0, 60) == 6 and w.per_min("orders", 0, 30) == 6.0
    assert w.viewers(10) == 9 and w.viewers(-1) is None
    w.trim(50)
    assert min(w.buckets) == 50


def test_deal_funnel_from_stored_fields():
    fields = {"id": "d1", "product_name": "Scarf", "stock": "10", "sold": "8", "starts_at": str(T),
              "ends_at": str(T + 120_000), "attempts": "40", "claims": "10", "paid": "8", "released": "2",
              "buyers": "7", "gmv_cents": "79200"}
    funnel = deal_funnel(fields, viewers_at_launch=200, sold_out_at=T + 30_000)
    assert funnel["conversion"] == 0.04 and funnel["claim_success"] == 0.25
    assert funnel["sell_through_s"] == 30.0 and funnel["gmv"] == 792.0 and funnel["cancelled_or_expired"] == 2
    assert deal_funnel(fields, None, None)["conversion"] is None


def test_mean_viewers_carries_each_sample_forward():
    w = Window()
    w.add(0, {"viewers": 10})
    w.add(5, {"viewers": 20})
    assert w.mean_viewers(0, 10) == 15.0  # 5 s at 10, 5 s at 20
    assert w.mean_viewers(8, 10) == 20.0  # no sample inside: the last one before
    assert w.mean_viewers(-5, 0) is None


def test_fold_takes_the_exact_minor_units_of_the_rooms_currency():
    # 1500 yen is 1500 minor units: `value * 100` made it 150000.
    events = [ev("gift", T, gift="rose", count=1, value=1500, value_minor=1500),
              ev("order", T, status="paid", amount=1.234, amount_minor=1234, qty=1, order_id="o",
                 product_id="p")]
    assert fold((e, T) for e in events)[T // 1000] == {"gifts_value_cents": 1500, "orders": 1,
                                                       "gmv_cents": 1234}
    assert to_wire({"gmv_cents": 1234}, "KWD") == {"gmv": 1.234}
    assert to_wire({"gmv_cents": 1500}, "JPY") == {"gmv": 1500}
