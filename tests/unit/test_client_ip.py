"""Who the client is: the peer address, or X-Forwarded-For read from the right through trusted proxies.

Most cases are spoofing attempts: a client must never choose the address its per-IP limits count."""

from __future__ import annotations

import pytest

from livecart.client_ip import Networks, client_ip, limit_key, peer_host

BALANCER = "10.0.0.5"
TRUSTED = Networks.parse(f"{BALANCER}, 10.1.0.0/16")


def test_without_trusted_proxies_the_peer_is_the_client_whatever_the_header_says():
    assert client_ip("203.0.113.7", ["198.51.100.1"], Networks()) == "203.0.113.7"
    assert client_ip("203.0.113.7", [], TRUSTED) == "203.0.113.7"


def test_an_untrusted_peer_cannot_pick_its_address_with_a_header():
    # A client connecting straight to the node (around the balancer) sends its own X-Forwarded-For.
    assert client_ip("203.0.113.7", ["198.51.100.1"], TRUSTED) == "203.0.113.7"
    assert client_ip("203.0.113.7", [BALANCER], TRUSTED) == "203.0.113.7"


def test_behind_the_balancer_the_client_is_the_address_it_appended():
    assert client_ip(BALANCER, ["203.0.113.7"], TRUSTED) == "203.0.113.7"


def test_entries_the_client_wrote_left_of_the_balancers_entry_are_ignored():
    # The client sent "X-Forwarded-For: 198.51.100.1, 10.0.0.5"; nginx appended the real address.
    assert client_ip(BALANCER, ["198.51.100.1, 10.0.0.5, 203.0.113.7"], TRUSTED) == "203.0.113.7"
    assert client_ip(BALANCER, ["garbage, 203.0.113.7"], TRUSTED) == "203.0.113.7"
    assert client_ip(BALANCER, ["1.2.3.4", "203.0.113.7"], TRUSTED) == "203.0.113.7"  # two headers: one list


def test_a_chain_of_trusted_proxies_is_walked_from_the_right():
    # client -> cloud balancer (10.1.2.3) -> nginx (10.0.0.5) -> node
    assert client_ip(BALANCER, ["203.0.113.7, 10.1.2.3"], TRUSTED) == "203.0.113.7"


def test_when_every_hop_is_trusted_the_left_most_is_the_client():
    assert client_ip(BALANCER, ["10.1.9.9, 10.1.2.3"], TRUSTED) == "10.1.9.9"


@pytest.mark.parametrize("header", ["", " ", "not-an-ip", "203.0.113.7, ", "203.0.113.7,,", "unknown",
                                    "203.0.113.7, 10.1.2.3, nonsense", "300.1.2.3", "_hidden"])
def test_a_header_unreadable_up_to_the_client_gives_the_peer(header):
    assert client_ip(BALANCER, [header], TRUSTED) == BALANCER


def test_ports_and_brackets_some_proxies_add_are_read():
    assert client_ip(BALANCER, ["203.0.113.7:5123"], TRUSTED) == "203.0.113.7"
    assert client_ip(BALANCER, ["[2001:db8::7]:5123"], TRUSTED) == "2001:db8::7"
    assert client_ip(BALANCER, ["2001:db8::7"], TRUSTED) == "2001:db8::7"


def test_addresses_are_normalised_so_one_client_has_one_key():
    assert client_ip("::ffff:203.0.113.7", [], Networks()) == "203.0.113.7"
    assert client_ip("2001:DB8:0:0::7", [], Networks()) == "2001:db8::7"
    # An IPv4-mapped peer on a dual-stack socket is still the trusted balancer.
    assert client_ip("::ffff:10.0.0.5", ["203.0.113.7"], TRUSTED) == "203.0.113.7"
    assert client_ip(BALANCER, ["::ffff:203.0.113.7"], TRUSTED) == "203.0.113.7"


def test_a_peer_that_is_not_an_ip_is_kept_as_it_is():
    assert client_ip("", ["203.0.113.7"], TRUSTED) == ""


def test_ipv6_clients_count_by_their_64_ipv4_by_their_address():
    assert limit_key("203.0.113.7") == "203.0.113.7"
    assert limit_key("2001:db8:1:2:aaaa::1") == limit_key("2001:db8:1:2:bbbb::9") == "2001:db8:1:2::/64"
    assert limit_key("2001:db8:1:3::1") != limit_key("2001:db8:1:2::1")


def test_networks_parse_addresses_cidrs_and_none():
    networks = Networks.parse(" 10.0.0.5 ,172.28.0.0/24, ::1,")
    assert "10.0.0.5" in networks and "172.28.0.200" in networks and "::1" in networks
    assert "10.0.0.6" not in networks and "nonsense" not in networks and "" not in networks
    assert not Networks.parse("") and not Networks.parse("none") and not Networks.parse(" , ")
    assert "127.0.0.1" in Networks.parse("::ffff:127.0.0.0/104")  # an IPv4-mapped network is IPv4


@pytest.mark.parametrize("text", ["10.0.0.300", "nginx", "10.0.0.0/33", "10.0.0.5 10.0.0.6"])
def test_networks_refuse_what_is_not_an_address_naming_it(text):
    with pytest.raises(ValueError, match="is not an IP address or network"):
        Networks.parse(text)


def test_peer_host_reads_ipv4_and_ipv6_peernames():
    assert peer_host(("127.0.0.2", 5000)) == "127.0.0.2"
    assert peer_host(("::1", 5000, 0, 0)) == "::1"
    assert peer_host("") == "" and peer_host(None) == ""
