"""The supervisor's restart policy (pure) and the workers setting."""

from __future__ import annotations

import pytest

from livecart.config import Settings
from livecart.supervisor import RestartBackoff, cores


def test_a_worker_that_keeps_dying_waits_twice_as_long_each_time_up_to_the_cap():
    backoff = RestartBackoff(first_s=0.5, max_s=4.0, healthy_after_s=30.0)
    waits = [backoff.delay(ran_for_s=1.0) for _ in range(6)]
    assert waits == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert backoff.crash_looping


def test_a_worker_that_ran_long_enough_starts_the_series_over():
    backoff = RestartBackoff(first_s=0.5, max_s=4.0, healthy_after_s=30.0)
    for _ in range(5):
        backoff.delay(ran_for_s=1.0)
    assert backoff.delay(ran_for_s=30.0) == 0.5
    assert not backoff.crash_looping
    assert backoff.delay(ran_for_s=2.0) == 1.0


def test_workers_default_to_one_per_core_and_read_like_other_settings():
    base = {"LIVECART_SECRET": "s"}
    assert Settings.from_env(base).workers == 0  # serve takes 0 as one per core
    assert cores() >= 1
    assert Settings.from_env({**base, "LIVECART_WORKERS": "3"}).workers == 3
    assert Settings.from_env({**base, "LIVECART_WORKERS": "3"}, {"workers": 1}).workers == 1  # a flag wins
    with pytest.raises(ValueError, match="workers"):
        Settings.from_env({**base, "LIVECART_WORKERS": "two"})
    with pytest.raises(ValueError, match="workers"):
        Settings.from_env({**base, "LIVECART_WORKERS": "-1"})
