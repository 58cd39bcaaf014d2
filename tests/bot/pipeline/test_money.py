"""Never paying a provider twice for one image: lost answers, restarts mid-submit, rate limits,
jobs that could never start, and the provider task log an operator checks invoices against."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.errors import (
    RESTARTED_WHILE_SENDING,
    NoProviderAvailable,
    RateLimited,
    TaskFailed,
    Transient,
)
from bot.handles import Intent
from bot.jobs import Job
from bot.models import GenerationRequest, JobStatus
from bot.storage.interface import Store, Transaction
from bot.storage.records import TaskRow
from tests.bot.pipeline.conftest import CHANNEL, GUILD, USER, Rig, RigFactory
from tests.fakes.providers.scripted import Lost, ScriptedProvider, limited

S = JobStatus


async def task_log(rig: Rig) -> list[TaskRow]:
    return await rig.db.run(lambda tx: tx.tasks.rows(since=0, until=time.time() + 60))


def made(*providers: ScriptedProvider) -> int:
    """Tasks the providers made (and bill), whatever became of them."""
    return sum(len(p.made) for p in providers)


async def test_a_lost_answer_never_sends_the_image_elsewhere(make_rig: RigFactory) -> None:
    rig = await make_rig("alpha", "beta")
    alpha, beta = rig.providers["alpha"], rig.providers["beta"]
    alpha.submit_script.append(Lost("502 from a proxy after the task was made"))
    job = (await rig.pipeline.submit(rig.submission())).job
    await rig.events.until_finished(1)
    ended = rig.events.finished_jobs[job.id]
    assert ended.status is S.FAILED
    assert ended.error is not None and "risk paying for it twice" in ended.error
    assert beta.submits == [], "alpha may bill the image: beta would be a second payment"
    assert (made(alpha), made(beta)) == (1, 0)
    assert (await rig.balance()).available == 60, "the member pays nothing"
    assert await rig.reconciled() == []
    [row] = await task_log(rig)
    assert (row.provider, row.state, row.billed) == ("alpha", "unknown", None)
    assert row.reason is not None and "lost" in row.reason


async def test_a_lost_answer_is_found_where_the_provider_can_be_asked(
    make_rig: RigFactory, http: Any
) -> None:
    finder = ScriptedProvider("finder", http, capabilities=limited(lookup=True))
    other = ScriptedProvider("other", http)
    rig = await make_rig(providers={"finder": finder, "other": other})
    finder.submit_script.append(Lost("timed out after the task was made"))
    job = (await rig.pipeline.submit(rig.submission())).job
    await rig.events.until_finished(1)
    assert rig.events.status(job.id) is S.DONE
    assert (made(finder), made(other)) == (1, 0)
    assert rig.events.posted[job.id].images, "the image the provider made is the one posted"
    [row] = await task_log(rig)
    assert (row.provider, row.state, row.billed) == ("finder", "delivered", True)


async def test_a_refusal_moves_on_and_the_log_shows_both_attempts(make_rig: RigFactory) -> None:
    rig = await make_rig("alpha", "beta")
    rig.providers["alpha"].submit_script.append(RateLimited("429", retry_after=30, accepted=False))
    job = (await rig.pipeline.submit(rig.submission())).job
    await rig.events.until_finished(1)
    assert rig.events.status(job.id) is S.DONE
    rows = await task_log(rig)
    assert [(r.provider, r.state, r.billed) for r in rows] == [
        ("alpha", "refused", False),
        ("beta", "delivered", True),
    ]
    assert rows[1].cost_micros == 60_000, "the list price of one image, $0.06"


async def test_a_failed_task_moves_on_with_a_durable_intent_each_time(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig("alpha", "beta")
    rig.providers["alpha"].wait_script.append(TaskFailed("Error status"))
    job = (await rig.pipeline.submit(rig.submission())).job
    await rig.events.until_finished(1)
    assert rig.events.status(job.id) is S.DONE
    rows = await task_log(rig)
    assert [(r.provider, r.state) for r in rows] == [("alpha", "failed"), ("beta", "delivered")]
    assert rows[0].reason is not None and "Error status" in rows[0].reason


async def plant_mid_submit(db: Store, provider: str, *, prompt: str = "a planted job") -> Job:
    """A job a crashed bot left mid-submit: its intent stored, the answer never read."""
    request = GenerationRequest.parse(prompt=prompt)
    at = time.time()
    intent = Intent(provider, "tok-" + prompt.replace(" ", "-"), (1,), at)

    async def change(tx: Transaction) -> Job:
        job = await tx.jobs.insert(
            guild_id=GUILD,
            user_id=USER,
            channel_id=CHANNEL,
            age_restricted=False,
            request=request,
            hold=6,
            context={},
            at=at,
        )
        await tx.ledger.hold(
            guild_id=GUILD, user_id=USER, job_id=job.id, amount=6, at=at, allowance=60
        )
        assert await tx.jobs.transition(job.id, S.SUBMITTING, at=at, started_at=at)
        await tx.tasks.record_intent(
            job_id=job.id, guild_id=GUILD, intent=intent, micros_per_image=60_000
        )
        return job

    return await db.run(change)


async def test_a_restart_mid_submit_finds_the_task_and_never_resubmits(
    make_rig: RigFactory, db: Store, http: Any
) -> None:
    finder = ScriptedProvider("finder", http, capabilities=limited(lookup=True))
    job = await plant_mid_submit(db, "finder")
    plan = finder.plan(job.request, "tok-a-planted-job")
    await finder.submit_task(job.request, plan, 0)  # it arrived before the crash
    rig = await make_rig(providers={"finder": finder, "other": ScriptedProvider("other", http)})
    await rig.events.until_finished(1)
    assert rig.events.status(job.id) is S.DONE
    assert len(finder.submits) == 1, "found, not sent again"
    assert rig.providers["other"].submits == []
    assert await rig.reconciled() == []


async def test_a_restart_mid_submit_requeues_a_job_the_provider_never_got(
    make_rig: RigFactory, db: Store, http: Any
) -> None:
    finder = ScriptedProvider("finder", http, capabilities=limited(lookup=True))
    job = await plant_mid_submit(db, "finder")
    rig = await make_rig(providers={"finder": finder})
    await rig.events.until_finished(1)
    assert rig.events.status(job.id) is S.DONE
    assert made(finder) == 1, "proven absent, so sending it now pays once"
    states = Counter(r.state for r in await task_log(rig))
    assert states == Counter({"refused": 1, "delivered": 1})


async def test_a_restart_mid_submit_where_nothing_can_be_checked_refunds(
    make_rig: RigFactory, db: Store, http: Any
) -> None:
    job = await plant_mid_submit(db, "alpha")
    rig = await make_rig("alpha", "beta")
    await rig.events.until_finished(1)
    ended = rig.events.finished_jobs[job.id]
    assert (ended.status, ended.error) == (S.FAILED, RESTARTED_WHILE_SENDING)
    assert rig.providers["alpha"].submits == rig.providers["beta"].submits == []
    assert (await rig.balance()).available == 60
    [row] = await task_log(rig)
    assert (row.state, row.billed) == ("unknown", None), "the log keeps the possible charge"


async def test_a_short_rate_limit_on_the_only_provider_waits_in_the_queue(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig()
    rig.providers["alpha"].submit_script.append(RateLimited("429", retry_after=0.2, accepted=False))
    job = (await rig.pipeline.submit(rig.submission())).job
    await rig.events.until_finished(1)
    assert rig.events.status(job.id) is S.DONE
    assert rig.events.started_jobs.count(job.id) == 2, "it went back to the queue once"


async def test_a_long_rate_limit_is_refused_with_the_time(make_rig: RigFactory) -> None:
    rig = await make_rig()
    rig.providers["alpha"].submit_script.append(RateLimited("429", retry_after=300, accepted=False))
    job = (await rig.pipeline.submit(rig.submission())).job
    await rig.events.until_finished(1)
    ended = rig.events.finished_jobs[job.id]
    assert ended.status is S.FAILED
    assert ended.error is not None and "in about 5 min" in ended.error
    assert (await rig.balance()).available == 60


async def test_a_job_no_provider_could_ever_start_is_refused_at_admission(
    make_rig: RigFactory, http: Any
) -> None:
    two_at_once = ScriptedProvider(
        "narrow", http, capabilities=limited(max_images_per_task=1, max_concurrent_tasks=2)
    )
    rig = await make_rig(providers={"narrow": two_at_once})
    with pytest.raises(NoProviderAvailable) as caught:
        await rig.pipeline.submit(rig.submission(count=4))
    assert "at most 2" in caught.value.user_message
    assert "ask for 2 or fewer" in caught.value.user_message
    assert (await rig.balance()).available == 60, "nothing held"
    job = (await rig.pipeline.submit(rig.submission(count=2))).job
    await rig.events.until_finished(1)
    assert rig.events.status(job.id) is S.DONE


_members = iter(range(10_000, 20_000))


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    caps=st.lists(
        st.tuples(st.integers(1, 4), st.one_of(st.none(), st.integers(1, 4))),
        min_size=1,
        max_size=3,
    ),
    count=st.integers(1, 4),
)
async def test_on_an_idle_system_every_admitted_job_starts(
    make_rig: RigFactory, http: Any, caps: list[tuple[int, int | None]], count: int
) -> None:
    providers = {
        f"p{i}": ScriptedProvider(
            f"p{i}",
            http,
            capabilities=limited(max_images_per_task=per_task, max_concurrent_tasks=limit),
        )
        for i, (per_task, limit) in enumerate(caps)
    }
    rig = await make_rig(providers=providers)
    try:
        job = (await rig.pipeline.submit(rig.submission(count=count, user=next(_members)))).job
    except NoProviderAvailable:
        # Refused at admission, with its reason: only when no provider could ever take it.
        assert all(limit is not None and -(-count // per_task) > limit for per_task, limit in caps)
        return
    await rig.events.until_finished(1)
    assert rig.events.status(job.id) is S.DONE


async def test_the_task_log_reconciles_with_what_providers_made(make_rig: RigFactory) -> None:
    rig = await make_rig("alpha", "beta", daily_allowance=600)
    alpha, beta = rig.providers["alpha"], rig.providers["beta"]
    alpha.submit_script.extend([Lost("dropped"), Transient("refused", accepted=False)])
    alpha.wait_script.append(TaskFailed("Error status"))
    for n in range(6):
        await rig.pipeline.submit(rig.submission(f"prompt {n}"))
    await rig.events.until_finished(6)
    rows = await task_log(rig)
    made_here = [r for r in rows if r.state not in ("refused", "intent")]
    assert len(made_here) == made(alpha, beta), "every task a provider made is in the log"
    delivered = sum(r.images for r in rows if r.state == "delivered")
    posted = sum(len(p.images) for p in rig.events.posted.values())
    assert delivered == posted
    assert await rig.reconciled() == []
