"""How long a synchronous provider call may hold its connection: one rule for every adapter.

Some providers make the image inside the request that asks for it (AIML API, OpenAI-compatible
gateways, WaveSpeed's sync mode, Replicate's ``Prefer: wait``). Such a call gets no longer than
the job itself may take (JOB_TIMEOUT, the adapter's ``max_wait``), and never longer than the
provider's own ceiling. When the limit strikes, the answer is lost, not refused: the task may
exist and be billed, so it is settled or written off as unknown, never sent elsewhere.
"""

from __future__ import annotations

# Replicate holds a blocking create for at most this many seconds (``Prefer: wait=1..60``).
MOST_PREFER_WAIT = 60
# The share of the client's limit a provider is asked to wait, so the provider (not the
# client) ends the wait and answers with the task still running.
PREFER_SHARE = 0.8


def sync_timeout(max_wait: float, ceiling: float) -> float:
    """Seconds one synchronous call may take: the job's whole wait, capped at ``ceiling``."""
    return min(ceiling, max_wait)


def prefer_wait(timeout: float) -> int:
    """Seconds to ask a provider to hold a blocking create whose client limit is ``timeout``:
    a little under it, from 1 to Replicate's 60."""
    return max(1, min(MOST_PREFER_WAIT, int(timeout * PREFER_SHARE)))
