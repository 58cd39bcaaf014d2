"""The poll schedule: few requests, prompt detection, never more than the budget allows."""

from __future__ import annotations

import pytest

from bot.providers.polling import DurationEstimator, PollPlanner, PollTuning


def simulate(
    duration: float,
    estimator: DurationEstimator,
    *,
    progress: bool = True,
    tuning: PollTuning = PollTuning(),
) -> tuple[int, float]:
    """Run one job of fixed ``duration`` through the planner; return (polls, detection delay)."""
    planner = PollPlanner(estimator, tuning)
    t = planner.first_delay(0.0)
    while True:
        if t >= duration:
            planner.done(t)
            return planner.polls, t - duration
        t += planner.next_delay(t, t / duration if progress else None)


def test_first_job_without_estimate_waits_the_budget_then_uses_progress() -> None:
    polls, delay = simulate(3.0, DurationEstimator())
    assert polls == 2
    assert delay <= 0.15


def test_steady_state_is_about_one_poll_per_job_and_prompt() -> None:
    estimator = DurationEstimator()
    results = [simulate(3.0, estimator) for _ in range(50)]
    polls = sum(p for p, _ in results[5:])
    delays = sorted(d for _, d in results[5:])
    assert polls / 45 <= 1.3
    assert polls / (45 * 3.0) <= 0.5, "at most one status request per 2 s of waiting"
    assert delays[len(delays) // 2] < 0.25


def test_without_progress_the_estimate_still_converges() -> None:
    estimator = DurationEstimator()
    results = [simulate(6.0, estimator, progress=False) for _ in range(60)]
    tail = results[20:]
    assert sum(p for p, _ in tail) / (len(tail) * 6.0) <= 0.5
    assert sorted(d for _, d in tail)[len(tail) // 2] < 0.25


def test_a_slower_provider_is_learned() -> None:
    estimator = DurationEstimator(prior=2.0)
    for _ in range(10):
        simulate(9.0, estimator)
    assert estimator.value == pytest.approx(9.0, abs=0.3)


def test_budget_is_never_exceeded_even_with_a_bad_estimate() -> None:
    estimator = DurationEstimator(prior=0.1)
    planner = PollPlanner(estimator)
    t, polls = planner.first_delay(0.0), 0
    times = [t]
    while t < 30:
        t += planner.next_delay(t, None)
        polls += 1
        times.append(t)
    for k, when in enumerate(times):
        assert when >= k * PollTuning().budget - 1e-9


def test_resume_after_a_restart_polls_at_once_when_overdue() -> None:
    planner = PollPlanner(DurationEstimator(prior=5.0))
    assert planner.first_delay(elapsed=60.0) == 0.0
