"""One run's result: the contract's keys, the scenario's own findings, and the verdict with its reasons.

Pure: it takes the workers' final reports, the timeline and the server's view of the deals, and
returns the JSON object `--json` writes (CONTRACT.md, "Load tool").
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from loadtest.histogram import Histogram
from loadtest.scenarios import Scenario

__all__ = ["LOADER_BUSY_PCT", "summarize"]

LOADER_BUSY_PCT = 85.0  # a worker this busy may have delayed what it measured
LOADER_LAG_MS = 200  # a worker whose timers fire this late read its sockets late


def summarize(s: Scenario, *, finals: list[dict[str, Any]], timeline: list[dict[str, Any]], publisher: Any,
              deal_plans: dict[str, dict[str, Any]], deals_now: dict[str, dict[str, Any]],
              events: list[dict[str, Any]], meta: dict[str, Any]) -> dict[str, Any]:
    total = _sum(finals, ("connected", "viewers", "expected", "deliveries", "duplicates", "gaps", "missed",
                          "resets", "slow", "slow_expected", "slow_deliveries", "connects",
                          "failed_connects", "resumes", "pending_resumes"))
    latency, slow_latency = _merged(finals, "latency"), _merged(finals, "slow_latency")
    resume_s, caught_up_s = _merged(finals, "resume_s"), _merged(finals, "caught_up_s")
    closes: Counter[str] = Counter()  # reading sockets
    slow_closes: Counter[str] = Counter()  # sockets that stopped reading on purpose
    errors: Counter[str] = Counter()
    connect_errors: Counter[str] = Counter()
    retry_afters: Counter[str] = Counter()
    for f in finals:
        connect_errors.update(f["connect_errors"])
        retry_afters.update(f["retry_afters"])
        closes.update(f["closes"])
        slow_closes.update(f["slow_closes"])
        errors.update(f["errors"])
    deals = _deals(finals, deal_plans, deals_now)
    loader = _loader(timeline, finals, meta)
    result: dict[str, Any] = {
        "scenario": s.name,
        "clients_connected": total["connected"],
        "deliveries_expected": total["expected"],
        "deliveries": total["deliveries"],
        "completeness_pct": _pct(total["deliveries"], total["expected"]),
        "duplicates": total["duplicates"],
        "gaps": total["gaps"] + total["missed"],
        "latency_ms": _lat(latency),
        "fanout": {"deliveries_expected": total["expected"], "deliveries": total["deliveries"],
                   "latency_ms": latency.summary(), "offset_gaps": total["gaps"],
                   "missed_by_snapshot": total["missed"], "history_resets": total["resets"]},
        "sockets": {"asked": meta["peak_clients"], "opened": total["viewers"],
                    "connected": total["connected"],
                    "connect_attempts": total["connects"], "failed_connects": total["failed_connects"],
                    "connect_errors": dict(connect_errors),
                    # Upgrades refused with Retry-After (503 busy), by its value in seconds.
                    "retry_after_s": dict(sorted(retry_afters.items(), key=lambda kv: int(kv[0]))),
                    "resumes": total["resumes"], "closes_by_code": dict(closes + slow_closes),
                    "slow_consumer_closes": (closes + slow_closes).get("1013", 0),
                    "going_away_closes": closes.get("1001", 0)},
        "publisher": {"events_sent": publisher.sent, "errors": publisher.errors,
                      "retries": publisher.retries},
        "errors": dict(errors),
        # The frames around the first duplicates or gaps: (type, offset, first, last, count, connection).
        "evidence": [e for f in finals for e in f["evidence"]][:10],
        "settings": {k: v for k, v in _settings(s).items()},
        "timeline": timeline,
        "events": events,
        "loader": loader,
        "meta": meta,
    }
    if s.drop_at is not None:
        result["reconnect"] = {"dropped": resume_s.total + total["pending_resumes"],
                               "resumed": caught_up_s.total, "not_resumed": total["pending_resumes"],
                               "time_to_reconnect_s": _secs(resume_s),
                               "time_to_caught_up_s": _secs(caught_up_s),
                               "time_to_fully_resumed_s": round(caught_up_s.max_us / 1e6, 3),
                               # upgrades refused with 503 busy from the drop on (the storm's own)
                               "refused_busy": sum(f["refused_after_drop"] for f in finals),
                               **_storm_cpu(meta)}
    if s.slow_at is not None:
        result["slow_consumers"] = _slow(s, timeline, meta["run_started_s"], total, slow_latency, closes,
                                         slow_closes)
    if deals:
        result["deals"] = deals
    if s.name == "deal-rush" and deals:
        claim = Histogram()
        for f in finals:
            for d in f["deals"].values():
                claim.merge(Histogram.from_wire(d["latency"]))
        result["deliveries_expected"] = sum(d["claims_sent"] for d in deals.values())
        result["deliveries"] = sum(d["claims_answered"] for d in deals.values())
        result["completeness_pct"] = _pct(result["deliveries"], result["deliveries_expected"])
        result["latency_ms"] = _lat(claim)
        result["latency_is"] = "claim round trip (claim sent -> claim_result)"
    else:
        result["latency_is"] = "fan-out (comment ingested -> arrived on a socket)"
    reasons = _reasons(s, result, total, closes, errors, deals, finals)
    result["verdict"] = "fail" if reasons else "pass"
    result["reasons"] = reasons
    return result


def _reasons(s: Scenario, r: dict[str, Any], total: dict[str, int], closes: Counter[str],
             errors: Counter[str], deals: dict[str, dict[str, Any]],
             finals: list[dict[str, Any]]) -> list[str]:
    out: list[str] = []
    asked = r["sockets"]["asked"]
    if total["connected"] < asked:
        out.append(f"only {total['connected']} of {asked} sockets connected")
    if r["fanout"]["deliveries"] < r["fanout"]["deliveries_expected"]:
        f = r["fanout"]
        out.append(f"fan-out incomplete: {f['deliveries']} of {f['deliveries_expected']} deliveries "
                   f"({_pct(f['deliveries'], f['deliveries_expected'])} %)")
    if total["duplicates"]:
        out.append(f"{total['duplicates']} duplicate deliveries")
    if total["gaps"]:
        out.append(f"{total['gaps']} offsets missing inside batches (gaps)")
    if total["missed"]:
        out.append(f"{total['missed']} events skipped: a resume got a snapshot instead of the missed events")
    if total["resets"]:
        out.append(f"{total['resets']} history resets (new epoch) seen by sockets")
    expected_closes = {"1000"}  # our own closes (viewers leaving, the end of the run)
    if s.drop_at is not None:
        expected_closes.add("1006")  # the drops themselves
    unexpected = {code: n for code, n in closes.items() if code not in expected_closes}
    if unexpected:
        named = ", ".join(f"{n} × {code}{_CLOSE_NAMES.get(code, '')}"
                          for code, n in sorted(unexpected.items()))
        out.append(f"the server closed sockets: {named}; resumed {r['sockets']['resumes']} times")
    if s.slow_at is not None:
        slow = r["slow_consumers"]
        if slow["reader_closes_1013"]:
            out.append(f"{slow['reader_closes_1013']} reading sockets were closed as slow consumers")
        if slow["latency_unmoved"] is False:
            out.append(f"readers' p99 moved while {slow['slow_sockets']} sockets stalled: "
                       f"{slow['readers_p99_before_ms']} -> {slow['readers_p99_during_ms']} ms")
    if r["publisher"]["errors"]:
        out.append(f"{r['publisher']['errors']} ingest requests failed ({r['publisher']['retries']} retries)")
    # 503 "busy" is the node's admission control working (too many new sockets per second); the
    # client backs off and retries, so it is reported in the result but fails nothing by itself.
    failed = {e: n for e, n in r["sockets"]["connect_errors"].items() if e != "HTTP 503"}
    if failed:
        why = ", ".join(f"{n} × {e}" for e, n in sorted(failed.items()))
        out.append(f"{sum(failed.values())} connection attempts failed ({why})")
    if errors:
        out.append("errors: " + ", ".join(f"{n} × {e}" for e, n in errors.most_common()))
    missed = sum(f["missed_announcement"] for f in finals)
    if missed:
        out.append(f"{missed} open sockets never showed the last announcement")
    if "reconnect" in r and r["reconnect"]["not_resumed"]:
        out.append(f"{r['reconnect']['not_resumed']} dropped sockets never resumed")
    for deal_id, d in deals.items():
        out.extend(f"{d['name']} ({deal_id}): {p}" for p in d["problems"])
    return out


_CLOSE_NAMES = {"1001": " going away", "1006": " dropped", "1011": " server error", "1013": " slow consumer",
                "1008": " policy", "1009": " too big", "4001": " token expired"}


def _deals(finals: list[dict[str, Any]], plans: dict[str, dict[str, Any]],
           now: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out = {}
    for deal_id, plan in plans.items():
        per = [f["deals"].get(deal_id) for f in finals]
        parts = [p for p in per if p]
        won: Counter[str] = Counter()
        reasons: Counter[str] = Counter()
        for p in parts:
            won.update(p["won"])
            reasons.update(p["reasons"])
        sent = sum(p["sent"] for p in parts)
        answers = sum(p["answers"] for p in parts)
        claim_errors = sum(p["errors"] for p in parts)
        failed = sum(p["failed"] for p in parts)
        abandoned = sum(p["abandoned"] for p in parts)
        armed_left = sum(p["armed_left"] for p in parts)
        users_by_claims: Counter[int] = Counter()
        for p in parts:
            users_by_claims.update({int(n): users for n, users in p["users_by_claims"].items()})
        claimers = sum(users_by_claims.values()) + armed_left
        demand = sum(users * min(n, plan["limit"]) for n, users in users_by_claims.items())
        expected_units = min(plan["stock"], demand)
        units = sum(won.values())
        server = now.get(deal_id, {})
        last_ok = max((p["last_ok"] for p in parts), default=0.0)
        first_live = min((p["first_live_seen"] for p in parts if p["first_live_seen"]), default=0.0)
        last_seen = max((p["last_sold_out_seen"] for p in parts), default=0.0)
        first_sent = min((p["first_sent"] for p in parts if p["first_sent"]), default=0.0)
        last_answer = max((p["last_answer"] for p in parts), default=0.0)
        first_answer = min((p["first_answer"] for p in parts if p.get("first_answer")), default=0.0)
        seen = sum(p["sold_out_seen"] for p in parts)
        live_seen = sum(p["live_seen"] for p in parts)
        missed_sold_out = sum(p["missed_sold_out"] for p in parts)
        problems = []
        # The server's count is the one that matters; a claimer who left the show before its answer
        # arrived got units the loader never heard of (counted as abandoned).
        server_units = server["held"] + server["sold"] if server else units
        if server_units != expected_units:
            problems.append(f"the server holds {server['held']} and sold {server['sold']}: "
                            f"{server_units} units, expected exactly {expected_units}")
        if not units <= server_units <= units + abandoned:
            problems.append(f"claimers were told they got {units} units, the server counts {server_units}")
        if won and max(won.values()) > plan["limit"]:
            problems.append(f"a user got {max(won.values())} units, over the limit of {plan['limit']}")
        if failed:
            problems.append(f"{failed} claims got no answer")
        if claim_errors:
            problems.append(f"{claim_errors} claims were answered with an error")
        if armed_left:
            problems.append(f"{armed_left} claimers never saw the deal live, so never claimed")
        unsent = sum(p.get("unsent", 0) for p in parts)
        if unsent:
            problems.append(f"{unsent} claimers of a paced rush still had claims to send when the run ended")
        sold_out = bool(server) and server["left"] == 0
        if sold_out and missed_sold_out:
            problems.append(f"{missed_sold_out} open sockets saw the deal live but never sold out")
        out[deal_id] = {
            "name": plan["name"], "stock": plan["stock"], "limit": plan["limit"], "claimers": claimers,
            "claims_sent": sent, "claims_answered": answers, "claim_errors": claim_errors,
            "claims_sent_again_after_a_drop": sum(p["resent"] for p in parts),
            "claims_unanswered": failed, "claims_abandoned_by_leaving": abandoned,
            "units_claimed": units, "units_expected": expected_units, "buyers": len(won),
            "claims_per_s": round(answers / (last_answer - first_sent)) if last_answer > first_sent else None,
            # Paced runs: the rate asked for (their latency counts from each claim's due time).
            "claim_rate_asked": plan.get("claim_rate") or None,
            "max_units_per_user": max(won.values(), default=0), "refusals": dict(reasons),
            "claim_latency_ms": _merged([{"x": p["latency"]} for p in parts], "x").summary(),
            # From the first claim sent to the first answer (loader's clock): do answers flow while the
            # burst is still being read, or all leave at its end?
            "first_answer_ms": round((first_answer - first_sent) * 1000, 1) if first_answer and first_sent
            else None,
            "sockets_saw_live": live_seen, "sockets_saw_sold_out": seen,
            "live_to_sold_out_s": round(last_ok - first_live, 3) if last_ok and first_live else None,
            # Both measured on the loader's clock: from the first socket seeing it live / the last
            # successful claim's answer, to the last socket seeing left == 0.
            "live_to_sold_out_on_every_socket_s": round(last_seen - first_live, 3) if sold_out and first_live
            else None,
            "sold_out_on_every_socket_ms": round((last_seen - last_ok) * 1000, 1) if sold_out and last_ok
            else None,
            "server": {k: server.get(k) for k in ("state", "stock", "left", "held", "sold", "buyers")},
            "problems": problems,
        }
    return out


def _slow(s: Scenario, timeline: list[dict[str, Any]], run_started: float, total: dict[str, int],
          slow_latency: Histogram, closes: Counter[str], slow_closes: Counter[str]) -> dict[str, Any]:
    # A timeline row covers the second before its `t`: it is "during" when its middle is in the stall.
    slow_from = run_started + (s.slow_at or 0.0) * s.duration
    slow_to = slow_from + s.slow_for * s.duration
    rows = [r for r in timeline if r["phase"] == "run" and r["latency_count"]]
    during = [r["latency_ms"]["p99"] for r in rows if slow_from <= r["t"] - 0.5 <= slow_to]
    before = [r["latency_ms"]["p99"] for r in rows if not slow_from <= r["t"] - 0.5 <= slow_to]
    p_before = round(_median(before), 2)
    p_during = round(_median(during), 2)
    # "Must not move": within twice the baseline plus one tick of scheduling noise. Too short a run
    # to have both windows cannot judge it (None), and says so instead of passing or failing.
    unmoved = p_during <= 2 * p_before + 50 if before and during else None
    return {"slow_sockets": total["slow"], "slow_deliveries": total["slow_deliveries"],
            "slow_deliveries_expected": total["slow_expected"],
            "slow_completeness_pct": _pct(total["slow_deliveries"], total["slow_expected"]),
            "slow_latency_ms": slow_latency.summary(), "slow_closes_1013": slow_closes.get("1013", 0),
            "reader_closes_1013": closes.get("1013", 0),
            "readers_p99_before_ms": p_before, "readers_p99_during_ms": p_during,
            "latency_unmoved": unmoved}


def _loader(timeline: list[dict[str, Any]], finals: list[dict[str, Any]],
            meta: dict[str, Any]) -> dict[str, Any]:
    run = [r for r in timeline if r["phase"] == "run"] or timeline
    per_worker = list(zip(*(r["worker_cpu_pct"] for r in run), strict=False))
    means = [round(sum(c) / len(c), 1) for c in per_worker if c]
    peaks = [round(max(c), 1) for c in per_worker if c]
    cpu_s = sum(f["cpu_s"] for f in finals)
    # Conservative: every delivery over all the workers' CPU, connecting and draining included.
    deliveries = sum(f["deliveries"] + f["slow_deliveries"] for f in finals)
    lags = [max(r.get("worker_lag_ms", [0]), default=0) for r in run]
    server = [r["server_cpu_pct"] for r in run if r.get("server_cpu_pct") is not None]
    server_mean = round(sum(server) / len(server), 1) if server else None
    late_rows = sum(1 for lag in lags if lag >= LOADER_LAG_MS)
    limited = (bool(means) and max(means) >= LOADER_BUSY_PCT) or late_rows > 0
    return {"workers": meta["workers"], "worker_cpu_pct_mean": means, "worker_cpu_pct_peak": peaks,
            "worker_cpu_s": round(cpu_s, 2), "conductor_cpu_s": round(meta["conductor_cpu_s"], 2),
            "deliveries_per_loader_cpu_s": round(deliveries / cpu_s) if cpu_s else None,
            "loader_limited": limited, "worker_lag_ms_max": max(lags, default=0),
            "server_cpu_pct_mean": server_mean, "server_cpu_pct_peak": max(server, default=None),
            "seconds_loader_behind": late_rows,
            "note": _loader_note(limited, max(means, default=0.0), max(lags, default=0))
            + (f"; the node used {server_mean} % of a core on average" if server_mean is not None else "")}


def _storm_cpu(meta: dict[str, Any]) -> dict[str, float | None]:
    """The node's CPU from the drop until the workers' drain ended (with --server-pid): the cost of
    the herd's refusals and resumes, with the room's ongoing fan-out."""
    cpu, wall = meta.get("server_cpu_s_drop_to_drained"), meta.get("drop_to_drained_s")
    pct = round(cpu / wall * 100, 1) if cpu is not None and wall else None
    return {"server_cpu_s_drop_to_drained": cpu, "server_cpu_pct_drop_to_drained": pct}


def _loader_note(limited: bool, cpu_pct: float, lag_ms: int) -> str:
    if not limited:
        return "the loader had CPU to spare: what was measured is the server"
    if cpu_pct >= LOADER_BUSY_PCT:
        return (f"the loader was the limit: a worker used {cpu_pct:.0f} % of a core (event loop up to "
                f"{lag_ms} ms late); latencies are upper bounds")
    return (f"the loader fell behind at moments (event loop up to {lag_ms} ms late) while using "
            f"{cpu_pct:.0f} % of a core on average: bursts of its own work, or other processes on "
            f"this machine taking its core; latencies are upper bounds")


def _settings(s: Scenario) -> dict[str, Any]:
    return {"clients": s.clients, "rate": s.rate, "duration": s.duration, "ramp": s.ramp,
            "text_size": s.text_size, "like_share": s.like_share, "stock": s.stock,
            "bursts": [vars_(b) for b in s.bursts], "deals": [vars_(d) for d in s.deals],
            "drop_at": s.drop_at, "drop_share": s.drop_share, "slow_at": s.slow_at,
            "slow_share": s.slow_share, "slow_for": s.slow_for, "audience": [list(p) for p in s.audience],
            "announcements": list(s.announcements), "pins": s.pins, "small_rooms": s.small_rooms,
            "small_size": s.small_size, "big_rooms": s.big_rooms, "big_size": s.big_size}


def vars_(obj: Any) -> dict[str, Any]:
    return {k: getattr(obj, k) for k in obj.__slots__}


def _sum(finals: list[dict[str, Any]], keys: tuple[str, ...]) -> dict[str, int]:
    return {k: sum(f[k] for f in finals) for k in keys}


def _merged(finals: list[dict[str, Any]], key: str) -> Histogram:
    h = Histogram()
    for f in finals:
        h.merge(Histogram.from_wire(f[key]))
    return h


def _lat(h: Histogram) -> dict[str, float]:
    summary = h.summary()
    return {"p50": float(summary["p50"]), "p99": float(summary["p99"]), "max": float(summary["max"])}


def _secs(h: Histogram) -> dict[str, float]:
    return {k: round(v / 1000, 3) for k, v in h.summary().items() if k != "count"}


def _pct(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 3) if whole else 100.0


def _median(values: list[float]) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[len(ordered) // 2]
