"""The HTTP layer: pure retry rules and SSE framing, and the client against a local server."""

from __future__ import annotations

import asyncio
import base64
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from aiohttp import web

from bot.errors import BadCredentials, ProviderFault, RateLimited, Transient
from bot.providers.http import (
    HttpClient,
    Response,
    SseParser,
    StreamRefused,
    parse_retry_after,
    retry_delay,
    transient_for_status,
    with_retries,
)
from bot.retry import RetryPolicy, backoff_delay
from tests.fakes.clock import RecordingSleep
from tests.fakes.providers.base import render


def test_retry_after_seconds_and_dates() -> None:
    now = datetime(2026, 11, 22, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("30") == 30
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("Sun, 22 Nov 2026 12:00:45 GMT", now=now) == 45
    assert parse_retry_after("Sun, 22 Nov 2026 11:00:00 GMT", now=now) == 0
    assert parse_retry_after("-5") == 0
    for bad in (None, "", "soon", "nan"):
        assert parse_retry_after(bad) is None


def test_backoff_grows_and_is_capped() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=4)
    assert [backoff_delay(n, policy, rand=lambda: 1.0) for n in (1, 2, 3, 4, 5)] == [
        0.5,
        1.0,
        2.0,
        4.0,
        4.0,
    ]
    assert backoff_delay(3, policy, rand=lambda: 0.0) == 1.0, "jitter keeps at least half"


def test_retry_delay_rules() -> None:
    policy = RetryPolicy(attempts=3, max_retry_after=10)
    assert retry_delay(RateLimited("x", retry_after=4), 1, policy) == 4
    assert retry_delay(RateLimited("x", retry_after=40), 1, policy) is None, "too long: give up"
    assert retry_delay(Transient("x"), 3, policy) is None, "attempts used up"
    assert retry_delay(BadCredentials("x"), 1, policy) is None, "not retryable"
    assert retry_delay(Transient("x"), 1, policy, rand=lambda: 1.0) == policy.base_delay


async def test_with_retries_respects_may_repeat() -> None:
    calls = 0

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise Transient("503", accepted=False)
        return "ok"

    sleeps = RecordingSleep()
    assert await with_retries(flaky, RetryPolicy(), sleep=sleeps) == "ok"
    assert calls == 3
    assert len(sleeps.delays) == 2

    calls = 0

    async def ambiguous() -> str:
        nonlocal calls
        calls += 1
        raise Transient("timeout", accepted=None)

    with pytest.raises(Transient):
        await with_retries(
            ambiguous, RetryPolicy(), may_repeat=lambda e: e.accepted is False, sleep=sleeps
        )
    assert calls == 1


def test_transient_for_status() -> None:
    limited = transient_for_status(Response(429, {"Retry-After": "9"}, b"slow"), "p", accepted=None)
    assert isinstance(limited, RateLimited)
    assert limited.retry_after == 9
    assert limited.accepted is False
    down = transient_for_status(Response(503, {}, b"down"), "p", accepted=None)
    assert type(down) is Transient
    assert down.accepted is None


def test_sse_framing() -> None:
    parser = SseParser()
    lines = [
        ": keep-alive",
        "",
        "event: status",
        'data: {"status":"IN_QUEUE"}',
        "",
        "data: a",
        "data: b",
        "",
        "id: 3",
        "data:no-space",
        "",
    ]
    events = [e for line in lines if (e := parser.feed(line)) is not None]
    assert events == ['{"status":"IN_QUEUE"}', "a\nb", "no-space"]


# --- against a local server --------------------------------------------------------------

BIG = render(64, 64, "png", noise=True)


@pytest.fixture
async def server() -> AsyncIterator[str]:
    async def image(_: web.Request) -> web.Response:
        return web.Response(body=BIG, content_type="image/png")

    async def slow(_: web.Request) -> web.Response:
        await asyncio.Event().wait()  # never answers; the server's cleanup ends it
        return web.Response(text="late")

    async def events(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for status in ("IN_QUEUE", "COMPLETED"):
            await resp.write(f'data: {{"status":"{status}"}}\n\n'.encode())
        return resp

    async def refused(_: web.Request) -> web.Response:
        return web.json_response({"detail": "no"}, status=401)

    app = web.Application()
    app.router.add_get("/image", image)
    app.router.add_get("/slow", slow)
    app.router.add_get("/events", events)
    app.router.add_get("/refused", refused)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


async def test_download_reads_the_image(server: str, http: HttpClient) -> None:
    data, ctype = await http.trusting(server).download(f"{server}/image", provider="p")
    assert data == BIG
    assert ctype == "image/png"


async def test_download_is_capped(server: str, session) -> None:  # type: ignore[no-untyped-def]
    small = HttpClient(session, max_download_bytes=len(BIG) - 1).trusting(server)
    with pytest.raises(ProviderFault, match=r"larger than"):
        await small.download(f"{server}/image", provider="p")


async def test_download_times_out(server: str, session) -> None:  # type: ignore[no-untyped-def]
    hasty = HttpClient(session, download_timeout=0.2).trusting(server)
    with pytest.raises(Transient, match="timed out"):
        await hasty.download(f"{server}/slow", provider="p")


async def test_data_uri_download_needs_no_network(http: HttpClient) -> None:
    uri = "data:image/png;base64," + base64.b64encode(BIG).decode()
    assert await http.download(uri, provider="p") == (BIG, "image/png")
    with pytest.raises(Transient):
        await http.download("data:image/png;base64,@@@", provider="p")


async def test_refused_connection_is_surely_not_accepted(http: HttpClient) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(Transient) as caught:
        await http.trusting(f"http://127.0.0.1:{port}").request(
            "POST", f"http://127.0.0.1:{port}/submit", provider="p"
        )
    assert caught.value.accepted is False
    assert caught.value.provider == "p"


async def test_read_timeout_is_ambiguous(server: str, http: HttpClient) -> None:
    with pytest.raises(Transient) as caught:
        # Long enough to be connected first, even on a loaded machine: a timeout while
        # connecting would rightly mean "never sent".
        await http.trusting(server).request("GET", f"{server}/slow", provider="p", timeout=1.0)
    assert caught.value.accepted is None


async def test_event_stream_yields_each_event(server: str, http: HttpClient) -> None:
    http = http.trusting(server)
    async with http.event_stream(f"{server}/events", provider="p") as events:
        got = [event async for event in events]
    assert got == ['{"status":"IN_QUEUE"}', '{"status":"COMPLETED"}']
    with pytest.raises(StreamRefused) as refused:
        async with http.event_stream(f"{server}/refused", provider="p"):
            pass
    assert refused.value.response.status == 401
