"""The one download path: how a URL the bot was given is fetched, hop by hop.

Every hop is checked against the trust policy first (https and no private IP literal,
unless its origin is trusted); the session's AddressGuard then checks each address
actually connected. At most ``MAX_REDIRECTS`` redirects are followed, each checked like
the first. A body is capped by its Content-Length and again while it streams, after any
decompression. Every refusal is a ProviderFault whose ``reason`` is the bot's own words.
"""

from __future__ import annotations

import aiohttp
import yarl

from bot.errors import ProviderError, ProviderFault, Transient
from bot.providers.guard import refusal_in
from bot.providers.trust import TrustPolicy, UnsafeUrl

MAX_REDIRECTS = 3
REDIRECTS = frozenset({301, 302, 303, 307, 308})
# What a member reads when the guard refused an address (the log has the address itself).
NOT_PUBLIC = "it points to an address that is not public"


def check_url(
    policy: TrustPolicy, url: str, provider: str, *, accepted: bool | None = True
) -> None:
    """Refuse, as the provider's fault, a URL the rules do not let the bot fetch."""
    try:
        policy.check(url)
    except UnsafeUrl as exc:
        raise ProviderFault(
            f"refused to fetch {safe_url(url)}: {exc}",
            reason=str(exc),
            provider=provider,
            accepted=accepted,
        ) from None


async def follow(
    session: aiohttp.ClientSession,
    policy: TrustPolicy,
    url: str,
    *,
    provider: str,
    cap: int,
    timeout: float,
) -> tuple[bytes, str | None]:
    """GET ``url`` by the rules above: the body and the type the server gave it.

    A status other than 200 (after redirects) is Transient; network failures propagate
    for the caller to classify.
    """
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    for _ in range(MAX_REDIRECTS + 1):
        check_url(policy, url, provider)
        where = f"GET {safe_url(url)}"
        try:
            async with session.get(url, timeout=client_timeout, allow_redirects=False) as resp:
                if resp.status in REDIRECTS:
                    location = resp.headers.get("Location")
                    if not location:
                        raise ProviderFault(
                            f"{where} redirected without a Location",
                            reason="it redirected to nowhere",
                            provider=provider,
                        )
                    url = str(resp.url.join(yarl.URL(location)))
                    continue
                if resp.status != 200:
                    raise Transient(
                        f"image download {where} answered HTTP {resp.status}",
                        provider=provider,
                        status=resp.status,
                        accepted=True,
                    )
                if (resp.content_length or 0) > cap:
                    raise too_large(cap, provider, resp.content_length)
                return await read_capped(resp, cap, provider), resp.content_type
        except ProviderError:
            raise
        except Exception as exc:
            raise_refusal(exc, provider, url, accepted=True)
            raise
    raise ProviderFault(
        f"more than {MAX_REDIRECTS} redirects from {safe_url(url)}",
        reason=f"it redirected more than {MAX_REDIRECTS} times",
        provider=provider,
    )


async def read_capped(resp: aiohttp.ClientResponse, cap: int, provider: str) -> bytes:
    """The whole body, refused as soon as it passes ``cap`` bytes."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_chunked(256 * 1024):
        size += len(chunk)
        if size > cap:
            raise too_large(cap, provider)
        chunks.append(chunk)
    return b"".join(chunks)


def too_large(cap: int, provider: str, size: int | None = None) -> ProviderFault:
    """The refusal of an answer over ``cap`` bytes."""
    limit = f"{cap / 2**20:g} MiB"
    announced = f"{size} bytes announced, " if size is not None else ""
    return ProviderFault(
        f"answer larger than the {limit} cap ({announced}refused)",
        reason=f"it is larger than {limit}",
        provider=provider,
    )


def raise_refusal(exc: BaseException, provider: str, url: str, *, accepted: bool | None) -> None:
    """Turn the address guard's refusal, if that is what failed, into a ProviderFault."""
    refusal = refusal_in(exc)
    if refusal is not None:
        raise ProviderFault(
            f"{refusal} (for {safe_url(url)})",
            reason=NOT_PUBLIC,
            provider=provider,
            accepted=accepted,
        ) from None


def safe_url(url: str) -> str:
    """The URL without its query, which can carry tokens, for logs."""
    return url.split("?", 1)[0]
