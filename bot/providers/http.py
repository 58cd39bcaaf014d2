"""The thin HTTP adapter under every provider: one session, a timeout on each call, one retry rule.

Everything here that decides (Retry-After, status classes, SSE framing) is a pure
function, and the wait between attempts is ``bot.retry``'s; ``HttpClient`` only moves bytes
and turns network failures into the error taxonomy.

Every URL goes through ``TrustPolicy.check`` first (https, no private IP literals, unless
the origin is trusted) and no call follows redirects by itself: ``download`` follows a few,
checking each, and API calls follow none. The session's ``AddressGuard`` (guard.py) then
checks each address actually connected. A refusal is a ProviderFault.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import aiohttp

from bot.errors import ProviderError, RateLimited, Transient
from bot.models import decode_base64
from bot.origins import Origin
from bot.providers.download import check_url, follow, raise_refusal, read_capped, too_large
from bot.providers.trust import TrustPolicy
from bot.retry import RetryPolicy, backoff_delay

T = TypeVar("T")

DEFAULT_TIMEOUT = 30.0
MAX_BODY_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class Response:
    """A provider's answer, fully read."""

    status: int
    headers: Mapping[str, str]
    body: bytes = field(repr=False)
    url: str = ""

    @property
    def ok(self) -> bool:
        """True for 2xx."""
        return 200 <= self.status < 300

    def json(self) -> Any:
        """The body as JSON; ValueError when it is not."""
        try:
            return json.loads(self.body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError("answer is not JSON") from exc

    def text(self, limit: int = 300) -> str:
        """The start of the body as text, for error details."""
        return self.body[:limit].decode("utf-8", "replace")


# --- pure rules -------------------------------------------------------------------------


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or HTTP-date); None if absent or bad."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


def retry_delay(
    error: ProviderError,
    attempt: int,
    policy: RetryPolicy,
    rand: Callable[[], float] = random.random,
) -> float | None:
    """Seconds before the next attempt after ``error``, or None to give up now."""
    if not error.retryable or attempt >= policy.attempts:
        return None
    if error.retry_after is not None:
        return error.retry_after if error.retry_after <= policy.max_retry_after else None
    return backoff_delay(attempt, policy, rand)


async def with_retries(
    operation: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    may_repeat: Callable[[ProviderError], bool] = lambda _: True,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
) -> T:
    """Run ``operation``, repeating it on retryable errors that ``may_repeat`` allows."""
    attempt = 0
    while True:
        attempt += 1
        try:
            return await operation()
        except ProviderError as exc:
            delay = retry_delay(exc, attempt, policy) if may_repeat(exc) else None
            if delay is None:
                raise
            await sleep(delay)


def is_retryable_status(status: int) -> bool:
    """The HTTP statuses that mean 'try again later' for every provider."""
    return status in (408, 409, 425, 429, 500, 502, 503, 504)


def transient_for_status(
    response: Response, provider: str, *, accepted: bool | None
) -> ProviderError:
    """The generic error for a 408/429/5xx answer: RateLimited or Transient, with Retry-After."""
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    cls = RateLimited if response.status == 429 else Transient
    return cls(
        f"HTTP {response.status}: {response.text()}",
        provider=provider,
        status=response.status,
        accepted=False if response.status == 429 else accepted,
        retry_after=retry_after,
    )


@dataclass
class SseParser:
    """Frames server-sent events: feed lines, get the ``data`` of each complete event."""

    _data: list[str] = field(default_factory=list)

    def feed(self, line: str) -> str | None:
        """Take one line (without its newline); return an event's data when a blank line ends it."""
        if line == "":
            if not self._data:
                return None
            data, self._data = "\n".join(self._data), []
            return data
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        if name == "data":
            self._data.append(value.removeprefix(" "))
        return None


# --- the adapter ------------------------------------------------------------------------


class HttpClient:
    """Every outbound call goes through here: one session, a timeout each time, errors mapped."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        download_timeout: float = 60.0,
        max_download_bytes: int = 40 * 1024 * 1024,
        policy: TrustPolicy | None = None,
    ) -> None:
        self._session = session
        self.timeout = timeout
        self.download_timeout = download_timeout
        self.max_download_bytes = max_download_bytes
        self.policy = policy or TrustPolicy()

    def trusting(self, *origins: str | Origin) -> HttpClient:
        """The same session with more trusted origins, as an operator's TRUSTED_HOSTS adds."""
        return HttpClient(
            self._session,
            timeout=self.timeout,
            download_timeout=self.download_timeout,
            max_download_bytes=self.max_download_bytes,
            policy=self.policy.trusting(origins),
        )

    async def request(
        self,
        method: str,
        url: str,
        *,
        provider: str,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        timeout: float | None = None,
    ) -> Response:
        """Send one request and read the whole answer; network failures become Transient.

        A redirect is returned as it is, never followed (it would carry the key along).
        """
        check_url(self.policy, url, provider, accepted=False)
        client_timeout = aiohttp.ClientTimeout(total=timeout or self.timeout)
        try:
            async with self._session.request(
                method,
                url,
                headers=headers,
                json=json,
                timeout=client_timeout,
                allow_redirects=False,
            ) as resp:
                body = await read_capped(resp, MAX_BODY_BYTES, provider)
                return Response(resp.status, resp.headers, body, str(resp.url))
        except ProviderError:
            raise
        except Exception as exc:
            raise_refusal(exc, provider, url, accepted=False)
            raise network_error(exc, provider, f"{method} {_safe_url(url)}") from exc

    @asynccontextmanager
    async def event_stream(
        self,
        url: str,
        *,
        provider: str,
        headers: Mapping[str, str] | None = None,
        idle_timeout: float = 60.0,
    ) -> AsyncIterator[AsyncIterator[str]]:
        """Open a server-sent-event stream; yields an iterator over each event's data.

        A refusal (any status but 200) raises StreamRefused with the answer, for the
        adapter to classify.
        """
        client_timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=self.timeout, sock_read=idle_timeout
        )
        where = f"GET {_safe_url(url)}"
        check_url(self.policy, url, provider)
        try:
            resp = await self._session.get(
                url, headers=headers, timeout=client_timeout, allow_redirects=False
            )
        except Exception as exc:
            raise_refusal(exc, provider, url, accepted=True)
            raise network_error(exc, provider, where, accepted=True) from exc
        async with resp:
            if resp.status != 200:
                body = await read_capped(resp, 64 * 1024, provider)
                raise StreamRefused(Response(resp.status, resp.headers, body, str(resp.url)))
            events = _events(resp, provider, where)
            try:
                yield events
            finally:
                await events.aclose()

    async def download(self, url: str, *, provider: str) -> tuple[bytes, str | None]:
        """Fetch an image at once through the one download path; never sends credentials.

        See ``download.follow`` for the rules each hop meets. Returns the bytes and the
        type the server gave them.
        """
        if url.startswith("data:"):
            header = url[5:].partition(",")[0]
            if len(url) * 3 // 4 > self.max_download_bytes:
                raise too_large(self.max_download_bytes, provider)
            try:
                return decode_base64(url), header.split(";")[0] or None
            except ValueError as exc:
                raise Transient(
                    f"undecodable data URI: {exc}", provider=provider, accepted=True
                ) from exc
        try:
            async with asyncio.timeout(self.download_timeout):
                return await follow(
                    self._session,
                    self.policy,
                    url,
                    provider=provider,
                    cap=self.max_download_bytes,
                    timeout=self.download_timeout,
                )
        except ProviderError:
            raise
        except Exception as exc:
            raise network_error(exc, provider, f"GET {_safe_url(url)}", accepted=True) from exc


class StreamRefused(Exception):
    """The event stream answered with a status other than 200."""

    def __init__(self, response: Response) -> None:
        super().__init__(f"HTTP {response.status}")
        self.response = response


async def _events(
    resp: aiohttp.ClientResponse, provider: str, where: str
) -> AsyncGenerator[str, None]:
    parser = SseParser()
    try:
        async for raw in resp.content:
            data = parser.feed(raw.decode("utf-8", "replace").rstrip("\r\n"))
            if data is not None:
                yield data
    except Exception as exc:
        raise network_error(exc, provider, where, accepted=True) from exc


def network_error(
    exc: BaseException, provider: str, where: str, *, accepted: bool | None = None
) -> Transient:
    """Map an aiohttp/asyncio failure to Transient; a connection never opened means not accepted."""
    never_sent = isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError)
    kind = "timed out" if isinstance(exc, TimeoutError) else type(exc).__name__
    return Transient(
        f"{where} failed: {kind}", provider=provider, accepted=False if never_sent else accepted
    )


def _safe_url(url: str) -> str:
    """The URL without its query, which can carry tokens, for logs."""
    return url.split("?", 1)[0]
