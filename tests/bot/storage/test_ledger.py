"""The credit ledger: allowances, grants, holds, settles and releases, and the admin views."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.errors import InsufficientCredits
from bot.storage.engines import open_store
from bot.storage.interface import Store, Unit
from bot.storage.records import Balance, LedgerEntry, Usage, refills_in, utc_day
from tests.engines import peek, poke

GUILD, OTHER_GUILD = 10, 20
ALICE, BOB = 1, 2
ADMIN = 99
DAY = 86_400
DAY0 = 1_741_564_800.0  # 2025-03-10 00:00 UTC
NOON = DAY0 + DAY / 2
DAY1 = DAY0 + DAY


async def run(db: Store, method: str, **kw: Any) -> Any:
    return await db.run(lambda tx: getattr(tx.ledger, method)(**kw))


async def look(
    db: Store,
    user: int = ALICE,
    *,
    at: float = NOON,
    allowance: int = 60,
    guild: int = GUILD,
) -> Balance:
    return await run(db, "balance", guild_id=guild, user_id=user, at=at, allowance=allowance)


async def hold(
    db: Store,
    job: int,
    amount: int,
    user: int = ALICE,
    *,
    at: float = NOON,
    allowance: int = 60,
    guild: int = GUILD,
) -> Balance:
    return await run(
        db,
        "hold",
        guild_id=guild,
        user_id=user,
        job_id=job,
        amount=amount,
        at=at,
        allowance=allowance,
    )


async def settle(
    db: Store,
    job: int,
    charge: int,
    *,
    provider: str = "bfl",
    images: int = 1,
    at: float = NOON,
) -> int:
    return await run(
        db, "settle", job_id=job, charge=charge, provider=provider, images=images, at=at
    )


async def release(db: Store, job: int, *, at: float = NOON) -> int:
    return await run(db, "release", job_id=job, at=at)


async def grant(
    db: Store,
    amount: int,
    user: int = ALICE,
    *,
    at: float = NOON,
    note: str | None = None,
    guild: int = GUILD,
) -> int:
    return await run(
        db,
        "grant",
        guild_id=guild,
        user_id=user,
        amount=amount,
        actor_id=ADMIN,
        note=note,
        at=at,
    )


async def ledger_rows(db: Store) -> int:
    return int((await peek(db, "SELECT COUNT(*) FROM ledger"))[0][0])


def test_days_and_refills_follow_utc_midnight() -> None:
    assert utc_day(DAY0) == "2025-03-10"
    assert utc_day(DAY0 - 0.001) == "2025-03-09"
    assert utc_day(DAY1 - 1) == "2025-03-10"
    assert refills_in(NOON, 60) == DAY / 2
    assert refills_in(DAY0, 60) == DAY
    assert refills_in(NOON, 0) is None


async def test_first_look_issues_todays_allowance_once(db: Store) -> None:
    first = await look(db)
    again = await look(db, at=NOON + 60)

    assert first == Balance(60, 60, 0, 0, 0, DAY / 2)
    assert again == Balance(60, 60, 0, 0, 0, DAY / 2 - 60)
    history = await db.run(lambda tx: tx.reports.user_history(GUILD, ALICE))
    assert [(e.kind, e.amount) for e in history] == [("allowance", 60)]


async def test_allowance_refills_each_day_and_yesterdays_leftover_expires(db: Store) -> None:
    await hold(db, 1, 25)
    await settle(db, 1, 25)

    today = await look(db, at=DAY1 + 3_600)

    assert today == Balance(60, 60, 0, 0, 0, DAY - 3_600)
    history = await db.run(lambda tx: tx.reports.user_history(GUILD, ALICE))
    assert [(e.kind, e.day) for e in history if e.kind == "allowance"] == [
        ("allowance", "2025-03-11"),
        ("allowance", "2025-03-10"),
    ]


async def test_raising_the_allowance_midday_adds_the_difference_lowering_takes_nothing(
    db: Store,
) -> None:
    await hold(db, 1, 50, allowance=60)

    raised = await look(db, at=NOON + 1, allowance=100)
    lowered = await look(db, at=NOON + 2, allowance=20)
    next_day = await look(db, at=DAY1 + 1, allowance=20)

    assert raised.allowance_left == 10 + 40
    assert lowered.allowance_left == 50
    assert next_day.allowance_left == 20


async def test_zero_allowance_turns_the_daily_refill_off(db: Store) -> None:
    off = await look(db, allowance=0)
    await grant(db, 5)

    with pytest.raises(InsufficientCredits) as refused:
        await hold(db, 1, 6, allowance=0)

    assert off == Balance(0, 0, 0, 0, 0, None)
    assert (refused.value.needed, refused.value.available) == (6, 5)
    assert refused.value.refills_in is None
    assert (await look(db, at=DAY1, allowance=0)).available == 5


async def test_a_hold_draws_todays_allowance_first_then_grants(db: Store) -> None:
    await grant(db, 30)

    after = await hold(db, 7, 70)

    assert after == Balance(20, 0, 20, 70, 0, DAY / 2)
    assert await db.run(lambda tx: tx.ledger.open_hold(7)) == 70
    assert await look(db) == after


async def test_a_short_balance_is_refused_with_the_numbers_and_nothing_changes(
    db: Store,
) -> None:
    await grant(db, 10)
    before = await look(db)
    rows = await ledger_rows(db)

    with pytest.raises(InsufficientCredits) as refused:
        await hold(db, 1, 80)

    assert (refused.value.needed, refused.value.available) == (80, 70)
    assert refused.value.refills_in == DAY / 2
    assert "refills in about 12 h 0 min" in refused.value.user_message
    assert await ledger_rows(db) == rows
    assert await look(db) == before
    assert await db.run(lambda tx: tx.ledger.open_hold(1)) == 0


async def test_a_refused_first_hold_leaves_no_trace(db: Store) -> None:
    with pytest.raises(InsufficientCredits):
        await hold(db, 1, 61, user=BOB)

    assert await ledger_rows(db) == 0


async def test_a_partial_delivery_charges_only_the_delivered_images(db: Store) -> None:
    await hold(db, 1, 40)  # 4 images at 10

    charged = await settle(db, 1, 30, images=3)

    assert charged == 30
    assert await look(db) == Balance(30, 30, 0, 0, 30, DAY / 2)
    assert await db.run(lambda tx: tx.ledger.open_hold(1)) == 0


async def test_the_unused_part_of_a_hold_goes_back_to_grants_first(db: Store) -> None:
    await grant(db, 30)
    await hold(db, 1, 80)  # 60 allowance + 20 granted

    await settle(db, 1, 50)

    assert await look(db) == Balance(40, 10, 30, 0, 50, DAY / 2)


async def test_a_release_gives_the_whole_hold_back(db: Store) -> None:
    await grant(db, 10)
    await hold(db, 1, 65)

    returned = await release(db, 1)

    assert returned == 65
    assert await look(db) == Balance(70, 60, 10, 0, 0, DAY / 2)


async def test_a_job_is_settled_or_released_exactly_once(db: Store) -> None:
    await hold(db, 1, 40)
    await hold(db, 2, 10)
    assert await settle(db, 1, 30) == 30
    assert await release(db, 2) == 10
    after = await look(db)
    rows = await ledger_rows(db)

    assert await settle(db, 1, 30) == 0
    assert await release(db, 1) == 0
    assert await release(db, 2) == 0
    assert await settle(db, 2, 10) == 0
    assert await settle(db, 404, 10) == 0

    assert await look(db) == after == Balance(30, 30, 0, 0, 30, DAY / 2)
    assert await ledger_rows(db) == rows


async def test_a_free_job_still_records_its_images(db: Store) -> None:
    await hold(db, 1, 0)

    assert await settle(db, 1, 0, provider="free", images=2) == 0

    assert (await db.run(lambda tx: tx.reports.usage(GUILD, since=DAY0, until=DAY1))) == Usage(
        0, 2, 1, [(ALICE, 0, 2)], [("free", 0, 2)]
    )
    assert await settle(db, 1, 0, provider="free", images=2) == 0
    assert await db.run(lambda tx: tx.ledger.reconcile()) == []


async def test_a_hold_from_yesterday_released_today_goes_back_to_the_expired_bucket(
    db: Store,
) -> None:
    await hold(db, 1, 50, at=DAY1 - 3_600)

    returned = await release(db, 1, at=DAY1 + 3_600)

    assert returned == 50
    assert await look(db, at=DAY1 + 3_601) == Balance(60, 60, 0, 0, 0, DAY - 3_601)
    history = await db.run(lambda tx: tx.reports.user_history(GUILD, ALICE, limit=2))
    assert [(e.kind, e.day, e.amount) for e in history] == [
        ("allowance", "2025-03-11", 60),
        ("release", "2025-03-11", 50),
    ]
    buckets = await peek(
        db, "SELECT bucket, amount FROM balances WHERE account = 'allowance' ORDER BY bucket"
    )
    assert buckets == [("2025-03-10", 60), ("2025-03-11", 60)]


async def test_a_charge_above_the_hold_is_clamped_and_logged(
    db: Store, caplog: pytest.LogCaptureFixture
) -> None:
    await hold(db, 1, 20)

    with caplog.at_level(logging.WARNING, logger="bot.storage"):
        charged = await settle(db, 1, 35)

    assert charged == 20
    assert "exceeds its hold" in caplog.text
    assert (await look(db)).spent_today == 20


async def test_a_second_hold_for_the_same_job_is_refused_as_a_bug(db: Store) -> None:
    await hold(db, 1, 10)

    with pytest.raises(ValueError, match="already has a hold"):
        await hold(db, 1, 10)

    assert (await look(db)).held == 10


async def test_taking_credits_back_never_goes_below_zero(db: Store) -> None:
    assert await grant(db, 25, note="event prize") == 25
    assert await grant(db, -40, note="oops") == -25
    assert await grant(db, -5) == 0

    assert await look(db) == Balance(60, 60, 0, 0, 0, DAY / 2)
    history = await db.run(lambda tx: tx.reports.user_history(GUILD, ALICE))
    grants = [(e.amount, e.actor_id, e.note) for e in history if e.kind == "grant"]
    assert grants == [(-25, ADMIN, "oops"), (25, ADMIN, "event prize")]


async def test_a_granted_hold_cannot_be_taken_back(db: Store) -> None:
    await grant(db, 30)
    await hold(db, 1, 80)  # leaves 10 granted

    assert await grant(db, -30) == -10
    assert await release(db, 1) == 80

    assert await look(db) == Balance(80, 60, 20, 0, 0, DAY / 2)


async def _two_days_of_use(db: Store) -> None:
    """Alice and Bob on 10 and 11 March; Bob in another guild too."""
    await hold(db, 1, 40, at=NOON)
    await hold(db, 2, 20, user=BOB, at=NOON + 1)
    await hold(db, 3, 10, at=NOON + 2)
    await settle(db, 1, 30, provider="bfl", images=3, at=NOON + 10)
    await settle(db, 2, 20, provider="fal", images=2, at=NOON + 20)
    await release(db, 3, at=NOON + 30)
    await hold(db, 4, 10, at=DAY1 + 100)
    await settle(db, 4, 10, provider="fal", images=1, at=DAY1 + 200)
    await hold(db, 5, 50, user=BOB, at=NOON, guild=OTHER_GUILD)
    await settle(db, 5, 50, provider="bfl", images=5, at=NOON + 40)


async def test_usage_totals_top_users_and_providers(db: Store) -> None:
    await _two_days_of_use(db)

    both_days = await db.run(lambda tx: tx.reports.usage(GUILD, since=DAY0, until=DAY1 + DAY))
    first_day = await db.run(lambda tx: tx.reports.usage(GUILD, since=DAY0, until=DAY1))
    from_the_last = await db.run(
        lambda tx: tx.reports.usage(GUILD, since=DAY1 + 200, until=DAY1 + 201)
    )
    top_one = await db.run(lambda tx: tx.reports.usage(GUILD, since=DAY0, until=DAY1, top=1))

    assert both_days == Usage(
        60, 6, 3, [(ALICE, 40, 4), (BOB, 20, 2)], [("bfl", 30, 3), ("fal", 30, 3)]
    )
    assert first_day == Usage(
        50, 5, 2, [(ALICE, 30, 3), (BOB, 20, 2)], [("bfl", 30, 3), ("fal", 20, 2)]
    )
    assert from_the_last == Usage(10, 1, 1, [(ALICE, 10, 1)], [("fal", 10, 1)])
    assert top_one.top_users == [(ALICE, 30, 3)]


async def test_spend_by_day_splits_days_and_providers(db: Store) -> None:
    await _two_days_of_use(db)

    rows = await db.run(lambda tx: tx.reports.spend_by_day(GUILD, since=DAY0, until=DAY1 + DAY))
    other = await db.run(
        lambda tx: tx.reports.spend_by_day(OTHER_GUILD, since=DAY0, until=DAY1 + DAY)
    )

    assert rows == [
        ("2025-03-10", "bfl", 30, 3),
        ("2025-03-10", "fal", 20, 2),
        ("2025-03-11", "fal", 10, 1),
    ]
    assert other == [("2025-03-10", "bfl", 50, 5)]


async def test_a_members_history_reads_newest_first(db: Store) -> None:
    await _two_days_of_use(db)

    history = await db.run(lambda tx: tx.reports.user_history(GUILD, ALICE))
    last_three = await db.run(lambda tx: tx.reports.user_history(GUILD, ALICE, limit=3))

    assert [(e.kind, e.amount, e.charged, e.job_id) for e in history] == [
        ("settle", 0, 10, 4),
        ("hold", -10, 0, 4),
        ("allowance", 60, 0, None),
        ("release", 10, 0, 3),
        ("settle", 10, 30, 1),
        ("hold", -10, 0, 3),
        ("hold", -40, 0, 1),
        ("allowance", 60, 0, None),
    ]
    assert history[4].provider == "bfl"
    assert history[4].images == 3
    assert history[4].at == NOON + 10
    assert last_three == history[:3]


async def test_the_export_has_one_line_per_movement_in_the_period(db: Store) -> None:
    await _two_days_of_use(db)

    lines = await db.run(lambda tx: tx.reports.entries(GUILD, since=NOON + 1, until=NOON + 20))

    assert [(e.user_id, e.kind, e.amount, e.charged, e.job_id, e.at) for e in lines] == [
        (BOB, "allowance", 60, 0, None, NOON + 1),
        (BOB, "hold", -20, 0, 2, NOON + 1),
        (ALICE, "hold", -10, 0, 3, NOON + 2),
        (ALICE, "settle", 10, 30, 1, NOON + 10),
    ]
    assert all(isinstance(line, LedgerEntry) for line in lines)
    assert [e.movement for e in lines] == sorted(e.movement for e in lines)


async def test_reconcile_is_empty_after_normal_use_and_names_tampering(db: Store) -> None:
    await _two_days_of_use(db)
    await grant(db, 15)
    await grant(db, -5)
    assert await db.run(lambda tx: tx.ledger.reconcile()) == []

    await poke(
        db,
        f"UPDATE balances SET amount = amount + 5 WHERE account = 'granted' AND user_id = {ALICE}",
        "INSERT INTO ledger (movement, at, day, guild_id, user_id, account, amount, kind)"
        f" VALUES (999999, 0, '1970-01-01', {GUILD}, {BOB}, 'spent', 7, 'settle')",
    )
    problems = await db.run(lambda tx: tx.ledger.reconcile())

    assert any("user 1 granted: balances say 15, the ledger sums to 10" in p for p in problems)
    assert any("user 2 spent: balances say 0, the ledger sums to 7" in p for p in problems)
    assert any(p.startswith("movement 999999: 1 leg(s)") for p in problems)


# ---------------------------------------------------------------- property tests

MEMBERS = [(GUILD, ALICE), (GUILD, BOB), (OTHER_GUILD, ALICE)]


@dataclass(frozen=True)
class Grant:
    member: int
    amount: int


@dataclass(frozen=True)
class Hold:
    member: int
    amount: int


@dataclass(frozen=True)
class Settle:
    job: int
    charge: int
    images: int


@dataclass(frozen=True)
class Release:
    job: int


@dataclass(frozen=True)
class Look:
    member: int


member = st.integers(0, len(MEMBERS) - 1)
operation = st.one_of(
    st.builds(Grant, member, st.integers(-40, 60)),
    st.builds(Hold, member, st.integers(0, 90)),
    st.builds(Settle, st.integers(0, 30), st.integers(0, 100), st.integers(0, 4)),
    st.builds(Release, st.integers(0, 30)),
    st.builds(Look, member),
)
rounds = st.lists(
    st.tuples(
        st.sampled_from([0, 1, 3_600, 20_000, DAY, 2 * DAY + 7]),  # time passing before it
        st.sampled_from([0, 20, 60]),  # the guilds' allowance during the round
        st.lists(operation, min_size=1, max_size=12),  # written concurrently
    ),
    min_size=1,
    max_size=6,
)

Member = tuple[int, int]


@dataclass
class Model:
    """What the ledger should say, applying the same operations one after another."""

    issued: dict[tuple[Member, str], int] = field(default_factory=lambda: defaultdict(int))
    bucket: dict[tuple[Member, str], int] = field(default_factory=lambda: defaultdict(int))
    spent: dict[tuple[Member, str], int] = field(default_factory=lambda: defaultdict(int))
    granted: dict[Member, int] = field(default_factory=lambda: defaultdict(int))
    held: dict[Member, int] = field(default_factory=lambda: defaultdict(int))
    holds: dict[int, tuple[Member, str, int, int]] = field(default_factory=dict)

    def _top_up(self, m: Member, day: str, allowance: int) -> None:
        extra = max(0, allowance - self.issued[m, day])
        self.issued[m, day] += extra
        self.bucket[m, day] += extra

    def look(self, m: Member, at: float, allowance: int) -> Balance:
        day = utc_day(at)
        self._top_up(m, day, allowance)
        left, granted = self.bucket[m, day], self.granted[m]
        return Balance(
            left + granted,
            left,
            granted,
            self.held[m],
            self.spent[m, day],
            refills_in(at, allowance),
        )

    def hold(self, m: Member, job: int, amount: int, at: float, allowance: int) -> Any:
        day = utc_day(at)
        extra = max(0, allowance - self.issued[m, day])
        available = self.bucket[m, day] + extra + self.granted[m]
        if amount > available:
            return ("refused", amount, available)
        self._top_up(m, day, allowance)
        from_allowance = min(amount, self.bucket[m, day])
        self.bucket[m, day] -= from_allowance
        self.granted[m] -= amount - from_allowance
        self.held[m] += amount
        self.holds[job] = (m, day, from_allowance, amount - from_allowance)
        return self.look(m, at, allowance)

    def settle(self, job: int, charge: int, at: float) -> int:
        if job not in self.holds:
            return 0
        m, day, from_allowance, from_granted = self.holds.pop(job)
        total = from_allowance + from_granted
        charge = min(charge, total)
        back_to_grants = min(total - charge, from_granted)
        self.granted[m] += back_to_grants
        self.bucket[m, day] += total - charge - back_to_grants
        self.held[m] -= total
        self.spent[m, utc_day(at)] += charge
        return charge

    def release(self, job: int) -> int:
        if job not in self.holds:
            return 0
        m, day, from_allowance, from_granted = self.holds.pop(job)
        self.granted[m] += from_granted
        self.bucket[m, day] += from_allowance
        self.held[m] -= from_allowance + from_granted
        return from_allowance + from_granted

    def grant(self, m: Member, amount: int) -> int:
        applied = max(amount, -self.granted[m])
        self.granted[m] += applied
        return applied


def _apply(
    op: Any, job_of: Callable[[int], int], new_job: int, at: float, allowance: int
) -> Unit[Any]:
    """The unit to run for one operation."""
    if isinstance(op, Grant):
        guild, user = MEMBERS[op.member]
        return lambda tx: tx.ledger.grant(
            guild_id=guild, user_id=user, amount=op.amount, actor_id=ADMIN, note=None, at=at
        )
    if isinstance(op, Hold):
        guild, user = MEMBERS[op.member]
        return lambda tx: tx.ledger.hold(
            guild_id=guild,
            user_id=user,
            job_id=new_job,
            amount=op.amount,
            at=at,
            allowance=allowance,
        )
    if isinstance(op, Settle):
        job = job_of(op.job)
        return lambda tx: tx.ledger.settle(
            job_id=job, charge=op.charge, provider="bfl", images=op.images, at=at
        )
    if isinstance(op, Release):
        job = job_of(op.job)
        return lambda tx: tx.ledger.release(job_id=job, at=at)
    guild, user = MEMBERS[op.member]
    return lambda tx: tx.ledger.balance(guild_id=guild, user_id=user, at=at, allowance=allowance)


def _expect(
    model: Model, op: Any, job_of: Callable[[int], int], new_job: int, at: float, allowance: int
) -> Any:
    if isinstance(op, Grant):
        return model.grant(MEMBERS[op.member], op.amount)
    if isinstance(op, Hold):
        return model.hold(MEMBERS[op.member], new_job, op.amount, at, allowance)
    if isinstance(op, Settle):
        return model.settle(job_of(op.job), op.charge, at)
    if isinstance(op, Release):
        return model.release(job_of(op.job))
    return model.look(MEMBERS[op.member], at, allowance)


def _seen(outcome: Any) -> Any:
    """An outcome as the model states it; anything but a refusal is a failure."""
    if isinstance(outcome, InsufficientCredits):
        return ("refused", outcome.needed, outcome.available)
    if isinstance(outcome, BaseException):
        raise AssertionError(f"a ledger change failed: {outcome!r}") from outcome
    return outcome


@settings(
    max_examples=50,
    deadline=None,
    # `places` hands out a fresh database per call, so sharing it between inputs is safe.
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(rounds)
async def test_concurrent_use_never_overdraws_and_always_reconciles(
    places: Callable[[], Awaitable[str]], plan: list[tuple[int, int, list[Any]]]
) -> None:
    db = await open_store(await places())
    try:
        model = Model()
        at = DAY1 - 3_000.0
        jobs: list[int] = []

        def job_of(index: int) -> int:
            return jobs[index % len(jobs)] if jobs else 1_000_000

        for wait, allowance, ops in plan:
            at += wait
            changes, expected = [], []
            for op in ops:
                new_job = len(jobs) + 1
                changes.append(_apply(op, job_of, new_job, at, allowance))
                expected.append(_expect(model, op, job_of, new_job, at, allowance))
                if isinstance(op, Hold):
                    jobs.append(new_job)
            outcomes = await asyncio.gather(
                *(db.run(change) for change in changes), return_exceptions=True
            )

            assert [_seen(o) for o in outcomes] == expected
            for outcome in outcomes:
                if isinstance(outcome, Balance):
                    assert outcome.available >= 0

        assert await db.run(lambda tx: tx.ledger.reconcile()) == []
        sums = await peek(
            db, "SELECT guild_id, user_id, SUM(amount) FROM balances GROUP BY guild_id, user_id"
        )
        assert all(total == 0 for _, _, total in sums)
        for guild, user in MEMBERS:
            now = await db.run(
                lambda tx, g=guild, u=user: tx.ledger.balance(
                    guild_id=g, user_id=u, at=at, allowance=0
                )
            )
            assert now == model.look((guild, user), at, 0)
            assert now.available >= 0
    finally:
        await db.close()
