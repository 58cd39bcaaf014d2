"""Scheduler: rate and caps, fair turns across guilds and users, admission, forecasts, resume."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.errors import LimitReached
from bot.models import GuildSettings
from bot.pipeline.estimates import Estimate, Ticket
from bot.pipeline.scheduler import Scheduler, TokenBucket

T0 = 1000.0
ROOMY: dict[str, Any] = {
    "jobs_per_minute": 6000,
    "burst": 1000,
    "max_running": 1000,
    "max_queued": 100_000,
    "user_max_running": 100,
    "user_max_queued": 10_000,
}


def limits(**changes: Any) -> GuildSettings:
    """Settings that never get in the way except where a test says so."""
    return GuildSettings(**(ROOMY | changes))


def scheduler(
    table: dict[int, GuildSettings] | None = None, global_max_running: int = 1000, **kw: Any
) -> Scheduler:
    table = {} if table is None else table
    return Scheduler(lambda guild: table.get(guild, limits()), global_max_running, **kw)


def ticket(job_id: int, guild: int = 1, user: int = 1, not_before: float = 0.0) -> Ticket:
    return Ticket(job_id, guild, user, enqueued_at=T0, not_before=not_before)


def push_all(sched: Scheduler, *tickets: Ticket) -> None:
    for each in tickets:
        sched.push(each)


def start_ids(sched: Scheduler, count: int, now: float = T0) -> list[int | None]:
    started = [sched.next(now) for _ in range(count)]
    return [t.job_id if t else None for t in started]


# -- token bucket ----------------------------------------------------------------------------


def test_bucket_allows_a_burst_then_refills_at_its_rate() -> None:
    bucket = TokenBucket(rate=0.5, capacity=3)
    assert [bucket.take(T0) for _ in range(4)] == [True, True, True, False]
    assert bucket.seconds_until(T0) == pytest.approx(2.0)
    assert not bucket.take(T0 + 1.9)
    assert bucket.take(T0 + 2.0)
    assert bucket.available(T0 + 100) == 3, "idle time never saves more than the burst"
    assert bucket.seconds_until(T0 + 100, tokens=4) == math.inf


def test_bucket_reconfigure_keeps_tokens_instead_of_refilling() -> None:
    bucket = TokenBucket(rate=1 / 6, capacity=5)
    for _ in range(5):
        bucket.take(T0)
    bucket.reconfigure(rate=1.0, capacity=2, now=T0 + 3)
    assert bucket.available(T0 + 3) == pytest.approx(0.5), "3 s at the old rate, no refill"
    assert bucket.available(T0 + 4) == pytest.approx(1.5), "the new rate from then on"
    assert bucket.available(T0 + 60) == 2
    bucket.reconfigure(rate=1.0, capacity=1)
    assert bucket.available(T0 + 60) == 1, "a smaller burst caps what is held"


# -- caps --------------------------------------------------------------------------------------


def test_guild_running_cap_holds_jobs_until_one_finishes() -> None:
    sched = scheduler({1: limits(max_running=2)})
    push_all(sched, ticket(1, user=1), ticket(2, user=2), ticket(3, user=3))
    assert start_ids(sched, 3) == [1, 2, None]
    assert sched.queued(1) == 1, "waiting, not refused"
    sched.finished(1)
    assert start_ids(sched, 1) == [3]


def test_user_running_cap_lets_other_members_go_first() -> None:
    sched = scheduler({1: limits(user_max_running=1)})
    push_all(sched, ticket(1, user=1), ticket(2, user=1), ticket(3, user=1), ticket(4, user=2))
    assert start_ids(sched, 3) == [1, 4, None]
    sched.finished(1)
    assert start_ids(sched, 1) == [2]
    assert sched.running(1, user_id=1) == 1


def test_global_cap_limits_all_guilds_together() -> None:
    sched = scheduler(global_max_running=2)
    push_all(sched, ticket(1, guild=1), ticket(2, guild=2), ticket(3, guild=3))
    assert start_ids(sched, 3) == [1, 2, None]
    sched.finished(2)
    assert start_ids(sched, 1) == [3]


def test_global_start_rate_spreads_a_burst_across_all_guilds() -> None:
    sched = scheduler(starts_per_second=20)  # bursts of 2, then one start every 50 ms
    push_all(sched, *(ticket(i, guild=i % 3, user=i) for i in range(6)))
    assert start_ids(sched, 3) == [0, 1, None]
    assert sched.wake_in(T0) == pytest.approx(0.05)
    assert sched.next(T0 + 0.049) is None
    assert start_ids(sched, 2, now=T0 + 0.05) == [2, None]
    assert start_ids(sched, 3, now=T0 + 0.5) == [3, 4, None], "at most 2 saved while idle"
    assert start_ids(sched, 1, now=T0 + 0.55) == [5]


def test_global_start_rate_wait_is_the_later_of_it_and_the_guilds_bucket() -> None:
    sched = scheduler({1: limits(jobs_per_minute=6, burst=1)}, starts_per_second=1)
    push_all(sched, ticket(1), ticket(2), ticket(3, guild=2))
    assert start_ids(sched, 2) == [1, None]
    assert sched.wake_in(T0) == pytest.approx(1.0), "guild 2 waits for the global token only"
    assert start_ids(sched, 2, now=T0 + 1) == [3, None]
    assert sched.wake_in(T0 + 1) == pytest.approx(9.0), "guild 1 waits for its own token"


def test_put_back_refunds_the_global_start_token_too() -> None:
    sched = scheduler(starts_per_second=1)
    sched.push(ticket(1))
    assert start_ids(sched, 1) == [1]
    sched.put_back(1, not_before=T0)
    assert start_ids(sched, 1) == [1], "the refunded token lets it start again at once"


def test_estimates_follow_the_global_start_rate() -> None:
    sched = scheduler(starts_per_second=10)  # one token now, then one every 100 ms
    push_all(sched, *(ticket(i, guild=1, user=i) for i in range(3)))
    push_all(sched, *(ticket(10 + i, guild=2, user=i) for i in range(3)))
    waits = [e.starts_in for e in sched.estimates(1, T0, 20).values()]
    assert waits == pytest.approx([0.1, 0.3, 0.5]), "half a token now, then every 200 ms"


def test_refused_by_can_start_is_skipped_not_lost() -> None:
    sched = scheduler()
    push_all(sched, ticket(1, guild=1), ticket(2, guild=1, user=2), ticket(3, guild=2))
    busy = {1, 3}
    started = sched.next(T0, can_start=lambda t: t.job_id not in busy)
    assert started is not None
    assert started.job_id == 2, "the search goes on to another member's job"
    assert sched.next(T0, can_start=lambda t: False) is None
    assert sched.is_queued(1)
    assert sched.is_queued(3)
    assert sorted(start_ids(sched, 2)) == [1, 3]


def test_token_bucket_makes_jobs_wait_for_the_rate() -> None:
    sched = scheduler({1: limits(jobs_per_minute=6, burst=2)})
    push_all(sched, *(ticket(i, user=i) for i in range(1, 4)))
    assert start_ids(sched, 3) == [1, 2, None]
    assert sched.wake_in(T0) == pytest.approx(10.0)
    assert sched.next(T0 + 9.9) is None
    assert start_ids(sched, 1, now=T0 + 10) == [3]


def test_a_flooding_guild_is_dispatched_without_scanning_its_queue() -> None:
    sched = scheduler()
    push_all(sched, *(ticket(i, user=i % 50) for i in range(5000)))
    asked: list[int] = []

    def can_start(t: Ticket) -> bool:
        asked.append(t.job_id)
        return True

    for _ in range(100):
        assert sched.next(T0, can_start) is not None
    assert len(asked) == 100, "one look per start, however long the queue"


# -- fairness ----------------------------------------------------------------------------------


def test_round_robin_across_guilds_keeps_a_flood_from_starving_others() -> None:
    sched = scheduler()
    job = 0
    for guild, count in [(0, 1000)] + [(g, 10) for g in range(1, 10)]:
        for _ in range(count):
            job += 1
            sched.push(ticket(job, guild=guild, user=job % 7))
    starts = [sched.next(T0) for _ in range(100)]
    per_guild = Counter(t.guild_id for t in starts if t)
    assert per_guild == {g: 10 for g in range(10)}


def test_the_guild_served_last_goes_to_the_back_between_calls() -> None:
    sched = scheduler()
    push_all(sched, ticket(1, guild=1), ticket(2, guild=2), ticket(3, guild=3))
    push_all(sched, ticket(4, guild=1), ticket(5, guild=2), ticket(6, guild=3))
    assert start_ids(sched, 2) == [1, 2]
    sched.push(ticket(7, guild=4))
    assert start_ids(sched, 5) == [3, 4, 5, 7, 6], "a newcomer queues behind guilds waiting"


def test_round_robin_across_members_of_one_guild() -> None:
    sched = scheduler()
    push_all(sched, *(ticket(i, user=1) for i in range(1, 6)))
    push_all(sched, ticket(6, user=2), ticket(7, user=2), ticket(8, user=3))
    assert start_ids(sched, 8) == [1, 6, 8, 2, 7, 3, 4, 5]


def test_a_members_jobs_start_oldest_first_even_when_pushed_out_of_order() -> None:
    sched = scheduler()
    push_all(sched, ticket(5), ticket(3), ticket(9), ticket(1))
    assert start_ids(sched, 4) == [1, 3, 5, 9]


def test_not_before_holds_a_put_back_job_and_those_behind_it() -> None:
    sched = scheduler()
    push_all(sched, ticket(1, user=1, not_before=T0 + 30), ticket(2, user=1), ticket(3, user=2))
    assert start_ids(sched, 2) == [3, None]
    assert sched.wake_in(T0) == pytest.approx(30.0)
    assert start_ids(sched, 2, now=T0 + 30) == [1, 2]


def test_put_back_refunds_the_token_and_keeps_the_jobs_place() -> None:
    sched = scheduler({1: limits(jobs_per_minute=6, burst=1)})
    push_all(sched, ticket(1), ticket(2))
    assert start_ids(sched, 1) == [1]
    again = sched.put_back(1, not_before=T0 + 5)
    assert again is not None
    assert again.not_before == T0 + 5
    assert (sched.running(), sched.queued()) == (0, 2)
    assert sched.next(T0) is None
    assert sched.wake_in(T0) == pytest.approx(5.0)
    assert start_ids(sched, 1, now=T0 + 5) == [1], "the refunded token, not one 10 s later"
    assert sched.put_back(99, not_before=T0) is None


# -- admission ---------------------------------------------------------------------------------


def rate_limited_guild(**changes: Any) -> Scheduler:
    """A guild allowed one start every 10 s whose token was just spent at T0."""
    sched = scheduler({1: limits(jobs_per_minute=6, burst=1, **changes)})
    sched.push(ticket(100, user=99))
    assert sched.next(T0) is not None
    return sched


def test_admission_refuses_a_member_with_a_full_queue_and_says_when() -> None:
    sched = rate_limited_guild(user_max_queued=2)
    push_all(sched, ticket(1, user=1), ticket(2, user=1))
    with pytest.raises(LimitReached) as refused:
        sched.check_admission(1, 1, T0)
    error = refused.value
    assert (error.limit, error.value) == ("user_max_queued", 2)
    assert error.detail == "You already have 2 images waiting"
    assert error.frees_in == pytest.approx(10.0), "room once their first job starts"
    assert "room again in about 10 s" in error.user_message
    sched.check_admission(1, 2, T0)
    sched.check_admission(2, 1, T0)


def test_admission_refuses_when_the_server_queue_is_full() -> None:
    sched = rate_limited_guild(max_queued=3)
    push_all(sched, *(ticket(i, user=i) for i in range(1, 4)))
    with pytest.raises(LimitReached) as refused:
        sched.check_admission(1, 4, T0)
    error = refused.value
    assert (error.limit, error.value) == ("max_queued", 3)
    assert error.detail == "This server already has 3 images waiting"
    assert error.frees_in == pytest.approx(10.0)


def test_admission_after_a_limit_is_lowered_waits_for_enough_starts() -> None:
    table = {1: limits(jobs_per_minute=6, burst=1)}
    sched = scheduler(table)
    sched.push(ticket(100, user=99))
    sched.next(T0)
    push_all(sched, *(ticket(i, user=i) for i in range(1, 6)))
    table[1] = limits(jobs_per_minute=6, burst=1, max_queued=3)
    sched.refresh(1, now=T0)
    with pytest.raises(LimitReached) as refused:
        sched.check_admission(1, 9, T0)
    assert refused.value.frees_in == pytest.approx(30.0), "three of five must start first"


# -- limit changes, cancel, resume -------------------------------------------------------------


def test_refresh_applies_new_caps_and_rate_without_refilling() -> None:
    table = {1: limits(jobs_per_minute=6, burst=2, max_running=3)}
    sched = scheduler(table)
    push_all(sched, *(ticket(i, user=i) for i in range(1, 6)))
    assert start_ids(sched, 2) == [1, 2]
    table[1] = limits(jobs_per_minute=60, burst=5, max_running=2)
    sched.refresh(1, now=T0)
    sched.finished(1)
    assert sched.next(T0) is None, "a bigger burst is not a refill"
    assert start_ids(sched, 1, now=T0 + 1) == [3], "one token a second now"
    assert sched.next(T0 + 5) is None, "the lowered running cap holds"
    sched.refresh(404)


def test_cancel_removes_only_queued_jobs() -> None:
    sched = scheduler()
    push_all(sched, ticket(1), ticket(2), ticket(3, user=2))
    removed = sched.remove(1)
    assert removed is not None
    assert removed.job_id == 1
    assert not sched.is_queued(1)
    assert start_ids(sched, 2) == [2, 3]
    assert sched.remove(2) is None, "a started job is not cancelled here"
    assert sched.remove(99) is None
    assert sched.queued() == 0


def test_finished_twice_frees_one_slot_only() -> None:
    sched = scheduler({1: limits(max_running=1)})
    push_all(sched, ticket(1), ticket(2), ticket(3))
    assert start_ids(sched, 1) == [1]
    assert sched.finished(1) is not None
    assert sched.finished(1) is None
    assert start_ids(sched, 1) == [2]
    sched.finished(1)
    assert sched.running(1) == 1
    assert sched.next(T0) is None


def test_resume_counts_running_jobs_without_spending_tokens() -> None:
    sched = scheduler({1: limits(jobs_per_minute=6, burst=1, max_running=2)})
    sched.mark_running(ticket(1), started_at=T0 - 5)
    push_all(sched, ticket(7), ticket(3), ticket(5))
    assert (sched.running(1), sched.queued(1, user_id=1)) == (1, 3)
    assert start_ids(sched, 2) == [3, None], "a token was left, then the running cap"
    sched.finished(1)
    assert sched.next(T0) is None
    assert start_ids(sched, 1, now=T0 + 10) == [5]
    with pytest.raises(ValueError, match="already scheduled"):
        sched.push(ticket(5))


def test_counts_by_guild_and_user() -> None:
    sched = scheduler()
    push_all(sched, ticket(1, guild=1, user=1), ticket(2, guild=1, user=2))
    push_all(sched, ticket(3, guild=2, user=1), ticket(4, guild=2, user=1))
    sched.next(T0)
    assert sched.queued() == 3
    assert sched.queued(guild_id=2) == 2
    assert sched.queued(user_id=1) == 2
    assert sched.queued(guild_id=1, user_id=2) == 1
    assert sched.running(user_id=1) == 1
    assert sched.running(guild_id=2) == 0
    assert sched.queued(guild_id=404) == 0


def test_idle_guilds_are_forgotten_only_once_their_bucket_is_full() -> None:
    sched = scheduler({1: limits(jobs_per_minute=0.5, burst=1)})
    push_all(sched, ticket(1, guild=1), ticket(2, guild=2, user=5), ticket(3, guild=3))
    assert sorted(start_ids(sched, 3)) == [1, 2, 3]
    for job in (1, 2, 3):
        sched.finished(job)
    assert sched.next(T0 + 61) is None
    assert sched.tracked_guilds == 1, "guild 1 is still refilling"
    sched.push(ticket(4, guild=1))
    assert sched.next(T0 + 61) is None, "forgetting must not hand out a fresh burst"
    assert start_ids(sched, 1, now=T0 + 120) == [4]
    sched.finished(4)
    sched.next(T0 + 1000)
    assert sched.tracked_guilds == 0


# -- estimates ---------------------------------------------------------------------------------


def test_positions_follow_the_round_robin_exactly() -> None:
    sched = scheduler()
    push_all(sched, ticket(1, user=1), ticket(2, user=1), ticket(3, user=1))
    push_all(sched, ticket(4, user=2), ticket(5, user=3), ticket(6, user=3))
    positions = {job: e.position for job, e in sched.estimates(1, T0, 20).items()}
    assert positions == {1: 0, 4: 1, 5: 2, 2: 3, 6: 4, 3: 5}
    forecast = sorted(positions, key=positions.__getitem__)
    assert start_ids(sched, 6) == forecast


def test_positions_update_after_a_start() -> None:
    sched = scheduler()
    push_all(sched, ticket(1, user=1), ticket(2, user=1), ticket(3, user=2), ticket(4, user=3))
    sched.next(T0)
    positions = {job: e.position for job, e in sched.estimates(1, T0, 20).items()}
    assert positions == {3: 0, 4: 1, 2: 2}


def test_first_in_line_with_room_and_tokens_starts_now() -> None:
    sched = scheduler()
    push_all(sched, ticket(1), ticket(2, user=2))
    assert sched.estimate(1, T0, 20) == Estimate(0, 0.0)
    assert sched.estimate(99, T0, 20) is None


def test_rate_limited_estimates_follow_the_bucket() -> None:
    sched = scheduler({1: limits(jobs_per_minute=6, burst=2)})
    push_all(sched, *(ticket(i, user=i) for i in range(1, 6)))
    waits = [e.starts_in for e in sched.estimates(1, T0, 1).values()]
    assert waits == pytest.approx([0, 0, 10, 20, 30])
    start_ids(sched, 2)
    waits = [e.starts_in for e in sched.estimates(1, T0 + 4, 1).values()]
    assert waits == pytest.approx([6, 16, 26])


def test_cap_limited_estimates_wait_for_running_jobs() -> None:
    sched = scheduler({1: limits(max_running=2)})
    push_all(sched, *(ticket(i, user=i) for i in range(1, 6)))
    start_ids(sched, 2, now=T0 - 10)
    waits = [e.starts_in for e in sched.estimates(1, T0, 30).values()]
    assert waits == pytest.approx([20, 20, 50])


def test_member_cap_spaces_one_members_jobs() -> None:
    sched = scheduler({1: limits(user_max_running=1)})
    push_all(sched, ticket(1), ticket(2), ticket(3))
    waits = [e.starts_in for e in sched.estimates(1, T0, 30).values()]
    assert waits == pytest.approx([0, 30, 60])


def test_estimates_share_the_global_cap_among_busy_guilds() -> None:
    sched = scheduler(global_max_running=4)
    push_all(sched, *(ticket(i, guild=1, user=i) for i in range(4)))
    push_all(sched, *(ticket(10 + i, guild=2, user=i) for i in range(4)))
    waits = [e.starts_in for e in sched.estimates(1, T0, 20).values()]
    assert waits == pytest.approx([0, 0, 10, 20]), "half the slots, every 20 s"


def test_estimates_never_decrease_with_position() -> None:
    table = {1: limits(jobs_per_minute=12, burst=3, max_running=3, user_max_running=2)}
    sched = scheduler(table, global_max_running=5)
    push_all(sched, *(ticket(i, user=i % 4, not_before=T0 + (i % 5) * 7) for i in range(40)))
    push_all(sched, *(ticket(100 + i, guild=2, user=i) for i in range(6)))
    for now in (T0, T0 + 3, T0 + 40):
        sched.next(now)
        ordered = sorted(sched.estimates(1, now, 25).values(), key=lambda e: e.position)
        assert [e.position for e in ordered] == list(range(len(ordered)))
        waits = [e.starts_in for e in ordered]
        assert waits == sorted(waits)
        assert all(w >= 0 for w in waits)


# -- wake_in -----------------------------------------------------------------------------------


def test_wake_in_is_none_when_nothing_waits_on_time() -> None:
    sched = scheduler({1: limits(max_running=1, jobs_per_minute=6, burst=1)})
    assert sched.wake_in(T0) is None
    push_all(sched, ticket(1), ticket(2))
    assert sched.wake_in(T0) is None, "a job may start now: call next, don't sleep"
    sched.next(T0)
    assert sched.wake_in(T0) is None, "at the running cap only a finish helps"


def test_wake_in_is_none_while_the_global_cap_is_full() -> None:
    sched = scheduler({2: limits(jobs_per_minute=6, burst=1)}, global_max_running=1)
    push_all(sched, ticket(1, guild=1), ticket(2, guild=2, not_before=T0 + 5))
    sched.next(T0)
    assert sched.wake_in(T0) is None


def test_wake_in_takes_the_later_of_token_and_not_before_per_member() -> None:
    sched = scheduler({1: limits(jobs_per_minute=6, burst=1)})
    push_all(sched, ticket(1, user=9))
    sched.next(T0)
    sched.push(ticket(2, user=1, not_before=T0 + 4))
    assert sched.wake_in(T0) == pytest.approx(10.0)
    sched.push(ticket(3, user=2, not_before=T0 + 25))
    assert sched.wake_in(T0) == pytest.approx(10.0)
    sched.remove(2)
    assert sched.wake_in(T0) == pytest.approx(25.0)


# -- property ----------------------------------------------------------------------------------

GUILDS = st.integers(0, 2)
USERS = st.integers(0, 2)
SETTINGS = st.builds(
    GuildSettings,
    jobs_per_minute=st.sampled_from([6.0, 30.0, 600.0]),
    burst=st.integers(1, 3),
    max_running=st.integers(1, 3),
    user_max_running=st.integers(1, 2),
)
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("push"), GUILDS, USERS, st.sampled_from([0.0, 0.0, 5.0, 30.0])),
        st.tuples(st.just("next"), st.sampled_from([0.0, 0.0, 1.0, 7.0, 60.0]), st.booleans()),
        st.tuples(st.just("finish"), st.integers(0, 20)),
        st.tuples(st.just("remove"), st.integers(0, 20)),
        st.tuples(st.just("limits"), GUILDS, SETTINGS),
        st.tuples(st.just("resume"), GUILDS, USERS),
        st.tuples(st.just("put_back"), st.integers(0, 20), st.sampled_from([0.0, 5.0])),
    ),
    max_size=80,
)


class Model:
    """What the scheduler should hold, and checks on every start."""

    def __init__(self, sched: Scheduler, table: dict[int, GuildSettings], cap: int) -> None:
        self.sched = sched
        self.table = table
        self.cap = cap
        self.queued: dict[int, Ticket] = {}
        self.running: dict[int, Ticket] = {}
        self.started: set[int] = set()
        self.pushed: set[int] = set()
        self.removed: set[int] = set()
        self.starts: dict[int, list[float]] = {}
        self.changed: set[int] = set()

    def start(self, now: float, can_start: Callable[[Ticket], bool] | None) -> Ticket | None:
        limits_now = {g: self.table.get(g, GuildSettings()) for g in range(3)}
        running = list(self.running.values())
        started = self.sched.next(now, can_start)
        if started is None:
            return None
        rules = limits_now[started.guild_id]
        assert started.job_id in self.queued, "only a queued job starts, and only once"
        assert started.job_id not in self.started
        assert len(running) < self.cap
        assert sum(t.guild_id == started.guild_id for t in running) < rules.max_running
        same_user = [
            t for t in running if (t.guild_id, t.user_id) == (started.guild_id, started.user_id)
        ]
        assert len(same_user) < rules.user_max_running
        assert started.not_before <= now + 1e-6
        assert can_start is None or can_start(started)
        mine = [t for t in self.queued.values() if t.guild_id == started.guild_id]
        assert started.job_id == min(t.job_id for t in mine if t.user_id == started.user_id)
        del self.queued[started.job_id]
        self.running[started.job_id] = started
        self.started.add(started.job_id)
        self.starts.setdefault(started.guild_id, []).append(now)
        return started

    def check_counts(self) -> None:
        assert self.sched.queued() == len(self.queued)
        assert self.sched.running() == len(self.running)
        for guild in range(3):
            assert self.sched.queued(guild) == sum(
                t.guild_id == guild for t in self.queued.values()
            )

    def check_rates(self) -> None:
        for guild, times in self.starts.items():
            if guild in self.changed:
                continue
            rules = self.table.get(guild, GuildSettings())
            for i, first in enumerate(times):
                for j in range(i, len(times)):
                    allowed = rules.burst + (times[j] - first) * rules.jobs_per_minute / 60
                    assert j - i + 1 <= allowed + 1e-6, "more starts than the bucket allows"


@settings(max_examples=250, deadline=None)
@given(ops=OPS, cap=st.integers(1, 4), initial=st.dictionaries(GUILDS, SETTINGS))
def test_caps_hold_and_every_job_starts_exactly_once(
    ops: list[tuple[Any, ...]], cap: int, initial: dict[int, GuildSettings]
) -> None:
    table = dict(initial)
    sched = Scheduler(lambda g: table.get(g, GuildSettings()), cap)
    model = Model(sched, table, cap)
    now = T0
    next_id = 1
    for op in ops:
        kind = op[0]
        if kind == "push":
            _, guild, user, delay = op
            t = Ticket(next_id, guild, user, now, now + delay)
            next_id += 1
            sched.push(t)
            model.queued[t.job_id] = t
            model.pushed.add(t.job_id)
        elif kind == "next":
            _, advance, picky = op
            now += advance
            model.start(now, (lambda t: t.job_id % 3 != 0) if picky else None)
        elif kind == "finish" and model.running:
            job = sorted(model.running)[op[1] % len(model.running)]
            assert sched.finished(job) is model.running.pop(job)
            assert sched.finished(job) is None
        elif kind == "remove" and model.queued:
            job = sorted(model.queued)[op[1] % len(model.queued)]
            assert sched.remove(job) is model.queued.pop(job)
            model.removed.add(job)
        elif kind == "resume":
            _, guild, user = op
            t = Ticket(next_id, guild, user, now)
            next_id += 1
            sched.mark_running(t, started_at=now)
            model.running[t.job_id] = t
        elif kind == "put_back" and model.running:
            job = sorted(model.running)[op[1] % len(model.running)]
            again = sched.put_back(job, now + op[2])
            assert again is not None
            assert again.job_id == job
            del model.running[job]
            model.started.discard(job)
            model.queued[job] = again
            model.changed.add(again.guild_id)
            model.pushed.add(job)
        elif kind == "limits":
            _, guild, rules = op
            table[guild] = rules
            model.changed.add(guild)
            sched.refresh(guild, now)
        model.check_counts()

    for _ in range(20 * (len(model.queued) + 5)):
        if not model.queued:
            break
        if model.start(now, None) is not None:
            continue
        wait = sched.wake_in(now)
        if wait is None:
            assert model.running, "nothing runs and nothing waits on time, yet jobs are stuck"
            oldest = min(model.running)
            sched.finished(oldest)
            del model.running[oldest]
        else:
            assert wait > 0
            now += wait
    model.check_counts()
    assert not model.queued, "every queued job starts once capacity and time allow"
    assert model.started == model.pushed - model.removed
    model.check_rates()


def test_admissions_in_flight_count_against_the_caps() -> None:
    sched = Scheduler(lambda g: GuildSettings(user_max_queued=3, max_queued=5), 10)
    sched.check_admission(1, 7, 0.0, admitting_user=2)
    with pytest.raises(LimitReached) as caught:
        sched.check_admission(1, 7, 0.0, admitting_user=3)
    assert caught.value.limit == "user_max_queued"
    with pytest.raises(LimitReached) as caught:
        sched.check_admission(1, 8, 0.0, admitting_guild=5)
    assert caught.value.limit == "max_queued"
    assert "5 images" in caught.value.user_message
