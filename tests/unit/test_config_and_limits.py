"""Settings precedence, the token bucket and the connect limiter."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from livecart.config import Secret, Settings
from livecart.ratelimit import ConnectLimiter, RateLimiter, TokenBucket


def test_cli_flags_win_over_environment_over_defaults(tmp_path):
    env = {"LIVECART_PORT": "9000", "LIVECART_TICK_MS": "80", "LIVECART_SECRET": "from-env"}
    settings = Settings.from_env(env, {"port": 9100, "tick_ms": None, "data_dir": str(tmp_path)})
    assert settings.port == 9100 and settings.tick_ms == 80 and settings.secret == "from-env"
    assert settings.host == "127.0.0.1" and settings.redis_url is None


def test_secret_is_generated_once_and_kept_in_the_data_dir(tmp_path):
    first = Settings.from_env({}, {"data_dir": str(tmp_path)})
    second = Settings.from_env({}, {"data_dir": str(tmp_path)})
    assert first.secret == second.secret and len(first.secret) > 30
    assert (Path(tmp_path) / "secret").stat().st_mode & 0o777 == 0o600
    assert "Secret('**********')" in repr(first) or first.secret not in repr(first)
    assert repr(Secret("x")) == "Secret('**********')"


def test_bad_values_name_the_setting(tmp_path):
    with pytest.raises(ValueError, match="tick_ms"):
        Settings.from_env({"LIVECART_TICK_MS": "soon"}, {"data_dir": str(tmp_path)})


def test_token_bucket_allows_a_burst_then_refills_at_the_rate():
    bucket = TokenBucket(rate=2, burst=3, now=0)
    assert [bucket.take(0) for _ in range(3)] == [0, 0, 0]
    assert bucket.take(0) == pytest.approx(0.5)
    assert bucket.take(0.5) == 0
    assert bucket.take(0.5) > 0


def test_rate_limiter_keeps_a_bounded_number_of_keys():
    limiter = RateLimiter(rate=1, burst=1, max_keys=2)
    assert limiter.take("a", 0) == 0 and limiter.take("b", 0) == 0 and limiter.take("c", 0) == 0
    assert limiter.take("a", 0) == 0  # "a" was evicted, so it starts with a full bucket again
    assert limiter.take("c", 0) > 0


def test_connect_limiter_admits_a_burst_of_one_seconds_worth_then_refuses():
    limiter = ConnectLimiter(rate=100, now=0)
    assert [limiter.admit(0) for _ in range(100)] == [0] * 100
    assert limiter.admit(0) > 0
    assert (limiter.admitted, limiter.refused) == (100, 1)


def test_connect_limiter_spreads_a_herd_over_herd_size_over_rate_seconds():
    # 5,000 sockets at once on a node admitting 100 a second: 100 get in, and the 4,900 others are told
    # to come back 100 per second: 1 s for the first 100 refused, 2 s for the next 100, and so on.
    limiter = ConnectLimiter(rate=100, now=0, cap_s=60)
    answers = [limiter.admit(0) for _ in range(5000)]
    assert answers[:100] == [0] * 100
    told = Counter(answers[100:])
    assert told == {s: 100 for s in range(1, 50)}
    assert limiter.backlog(0) == 4900 and limiter.backlog(10) == 3900 and limiter.backlog(60) == 0


def test_connect_limiter_answers_shrink_as_the_backlog_drains():
    limiter = ConnectLimiter(rate=10, now=0)
    for _ in range(10 + 50):  # the burst, then 50 refused: the last of them was told 5 s
        limiter.admit(0)
    assert limiter.admit(0) == 6  # one more, right now, waits behind them
    assert [limiter.admit(4.0) for _ in range(10)] == [0] * 10  # four seconds on, the refilled bucket
    assert limiter.admit(4.0) == 2  # and 40 of the 51 turns have passed: 11 before this one
    assert limiter.admit(100.0) == 0 and limiter.backlog(100.0) == 0  # long after: all forgotten


def test_connect_limiter_never_answers_more_than_its_cap_nor_grows_the_queue_past_it():
    limiter = ConnectLimiter(rate=1, now=0, cap_s=30)
    limiter.admit(0)
    answers = [limiter.admit(0) for _ in range(100)]
    assert answers[:30] == list(range(1, 31)) and set(answers[30:]) == {30}
    # Clients that ignored it (browsers cannot read Retry-After) did not push the queue further out:
    assert limiter.backlog(0) == 30
    assert limiter.admit(29.5) == 0  # the bucket has refilled
    assert limiter.admit(29.5) == 2  # the last turn handed out comes at 30 s, this one a second later


def test_connect_limiter_below_one_connect_a_second_still_admits_one():
    limiter = ConnectLimiter(rate=0.1, now=0)
    assert limiter.admit(0) == 0
    assert [limiter.admit(0) for _ in range(4)] == [10, 20, 30, 30]
    with pytest.raises(ValueError):
        ConnectLimiter(rate=0, now=0)


def test_an_ingest_burst_smaller_than_one_full_request_is_refused():
    with pytest.raises(ValueError, match="ingest_burst"):
        Settings.from_env({"LIVECART_INGEST_BURST": "100", "LIVECART_INGEST_MAX_EVENTS": "500",
                           "LIVECART_SECRET": "s"})
