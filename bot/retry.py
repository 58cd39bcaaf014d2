"""The one backoff rule: how long to wait before trying again after a failure. Pure.

Every repeat in the bot waits by it: an HTTP call (``bot.providers.http.with_retries``), a
poll that failed (``Provider.poll``), a status stream that dropped, a delivery to Discord
that failed. The wait doubles with each failure in a row up to a cap, and is jittered
("equal jitter": between half and all of it), so many jobs failing together do not all
come back at the same moment.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently one thing is repeated.

    ``attempts`` counts the first try; ``max_retry_after`` is the longest wait a server may
    ask for (Retry-After) that is still worth sitting through.
    """

    attempts: int = 4
    base_delay: float = 0.25
    max_delay: float = 8.0
    max_retry_after: float = 60.0


def backoff_delay(
    attempt: int, policy: RetryPolicy, rand: Callable[[], float] = random.random
) -> float:
    """Seconds to wait after failure number ``attempt`` (1-based) in a row: exponential from
    ``base_delay``, capped at ``max_delay``, with equal jitter."""
    ceiling = min(policy.max_delay, policy.base_delay * 2 ** (attempt - 1))
    return ceiling / 2 + rand() * ceiling / 2
