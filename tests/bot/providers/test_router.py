"""Router: provider choice, failover rules, the circuit breaker, and no double submits."""

from __future__ import annotations

import asyncio

import pytest

from bot.errors import (
    BadCredentials,
    ContentModerated,
    ImagineError,
    NoProviderAvailable,
    OutOfCredit,
    ProviderRejected,
    RateLimited,
    SubmitUnknown,
    TaskFailed,
    Transient,
)
from bot.handles import Intent, JobHandle
from bot.providers.http import HttpClient
from bot.providers.router import Router
from tests.bot.providers.conftest import request
from tests.fakes.clock import FakeClock
from tests.fakes.providers.scripted import ScriptedProvider, limited


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


class RecordingJournal:
    """A journal that remembers the order of what the router wrote down."""

    def __init__(self) -> None:
        self.notes: list[tuple[str, ...]] = []
        self._tokens: dict[str, str] = {}

    async def intent(self, intent: Intent) -> None:
        self._tokens[intent.token] = intent.provider
        self.notes.append(("intent", intent.provider))

    async def submitted(self, handle: JobHandle) -> None:
        assert self._tokens[handle.token] == handle.provider, "the handle names its intent"
        self.notes.append(("submitted", handle.provider))

    def ended(self, token: str, error: ImagineError) -> None:
        self.notes.append(("ended", self._tokens[token], type(error).__name__))


def trio(http: HttpClient) -> tuple[ScriptedProvider, ScriptedProvider, ScriptedProvider]:
    return (ScriptedProvider("a", http), ScriptedProvider("b", http), ScriptedProvider("c", http))


async def test_uses_the_configured_order(http: HttpClient) -> None:
    a, b, _ = trio(http)
    result = await Router([a, b]).generate(request())
    assert result.provider == "a"
    assert len(a.submits) == 1
    assert b.submits == []


@pytest.mark.parametrize(
    "error",
    [
        Transient("connection refused", accepted=False),
        RateLimited("429", retry_after=20, accepted=False),
        BadCredentials("401", accepted=False),
        OutOfCredit("402", accepted=False),
    ],
)
async def test_fails_over_on_provider_side_submit_errors(
    http: HttpClient, error: Exception
) -> None:
    a, b, _ = trio(http)
    a.submit_script.append(error)
    result = await Router([a, b]).generate(request())
    assert result.provider == "b"
    assert len(a.submits) == 1, "the first provider must not be asked twice"


@pytest.mark.parametrize(
    "error",
    [
        Transient("POST failed: timed out", accepted=None),
        Transient("HTTP 502: <html>Bad Gateway</html>", status=502, accepted=None),
        SubmitUnknown("answer lost", indices=(0,)),
    ],
)
async def test_a_submit_whose_answer_was_lost_never_goes_elsewhere(
    http: HttpClient, error: Exception
) -> None:
    a, b, _ = trio(http)
    a.submit_script.append(error)
    journal = RecordingJournal()
    with pytest.raises(Transient) as caught:
        await Router([a, b]).generate(request(), journal=journal)
    assert isinstance(caught.value, SubmitUnknown) and not caught.value.failover
    assert b.submits == [], "a may have the task and bill it: b would pay a second time"
    assert journal.notes == [("intent", "a"), ("ended", "a", "SubmitUnknown")]


async def test_a_job_too_big_for_a_providers_task_limit_is_refused_with_the_reason(
    http: HttpClient,
) -> None:
    narrow = ScriptedProvider(
        "narrow", http, capabilities=limited(max_images_per_task=1, max_concurrent_tasks=2)
    )
    with pytest.raises(NoProviderAvailable) as caught:
        await Router([narrow]).generate(request(count=4))
    assert "runs at most 2" in caught.value.user_message
    assert narrow.submits == []


@pytest.mark.parametrize(
    "error",
    [
        ContentModerated("flagged", accepted=True),
        ProviderRejected("aspect_ratio: bad", status=422),
    ],
)
async def test_never_fails_over_on_moderation_or_invalid_input(
    http: HttpClient, error: Exception
) -> None:
    a, b, _ = trio(http)
    a.submit_script.append(error)
    with pytest.raises(type(error)):
        await Router([a, b]).generate(request())
    assert b.submits == []


async def test_moderation_while_waiting_is_not_retried_elsewhere(http: HttpClient) -> None:
    a, b, _ = trio(http)
    a.wait_script.append(ContentModerated("Content Moderated", accepted=True))
    with pytest.raises(ContentModerated):
        await Router([a, b]).generate(request())
    assert b.submits == []


async def test_task_failure_after_acceptance_moves_on_without_resubmitting(
    http: HttpClient,
) -> None:
    a, b, _ = trio(http)
    a.wait_script.append(TaskFailed("Error status"))
    journal = RecordingJournal()
    result = await Router([a, b]).generate(request(), journal=journal)
    assert result.provider == "b"
    assert journal.notes == [
        ("intent", "a"),
        ("submitted", "a"),
        ("ended", "a", "TaskFailed"),
        ("intent", "b"),
        ("submitted", "b"),
    ], "each intent is written before its submit, and each answer is stored"
    assert len(a.submits) == 1


async def test_an_ambiguous_wait_failure_does_not_fail_over(http: HttpClient) -> None:
    a, b, _ = trio(http)
    a.wait_script.append(Transient("gave up waiting", accepted=True))
    with pytest.raises(Transient):
        await Router([a, b]).generate(request())
    assert b.submits == [], "the job may still finish at a; a second provider would double-charge"


async def test_task_failure_everywhere_reports_the_failure(http: HttpClient) -> None:
    a, b, _ = trio(http)
    a.wait_script.append(TaskFailed("x"))
    b.wait_script.append(TaskFailed("y"))
    with pytest.raises(TaskFailed):
        await Router([a, b]).generate(request())
    assert (len(a.submits), len(b.submits)) == (1, 1)


async def test_capabilities_pick_a_provider_that_can_serve_exactly(http: HttpClient) -> None:
    narrow = ScriptedProvider(
        "narrow", http, capabilities=limited(aspect_ratios=frozenset({"1:1"}), raw=False)
    )
    wide = ScriptedProvider("wide", http)
    router = Router([narrow, wide])
    assert (await router.generate(request(aspect_ratio="21:9"))).provider == "wide"
    assert (await router.generate(request(raw=True))).provider == "wide"
    assert narrow.submits == []
    assert (await router.generate(request(aspect_ratio="1:1"))).provider == "narrow"


async def test_no_provider_can_serve_says_why(http: HttpClient) -> None:
    narrow = ScriptedProvider(
        "narrow", http, capabilities=limited(aspect_ratios=frozenset({"1:1"}))
    )
    with pytest.raises(NoProviderAvailable) as caught:
        await Router([narrow]).generate(request(aspect_ratio="21:9"))
    assert "21:9" in caught.value.user_message
    assert "narrow" in caught.value.user_message
    assert narrow.submits == []


async def test_rate_limited_everywhere_tells_when_to_retry(
    http: HttpClient, clock: FakeClock
) -> None:
    a, b, _ = trio(http)
    a.submit_script.append(RateLimited("429", retry_after=40, accepted=False))
    b.submit_script.append(RateLimited("429", retry_after=12, accepted=False))
    with pytest.raises(NoProviderAvailable) as caught:
        await Router([a, b], clock=clock).generate(request())
    assert caught.value.retry_after == pytest.approx(12)
    assert "12 s" in caught.value.user_message


async def test_breaker_skips_a_failing_provider_then_tries_it_again(
    http: HttpClient, clock: FakeClock
) -> None:
    a, b, _ = trio(http)
    router = Router([a, b], clock=clock, breaker_threshold=3, breaker_cooldown=30)
    for _ in range(3):
        a.submit_script.append(Transient("503", accepted=False))
        assert (await router.generate(request())).provider == "b"
    assert len(a.submits) == 3
    for _ in range(5):
        assert (await router.generate(request())).provider == "b"
    assert len(a.submits) == 3, "an open breaker keeps jobs away"
    clock.advance(31)
    assert (await router.generate(request())).provider == "a", "half-open lets a trial through"
    assert router.health["a"].breaker.state == "closed"


async def test_failed_trial_reopens_for_longer(http: HttpClient, clock: FakeClock) -> None:
    a, b, _ = trio(http)
    router = Router([a, b], clock=clock, breaker_threshold=1, breaker_cooldown=30)
    a.submit_script.extend([Transient("503", accepted=False), Transient("503", accepted=False)])
    await router.generate(request())
    clock.advance(31)
    await router.generate(request())  # the trial fails
    assert router.health["a"].breaker.retry_in() == pytest.approx(60)


async def test_rate_limit_pauses_the_provider_for_retry_after(
    http: HttpClient, clock: FakeClock
) -> None:
    a, b, _ = trio(http)
    router = Router([a, b], clock=clock)
    a.submit_script.append(RateLimited("429", retry_after=45, accepted=False))
    await router.generate(request())
    clock.advance(44)
    assert (await router.generate(request())).provider == "b"
    clock.advance(2)
    assert (await router.generate(request())).provider == "a"


async def test_moderation_does_not_count_against_health(http: HttpClient, clock: FakeClock) -> None:
    a, _, _ = trio(http)
    router = Router([a], clock=clock, breaker_threshold=1)
    for _ in range(3):
        a.wait_script.append(ContentModerated("flagged", accepted=True))
        with pytest.raises(ContentModerated):
            await router.generate(request())
    assert router.health["a"].breaker.state == "closed"
    assert (await router.generate(request())).provider == "a"


async def test_only_restricts_to_one_provider(http: HttpClient) -> None:
    a, b, _ = trio(http)
    a.submit_script.append(Transient("503", accepted=False))
    with pytest.raises(NoProviderAvailable):
        await Router([a, b]).generate(request(), only="a")
    assert b.submits == []


async def test_resume_and_cancel_go_to_the_provider_that_has_the_job(http: HttpClient) -> None:
    a, b, _ = trio(http)
    router = Router([a, b])
    req = request()
    handle = await b.submit(req)
    assert (await router.resume(handle, req)).provider == "b"
    assert len(b.submits) == 1, "resuming never submits again"
    assert await router.cancel(handle) is True
    assert b.cancelled == [handle.tasks[0].id]


async def test_a_job_at_a_provider_no_longer_configured_moves_on(http: HttpClient) -> None:
    gone = ScriptedProvider("gone", http)
    req = request()
    handle = await gone.submit(req)
    a = ScriptedProvider("a", http)
    assert (await Router([a]).resume(handle, req)).provider == "a"
    with pytest.raises(TaskFailed, match="no longer configured"):
        await Router([]).resume(handle, req)


async def test_a_full_provider_is_skipped_until_a_slot_frees(http: HttpClient) -> None:
    gate = asyncio.Event()
    small = ScriptedProvider(
        "small", http, capabilities=limited(max_concurrent_tasks=1), wait_gate=gate
    )
    other = ScriptedProvider("other", http)
    router = Router([small, other])
    first = asyncio.create_task(router.generate(request()))
    await asyncio.sleep(0)
    assert router.slots.used("small") == 1
    assert not router.has_room({"small": 1})
    assert (await router.generate(request())).provider == "other"
    gate.set()
    assert (await first).provider == "small"
    assert router.slots.used("small") == 0, "the slot is given back when the job ends"
    assert router.has_room({"small": 1})


async def test_slots_count_tasks_not_jobs(http: HttpClient) -> None:
    one_each = ScriptedProvider(
        "p", http, capabilities=limited(max_images_per_task=1, max_concurrent_tasks=3)
    )
    router = Router([one_each])
    assert router.tasks_for(request(count=4), "p") == 4
    with pytest.raises(NoProviderAvailable, match="runs at most 3") as caught:
        await router.generate(request(count=4))
    assert "ask for 3 or fewer" in caught.value.user_message
    assert one_each.submits == []
    assert router.slots.used("p") == 0


async def test_concurrency_setting_overrides_the_provider_default(http: HttpClient) -> None:
    p = ScriptedProvider("p", http, capabilities=limited(max_concurrent_tasks=24))
    router = Router([p], concurrency={"p": 2})
    assert router.slots.free("p") == 2


async def test_health_tracks_success_rate_and_time(http: HttpClient) -> None:
    a, b, _ = trio(http)
    router = Router([a, b])
    await router.generate(request())
    a.wait_script.append(TaskFailed("x"))
    await router.generate(request())
    assert router.health["a"].success_rate == pytest.approx(0.5)
    assert router.health["a"].median_seconds is not None


async def test_finished_jobs_fetch_their_images_a_few_at_a_time(http: HttpClient) -> None:
    gate = asyncio.Event()
    provider = ScriptedProvider("p", http, wait_gate=gate)
    router = Router([provider], finishing=2)
    in_flight = peak = 0
    fetch = provider._fetch

    async def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        try:
            await asyncio.sleep(0)  # others may come in meanwhile, if the gate lets them
            return await fetch(*args, **kwargs)
        finally:
            in_flight -= 1

    provider._fetch = counted  # type: ignore[method-assign]
    jobs = [asyncio.create_task(router.generate(request())) for _ in range(6)]
    while provider.waits < 6:
        provider.waiting.clear()
        await provider.waiting.wait()
    gate.set()  # every task finishes at the same moment
    results = await asyncio.gather(*jobs)
    assert all(r.images for r in results)
    assert peak == 2, "a burst of finished images is fetched two at a time, not all at once"
