"""How many tasks each provider may have running at once, across every job.

BFL refuses a 25th active task and WaveSpeed's default tier allows two; the bot
keeps count so it never asks for more than a provider allows, and the scheduler
can leave a job queued while the providers that could serve it are full.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping


class ProviderSlots:
    """Running-task counts per provider against each provider's limit (None: no limit)."""

    def __init__(self, limits: Mapping[str, int | None]) -> None:
        self._limits = dict(limits)
        self._used: Counter[str] = Counter()

    def limit(self, provider: str) -> int | None:
        """The most tasks the provider may run at once, or None when it has no limit."""
        return self._limits.get(provider)

    def free(self, provider: str) -> int | None:
        """Tasks the provider can still take now, or None when it has no limit."""
        limit = self._limits.get(provider)
        return None if limit is None else max(0, limit - self._used[provider])

    def fits(self, provider: str, tasks: int) -> bool:
        """Whether ``tasks`` more would stay within the provider's limit."""
        free = self.free(provider)
        return free is None or tasks <= free

    def try_claim(self, provider: str, tasks: int) -> bool:
        """Take ``tasks`` slots if they fit; False (and nothing taken) if not."""
        if not self.fits(provider, tasks):
            return False
        self._used[provider] += tasks
        return True

    def claim(self, provider: str, tasks: int) -> None:
        """Count tasks already at the provider (a resumed job), even over the limit."""
        self._used[provider] += tasks

    def release(self, provider: str, tasks: int) -> None:
        """Give slots back when a job leaves the provider."""
        self._used[provider] = max(0, self._used[provider] - tasks)

    def used(self, provider: str) -> int:
        """Tasks counted as running at the provider."""
        return self._used[provider]
