"""The one download path with the real aiohttp client and the bot's guarded session.

DNS comes from a table (nothing is looked up or sent off the machine); every connect is
recorded, so each refusal is shown to happen before any connection is attempted.
"""

from __future__ import annotations

import base64
import gzip
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot.errors import ProviderFault, Transient
from bot.providers.download import MAX_REDIRECTS
from bot.providers.guard import guarded_session
from bot.providers.http import HttpClient
from bot.providers.trust import TrustPolicy
from tests.fakes import bombs
from tests.fakes.network import TableResolver, Witness, record_connects

IMAGE = bombs.small_jpeg()

# Each class of address a result URL or a redirect may name, with the words the refusal uses.
PRIVATE_TARGETS = [
    ("https://127.0.0.1/x.jpg", "loopback"),
    ("https://127.8.9.10:8443/x.jpg", "loopback"),
    ("https://10.0.0.1/x.jpg", "private"),
    ("https://172.16.5.4/x.jpg", "private"),
    ("https://192.168.1.1/x.jpg", "private"),
    ("https://169.254.169.254/latest/meta-data/", "link-local"),
    ("https://100.64.0.1/x.jpg", "carrier-grade NAT"),
    ("https://0.0.0.0/x.jpg", "unspecified"),
    ("https://224.0.0.1/x.jpg", "multicast"),
    ("https://240.0.0.1/x.jpg", "reserved"),
    ("https://[::1]/x.jpg", "loopback"),
    ("https://[::]/x.jpg", "unspecified"),
    ("https://[fe80::1]/x.jpg", "link-local"),
    ("https://[fd00:ec2::254]/x.jpg", "unique local"),
    ("https://[ff02::1]/x.jpg", "multicast"),
    ("https://[::ffff:169.254.169.254]/x.jpg", "link-local address (IPv4-mapped"),
    ("https://[::ffff:127.0.0.1]/x.jpg", "loopback address (IPv4-mapped"),
    ("https://[64:ff9b::a9fe:a9fe]/x.jpg", "link-local address (NAT64"),
    ("https://[2002:a00:1::]/x.jpg", "private address (6to4"),
    ("https://[::10.0.0.1]/x.jpg", "IPv4-compatible"),
    ("http://93.184.216.34/x.jpg", "not https"),
    ("ftp://files.example/x.jpg", "not a web link"),
    ("https://user:pw@cdn.example/x.jpg", "user name or password"),
]

# Names that resolve (in the table) only to addresses the bot must not reach.
RESOLVES_PRIVATE = {
    "metadata.example": ["169.254.169.254"],
    "intranet.example": ["10.1.2.3", "fd00::7"],
    "mapped.example": ["::ffff:192.168.0.10"],
    "loop.example": ["127.0.0.1"],
}


@pytest.fixture
async def image_server() -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """A trusted loopback origin: /image, /big (no length), /gzip-bomb, /hop/N, /to?u=URL."""
    state: dict[str, Any] = {}

    async def image(_: web.Request) -> web.Response:
        return web.Response(body=IMAGE, content_type="image/jpeg")

    async def big(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "image/jpeg"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for _ in range(8):
            await resp.write(b"\0" * 256 * 1024)
        return resp

    async def gzip_bomb(_: web.Request) -> web.Response:
        body = gzip.compress(b"\0" * (16 * 1024 * 1024))
        state["gzip_bytes"] = len(body)
        return web.Response(
            body=body, headers={"Content-Type": "image/jpeg", "Content-Encoding": "gzip"}
        )

    async def hop(request: web.Request) -> web.Response:
        n = int(request.match_info["n"])
        raise web.HTTPFound("/image" if n == 0 else f"/hop/{n - 1}")

    async def to(request: web.Request) -> web.Response:
        raise web.HTTPFound(request.query["u"])

    app = web.Application()
    for path, handler in (
        ("/image", image),
        ("/big", big),
        ("/gzip-bomb", gzip_bomb),
        ("/hop/{n}", hop),
        ("/to", to),
    ):
        app.router.add_get(path, handler)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}", state
    await runner.cleanup()


@pytest.fixture
def resolver() -> TableResolver:
    return TableResolver({**RESOLVES_PRIVATE, "fakes.test": ["127.0.0.1"]})


@pytest.fixture
async def make_client(
    resolver: TableResolver,
) -> AsyncIterator[Any]:
    """HttpClients over the bot's guarded session, trusting only the origins given."""
    sessions: list[aiohttp.ClientSession] = []

    def make(*trusted: str, cap: int = 1024 * 1024) -> HttpClient:
        policy = TrustPolicy().trusting(trusted)
        session = guarded_session(policy, resolver=resolver)
        sessions.append(session)
        return HttpClient(
            session, timeout=5, download_timeout=5, max_download_bytes=cap, policy=policy
        )

    yield make
    for session in sessions:
        await session.close()


def no_connect_to(attempts: list[Any], port: int | None = None) -> bool:
    """Only loopback connects to the test's own servers happened (or none at all)."""
    return all(a[0] == "127.0.0.1" and (port is None or a[1] == port) for a in attempts)


@pytest.mark.parametrize(("url", "named"), PRIVATE_TARGETS)
async def test_a_result_url_to_a_forbidden_address_is_refused_before_any_connect(
    make_client: Any,
    resolver: TableResolver,
    monkeypatch: pytest.MonkeyPatch,
    url: str,
    named: str,
) -> None:
    http = make_client()
    attempts = record_connects(monkeypatch)
    with pytest.raises(ProviderFault) as caught:
        await http.download(url, provider="p")
    assert named in caught.value.reason
    assert caught.value.user_message.startswith("The image provider's answer was refused: it")
    assert attempts == [], "no connection was attempted"
    assert resolver.lookups == []


@pytest.mark.parametrize("name", sorted(RESOLVES_PRIVATE))
async def test_a_name_that_resolves_to_a_forbidden_address_is_refused_at_connect_time(
    make_client: Any, resolver: TableResolver, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    http = make_client()
    attempts = record_connects(monkeypatch)
    with pytest.raises(ProviderFault) as caught:
        await http.download(f"https://{name}/x.jpg", provider="p")
    assert caught.value.reason == "it points to an address that is not public"
    assert name in caught.value.detail and "not public" in caught.value.detail
    assert resolver.lookups == [name], "judged on what the name resolved to"
    assert attempts == []


async def test_only_the_public_addresses_of_a_mixed_name_are_tried(
    make_client: Any, resolver: TableResolver, monkeypatch: pytest.MonkeyPatch
) -> None:
    resolver.table["mixed.example"] = ["10.0.0.7", "93.184.216.34", "169.254.169.254"]
    http = make_client()
    attempts = record_connects(monkeypatch)
    with pytest.raises(Transient):  # the suite refuses the public connect: tests stay home
        await http.download("https://mixed.example/x.jpg", provider="p")
    assert [a[0] for a in attempts] == ["93.184.216.34"]


@pytest.mark.parametrize(("target", "named"), PRIVATE_TARGETS[:20])
async def test_a_redirect_to_a_forbidden_address_is_refused_before_any_connect(
    make_client: Any,
    image_server: tuple[str, dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    target: str,
    named: str,
) -> None:
    server, _ = image_server
    http = make_client(server)
    attempts = record_connects(monkeypatch)
    with pytest.raises(ProviderFault) as caught:
        await http.download(f"{server}/to?u={target}", provider="p")
    assert named in caught.value.reason
    port = int(server.rsplit(":", 1)[1])
    assert attempts and no_connect_to(attempts, port), "only the trusted first hop connected"


async def test_a_redirect_to_a_name_that_resolves_privately_is_refused(
    make_client: Any,
    image_server: tuple[str, dict[str, Any]],
    resolver: TableResolver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server, _ = image_server
    http = make_client(server)
    attempts = record_connects(monkeypatch)
    with pytest.raises(ProviderFault, match="not public"):
        await http.download(f"{server}/to?u=https://metadata.example/latest", provider="p")
    assert resolver.lookups == ["metadata.example"]
    assert no_connect_to(attempts, int(server.rsplit(":", 1)[1]))


async def test_a_redirect_from_trusted_to_another_loopback_port_is_not_trusted(
    make_client: Any, image_server: tuple[str, dict[str, Any]]
) -> None:
    server, _ = image_server
    async with Witness() as other:
        http = make_client(server)
        with pytest.raises(ProviderFault, match="not https"):
            await http.download(f"{server}/to?u={other.url}/x.jpg", provider="p")
        assert other.requests == [], "trust is per origin: scheme, host and port"


async def test_redirects_are_followed_a_few_times_and_no_more(
    make_client: Any, image_server: tuple[str, dict[str, Any]]
) -> None:
    server, _ = image_server
    http = make_client(server)
    data, kind = await http.download(f"{server}/hop/{MAX_REDIRECTS - 1}", provider="p")
    assert (data, kind) == (IMAGE, "image/jpeg"), "relative redirects within the origin work"
    with pytest.raises(ProviderFault) as caught:
        await http.download(f"{server}/hop/{MAX_REDIRECTS}", provider="p")
    assert caught.value.reason == f"it redirected more than {MAX_REDIRECTS} times"


async def test_a_trusted_name_may_resolve_to_a_private_address(
    make_client: Any, image_server: tuple[str, dict[str, Any]]
) -> None:
    server, _ = image_server
    port = server.rsplit(":", 1)[1]
    http = make_client(f"http://fakes.test:{port}")
    data, _ = await http.download(f"http://fakes.test:{port}/image", provider="p")
    assert data == IMAGE
    with pytest.raises(ProviderFault, match="not public"):
        await http.download(f"https://loop.example:{port}/image", provider="p")


async def test_size_caps_hold_by_length_by_stream_and_after_decompression(
    make_client: Any, image_server: tuple[str, dict[str, Any]]
) -> None:
    server, state = image_server
    http = make_client(server, cap=1024 * 1024)
    for path in ("/big", "/gzip-bomb"):
        with pytest.raises(ProviderFault) as caught:
            await http.download(f"{server}{path}", provider="p")
        assert caught.value.reason == "it is larger than 1 MiB", path
    assert state["gzip_bytes"] < 64 * 1024, "a small transfer that inflates past the cap"
    tiny = make_client(server, cap=len(IMAGE) - 1)
    with pytest.raises(ProviderFault, match="larger than"):
        await tiny.download(f"{server}/image", provider="p")


async def test_api_calls_never_follow_a_redirect(
    make_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with Witness(redirect_to="http://169.254.169.254/latest/meta-data/") as api:
        http = make_client(api.url)
        attempts = record_connects(monkeypatch)
        answer = await http.request("GET", f"{api.url}/v1/get_result?id=1", provider="p")
    assert answer.status == 302, "returned as it is, for the adapter to classify"
    assert all(a[0] == "127.0.0.1" for a in attempts)


async def test_an_untrusted_http_api_url_is_refused_and_never_sent(make_client: Any) -> None:
    async with Witness() as api:
        http = make_client()
        with pytest.raises(ProviderFault) as caught:
            await http.request("POST", f"{api.url}/submit", provider="p")
    assert caught.value.accepted is False, "nothing was sent, so nothing was accepted"
    assert api.requests == []


async def test_an_inline_image_is_held_to_the_same_size_cap(make_client: Any) -> None:
    http = make_client(cap=1024)
    small = "data:image/jpeg;base64," + base64.b64encode(IMAGE[:700]).decode()
    assert (await http.download(small, provider="p"))[1] == "image/jpeg"
    big = "data:image/png;base64," + base64.b64encode(bytes(4096)).decode()
    with pytest.raises(ProviderFault, match="larger than"):
        await http.download(big, provider="p")
