"""The pipeline end to end on scripted providers and a real database."""

from __future__ import annotations

import asyncio

import pytest

from bot.errors import (
    Banned,
    ChannelNotAllowed,
    ContentModerated,
    DeliveryFailed,
    InsufficientCredits,
    LimitReached,
    NoProviderAvailable,
    NotAllowed,
    PromptBlocked,
    RateLimited,
    TaskFailed,
    Transient,
)
from bot.models import JobStatus
from bot.providers.http import HttpClient
from tests.bot.pipeline.conftest import CHANNEL, GUILD, USER, Rig, RigFactory
from tests.fakes.providers.scripted import ScriptedProvider, limited

S = JobStatus


async def job_count(rig: Rig) -> int:
    return sum((await rig.db.run(lambda tx: tx.jobs.counts_by_status())).values())


async def test_a_job_is_delivered_once_and_charged_once(make_rig: RigFactory) -> None:
    rig = await make_rig()
    admitted = await rig.pipeline.submit(rig.submission(seed=5))
    assert admitted.job.status is S.QUEUED
    assert admitted.job.hold == 6
    await rig.events.until_finished(1)
    job = rig.events.finished_jobs[admitted.job.id]
    assert job.status is S.DONE
    assert job.charged == 6
    assert rig.events.deliver_calls[job.id] == 1
    assert len(rig.events.posted[job.id].images) == 1
    balance = await rig.balance()
    assert (balance.available, balance.held) == (54, 0)
    assert await rig.reconciled() == []
    stored = await rig.pipeline.job(job.id)
    assert stored is not None
    assert stored.result is not None
    assert stored.result.provider == "alpha"
    assert await rig.db.run(lambda tx: tx.jobs.load_images(job.id)) == [], (
        "bytes dropped once posted"
    )


async def test_the_hold_covers_the_dearest_provider_and_the_charge_is_the_real_one(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig("fal", "replicate", provider_prices={"fal": 8, "replicate": 5})
    rig.providers["fal"].submit_script.append(Transient("503", accepted=False))
    rig.providers["fal"].submit_script.append(Transient("503", accepted=False))
    admitted = await rig.pipeline.submit(rig.submission(count=2))
    assert admitted.job.hold == 16
    await rig.events.until_finished(1)
    job = rig.events.finished_jobs[admitted.job.id]
    assert job.status is S.DONE
    assert job.provider == "replicate"
    assert job.charged == 10
    assert (await rig.balance()).available == 50
    assert await rig.reconciled() == []


async def test_moderation_is_refunded_and_explained(make_rig: RigFactory) -> None:
    rig = await make_rig()
    rig.providers["alpha"].wait_script.append(ContentModerated("flagged", accepted=True))
    admitted = await rig.pipeline.submit(rig.submission())
    await rig.events.until_finished(1)
    job = rig.events.finished_jobs[admitted.job.id]
    assert job.status is S.MODERATED
    assert job.error is not None
    assert "safety filter" in job.error
    assert (await rig.balance()).available == 60
    assert rig.events.posted == {}
    assert await rig.reconciled() == []


async def test_a_failed_task_everywhere_is_refunded(make_rig: RigFactory) -> None:
    rig = await make_rig()
    rig.providers["alpha"].wait_script.append(TaskFailed("Error status"))
    admitted = await rig.pipeline.submit(rig.submission())
    await rig.events.until_finished(1)
    assert rig.events.status(admitted.job.id) is S.FAILED
    assert (await rig.balance()).available == 60


@pytest.mark.parametrize("case", ["banned", "channel", "blocklist", "credits", "aspect"])
async def test_refusals_cost_nothing_and_store_nothing(make_rig: RigFactory, case: str) -> None:
    narrow = limited(aspect_ratios=frozenset({"1:1"}))
    rig = await make_rig(daily_allowance=0 if case == "credits" else 60)
    if case == "aspect":
        rig.pipeline.router.providers["alpha"].capabilities = narrow  # type: ignore[misc]
    expected: type[Exception] = {
        "banned": Banned,
        "channel": ChannelNotAllowed,
        "blocklist": PromptBlocked,
        "credits": InsufficientCredits,
        "aspect": NoProviderAvailable,
    }[case]
    if case == "banned":
        await rig.pipeline.guilds.ban(GUILD, 1, USER, "spamming")
    elif case == "channel":
        await rig.pipeline.guilds.change_settings(GUILD, 1, denied_channels=(CHANNEL,))
    elif case == "blocklist":
        await rig.pipeline.guilds.block(GUILD, 1, "gore")
    prompt = "a scene full of G.O.R.E" if case == "blocklist" else "a cat"
    with pytest.raises(expected) as caught:
        await rig.pipeline.submit(rig.submission(prompt, aspect_ratio="16:9"))
    assert caught.value.user_message
    assert await job_count(rig) == 0
    balance = await rig.balance()
    assert balance.held == 0
    assert balance.available == (0 if case == "credits" else 60)
    assert rig.providers["alpha"].submits == []


async def test_a_member_over_the_queue_cap_is_told_which_limit(
    make_rig: RigFactory, http: HttpClient
) -> None:
    gate = asyncio.Event()
    provider = ScriptedProvider("alpha", http, wait_gate=gate)
    rig = await make_rig(providers={"alpha": provider}, user_max_running=1, user_max_queued=2)
    for _ in range(3):  # one running, two waiting
        await rig.pipeline.submit(rig.submission())
    with pytest.raises(LimitReached) as caught:
        await rig.pipeline.submit(rig.submission())
    assert caught.value.limit == "user_max_queued"
    assert caught.value.value == 2
    assert "2" in caught.value.user_message
    gate.set()
    await rig.events.until_finished(3)
    assert (await rig.balance()).available == 60 - 18


async def test_cancel_a_queued_job_refunds_it(make_rig: RigFactory, http: HttpClient) -> None:
    gate = asyncio.Event()
    provider = ScriptedProvider("alpha", http, wait_gate=gate)
    rig = await make_rig(providers={"alpha": provider}, user_max_running=1)
    await rig.pipeline.submit(rig.submission())
    waiting = (await rig.pipeline.submit(rig.submission())).job
    with pytest.raises(NotAllowed, match="Only the member"):
        await rig.pipeline.cancel(waiting.id, by=USER + 1)
    cancelled = await rig.pipeline.cancel(waiting.id, by=USER)
    assert cancelled.status is S.CANCELLED
    assert rig.pipeline.estimate(waiting.id) is None
    gate.set()
    await rig.events.until_finished(2)
    assert (await rig.balance()).available == 54
    assert len(provider.submits) == 1, "the cancelled job never reached the provider"
    assert await rig.reconciled() == []


async def test_a_moderator_can_cancel_a_submitted_job_at_the_provider(
    make_rig: RigFactory, http: HttpClient
) -> None:
    gate = asyncio.Event()
    provider = ScriptedProvider("alpha", http, wait_gate=gate)
    rig = await make_rig(providers={"alpha": provider})
    job = (await rig.pipeline.submit(rig.submission())).job
    await provider.waiting.wait()
    stored = await rig.pipeline.job(job.id)
    assert stored is not None
    assert stored.status is S.SUBMITTED
    cancelled = await rig.pipeline.cancel(job.id, by=999, moderator=True)
    assert cancelled.status is S.CANCELLED
    assert cancelled.error == "Cancelled by a moderator."
    assert stored.handle is not None
    assert provider.cancelled == [stored.handle.tasks[0].id]
    assert (await rig.balance()).available == 60
    gate.set()
    await rig.pipeline.drain()
    assert rig.events.posted == {}, "a cancelled job is never posted"
    assert rig.pipeline.router.slots.used("alpha") == 0


async def test_a_provider_that_cannot_cancel_says_so(
    make_rig: RigFactory, http: HttpClient
) -> None:
    gate = asyncio.Event()
    provider = ScriptedProvider("alpha", http, capabilities=limited(cancel=False), wait_gate=gate)
    rig = await make_rig(providers={"alpha": provider})
    job = (await rig.pipeline.submit(rig.submission())).job
    await provider.waiting.wait()
    stored = await rig.pipeline.job(job.id)
    assert stored is not None
    assert stored.status is S.SUBMITTED
    with pytest.raises(NotAllowed, match="cannot stop it"):
        await rig.pipeline.cancel(job.id, by=USER)
    gate.set()
    await rig.events.until_finished(1)
    assert rig.events.status(job.id) is S.DONE


async def test_busy_providers_put_the_job_back_until_they_free(make_rig: RigFactory) -> None:
    rig = await make_rig()
    rig.providers["alpha"].submit_script.append(
        RateLimited("429", retry_after=0.05, accepted=False)
    )
    job = (await rig.pipeline.submit(rig.submission())).job
    await rig.events.until_finished(1)
    assert rig.events.status(job.id) is S.DONE
    assert len(rig.providers["alpha"].submits) == 2
    assert rig.events.started_jobs.count(job.id) == 2, "it left the queue twice"


@pytest.mark.parametrize(
    ("policy", "refund", "age_restricted", "posted", "charged"),
    [
        ("spoiler", True, False, 2, 12),
        ("block", True, False, 0, 0),
        ("block", False, False, 0, 12),
        ("block", True, True, 2, 12),
    ],
)
async def test_nsfw_policy_decides_what_is_posted_and_charged(
    make_rig: RigFactory,
    http: HttpClient,
    policy: str,
    refund: bool,
    age_restricted: bool,
    posted: int,
    charged: int,
) -> None:
    provider = ScriptedProvider("alpha", http, nsfw=True)
    rig = await make_rig(providers={"alpha": provider})
    await rig.pipeline.guilds.change_settings(GUILD, 1, nsfw_policy=policy, refund_blocked=refund)
    job = (await rig.pipeline.submit(rig.submission(count=2, age_restricted=age_restricted))).job
    await rig.events.until_finished(1)
    assert rig.events.status(job.id) is S.DONE
    plan = rig.events.posted[job.id].plan
    assert len(plan.post) == posted
    assert all(image.spoiler for image in plan.post)
    assert rig.events.finished_jobs[job.id].charged == charged
    assert (await rig.balance()).available == 60 - charged


async def test_delivery_is_retried_then_given_up_with_a_refund(make_rig: RigFactory) -> None:
    rig = await make_rig()
    rig.pipeline.runner.sleep = lambda _: asyncio.sleep(0)  # type: ignore[method-assign]
    rig.events.fail_deliveries.append(DeliveryFailed("discord 503"))
    first = (await rig.pipeline.submit(rig.submission())).job
    await rig.events.until_finished(1)
    assert rig.events.status(first.id) is S.DONE
    assert rig.events.deliver_calls[first.id] == 2
    rig.events.fail_deliveries.append(DeliveryFailed("channel deleted", permanent=True))
    second = (await rig.pipeline.submit(rig.submission())).job
    await rig.events.until_finished(2)
    assert rig.events.status(second.id) is S.FAILED
    assert (await rig.balance()).available == 54
    assert await rig.reconciled() == []


async def test_queued_jobs_are_told_their_position(make_rig: RigFactory, http: HttpClient) -> None:
    gate = asyncio.Event()
    provider = ScriptedProvider("alpha", http, wait_gate=gate)
    rig = await make_rig(providers={"alpha": provider}, user_max_running=1)
    await rig.pipeline.submit(rig.submission())
    second = await rig.pipeline.submit(rig.submission())
    third = await rig.pipeline.submit(rig.submission())
    assert second.estimate is not None
    assert third.estimate is not None
    assert (second.estimate.position, third.estimate.position) == (0, 1)
    assert third.estimate.starts_in >= second.estimate.starts_in
    assert (await rig.events.until_told(third.job.id)).position == 1
    gate.set()
    await rig.events.until_finished(3)


async def test_the_operators_start_rate_paces_a_burst_and_the_estimate_says_so(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig(max_starts_per_second=0.01)  # one start, then one every 100 s
    first = await rig.pipeline.submit(rig.submission())
    second = await rig.pipeline.submit(rig.submission(user=USER + 1))
    await rig.events.until_finished(1)
    assert rig.events.status(first.job.id) is S.DONE
    assert second.estimate is not None
    assert second.estimate.starts_in == pytest.approx(100, abs=1)
    assert rig.pipeline.estimate(second.job.id) is not None, "still queued, not started"


async def test_settings_changes_are_audited_and_apply_to_the_next_job(make_rig: RigFactory) -> None:
    rig = await make_rig()
    before, after = await rig.pipeline.guilds.change_settings(
        GUILD, 42, safety_tolerance=0, nsfw_channel_tolerance=4
    )
    assert (before.safety_tolerance, after.safety_tolerance) == (2, 0)
    job = (await rig.pipeline.submit(rig.submission(safety_tolerance=6))).job
    assert job.request.safety_tolerance == 0, "the guild's tolerance wins over the member's"
    restricted = (await rig.pipeline.submit(rig.submission(age_restricted=True))).job
    assert restricted.request.safety_tolerance == 4
    entries = await rig.db.run(lambda tx: tx.audit.recent(GUILD))
    assert entries[0].actor_id == 42
    assert entries[0].action == "settings"
    assert entries[0].before == {"safety_tolerance": 2, "nsfw_channel_tolerance": 2}
    assert entries[0].after == {"safety_tolerance": 0, "nsfw_channel_tolerance": 4}
    await rig.events.until_finished(2)


async def test_grants_are_clamped_and_audited(make_rig: RigFactory) -> None:
    rig = await make_rig(daily_allowance=0)
    assert await rig.pipeline.guilds.grant(GUILD, 42, USER, 30) == 30
    assert await rig.pipeline.guilds.grant(GUILD, 42, USER, -50) == -30
    assert (await rig.balance()).available == 0
    actions = [e.action for e in await rig.db.run(lambda tx: tx.audit.recent(GUILD))]
    assert actions == ["grant", "grant"]


async def test_concurrent_submits_cannot_slip_past_a_queue_cap(
    make_rig: RigFactory, http: HttpClient
) -> None:
    gate = asyncio.Event()
    provider = ScriptedProvider("alpha", http, wait_gate=gate)
    rig = await make_rig(providers={"alpha": provider}, user_max_queued=2)
    results = await asyncio.gather(
        *(rig.pipeline.submit(rig.submission(f"at once {i}")) for i in range(5)),
        return_exceptions=True,
    )
    admitted = [r for r in results if not isinstance(r, Exception)]
    refused = [r for r in results if isinstance(r, LimitReached)]
    assert (len(admitted), len(refused)) == (2, 3)
    assert await job_count(rig) == 2
    assert (await rig.balance()).held == 12, "only the admitted jobs hold credits"
    gate.set()
    await rig.events.until_finished(2)


async def test_an_invalid_settings_change_names_the_setting_and_changes_nothing(
    make_rig: RigFactory,
) -> None:
    from bot.errors import InvalidRequest

    rig = await make_rig()
    with pytest.raises(InvalidRequest) as caught:
        await rig.pipeline.guilds.change_settings(GUILD, 1, user_max_queued=0)
    assert caught.value.field == "user_max_queued"
    assert "greater than or equal to 1" in caught.value.user_message
    assert (await rig.pipeline.guilds.settings(GUILD)).user_max_queued == 10
    assert await rig.db.run(lambda tx: tx.audit.recent(GUILD)) == []
