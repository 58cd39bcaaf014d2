"""How long the event loop stalls: the bot's own measure of work done on the loop.

Everything the bot does shares one event loop: a callback that runs long (decoding an image,
a big JSON, a slow query) delays every other member's acknowledgement and every other job.
The watch wakes every few milliseconds and notes how late it woke; the lateness is a stall.
It keeps the longest, logs a warning for a stall worth an operator's attention, and says
the longest one at shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

log = logging.getLogger(__name__)

TICK = 0.01  # seconds between two looks at the clock
WARN_AFTER = 0.25  # a stall this long is logged as it happens


class LoopWatch:
    """Measures event-loop stalls while started; ``longest`` is in seconds."""

    def __init__(self, *, tick: float = TICK, warn_after: float = WARN_AFTER) -> None:
        self.tick = tick
        self.warn_after = warn_after
        self.longest = 0.0
        self.stalls_over_warning = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Begin watching the running loop."""
        if self._task is None:
            self._task = asyncio.create_task(self._watch(), name="loop-watch")

    async def stop(self) -> None:
        """Stop watching and log the longest stall seen."""
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        log.info(
            "longest event-loop stall: %.1f ms (%d over %.0f ms)",
            self.longest * 1000,
            self.stalls_over_warning,
            self.warn_after * 1000,
        )

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(self.tick)
            stall = max(0.0, loop.time() - before - self.tick)
            self.longest = max(self.longest, stall)
            if stall >= self.warn_after:
                self.stalls_over_warning += 1
                log.warning(
                    "the event loop stalled for %.0f ms: replies and jobs waited that long",
                    stall * 1000,
                )
