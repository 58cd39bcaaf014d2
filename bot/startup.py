"""Start-up as an operator meets it: one line per problem, patience with the network.

A start-up failure is a ``StartupFailure``: one line that names the cause and the fix,
and the exit code (2 when the operator's configuration is wrong, 1 for anything else,
such as a network that stays down). Network failures are tried again with backoff, and
each failed attempt is one log line saying when the next one comes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from bot.errors import (
    BadCredentials,
    ImagineError,
    OutOfCredit,
    ProviderMisconfigured,
    RateLimited,
    Transient,
)
from bot.explain import provider_problem
from bot.providers.base import Provider
from bot.retry import RetryPolicy, backoff_delay
from bot.settings import Settings

log = logging.getLogger("bot.startup")

T = TypeVar("T")

CONFIGURATION = 2  # exit code: the operator must change a setting, a file or a key
FAILURE = 1  # exit code: anything else (the network, Discord or a provider is down)
MAX_DELAY = 30.0
# One process starting alone has no crowd to spread out, so start-up waits the backoff's
# full ceiling each time, without jitter.
STARTUP_RETRY = RetryPolicy(base_delay=1.0, max_delay=MAX_DELAY)


class StartupFailure(Exception):
    """Start-up cannot go on: ``line`` says why and what to do; ``exit_code`` 2 or 1."""

    def __init__(self, line: str, *, exit_code: int = FAILURE) -> None:
        super().__init__(line)
        self.line = line
        self.exit_code = exit_code


def retry_delay(attempt: int) -> float:
    """Seconds to wait after failed attempt ``attempt`` (1-based): 1, 2, 4, 8, 16, then 30."""
    return backoff_delay(attempt, STARTUP_RETRY, rand=lambda: 1.0)


async def patiently(
    attempt: Callable[[], Awaitable[T]],
    *,
    attempts: int,
    retryable: Callable[[BaseException], str | None],
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> T:
    """Run ``attempt`` until it succeeds or ``attempts`` are used up.

    ``retryable`` turns a failure worth retrying into its one-line reason (None: not
    worth retrying, it is raised at once). After the last attempt the failure is raised
    as a StartupFailure (exit code 1) carrying that reason.
    """
    number = 0
    while True:
        number += 1
        try:
            return await attempt()
        except Exception as exc:
            reason = retryable(exc)
            if reason is None:
                raise
            if number >= attempts:
                tries = "once" if attempts == 1 else f"{attempts} times"
                raise StartupFailure(f"{reason} (tried {tries})") from exc
            delay = retry_delay(number)
            log.warning("%s; attempt %d of %d, next in %.0f s", reason, number, attempts, delay)
            await sleep(delay)


# --- the providers ----------------------------------------------------------------------


@dataclass(frozen=True)
class KeyCheck:
    """How one provider answered the cheapest call that proves its key."""

    provider: str
    error: ImagineError | None
    seconds: float

    @property
    def usable(self) -> bool:
        """The key works (a rate limit also proves the provider knows the key)."""
        return self.error is None or isinstance(self.error, RateLimited)

    @property
    def operator_fault(self) -> bool:
        """Only the operator can fix it: a refused key, an empty account, a wrong setting."""
        return isinstance(self.error, BadCredentials | OutOfCredit | ProviderMisconfigured)


async def check_key(provider: Provider, *, timeout: float) -> KeyCheck:
    """Check one provider's key, giving up after ``timeout`` seconds; costs nothing."""
    started = time.monotonic()
    try:
        async with asyncio.timeout(timeout):
            await provider.check_credentials()
    except TimeoutError as exc:
        late = Transient(f"no answer in {timeout:.0f} s", provider=provider.name)
        late.__cause__ = exc
        error: ImagineError | None = late
    except ImagineError as exc:
        error = exc
        error.provider = error.provider or provider.name
    else:
        error = None
    return KeyCheck(provider.name, error, time.monotonic() - started)


async def check_keys(providers: dict[str, Provider], *, timeout: float) -> list[KeyCheck]:
    """Every provider's key at once, in the configured order."""
    return list(await asyncio.gather(*(check_key(p, timeout=timeout) for p in providers.values())))


async def check_providers_at_start(
    providers: dict[str, Provider],
    settings: Settings,
    *,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> list[KeyCheck]:
    """Check every key before going online; refuse to start when no provider can be used.

    Every key refused: exit 2. None reachable (after retries): exit 1. Otherwise each
    provider that failed is one warning line and the bot starts with the others.
    """
    timeout = settings.http_timeout

    async def attempt() -> list[KeyCheck]:
        checks = await check_keys(providers, timeout=timeout)
        if any(check.usable for check in checks):
            return checks
        problems = "; ".join(provider_problem(c.error, settings) for c in checks if c.error)
        if all(check.operator_fault for check in checks):
            raise StartupFailure(f"no provider accepted its key: {problems}", exit_code=2)
        raise _Unreachable(f"no image provider could be reached: {problems}")

    checks = await patiently(
        attempt,
        attempts=settings.startup_attempts,
        retryable=lambda exc: str(exc) if isinstance(exc, _Unreachable) else None,
        sleep=sleep,
    )
    for check in checks:
        if check.error is not None and not isinstance(check.error, RateLimited):
            log.warning(
                "%s; starting with the other providers", provider_problem(check.error, settings)
            )
    return checks


class _Unreachable(Exception):
    """No provider answered at all (worth another try)."""
