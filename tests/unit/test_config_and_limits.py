"""Settings precedence and the token bucket."""

from __future__ import annotations

from pathlib import Path

import pytest

from livecart.config import Secret, Settings
from livecart.ratelimit import RateLimiter, TokenBucket


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
