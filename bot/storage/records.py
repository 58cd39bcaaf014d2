"""What storage hands back, whatever the engine: records of the ledger, guilds, audit log and
provider task log, and the pure rules on days they share. No SQL here."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

DAY = 86_400


def utc_day(at: float) -> str:
    """The UTC day of a timestamp as ``YYYY-MM-DD``: the allowance bucket and the spend day."""
    return time.strftime("%Y-%m-%d", time.gmtime(at))


def refills_in(at: float, allowance: int) -> float | None:
    """Seconds until the daily allowance refills (next UTC midnight); None when it is off."""
    if allowance <= 0:
        return None
    return (at // DAY + 1) * DAY - at


# How a paid task that delivered nothing ended, in the operator's words.
UNDELIVERED = {
    "failed": "failed at the provider",
    "moderated": "refused by the provider's safety filter",
    "cancelled": "cancelled",
    "lost": "made but never posted",
    "created": "still running",
}


@dataclass(frozen=True)
class AuditEntry:
    """One change made by a moderator or admin."""

    id: int
    guild_id: int
    actor_id: int
    action: str
    before: Any
    after: Any
    at: float


@dataclass(frozen=True)
class Ban:
    """A member stopped from generating in one guild."""

    user_id: int
    reason: str
    banned_by: int
    banned_at: float


@dataclass(frozen=True)
class BlockedPhrase:
    """One blocklist entry: its matching key and the phrase as the moderator typed it."""

    normalized: str
    phrase: str
    added_by: int
    added_at: float


@dataclass(frozen=True, slots=True)
class Balance:
    """A member's credits in one guild at one moment, as the bot shows them."""

    available: int
    allowance_left: int
    granted: int
    held: int
    spent_today: int
    refills_in: float | None


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One movement as a member or admin reads it (all its legs folded into one line).

    ``amount`` is the change to the member's spendable credits (allowance and granted
    buckets): +60 for a daily allowance, ±N for a grant, -price for a hold, +the unused
    part of the hold for a settle, +the whole hold for a release. ``charged`` is what a
    settle spent (0 for the other kinds), so a settle reads "charged 30, returned 10".
    A hold returned to an allowance bucket of a past day still shows as +; that
    bucket has expired, so it does not raise the available balance.
    """

    movement: int
    at: float
    day: str
    user_id: int
    kind: str
    amount: int
    charged: int
    job_id: int | None
    provider: str | None
    images: int
    actor_id: int | None
    note: str | None


@dataclass(frozen=True, slots=True)
class Usage:
    """What a guild spent in a period, for the admin usage view."""

    credits: int
    images: int
    jobs: int
    top_users: list[tuple[int, int, int]] = field(default_factory=list)
    """(user_id, credits, images), most credits first."""
    providers: list[tuple[str, int, int]] = field(default_factory=list)
    """(provider, credits, images), most credits first."""


@dataclass(frozen=True, slots=True)
class TaskRow:
    """One provider task as the log has it (for exports and tests)."""

    job_id: int
    guild_id: int
    provider: str
    task_id: str | None
    state: str
    images: int
    billed: bool | None
    cost_micros: int
    reason: str | None
    created_at: float


@dataclass(frozen=True, slots=True)
class ProviderSpend:
    """One provider's tasks in a period, as its invoice should show them.

    ``made`` counts every task the provider made (paid or not, in doubt or not);
    ``paid_micros`` what the paid ones cost at the price recorded when each was sent;
    ``undelivered`` the paid tasks that delivered nothing, by why; ``doubt`` the tasks
    whose submit answer was lost (the provider may or may not have made and billed them).
    """

    provider: str
    made: int
    delivered_images: int
    paid: int
    paid_micros: int
    free: int
    undelivered: dict[str, int]
    doubt: int
    doubt_micros: int
