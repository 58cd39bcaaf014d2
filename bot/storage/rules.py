"""The arithmetic both storage engines share: ledger movements, folding legs into lines,
and tallying provider tasks. No SQL here: each engine reads and writes rows, these rules
decide what the rows say, so SQLite and PostgreSQL can never disagree about money."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from bot.errors import InsufficientCredits
from bot.storage.records import (
    UNDELIVERED,
    Balance,
    LedgerEntry,
    ProviderSpend,
    refills_in,
    utc_day,
)

log = logging.getLogger(__name__)

Key = tuple[str, str]
"""An account and its bucket: ``("allowance", "2025-01-31")``, ``("granted", "")``."""

SIGNED = ("issued", "spent")
"""Accounts that may go below zero (every other one is refused by the database)."""


@dataclass(frozen=True, slots=True)
class Movement:
    """One ledger movement: its legs (account, bucket, amount) sum to zero."""

    kind: str
    legs: list[tuple[str, str, int]]
    job_id: int | None = None
    provider: str | None = None
    images: int = 0
    actor_id: int | None = None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class OpenHold:
    """A job's hold still open: whose, how much, and where it was drawn from."""

    guild_id: int
    user_id: int
    open: int
    drawn: dict[Key, int]


def compact(legs: list[tuple[str, str, int]]) -> list[tuple[str, str, int]]:
    """Drop legs of zero, but keep the spend leg (it carries the images) and at least two legs."""
    kept = [leg for leg in legs if leg[2] or leg[0] == "spent"]
    if len(kept) >= 2:
        return kept
    return kept + [leg for leg in legs if leg not in kept][: 2 - len(kept)]


def top_up(accounts: dict[Key, int], day: str, allowance: int) -> int:
    """How much allowance is still to be issued today (never negative: no claw-back)."""
    issued_today = -accounts.get(("issued", day), 0)
    return max(0, allowance - issued_today)


def allowance_move(day: str, amount: int) -> Movement:
    """Today's allowance issued to the member."""
    return Movement("allowance", [("issued", day, -amount), ("allowance", day, amount)])


def balance_of(accounts: dict[Key, int], day: str, at: float, allowance: int) -> Balance:
    """The member's balance as their accounts state it."""
    left = accounts.get(("allowance", day), 0)
    granted = accounts.get(("granted", ""), 0)
    return Balance(
        available=left + granted,
        allowance_left=left,
        granted=granted,
        held=accounts.get(("held", ""), 0),
        spent_today=accounts.get(("spent", day), 0),
        refills_in=refills_in(at, allowance),
    )


def open_hold_of(rows: list[tuple[int, int, str, str, int, str]]) -> OpenHold | None:
    """A job's hold from its legs (guild, user, account, bucket, amount, kind); None when
    there is none or it was settled or released."""
    if not rows or any(kind in ("settle", "release") for *_, kind in rows):
        return None
    drawn: dict[Key, int] = {}
    held = 0
    for _, _, account, bucket, amount, _ in rows:
        if account == "held":
            held += amount
        else:
            drawn[account, bucket] = drawn.get((account, bucket), 0) - amount
    return OpenHold(rows[0][0], rows[0][1], held, drawn)


def give_back(drawn: dict[Key, int], amount: int) -> list[tuple[str, str, int]]:
    """Legs returning ``amount`` to where the hold came from: granted first, then allowance."""
    keys = sorted(drawn, key=lambda key: key[1], reverse=True)
    keys.sort(key=lambda key: key[0] != "granted")
    legs = []
    for key in keys:
        part = min(amount, drawn[key])
        legs.append((key[0], key[1], part))
        amount -= part
    return legs


def plan_hold(
    accounts: dict[Key, int], *, job_id: int, amount: int, at: float, allowance: int
) -> tuple[list[Movement], Balance]:
    """The movements setting a job's price aside (today's allowance first, then granted)
    and the balance after; InsufficientCredits when the member's accounts fall short."""
    if amount < 0:
        raise ValueError(f"a hold cannot be negative ({amount})")
    day = utc_day(at)
    issue = top_up(accounts, day, allowance)
    left = accounts.get(("allowance", day), 0) + issue
    granted = accounts.get(("granted", ""), 0)
    if amount > left + granted:
        raise InsufficientCredits(
            needed=amount, available=left + granted, refills_in=refills_in(at, allowance)
        )
    from_allowance = min(amount, left)
    from_granted = amount - from_allowance
    moves = [allowance_move(day, issue)] if issue else []
    legs = [("allowance", day, -from_allowance), ("granted", "", -from_granted)]
    moves.append(Movement("hold", [*legs, ("held", "", amount)], job_id=job_id))
    after = Balance(
        available=left - from_allowance + granted - from_granted,
        allowance_left=left - from_allowance,
        granted=granted - from_granted,
        held=accounts.get(("held", ""), 0) + amount,
        spent_today=accounts.get(("spent", day), 0),
        refills_in=refills_in(at, allowance),
    )
    return moves, after


def settle_move(
    state: OpenHold, *, job_id: int, charge: int, provider: str | None, images: int, at: float
) -> tuple[Movement, int]:
    """The movement charging a delivered job and giving back the rest of its hold, and the
    charge (clamped to the hold, and logged when it was above)."""
    if charge > state.open:
        log.warning(
            "job %d: charge %d exceeds its hold %d; charging the hold", job_id, charge, state.open
        )
        charge = state.open
    legs = [("held", "", -state.open), ("spent", utc_day(at), charge)]
    legs += give_back(state.drawn, state.open - charge)
    return Movement("settle", legs, job_id=job_id, provider=provider, images=images), charge


def release_move(state: OpenHold, *, job_id: int) -> Movement:
    """The movement giving a job's whole hold back to where it came from."""
    legs = [("held", "", -state.open), *give_back(state.drawn, state.open)]
    return Movement("release", legs, job_id=job_id)


def fold(rows: Iterable[tuple[Any, ...]]) -> Iterator[LedgerEntry]:
    """Fold consecutive legs (``LEG_COLUMNS`` rows, a movement's legs together) into one
    entry per movement."""
    for movement, group in itertools.groupby(rows, key=lambda row: row[0]):
        legs = list(group)
        _, at, day, user_id, kind, _, _, job_id, provider, images, actor_id, note = legs[0]
        amount = sum(leg[6] for leg in legs if leg[5] in ("allowance", "granted"))
        charged = sum(leg[6] for leg in legs if leg[5] == "spent")
        yield LedgerEntry(
            *(movement, at, day, user_id, kind, amount, charged),
            *(job_id, provider, images, actor_id, note),
        )


def tally_spend(tasks: Iterable[tuple[str, str, Any, int, int]]) -> list[ProviderSpend]:
    """Per provider, from (provider, state, billed, images, cost_micros) of tasks sent."""
    totals: dict[str, dict[str, int]] = {}
    undelivered: dict[str, dict[str, int]] = {}
    for provider, state, billed, images, cost in tasks:
        row = totals.setdefault(
            provider,
            dict.fromkeys(("made", "delivered", "paid", "micros", "free", "doubt", "doubt_m"), 0),
        )
        row["made"] += 1
        if state == "unknown":
            row["doubt"] += 1
            row["doubt_m"] += cost
            continue
        if state == "delivered":
            row["delivered"] += images
        if billed:
            row["paid"] += 1
            row["micros"] += cost
            if state != "delivered":
                why = UNDELIVERED.get(state, state)
                reasons = undelivered.setdefault(provider, {})
                reasons[why] = reasons.get(why, 0) + 1
        else:
            row["free"] += 1
    return [
        ProviderSpend(
            provider=name,
            made=row["made"],
            delivered_images=row["delivered"],
            paid=row["paid"],
            paid_micros=row["micros"],
            free=row["free"],
            undelivered=undelivered.get(name, {}),
            doubt=row["doubt"],
            doubt_micros=row["doubt_m"],
        )
        for name, row in sorted(totals.items())
    ]
