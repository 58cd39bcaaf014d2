"""What the bot trusts, as pure rules: addresses, origins, download trust and key hosts."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from bot.origins import BadOrigin, Origin, origin_of, parse_origin
from bot.providers.addresses import address_problem, embedded_ipv4
from bot.providers.guard import AddressGuard, AddressRefused
from bot.providers.trust import ApiHosts, TrustPolicy, UnsafeUrl, host_matches
from bot.settings import Settings


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("127.0.0.1", "a loopback address"),
        ("10.255.0.1", "a private address"),
        ("172.31.255.255", "a private address"),
        ("192.168.0.1", "a private address"),
        ("169.254.169.254", "a link-local address"),
        ("100.127.255.254", "a carrier-grade NAT address"),
        ("0.1.2.3", "an unspecified address"),
        ("239.255.255.250", "a multicast address"),
        ("255.255.255.255", "a reserved address"),
        ("198.18.0.1", "a benchmarking address"),
        ("192.0.2.1", "a documentation address"),
        ("::1", "a loopback address"),
        ("::", "an unspecified address"),
        ("fe80::1", "a link-local address"),
        ("fec0::1", "a site-local address"),
        ("fc00::1", "a private (unique local) address"),
        ("ff05::2", "a multicast address"),
        ("2001:db8::1", "a documentation address"),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "a Teredo tunnel address"),
        ("::7f00:1", "an IPv4-compatible address"),
        ("::ffff:10.0.0.1", "a private address (IPv4-mapped as ::ffff:a00:1)"),
        ("::ffff:169.254.169.254", "a link-local address (IPv4-mapped as ::ffff:a9fe:a9fe)"),
        ("64:ff9b::127.0.0.1", "a loopback address (NAT64 as 64:ff9b::7f00:1)"),
        ("64:ff9b:1::1", "a local NAT64 address"),
        ("2002:c0a8:0101::1", "a private address (6to4 as 2002:c0a8:101::1)"),
        ("fe80::1%eth0", "a scoped (link-local) address"),
    ],
)
def test_every_kind_of_non_public_address_is_named(address: str, problem: str) -> None:
    assert address_problem(ipaddress.ip_address(address)) == problem


@pytest.mark.parametrize(
    "address",
    ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::8.8.8.8"],
)
def test_public_addresses_and_their_ipv6_carriers_are_allowed(address: str) -> None:
    assert address_problem(ipaddress.ip_address(address)) is None


def test_embedded_ipv4_is_found_in_each_carrier() -> None:
    v4 = ipaddress.IPv4Address("10.0.0.1")
    for carrier, how in (("::ffff:10.0.0.1", "IPv4-mapped"), ("64:ff9b::a00:1", "NAT64")):
        assert embedded_ipv4(ipaddress.IPv6Address(carrier)) == (v4, how)
    assert embedded_ipv4(ipaddress.IPv6Address("2002:a00:1::5")) == (v4, "6to4")
    assert embedded_ipv4(ipaddress.IPv6Address("2606:4700::1")) is None


def test_origins_compare_scheme_host_and_port() -> None:
    assert origin_of("https://API.bfl.ai./v1/x?q=1") == Origin("https", "api.bfl.ai", 443)
    assert origin_of("http://[::FFFF:7f00:1]:81/") == Origin("http", "::ffff:7f00:1", 81)
    assert parse_origin("cdn.example.com") == Origin("https", "cdn.example.com", 443)
    assert str(parse_origin("http://10.0.0.5:8080")) == "http://10.0.0.5:8080"
    for bad in ("ftp://x", "https://x.com/path", "https://u:p@x.com", "http://"):
        with pytest.raises(BadOrigin):
            parse_origin(bad)


def test_host_patterns() -> None:
    assert host_matches("delivery-eu1.bfl.ai", "bfl.ai")
    assert host_matches("bfl.ai", "bfl.ai")
    assert not host_matches("evilbfl.ai", "bfl.ai")
    assert not host_matches("bfl.ai.evil.com", "bfl.ai")
    assert host_matches("api.eu1.bfl.ai", "api.*.bfl.ai")
    assert not host_matches("api.bfl.ai", "api.*.bfl.ai")
    assert not host_matches("api.a.b.bfl.ai", "api.*.bfl.ai")


def test_trust_is_per_origin_and_https_for_everything_else() -> None:
    policy = TrustPolicy(frozenset({Origin("http", "127.0.0.1", 5001)}), ("fal.media",))
    assert policy.check("http://127.0.0.1:5001/files/x.jpg")
    assert policy.check("https://v3.fal.media/files/x.jpg")
    assert policy.check("https://cdn.example.com/x.jpg"), "public https is fine"
    refusals = {
        "http://127.0.0.1:5002/x": "it is not https",
        "https://127.0.0.1:5001/x": "it points to a loopback address",
        "http://v3.fal.media/x.jpg": "it is not https",
        "https://u:p@cdn.example.com/x": "it carries a user name or password",
        "file:///etc/passwd": "it is not a web link",
        "gopher://cdn.example.com/": "it is not a web link",
    }
    for url, why in refusals.items():
        with pytest.raises(UnsafeUrl, match=why):
            policy.check(url)
    assert policy.trusts_name("v3.fal.media", 443)
    assert not policy.trusts_name("v3.fal.media", 80)
    assert not policy.trusts_name("metadata.example", 443)


def test_the_policy_from_settings_trusts_the_operators_origins_and_enabled_providers() -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        fal_key="k",
        openai_compat_api_key="k",
        openai_compat_base_url="http://gateway.internal:8000/v1",
        trusted_hosts="http://10.0.0.5:8080,mirror.example",
        provider_api_hosts="fal=https://fal-proxy.example",
    )
    policy = TrustPolicy.from_settings(settings)
    assert policy.origins == {
        Origin("http", "10.0.0.5", 8080),
        Origin("https", "mirror.example", 443),
        Origin("https", "queue.fal.run", 443),
        Origin("https", "fal-proxy.example", 443),
        Origin("http", "gateway.internal", 8000),
    }
    assert policy.domains == ("fal.run", "fal.media"), "only enabled providers' domains"


@pytest.mark.parametrize(
    ("provider", "url", "allowed"),
    [
        ("bfl", "https://api.bfl.ai/v1/get_result?id=1", True),
        ("bfl", "https://api.eu1.bfl.ai/v1/get_result?id=1", True),
        ("bfl", "https://api.us.bfl.ai/v1/get_result?id=1", True),
        ("bfl", "http://api.eu1.bfl.ai/v1/get_result?id=1", False),
        ("bfl", "https://api.eu1.bfl.ai:8443/v1/get_result?id=1", False),
        ("bfl", "https://delivery-eu1.bfl.ai/x.jpg", False),
        ("bfl", "https://api.eu1.bfl.ai.evil.example/v1/get_result", False),
        ("bfl", "https://evil.example/v1/get_result?id=1", False),
        ("bfl", "https://proxy.corp/bfl/v1/get_result?id=1", True),
        ("fal", "https://queue.fal.run/fal-ai/flux-pro/requests/R/status", True),
        ("fal", "https://v3.fal.media/files/x.jpg", False),
        ("fal", "https://api.bfl.ai/v1/x", False),
        ("replicate", "https://api.replicate.com/v1/predictions/P", True),
        ("replicate", "https://replicate.delivery/x.jpg", False),
        ("openai_compat", "https://api.openai.com/v1/images", False),
    ],
)
def test_a_key_goes_only_to_its_providers_own_api(provider: str, url: str, allowed: bool) -> None:
    base = "https://proxy.corp/bfl" if provider == "bfl" else "https://gateway.example/v1"
    if provider in ("fal", "replicate"):
        base = {"fal": "https://queue.fal.run", "replicate": "https://api.replicate.com"}[provider]
    assert ApiHosts(provider, base).allows(url) is allowed


def test_an_operator_can_name_more_api_origins_for_one_provider() -> None:
    extra = frozenset({Origin("http", "127.0.0.1", 5002)})
    hosts = ApiHosts("bfl", "http://127.0.0.1:5001", extra)
    assert hosts.allows("http://127.0.0.1:5001/v1/flux-pro-1.1-ultra")
    assert hosts.allows("http://127.0.0.1:5002/v1/get_result?id=1")
    assert not hosts.allows("http://127.0.0.1:5003/v1/get_result?id=1")


def test_the_socket_factory_refuses_what_nobody_vouched_for() -> None:
    guard = AddressGuard(TrustPolicy(frozenset({Origin("http", "127.0.0.1", 5001)})))
    tcp = (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "")
    with guard.socket_factory((*tcp, ("127.0.0.1", 5001))):
        pass  # a trusted literal origin
    for sockaddr in (("127.0.0.1", 5002), ("169.254.169.254", 80), ("10.0.0.1", 443)):
        with pytest.raises(AddressRefused, match="refused to connect"):
            guard.socket_factory((*tcp, sockaddr))
    with guard.socket_factory((*tcp, ("93.184.216.34", 443))):
        pass
    with pytest.raises(AddressRefused, match="resolves only to addresses that are not public"):
        guard.judge("fakes.test", 8080, ["127.0.0.1"])
    with pytest.raises(AddressRefused):
        guard.socket_factory((*tcp, ("127.0.0.1", 8080)))
    trusting = AddressGuard(TrustPolicy(frozenset({Origin("http", "fakes.test", 8080)})))
    assert trusting.judge("fakes.test", 8080, ["127.0.0.1"]) == ["127.0.0.1"]
    with trusting.socket_factory((*tcp, ("127.0.0.1", 8080))):
        pass  # vouched for as the trusted name's address
