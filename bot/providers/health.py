"""How each provider has been doing: a circuit breaker and recent outcomes.

A provider that keeps failing is skipped for a while and tried again later with
a single trial request (half-open). Rate limits pause it for as long as it
asked; refused credentials, an empty balance or a wrong setting pause it long, since they need
the operator. Moderation and invalid requests say nothing about health.
"""

from __future__ import annotations

import statistics
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from bot.errors import (
    BadCredentials,
    ImagineError,
    OutOfCredit,
    ProviderError,
    ProviderMisconfigured,
    RateLimited,
    SubmitUnknown,
)


class BreakerState(StrEnum):
    """Whether a provider takes jobs: closed (yes), open (no), half-open (one trial)."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


def counts_against_health(error: BaseException) -> bool:
    """True for failures that are the provider's (or its account's), not the request's."""
    if isinstance(error, SubmitUnknown):
        return True  # a lost answer is the provider's fault even though it stops failover
    return isinstance(error, ProviderError) and getattr(error, "failover", False)


@dataclass
class CircuitBreaker:
    """Opens after ``threshold`` failures in a row, for a cooldown doubling while trials fail."""

    clock: Callable[[], float] = time.monotonic
    threshold: int = 3
    cooldown: float = 30.0
    max_cooldown: float = 600.0
    account_cooldown: float = 600.0
    failures: int = 0
    state: BreakerState = BreakerState.CLOSED
    open_until: float = 0.0
    last_error: str | None = None
    _current_cooldown: float = 0.0
    _trial_in_flight: bool = False

    def allow(self) -> bool:
        """May a job go to this provider now? Claims the single trial when half-open."""
        if self.state is BreakerState.CLOSED:
            return True
        if self.state is BreakerState.OPEN and self.clock() >= self.open_until:
            self.state = BreakerState.HALF_OPEN
            self._trial_in_flight = False
        if self.state is BreakerState.HALF_OPEN and not self._trial_in_flight:
            self._trial_in_flight = True
            return True
        return False

    def retry_in(self) -> float:
        """Seconds until the provider may be tried again (0 when it may now)."""
        if self.state is BreakerState.OPEN:
            return max(0.0, self.open_until - self.clock())
        return 0.0

    def record_success(self) -> None:
        """A job went through: close and forget past failures."""
        self.failures = 0
        self.state = BreakerState.CLOSED
        self._current_cooldown = 0.0
        self._trial_in_flight = False

    def record_failure(self, error: ImagineError) -> None:
        """Count a provider-side failure and open the breaker when it is time."""
        self.failures += 1
        self.last_error = error.log_message
        if isinstance(error, BadCredentials | OutOfCredit | ProviderMisconfigured):
            self._open(self.account_cooldown)
        elif isinstance(error, RateLimited):
            self._open(error.retry_after if error.retry_after is not None else self.cooldown)
        elif self.state is BreakerState.HALF_OPEN:
            self._open(min(self.max_cooldown, max(self.cooldown, self._current_cooldown * 2)))
        elif self.failures >= self.threshold:
            self._open(self.cooldown)

    def release_trial(self) -> None:
        """A half-open trial ended without telling anything (moderation, bad input)."""
        self._trial_in_flight = False

    def _open(self, seconds: float) -> None:
        self.state = BreakerState.OPEN
        self._current_cooldown = seconds
        self.open_until = self.clock() + seconds
        self._trial_in_flight = False


@dataclass
class ProviderHealth:
    """The breaker plus the last outcomes, for routing and for the admins' view."""

    breaker: CircuitBreaker = field(default_factory=CircuitBreaker)
    outcomes: deque[tuple[bool, float]] = field(default_factory=lambda: deque(maxlen=100))
    _median: float | None = None
    _median_stale: bool = False

    def record(self, ok: bool, seconds: float) -> None:
        """Remember one finished job."""
        self.outcomes.append((ok, seconds))
        self._median_stale = True

    @property
    def success_rate(self) -> float | None:
        """Share of recent jobs that delivered, or None before any."""
        if not self.outcomes:
            return None
        return sum(ok for ok, _ in self.outcomes) / len(self.outcomes)

    @property
    def median_seconds(self) -> float | None:
        """Median time of recent successful jobs."""
        if self._median_stale:
            times = [seconds for ok, seconds in self.outcomes if ok]
            self._median = statistics.median(times) if times else None
            self._median_stale = False
        return self._median
