"""Who is on the other end of a connection: the client's IP address, from the peer address and
`X-Forwarded-For`. Pure: no sockets, no clock.

    trusted = Networks.parse("10.0.0.5, 192.168.10.0/24")    # the balancers in front of this node
    ip = client_ip(peer, request_headers.getall("X-Forwarded-For"), trusted)
    key = limit_key(ip)                                       # what per-IP limits count by

Rules (the header is whatever the previous hop sent, so it is only as honest as that hop):

- A peer that is not a trusted proxy is the client. Its `X-Forwarded-For` is ignored: anybody can send
  one, so a client cannot choose the address it is counted under.
- Behind trusted proxies, each proxy appends the address it received the connection from. Reading the
  chain from the right, the first address that is not a trusted proxy is the client; everything left of
  it was written by the client itself (or by proxies we know nothing about) and is ignored. If every
  address in the chain is a trusted proxy, the left-most one is the client.
- A chain that cannot be read up to the client (an entry that is not an IP address, an empty header)
  gives the peer address instead: a broken proxy must not let its clients pick their own address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["Networks", "client_ip", "limit_key", "peer_host"]

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
IPV6_PREFIX = 64  # an IPv6 subscriber usually holds a whole /64; counting per /128 would be trivial to dodge


class Networks:
    """A set of IP networks (single addresses are /32 or /128), e.g. the trusted proxies."""

    __slots__ = ("networks",)

    def __init__(self, networks: Iterable[Network] = ()) -> None:
        self.networks: tuple[Network, ...] = tuple(networks)

    @classmethod
    def parse(cls, text: str) -> Networks:
        """Comma-separated addresses and CIDRs (`10.0.0.5, 172.28.0.0/24, ::1`); empty or `none` for
        none. Raises ValueError naming the entry that is not one."""
        if text.strip().lower() == "none":
            return cls()
        networks = []
        for entry in (e.strip() for e in text.split(",")):
            if not entry:
                continue
            try:
                networks.append(_normal_network(ipaddress.ip_network(entry, strict=False)))
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or network") from None
        return cls(networks)

    def __contains__(self, address: object) -> bool:
        if isinstance(address, str):
            parsed = _address(address)
            if parsed is None:
                return False
            address = parsed
        return any(address in network for network in self.networks)

    def __bool__(self) -> bool:
        return bool(self.networks)

    def __repr__(self) -> str:
        return f"Networks({', '.join(map(str, self.networks))})"


def peer_host(peername: Any) -> str:
    """The host part of a transport's `peername` ((host, port) or (host, port, flow, scope)); "" for
    anything else (a unix socket)."""
    if isinstance(peername, tuple | list) and peername and isinstance(peername[0], str):
        return peername[0]
    return ""


def client_ip(peer: str, forwarded_for: Sequence[str], trusted: Networks) -> str:
    """The client's address (normalised: an IPv4-mapped IPv6 peer is its IPv4 address). `forwarded_for`
    is every `X-Forwarded-For` header of the request, in order (several headers form one list).
    A peer that is not an IP address is returned as it is."""
    peer_address = _address(peer)
    if peer_address is None:
        return peer
    if not trusted or not forwarded_for or peer_address not in trusted:
        return str(peer_address)
    chain = [entry.strip() for header in forwarded_for for entry in header.split(",")]
    client = peer_address
    for entry in reversed(chain):
        hop = _address(_without_port(entry))
        if hop is None:
            return str(peer_address)  # the trusted part of the chain is unreadable
        client = hop
        if hop not in trusted:
            break
    return str(client)


def limit_key(ip: str) -> str:
    """What per-IP limits count by: the IPv4 address, or the /64 an IPv6 address belongs to."""
    address = _address(ip)
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, IPV6_PREFIX), strict=False))
    return ip


def _address(text: str) -> Address | None:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _normal_network(network: Network) -> Network:
    if isinstance(network, ipaddress.IPv6Network) and network.network_address.ipv4_mapped is not None \
            and network.prefixlen >= 96:
        mapped = network.network_address.ipv4_mapped
        return ipaddress.IPv4Network((mapped, network.prefixlen - 96))
    return network


def _without_port(entry: str) -> str:
    """Some proxies write `1.2.3.4:5678` or `[2001:db8::1]:5678`; nginx writes the bare address."""
    if entry.startswith("["):
        end = entry.find("]")
        return entry[1:end] if end > 0 else entry
    if entry.count(":") == 1:
        return entry.partition(":")[0]
    return entry
