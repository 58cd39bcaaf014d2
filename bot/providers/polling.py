"""When to ask a poll-only provider whether a job is done.

Polling often wastes requests and rate limit; polling rarely delays the image.
The planner learns how long a provider takes (``DurationEstimator``) and aims
one poll just after the expected completion; a pending answer with progress
re-aims at the extrapolated finish; without progress it backs off. Whatever the
estimate, polls never average more than one per ``budget`` seconds since submit.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.retry import RetryPolicy

# The longest pause after polls that failed in a row (a passing fault at the provider).
MAX_POLL_RETRY_DELAY = 30.0


class DurationEstimator:
    """Learns how long one provider takes from submit to done, shared by its jobs.

    Observations come in three kinds: a point (progress extrapolation, a tight
    bracket), a lower bound (still pending at t) and an upper bound (done by t).
    Upper bounds nudge the estimate slightly earlier each time, so it can follow
    a provider that got faster; a pending answer pushes it back up.
    """

    def __init__(self, prior: float | None = None, *, probe_step: float = 0.005) -> None:
        self._value = prior
        self._probe_step = probe_step

    @property
    def value(self) -> float | None:
        """Seconds from submit to done, or None before anything is known."""
        return self._value

    def observe(self, seconds: float, weight: float = 0.5) -> None:
        """A completion time known to within a poll."""
        if seconds <= 0:
            return
        v = self._value
        self._value = seconds if v is None else (1 - weight) * v + weight * seconds

    def observe_lower_bound(self, seconds: float) -> None:
        """Still pending ``seconds`` after submit: it takes at least that long."""
        self._value = seconds if self._value is None else max(self._value, seconds)

    def observe_upper_bound(self, seconds: float) -> None:
        """Done at or before ``seconds``: move a little earlier, so the estimate can fall too."""
        v = seconds if self._value is None else min(self._value, seconds)
        self._value = v * (1 - self._probe_step)


@dataclass(frozen=True)
class PollTuning:
    """The schedule's constants; production defaults, scaled down in tests."""

    margin: float = 0.1
    first_without_estimate: float = 2.0
    min_gap: float = 0.25
    max_gap: float = 5.0
    budget: float = 2.0

    @property
    def retry(self) -> RetryPolicy:
        """The pause after failed polls in a row: one ``budget``, doubling up to 30 s."""
        return RetryPolicy(base_delay=self.budget, max_delay=MAX_POLL_RETRY_DELAY)

    def scaled(self, factor: float) -> PollTuning:
        """The same shape of schedule, ``factor`` times as fast (tests use short latencies)."""
        return PollTuning(
            *(
                value * factor
                for value in (
                    self.margin,
                    self.first_without_estimate,
                    self.min_gap,
                    self.max_gap,
                    self.budget,
                )
            )
        )


@dataclass
class PollPlanner:
    """Plans the polls of one job: call ``next_delay`` after each pending answer."""

    estimator: DurationEstimator
    tuning: PollTuning = PollTuning()
    polls: int = 0
    _last_pending: float | None = None
    _had_progress: bool = False
    _overdue: int = 0

    def first_delay(self, elapsed: float) -> float:
        """Seconds to sleep before the first poll, ``elapsed`` seconds after submit."""
        estimate = self.estimator.value
        t = self.tuning
        target = t.first_without_estimate if estimate is None else estimate + t.margin
        return self._within_budget(elapsed, max(0.0, target - elapsed))

    def next_delay(self, elapsed: float, progress: float | None = None) -> float:
        """Seconds to sleep after a 'still pending' answer seen ``elapsed`` s after submit."""
        t = self.tuning
        self.polls += 1
        self._last_pending = elapsed
        if progress is not None and 0.05 <= progress < 1.0:
            finish = elapsed / progress
            self.estimator.observe(finish, weight=0.8)
            self._had_progress = True
            delay = finish - elapsed + t.margin
        else:
            self.estimator.observe_lower_bound(elapsed)
            # Past the expected time, completion is near: look again soon, then less often.
            delay = min(t.max_gap, t.min_gap * 2**self._overdue)
            self._overdue += 1
        return self._within_budget(elapsed, max(t.min_gap, delay))

    def done(self, elapsed: float) -> None:
        """The job was seen done ``elapsed`` s after submit: teach the estimator."""
        self.polls += 1
        if self._had_progress:
            return
        bracket = self.tuning.margin * 5
        if self._last_pending is not None and elapsed - self._last_pending <= bracket:
            self.estimator.observe((self._last_pending + elapsed) / 2)
        else:
            self.estimator.observe_upper_bound(elapsed)

    def _within_budget(self, elapsed: float, delay: float) -> float:
        # Poll k (1-based) may not happen before (k - 1) * budget seconds after submit.
        earliest = self.polls * self.tuning.budget
        return max(delay, earliest - elapsed)
