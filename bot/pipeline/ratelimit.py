"""A token bucket: how fast a guild may start jobs, with room for a short burst."""

from __future__ import annotations

import math

from bot.models import GuildSettings

# Float slack for token and time comparisons, so sleeping exactly the computed wait works.
EPSILON = 1e-9


class TokenBucket:
    """A guild's start rate: ``rate`` tokens a second, at most ``capacity`` saved for a burst."""

    __slots__ = ("_last", "_tokens", "capacity", "rate")

    def __init__(self, rate: float, capacity: float) -> None:
        if rate <= 0 or capacity < 1:
            raise ValueError("a token bucket needs a positive rate and room for one token")
        self.rate = rate
        self.capacity = capacity
        self._tokens = float(capacity)
        self._last: float | None = None

    @classmethod
    def for_settings(cls, settings: GuildSettings) -> TokenBucket:
        """The bucket a guild's ``jobs_per_minute`` and ``burst`` describe, full."""
        return cls(settings.jobs_per_minute / 60.0, settings.burst)

    def _refill(self, now: float) -> None:
        last = self._last
        if last is None:
            self._last = now
        elif now > last:
            self._tokens = min(self.capacity, self._tokens + (now - last) * self.rate)
            self._last = now

    def available(self, now: float) -> float:
        """Tokens held at ``now`` (a fraction while one is refilling)."""
        self._refill(now)
        return self._tokens

    def has(self, now: float, tokens: float = 1.0) -> bool:
        """Whether ``tokens`` could be taken at ``now``, forgiving float rounding."""
        return self.available(now) + EPSILON >= tokens

    def take(self, now: float) -> bool:
        """Spend one token for a start; False (and nothing spent) when there is none."""
        if not self.has(now):
            return False
        self._tokens = max(0.0, self._tokens - 1.0)
        return True

    def refund(self) -> None:
        """Give back a token spent on a start that did not happen."""
        self._tokens = min(self.capacity, self._tokens + 1.0)

    def seconds_until(self, now: float, tokens: float = 1.0) -> float:
        """Seconds until ``tokens`` are held (0 if now; inf beyond the capacity)."""
        if tokens > self.capacity + EPSILON:
            return math.inf
        missing = tokens - self.available(now)
        return 0.0 if missing <= EPSILON else missing / self.rate

    def full(self, now: float) -> bool:
        """True when the bucket is as good as new, so forgetting it loses nothing."""
        return self.has(now, self.capacity)

    def reconfigure(self, rate: float, capacity: float, now: float | None = None) -> None:
        """Apply a new rate and capacity, keeping (not refilling) the tokens held."""
        if rate <= 0 or capacity < 1:
            raise ValueError("a token bucket needs a positive rate and room for one token")
        if now is not None:
            self._refill(now)
        self.rate = rate
        self.capacity = capacity
        self._tokens = min(self._tokens, float(capacity))
