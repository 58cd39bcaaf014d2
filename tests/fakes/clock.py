"""Time stand-ins: a sleep that records what it was asked, a clock tests can move."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field


@dataclass
class RecordingSleep:
    """Records each requested delay; sleeps at most ``cap`` seconds so tests stay fast."""

    cap: float = 0.0
    delays: list[float] = field(default_factory=list)

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        await asyncio.sleep(min(delay, self.cap))


@dataclass
class FakeClock:
    """A clock that only moves when told to."""

    now: float = 1_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.now += seconds
