"""A restarted pipeline finishes every job it finds, without submitting or charging twice."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bot.errors import RESTARTED_WHILE_SENDING
from bot.jobs import Job, ResultSummary
from bot.models import GenerationRequest, JobStatus, Timings
from bot.providers.http import HttpClient
from bot.storage.interface import Store, Transaction
from tests.bot.pipeline.conftest import CHANNEL, GUILD, USER, RigFactory
from tests.fakes.providers.scripted import ScriptedProvider

S = JobStatus
NOW = time.time()


async def plant(
    db: Store,
    status: JobStatus,
    *,
    provider: ScriptedProvider | None = None,
    prompt: str = "a planted job",
) -> Job:
    """A job left in ``status`` by a bot that stopped, with its credits held."""
    request = GenerationRequest.parse(prompt=prompt)
    handle = await provider.submit(request) if provider is not None else None
    result = None
    images: list[Any] = []
    if status is S.FETCHED:
        assert provider is not None
        assert handle is not None
        fetched = await provider.wait(handle)
        images = list(fetched.images)
        result = ResultSummary(
            provider=fetched.provider,
            provider_job_id=fetched.job_id,
            seed=fetched.seed,
            images=len(images),
            nsfw=(False,),
            timings=Timings(),
        )

    async def change(tx: Transaction) -> Job:
        job = await tx.jobs.insert(
            guild_id=GUILD,
            user_id=USER,
            channel_id=CHANNEL,
            age_restricted=False,
            request=request,
            hold=6,
            context={"k": "v"},
            at=NOW,
        )
        await tx.ledger.hold(
            guild_id=GUILD, user_id=USER, job_id=job.id, amount=6, at=NOW, allowance=60
        )
        steps = {
            S.QUEUED: [],
            S.SUBMITTING: [S.SUBMITTING],
            S.SUBMITTED: [S.SUBMITTING, S.SUBMITTED],
            S.FETCHED: [S.SUBMITTING, S.SUBMITTED, S.FETCHED],
        }[status]
        for step in steps:
            fields: dict[str, Any] = {}
            if step is S.SUBMITTED:
                fields = {"provider": "alpha", "unit_price": 6, "handle": handle}
            if step is S.FETCHED:
                fields = {"result": result}
            assert await tx.jobs.transition(job.id, step, at=NOW, **fields)
            job = job.moved(step, NOW, **fields)
        if images:
            await tx.jobs.save_images(job.id, images)
        return job

    return await db.run(change)


async def movements(db: Store, job_id: int) -> list[str]:
    entries = await db.run(lambda tx: tx.reports.entries(GUILD, since=0, until=NOW + 86_400))
    return [entry.kind for entry in entries if entry.job_id == job_id]


async def test_every_unfinished_job_is_finished_exactly_once(
    make_rig: RigFactory, db: Store, http: HttpClient
) -> None:
    before = ScriptedProvider("alpha", http)
    planted = {
        status: await plant(
            db,
            status,
            provider=before if status in (S.SUBMITTED, S.FETCHED) else None,
            prompt=f"left {status.value}",
        )
        for status in (S.QUEUED, S.SUBMITTING, S.SUBMITTED, S.FETCHED)
    }
    after = ScriptedProvider("alpha", http)
    rig = await make_rig(providers={"alpha": after})
    await rig.events.until_finished(4)
    await rig.pipeline.drain()
    ended = {status: rig.events.finished_jobs[job.id] for status, job in planted.items()}

    assert ended[S.QUEUED].status is S.DONE
    assert ended[S.SUBMITTING].status is S.FAILED
    assert ended[S.SUBMITTING].error == RESTARTED_WHILE_SENDING
    assert ended[S.SUBMITTED].status is S.DONE
    assert ended[S.FETCHED].status is S.DONE

    assert [r.prompt for r in after.submits] == ["left queued"], (
        "only the never-submitted job goes to the provider; the others are resumed"
    )
    assert after.waits == 2, (
        "one wait for the new submit, one for the resumed handle, none for the fetched job"
    )
    for status in (S.QUEUED, S.SUBMITTED, S.FETCHED):
        assert rig.events.deliver_calls[planted[status].id] == 1
        assert await movements(db, planted[status].id) == ["hold", "settle"]
    assert planted[S.SUBMITTING].id not in rig.events.posted
    assert await movements(db, planted[S.SUBMITTING].id) == ["hold", "release"]
    assert (await rig.balance()).available == 60 - 18
    assert await rig.reconciled() == []
    stored = await rig.pipeline.job(planted[S.FETCHED].id)
    assert stored is not None
    assert stored.context == {"k": "v"}, "the Discord layer's data survives"


async def test_a_clean_stop_leaves_jobs_the_next_start_finishes(
    make_rig: RigFactory, db: Store, http: HttpClient
) -> None:
    gate = asyncio.Event()
    first = ScriptedProvider("alpha", http, wait_gate=gate)
    rig = await make_rig(providers={"alpha": first}, user_max_running=1, start=True)
    running = (await rig.pipeline.submit(rig.submission("running"))).job
    waiting = (await rig.pipeline.submit(rig.submission("waiting"))).job
    await first.waiting.wait()
    await rig.pipeline.stop(grace=0.1)
    statuses = {
        j.id: j.status for j in await db.run(lambda tx: tx.jobs.many([running.id, waiting.id]))
    }
    assert statuses == {running.id: S.SUBMITTED, waiting.id: S.QUEUED}

    second = ScriptedProvider("alpha", http)
    again = await make_rig(providers={"alpha": second})
    await again.events.until_finished(2)
    assert again.events.status(running.id) is S.DONE
    assert again.events.status(waiting.id) is S.DONE
    assert [r.prompt for r in second.submits] == ["waiting"]
    assert (await again.balance()).available == 48
    assert await again.reconciled() == []
