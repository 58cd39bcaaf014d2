"""Which network addresses the bot may connect to for a URL it was given. Pure.

Only public unicast addresses. IPv6 forms that carry an IPv4 address (IPv4-mapped
``::ffff:a.b.c.d``, NAT64 ``64:ff9b::a.b.c.d``, 6to4 ``2002:AABB:CCDD::``) are judged by the
IPv4 address inside them, which is where the packets end up; other tunnelling and
deprecated forms (IPv4-compatible ``::a.b.c.d``, Teredo, site-local) are refused outright.
"""

from __future__ import annotations

import ipaddress
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

Address = IPv4Address | IPv6Address

# Checked in order; the first match names the refusal. Anything else must be is_global.
_BLOCKS: tuple[tuple[IPv4Network | IPv6Network, str], ...] = tuple(
    (ipaddress.ip_network(net), name)
    for net, name in (
        ("0.0.0.0/8", "an unspecified address"),
        ("127.0.0.0/8", "a loopback address"),
        ("10.0.0.0/8", "a private address"),
        ("172.16.0.0/12", "a private address"),
        ("192.168.0.0/16", "a private address"),
        ("100.64.0.0/10", "a carrier-grade NAT address"),
        ("169.254.0.0/16", "a link-local address"),
        ("224.0.0.0/4", "a multicast address"),
        ("240.0.0.0/4", "a reserved address"),
        ("192.0.0.0/24", "a reserved address"),
        ("192.0.2.0/24", "a documentation address"),
        ("198.51.100.0/24", "a documentation address"),
        ("203.0.113.0/24", "a documentation address"),
        ("198.18.0.0/15", "a benchmarking address"),
        ("192.88.99.0/24", "a reserved address"),
        ("::/128", "an unspecified address"),
        ("::1/128", "a loopback address"),
        ("::/96", "an IPv4-compatible address"),
        ("fe80::/10", "a link-local address"),
        ("fec0::/10", "a site-local address"),
        ("fc00::/7", "a private (unique local) address"),
        ("ff00::/8", "a multicast address"),
        ("2001::/32", "a Teredo tunnel address"),
        ("2001:db8::/32", "a documentation address"),
        ("64:ff9b:1::/48", "a local NAT64 address"),
        ("100::/64", "a discard address"),
    )
)
_NAT64 = IPv6Network("64:ff9b::/96")
_SIX_TO_FOUR = IPv6Network("2002::/16")


def embedded_ipv4(address: IPv6Address) -> tuple[IPv4Address, str] | None:
    """The IPv4 address an IPv6 address leads to, and how it is carried, if it carries one."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped, "IPv4-mapped"
    if address in _NAT64:
        return IPv4Address(int(address) & 0xFFFFFFFF), "NAT64"
    if address.sixtofour is not None:
        return address.sixtofour, "6to4"
    return None


def address_problem(address: Address) -> str | None:
    """Why the bot must not connect to ``address`` (None when it is a public address)."""
    if isinstance(address, IPv6Address):
        if address.scope_id:
            return "a scoped (link-local) address"
        inner = embedded_ipv4(address)
        if inner is not None:
            ipv4, how = inner
            problem = address_problem(ipv4)
            return f"{problem} ({how} as {address})" if problem else None
    for network, name in _BLOCKS:
        if address.version == network.version and address in network:
            return name
    if not address.is_global:
        return "not a public address"
    return None


def parse_address(host: str) -> Address | None:
    """The host as an IP address, or None when it is a name."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
