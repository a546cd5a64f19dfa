"""Per-IP limits without sockets: open-socket counts, the order of the checks, exemptions, the metric.

The clock is a plain variable: no test waits for a bucket to refill."""

from __future__ import annotations

import pytest

from livecart.cli import _parser
from livecart.config import Settings
from livecart.errors import Busy, RateLimited, TooManyConnections
from livecart.metrics import Metrics
from livecart.ratelimit import OpenCounts
from livecart.web.admission import Admission


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def admission(tmp_path, **overrides: object) -> tuple[Admission, Metrics, Clock]:
    values = {"data_dir": str(tmp_path), "secret": "s", "ip_limit_exempt": "127.0.0.1"}
    values.update({k: str(v) for k, v in overrides.items()})
    metrics, clock = Metrics(), Clock()
    return Admission(Settings.from_env({}, values), metrics, clock), metrics, clock


def rejections(metrics: Metrics, limit: str) -> float:
    value = metrics.registry.get_sample_value("livecart_ip_rejections_total", {"limit": limit})
    return value or 0.0


def test_open_counts_keep_a_key_only_while_it_has_open_connections():
    counts = OpenCounts(limit=2)
    counts.opened("a")
    assert not counts.full("a")
    counts.opened("a")
    assert counts.full("a") and not counts.full("b") and counts["a"] == 2 and len(counts) == 1
    assert counts.closed("a") and counts["a"] == 1 and not counts.full("a")
    assert counts.closed("a") and counts["a"] == 0 and len(counts) == 0
    assert not counts.closed("a") and counts["a"] == 0  # a second close of the last one changes nothing


def test_open_counts_with_limit_zero_are_never_full():
    counts = OpenCounts(limit=0)
    for _ in range(5):
        counts.opened("a")
    assert not counts.full("a") and counts["a"] == 5


def test_an_address_at_its_socket_limit_is_refused_until_one_closes(tmp_path):
    gate, metrics, _ = admission(tmp_path, ip_max_connections=2)
    _, key = gate.client(("127.0.0.2", 4000), [])
    assert key is not None
    for _ in range(2):
        gate.admit(key)
        gate.opened(key)
    with pytest.raises(TooManyConnections) as refused:
        gate.admit(key)
    assert refused.value.status == 429 and refused.value.retry_after > 0
    _, other = gate.client(("127.0.0.3", 4000), [])
    assert other is not None
    gate.admit(other)  # another address is not affected
    gate.closed(key)
    gate.admit(key)
    assert rejections(metrics, "connections") == 1


def test_new_sockets_per_address_are_refused_429_before_the_node_limit(tmp_path):
    gate, metrics, clock = admission(tmp_path, ip_connect_rate=1, ip_connect_burst=2, connect_rate=3)
    _, flooder = gate.client(("127.0.0.2", 1), [])
    _, neighbour = gate.client(("127.0.0.3", 1), [])
    gate.admit(flooder)
    gate.admit(flooder)
    for _ in range(5):  # refused by its own limit: the node's budget stays for everybody else
        with pytest.raises(RateLimited) as refused:
            gate.admit(flooder)
        assert refused.value.status == 429 and "from this address" in refused.value.detail
    gate.admit(neighbour)
    with pytest.raises(Busy):  # the node's 3 per second are used (2 + 1)
        gate.admit(neighbour)
    clock.now += 1.0
    gate.admit(flooder)
    assert rejections(metrics, "connect_rate") == 5 and rejections(metrics, "connections") == 0


def test_claims_and_comments_per_address_refill_at_their_rate(tmp_path):
    gate, metrics, clock = admission(tmp_path, ip_claim_rate=2, ip_claim_burst=2, ip_comment_rate=1,
                                     ip_comment_burst=1)
    _, key = gate.client(("127.0.0.2", 1), [])
    gate.claim(key)
    gate.claim(key)
    with pytest.raises(RateLimited) as refused:
        gate.claim(key)
    assert refused.value.retry_after == pytest.approx(0.5)
    gate.comment(key)
    with pytest.raises(RateLimited):
        gate.comment(key)
    clock.now += 0.5
    gate.claim(key)
    assert rejections(metrics, "claims") == 1 and rejections(metrics, "comments") == 1


def test_exempt_addresses_and_exempt_keys_are_never_limited(tmp_path):
    gate, metrics, _ = admission(tmp_path, ip_max_connections=1, ip_claim_rate=1, ip_claim_burst=1)
    ip, key = gate.client(("127.0.0.1", 1), [])
    assert (ip, key) == ("127.0.0.1", None)
    for _ in range(5):
        gate.admit(key)
        gate.claim(key)
        gate.comment(key)
    assert metrics.registry.get_sample_value("livecart_ip_rejections_total", {"limit": "claims"}) is None


def test_a_rate_of_zero_turns_a_limit_off(tmp_path):
    gate, _, _ = admission(tmp_path, ip_claim_rate=0, ip_connect_rate=0, ip_max_connections=0)
    _, key = gate.client(("127.0.0.2", 1), [])
    for _ in range(3000):
        gate.claim(key)
    for _ in range(1500):  # the node's own 2000/s still applies, and is not reached
        gate.admit(key)
        gate.opened(key)


def test_the_client_is_read_through_trusted_proxies_only(tmp_path):
    gate, _, _ = admission(tmp_path, trusted_proxies="127.0.0.1", ip_limit_exempt="none")
    assert gate.client(("127.0.0.1", 1), ["127.0.0.9, 127.0.0.2"]) == ("127.0.0.2", "127.0.0.2")
    assert gate.client(("127.0.0.3", 1), ["127.0.0.2"]) == ("127.0.0.3", "127.0.0.3")
    assert gate.client(("127.0.0.1", 1), []) == ("127.0.0.1", "127.0.0.1")  # nothing exempt: limited too


def test_by_default_nothing_is_trusted_and_loopback_is_exempt(tmp_path):
    settings = Settings.from_env({}, {"data_dir": str(tmp_path), "secret": "s"})
    gate = Admission(settings, Metrics())
    assert settings.trusted_proxies == ""
    assert gate.client(("127.0.0.1", 1), ["203.0.113.7"]) == ("127.0.0.1", None)
    assert gate.client(("203.0.113.7", 1), []) == ("203.0.113.7", "203.0.113.7")
    assert settings.ip_max_connections >= 500 and settings.ip_claim_rate >= 100  # loose: NAT and campuses


def test_bad_proxy_lists_stop_the_node_before_it_starts_naming_the_setting(tmp_path):
    with pytest.raises(ValueError, match="trusted_proxies: 'balancer'"):
        Settings.from_env({"LIVECART_TRUSTED_PROXIES": "10.0.0.5,balancer"}, {"data_dir": str(tmp_path)})
    with pytest.raises(ValueError, match="ip_limit_exempt"):
        Settings.from_env({"LIVECART_IP_LIMIT_EXEMPT": "10.0.0.0/40"}, {"data_dir": str(tmp_path)})


def test_trusted_proxies_has_a_flag_that_wins_over_the_environment(tmp_path):
    args = _parser().parse_args(["serve", "--trusted-proxies", "10.0.0.5"])
    settings = Settings.from_env({"LIVECART_TRUSTED_PROXIES": "10.9.9.9"},
                                 {"trusted_proxies": args.trusted_proxies, "data_dir": str(tmp_path)})
    assert settings.trusted_proxies == "10.0.0.5"
