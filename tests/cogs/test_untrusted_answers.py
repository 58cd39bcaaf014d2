"""A provider's answer is input from outside: through the real bot (discord.py, pipeline, the
bot's own guarded aiohttp session), links to forbidden addresses are refused before any
connection, and links off a provider's own API never get its key.

DNS is a table (``TableResolver``) and every connect is recorded, so nothing leaves the
machine and each refusal is shown to come before a connection attempt.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from bot.origins import origin_of
from tests.cogs.conftest import ALICE, Rig, RigFactory
from tests.fakes.network import TableResolver, Witness, record_connects

RESOLVER_TABLE = {"metadata.example": ["169.254.169.254"], "router.example": ["192.168.1.1"]}

FORBIDDEN = [
    ("https://169.254.169.254/latest/meta-data/iam", "a link-local address"),
    ("https://10.0.0.1/x.jpg", "a private address"),
    ("https://192.168.1.1/x.jpg", "a private address"),
    ("https://127.0.0.1/x.jpg", "a loopback address"),
    ("https://[::1]/x.jpg", "a loopback address"),
    ("https://[fe80::1]/x.jpg", "a link-local address"),
    ("https://[::ffff:169.254.169.254]/x.jpg", "a link-local address (IPv4-mapped"),
    ("https://[64:ff9b::a9fe:a9fe]/x.jpg", "a link-local address (NAT64"),
    ("http://93.184.216.34/x.jpg", "not https"),
    ("https://metadata.example/latest/meta-data/", "an address that is not public"),
    ("https://router.example/x.jpg", "an address that is not public"),
]


def only_our_servers(rig: Rig, attempts: list[Any], *extra: str) -> bool:
    """Every connect went to the fake Discord, the fakes, or ``extra``: never elsewhere."""
    ports = {origin_of(rig.fake.url).port} | {origin_of(u).port for u in extra}
    for fake in rig.providers.values():
        ports |= {origin_of(fake.url(h)).port for h in fake.hosts}
    return all(a[0] == "127.0.0.1" and a[1] in ports for a in attempts)


async def refusal(rig: Rig) -> str:
    """What the member is told after /imagine, checked to be private and free."""
    told = await rig.outcome(await rig.imagine())
    assert told.ephemeral
    assert await rig.balance(ALICE) == 60
    return told.content


@pytest.mark.parametrize(("url", "named"), FORBIDDEN)
async def test_a_gateways_result_link_to_a_forbidden_address_is_never_fetched(
    make_rig: RigFactory, monkeypatch: pytest.MonkeyPatch, url: str, named: str
) -> None:
    resolver = TableResolver(RESOLVER_TABLE)
    rig = await make_rig("openai_compat", resolver=resolver)
    rig.providers["openai_compat"].fail_next("submit", 200, {"created": 1, "data": [{"url": url}]})
    attempts = record_connects(monkeypatch)
    told = await refusal(rig)
    assert told.startswith("✖ The image provider's answer was refused: it ")
    assert named.split(" (")[0] in told
    assert only_our_servers(rig, attempts), attempts
    host = origin_of(url).host
    assert resolver.lookups == ([host] if host in RESOLVER_TABLE else [])


@pytest.mark.parametrize(("url", "named"), FORBIDDEN[::2])
async def test_a_redirect_from_the_providers_cdn_is_checked_again(
    make_rig: RigFactory, monkeypatch: pytest.MonkeyPatch, url: str, named: str
) -> None:
    rig = await make_rig("bfl", resolver=TableResolver(RESOLVER_TABLE))
    rig.providers["bfl"].fail_next("file", 302, {}, headers={"Location": url})
    attempts = record_connects(monkeypatch)
    told = await refusal(rig)
    assert "The image provider's answer was refused" in told
    assert named.split(" (")[0] in told
    assert only_our_servers(rig, attempts), attempts
    assert rig.providers["bfl"].count("delivery") == 1, "the CDN was asked once"


def submit_answer(provider: str, witness: str) -> tuple[str, int, dict[str, Any]]:
    """A submit answer whose follow-up links point at ``witness``: route, status, body."""
    if provider == "bfl":
        return "submit", 200, {"id": "t1", "polling_url": f"{witness}/v1/get_result?id=t1"}
    if provider == "fal":
        root = f"{witness}/fal-ai/flux-pro/requests/R"
        return (
            "submit",
            200,
            {
                "status": "IN_QUEUE",
                "request_id": "R",
                "response_url": root,
                "status_url": f"{root}/status",
                "cancel_url": f"{root}/cancel",
            },
        )
    urls = {"get": f"{witness}/v1/predictions/P", "cancel": f"{witness}/v1/predictions/P/cancel"}
    return "create", 201, {"id": "P", "status": "starting", "urls": urls, "output": None}


@pytest.mark.parametrize("provider", ["bfl", "fal", "replicate"])
async def test_a_status_link_on_a_foreign_host_never_gets_the_key(
    make_rig: RigFactory, provider: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with Witness() as witness:
        # Trusted for downloads, as a media mirror could be: only the key rule stops it.
        rig = await make_rig(provider, also_trust=(witness.url,))
        route, status, body = submit_answer(provider, witness.url)
        rig.providers[provider].fail_next(route, status, body)
        with caplog.at_level(logging.WARNING):
            told = await refusal(rig)
        assert told.startswith(
            "✖ The image provider's answer was refused: it sent the bot to a host that is not "
            "the provider's own API."
        )
        assert witness.requests == [], "not followed, so the key went nowhere"
    key = rig.providers[provider].api_key
    assert "not one of its API hosts; not followed, and the key was not sent" in caplog.text
    assert witness.url in caplog.text
    assert key not in caplog.text
    assert rig.service is not None
    assert rig.service.core.router.health[provider].breaker.failures == 1


async def test_bfls_polling_url_over_http_is_refused_before_any_lookup(
    make_rig: RigFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    resolver = TableResolver({})
    rig = await make_rig("bfl", resolver=resolver)
    rig.providers["bfl"].fail_next(
        "submit", 200, {"id": "t1", "polling_url": "http://api.eu1.bfl.ai/v1/get_result?id=t1"}
    )
    attempts = record_connects(monkeypatch)
    told = await refusal(rig)
    assert "a host that is not the provider's own API" in told
    assert resolver.lookups == []
    assert only_our_servers(rig, attempts)


async def test_bfls_polling_host_may_differ_from_the_submit_host(make_rig: RigFactory) -> None:
    rig = await make_rig("bfl")
    result = await rig.outcome(await rig.imagine())
    assert result.attachments
    fake = rig.providers["bfl"]
    polls = [r for r in fake.requests if r.host == "poll"]
    assert polls and all(r.headers.get("x-key") == fake.api_key for r in polls)
    downloads = [r for r in fake.requests if r.host == "delivery"]
    assert downloads and all("x-key" not in {k.lower() for k in r.headers} for r in downloads)
