"""The operator's sentences: what went wrong with a provider, and what to do about it.

Members read ``user_message`` (short, no settings named); the operator, at the command
line and at start-up, reads these: they name the host, the variable to check and the
fix, in one line, never a class name or a stack.
"""

from __future__ import annotations

import ssl
from urllib.parse import urlsplit

import aiohttp

from bot.errors import (
    BadCredentials,
    ImagineError,
    NoProviderAvailable,
    OutOfCredit,
    ProviderMisconfigured,
    RateLimited,
    Transient,
)
from bot.settings import PROVIDER_VARIABLES, Settings


def host_of(url: str | None) -> str:
    """The host (and port, if any) of a base URL, as an operator recognises it."""
    if not url:
        return "?"
    return urlsplit(url).netloc or url


def transport_reason(error: BaseException | None) -> str | None:
    """Why a connection failed, in words ("DNS lookup failed"); None if it was not the network."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, aiohttp.ClientConnectorDNSError):
            return "DNS lookup failed"
        if isinstance(
            error, aiohttp.ClientConnectorCertificateError | ssl.SSLCertVerificationError
        ):
            return "its TLS certificate is not trusted"
        if isinstance(error, aiohttp.ClientSSLError | ssl.SSLError):
            return "the TLS handshake failed"
        if isinstance(error, ConnectionRefusedError):
            return "the connection was refused"
        if isinstance(error, aiohttp.ClientConnectorError):
            return transport_reason(error.os_error) or "the connection failed"
        if isinstance(error, aiohttp.ServerDisconnectedError | ConnectionResetError):
            return "the connection was dropped"
        if isinstance(error, TimeoutError):
            return "no answer in time"
        if isinstance(error, aiohttp.ClientPayloadError):
            return "the answer was cut off"
        if isinstance(error, OSError) and error.strerror:
            return error.strerror[:1].lower() + error.strerror[1:]
        error = error.__cause__ or error.__context__
    return None


def provider_problem(error: ImagineError, settings: Settings) -> str:
    """One sentence: what failed at which provider, and what the operator can do."""
    name = error.provider or "?"
    key_var, url_var = PROVIDER_VARIABLES.get(name, ("its API key", "its base URL"))
    host = host_of(settings.base_url(name) if name in PROVIDER_VARIABLES else None)
    if isinstance(error, BadCredentials):
        return f"{name} refused the key in {key_var} (key refused): check or replace {key_var}"
    if isinstance(error, OutOfCredit):
        return f"{name} says the account behind {key_var} is out of credit: top it up at {name}"
    if isinstance(error, ProviderMisconfigured):
        return f"{name} does not have what the settings point at ({error.detail}): check {url_var}"
    if isinstance(error, RateLimited):
        wait = f"{max(1, round(error.retry_after))} s" if error.retry_after is not None else None
        return f"{name} is rate-limiting this key" + (f" (it asked to wait {wait})" if wait else "")
    reason = transport_reason(error.__cause__)
    if isinstance(error, Transient) and reason is not None:
        return f"could not reach {name} ({host}): {reason} — check your network or {url_var}"
    if isinstance(error, Transient) and error.status is not None:
        return f"{name} ({host}) had a problem (HTTP {error.status}); try again later"
    return f"{name}: {error.user_message}"


def no_provider(error: NoProviderAvailable, settings: Settings) -> str:
    """Why no provider made the image: each provider's own reason, in the operator's words."""
    if not error.reasons:
        return "no image provider is configured: set one of the API key variables (see README)"
    failures = error.errors
    parts = [
        provider_problem(failures[name], settings) if name in failures else f"{name}: {why}"
        for name, why in error.reasons.items()
    ]
    return "no provider could make the image: " + "; ".join(parts)
