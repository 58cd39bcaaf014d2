"""What the fakes bill, how their outcomes are scripted, and how slow their submit answers are.

A test of "never pay twice" counts provider tasks; these tests pin down that the
count follows each provider's billing rule (spec: BFL does not charge moderated
tasks, Apiframe refunds FAILED jobs; fal does not charge a request that failed on its side,
and a gateway's "all providers exhausted" made no output to charge; every other task
created is paid for), that
Apiframe's Idempotency-Key makes a retried submit the same job, and that the
submit delay and held answers never outlive the fake.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.errors import Transient
from bot.providers.http import HttpClient
from tests.fakes.providers import FAKES
from tests.fakes.providers.apiframe import FakeApiframe
from tests.fakes.providers.base import OUTCOMES
from tests.fakes.providers.lost import LOSSES
from tests.fakes.rigs import PROMPT, RIGS, apiframe_submit, send

# Which scripted outcomes each provider charges for (the rest: every outcome).
CHARGED = {
    "bfl": {"ok", "nsfw", "failed"},
    "apiframe": {"ok", "nsfw"},
    "fal": {"ok", "nsfw", "moderated", "moderated_request"},
    "openai_compat": {"ok", "nsfw", "moderated", "moderated_request"},
}


@pytest.mark.parametrize("name", FAKES)
async def test_billed_tasks_follow_the_providers_billing_rule(name: str, http: HttpClient) -> None:
    rig = RIGS[name]
    async with FAKES[name].cls(latency=0) as fake:
        fake.script(*OUTCOMES)
        for outcome in OUTCOMES:
            await send(http, rig.submit(fake, f"{PROMPT} ({outcome})"))

        charged = CHARGED.get(name, set(OUTCOMES))
        records = fake.created_tasks()
        assert [r.outcome for r in records] == list(OUTCOMES), "every submit made a task"
        assert [r.billed for r in records] == [o in charged for o in OUTCOMES]
        assert {r.seed for r in records} == {5}
        assert [r.prompt for r in records] == [f"{PROMPT} ({o})" for o in OUTCOMES]
        assert [t.id for t in fake.billed_tasks()] == [r.id for r in records if r.billed]
        assert fake.billed_images() == len(charged)
        assert set(fake.billed_per_prompt().values()) == {1}


@pytest.mark.parametrize("name", FAKES)
async def test_script_always_fails_every_task_until_cleared(name: str, http: HttpClient) -> None:
    rig = RIGS[name]
    async with FAKES[name].cls(latency=0) as fake:
        fake.script_always("failed")
        fake.script("ok")  # a one-shot script still goes first
        for n in range(3):
            await send(http, rig.submit(fake, f"{PROMPT} {n}"))
        fake.script_always(None)
        await send(http, rig.submit(fake, f"{PROMPT} 3"))
        assert [t.outcome for t in fake.tasks.values()] == ["ok", "failed", "failed", "ok"]


@pytest.mark.parametrize("how", LOSSES)
async def test_apiframe_retry_with_the_same_key_after_a_lost_answer_bills_once(
    how: str, http: HttpClient
) -> None:
    async with FakeApiframe(latency=0) as fake:
        fake.lose_answer_next("submit", how)
        if how in ("drop", "hang"):
            with pytest.raises(Transient):
                await send(http, apiframe_submit(fake, PROMPT, key="k-1"), timeout=0.25)
        else:
            lost = await send(http, apiframe_submit(fake, PROMPT, key="k-1"))
            assert lost.status != 202 or how == "garble"
        await fake.wait_losses(1)

        retried = await send(http, apiframe_submit(fake, PROMPT, key="k-1"))
        assert retried.status == 202
        [task] = fake.tasks.values()
        assert retried.json()["jobId"] == task.id
        assert retried.headers["Idempotent-Replayed"] == "true"
        assert len(fake.billed_tasks()) == 1

        other = await send(http, apiframe_submit(fake, PROMPT, key="k-2"))
        assert other.status == 202 and other.json()["jobId"] != task.id, "a new key: a new job"
        assert len(fake.billed_tasks()) == 2


async def test_apiframe_idempotency_keys_belong_to_one_account(http: HttpClient) -> None:
    async with FakeApiframe(latency=0) as fake:
        first = (await send(http, apiframe_submit(fake, PROMPT, key="shared"))).json()["jobId"]
        fake.api_key = "another-account"
        second = (await send(http, apiframe_submit(fake, PROMPT, key="shared"))).json()["jobId"]
        assert first != second and len(fake.tasks) == 2


@pytest.mark.parametrize("case", RIGS)
async def test_submit_delay_comes_after_the_task_exists(case: str, http: HttpClient) -> None:
    rig = RIGS[case]
    async with FAKES[rig.fake].cls(latency=0) as fake:
        drawn: list[float] = []
        fake.submit_delay = lambda: drawn.append(0.05) or 0.05
        answer = await send(http, rig.submit(fake, PROMPT))
        answered = time.perf_counter()
        [task] = fake.tasks.values()
        assert answer.ok and drawn == [0.05]
        assert answered - task.created >= 0.05, "the task existed while the answer waited"


async def test_closing_the_fake_ends_delays_and_held_answers_at_once(http: HttpClient) -> None:
    rig = RIGS["bfl"]
    slow, held = FAKES["bfl"].cls(latency=0), FAKES["bfl"].cls(latency=0)
    await slow.start()
    await held.start()
    slow.submit_delay = 600.0
    held.lose_answer_next("submit", "hang")
    pending = [
        asyncio.create_task(send(http, rig.submit(fake, PROMPT), timeout=600))
        for fake in (slow, held)
    ]
    await slow.wait_for_tasks(1)
    await held.wait_for_tasks(1)
    assert not any(task.done() for task in pending), "both answers are still owed"
    await asyncio.wait_for(asyncio.gather(slow.close(), held.close()), 10)
    results = await asyncio.wait_for(asyncio.gather(*pending, return_exceptions=True), 10)
    assert isinstance(results[1], Transient), "a held answer is never sent"
    assert held.losses[0].done.is_set()
    assert len(slow.billed_tasks()) == len(held.billed_tasks()) == 1
