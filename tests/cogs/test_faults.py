"""Fault injection through the real bot process: no image is ever paid for twice.

For each provider P first in PROVIDER_ORDER, with a fallback Q behind it (fal, or BFL when
P is fal), one bot process (``imagine-bot run``) runs against its own fake Discord and the
two fake providers, as an operator would run it, with short timeouts set in the
environment. The seven run side by side (most of their time is spent waiting on polls and
timeouts), each in its own folder.

First, members each send one /imagine while P does the work and then loses its answer to
the submit, one way each: a dropped connection, a gateway's 502 page, a 504 page, an
unreadable 200, no answer at all until the bot gives up; then a two-image job loses the
answer to one of its submits. Replicate (the task is found in its prediction list) and
Apiframe (the submit is repeated under the same Idempotency-Key) settle the doubt and
deliver; elsewhere the job ends refunded and the member is told why (or, when another task
of the job answered, gets that image and pays for it alone). Q is never asked.

Then P fails every task (or refuses it: see REFUSES), Q answers its submits slowly, and the
bot is SIGKILLed while submits to Q are under way, then again at a random moment, and started
again each time until every job has ended.

Throughout, for every job: no provider made two tasks for it and no two tasks made its
image; it went to Q only after P proved it had no task or that its task failed; the task
log agrees with what each fake billed; the member was charged once for a delivered image
and nothing otherwise; the ledger reconciles.
"""

from __future__ import annotations

import asyncio
import random
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from bot.errors import RESTARTED_WHILE_SENDING, SubmitUnknown
from bot.providers.registry import ADAPTERS
from bot.settings import PROVIDER_NAMES
from tests.fakes.audit import UNFINISHED, audit
from tests.fakes.bot_world import BotWorld
from tests.fakes.discord import FakeDiscord
from tests.fakes.providers import FAKES
from tests.fakes.providers.base import FakeProviderServer
from tests.fakes.providers.lost import LOSSES, uniform

# Where a lost answer is settled instead of written off (see each adapter's capabilities).
SETTLES = {"replicate", "apiframe"}
# AIML API answers a failed task with a bare 500, which proves nothing, so no job would move
# on; the gateway's 502 "all providers exhausted" does move on, but the fake bills that task
# while the bot records it as never made. An empty balance is, at both, an answer that moves
# a job on and bills nothing.
REFUSES = {"aimlapi", "openai_compat"}
# The breaker pauses a provider after three failures in a row; one clean job after every
# two refunded ones keeps P in the order, so each lost answer is P's to lose.
REFUNDS_IN_A_ROW = 2
# Each way of losing an answer, one single-image job each, and a two-image job that loses the
# answer to one of its submits (both to its one submit, where one task makes both images).
CASES = [(how, 1) for how in LOSSES] + [("drop", 2)]
KILL_JOBS = 4
RANDOM_KILLS = 1
# Timeouts an operator can set: a hung call is given up after seconds, not minutes.
SHORT = {"HTTP_TIMEOUT": "3", "JOB_TIMEOUT": "5"}
HELD = 600.0  # a submit answer held until the fake closes (it cuts the hold short)
UNSURE = SubmitUnknown().user_message


def fallback(first: str) -> str:
    """The provider behind ``first``: fal, or BFL when fal is first."""
    return "bfl" if first == "fal" else "fal"


def prompt_of(first: str, how: str, count: int) -> str:
    """The prompt of phase 1's job that loses an answer ``how`` (asking ``count`` images)."""
    return f"lost {how} at {first}" if count == 1 else f"lost {how} of {count} at {first}"


def tasks_for(first: str, count: int) -> int:
    """How many tasks ``first`` makes for ``count`` images."""
    return 1 if ADAPTERS[first].capabilities.max_images_per_task >= count else count


def kept(first: str, count: int) -> int:
    """Images delivered when one of the job's submit answers is lost: all where the doubt is
    settled, else those of the tasks whose answers came (none when one task held them all)."""
    if first in SETTLES:
        return count
    return count - 1 if tasks_for(first, count) == count else 0


async def lose_answers(world: BotWorld, first: str) -> None:
    """Phase 1: each way of losing P's answer after the work, one job each."""
    p, q = world.providers[first], world.providers[fallback(first)]
    refunded = asked = 0
    for number, (how, count) in enumerate(CASES, 1):
        p.lose_answer_next(p.submit_route, how)
        interaction = await world.imagine(prompt_of(first, how, count), count=count)
        told = await world.told(interaction)
        await p.wait_losses(number)
        asked += count
        if images := kept(first, count):
            assert len(told.attachments) == images, f"{how} of {count}: {told.content}"
            continue
        assert told.ephemeral and UNSURE in told.content, f"{how} of {count}: {told.content}"
        refunded += 1
        if refunded % REFUNDS_IN_A_ROW == 0:
            clean = await world.told(await world.imagine(f"clean after {how} at {first}"))
            assert clean.attachments, f"after {how}: {clean.content}"
            asked += 1
    assert sum(task.count for task in p.tasks.values()) == asked, "no image asked of P twice"
    assert not q.tasks, "Q got nothing for an image P may have"


async def kill_mid_failover(world: BotWorld, first: str) -> set[str]:
    """Phase 2: P fails every job, Q is slow, the bot is killed mid-submit to Q and at a
    random moment; returns the prompts whose submit to Q the first kill cut off."""
    p, q = world.providers[first], world.providers[fallback(first)]
    if first in REFUSES:
        p.balance = 0
    else:
        p.script_always("failed")
    q.submit_delay = HELD  # until the kill: Q makes each task and holds its answer
    for n in range(KILL_JOBS):
        await world.imagine(f"failover {n} from {first}")
    await world.until_admitted(len(world.jobs))
    await q.wait_for_tasks(1, timeout=60)
    caught = {task.body["prompt"] for task in q.tasks.values()}
    await world.kill()  # Q has these tasks and holds their answers: submits under way
    q.submit_delay = uniform(0.5, 1.5, seed=len(first))
    await world.start()
    rng = random.Random(first)
    for _ in range(RANDOM_KILLS):
        # A random moment, not a wait for anything: what is asserted holds wherever it lands.
        await asyncio.sleep(rng.uniform(0.0, 1.5))
        if any(world.statuses()[status] for status in UNFINISHED):
            await world.kill()
            await world.start()
    await world.until_all_ended()
    await world.stop()
    return caught


async def first_with_fallback(first: str, folder: Path) -> None:
    """Both phases for ``first`` with its fallback, then the audit of every job."""
    second = fallback(first)
    async with AsyncExitStack() as stack:
        fake = await stack.enter_async_context(FakeDiscord())
        providers: dict[str, FakeProviderServer] = {}
        for name in (first, second):
            providers[name] = await stack.enter_async_context(FAKES[name].cls(latency=0.05))
        world = BotWorld(fake, providers, folder, **SHORT)
        stack.push_async_callback(world.close)
        await world.start()
        await lose_answers(world, first)
        caught = await kill_mid_failover(world, first)

        found = audit(world.db, providers)
        problems = found.problems((first, second))
        assert not problems, "\n".join(problems)
        assert set(found.jobs) == set(world.jobs), "every /imagine became a job"
        for how, count in CASES:
            job = found.jobs[prompt_of(first, how, count)]
            images = kept(first, count)
            assert (job.status, job.images) == ("done" if images else "failed", images), job
            states = sorted((r.provider, r.state) for r in found.log[job.prompt])
            unsure = tasks_for(first, count) - images
            assert states == [(first, "delivered")] * images + [(first, "unknown")] * unsure
        for prompt in caught:
            killed = found.jobs[prompt]
            assert (killed.status, killed.error) == ("failed", RESTARTED_WHILE_SENDING), killed
            assert [r.state for r in found.rows_at(prompt, second)] == ["unknown"]
            assert len(found.tasks_at(prompt, second)) == 1, "never sent to Q again"
        assert fake.violations == []
        assert "Traceback" not in world.tail(10**7), world.tail()


@pytest.fixture
def folders(tmp_path: Path) -> dict[str, Path]:
    """One folder (database, bot log) per provider first in the order."""
    made = {first: tmp_path / first for first in PROVIDER_NAMES}
    for folder in made.values():
        folder.mkdir()
    return made


async def test_lost_answers_and_kills_mid_failover_never_pay_twice(
    folders: dict[str, Path],
) -> None:
    results = await asyncio.gather(
        *(first_with_fallback(first, folders[first]) for first in PROVIDER_NAMES),
        return_exceptions=True,
    )
    failed = {
        first: result
        for first, result in zip(PROVIDER_NAMES, results, strict=True)
        if isinstance(result, BaseException)
    }
    for first, exc in failed.items():
        exc.add_note(f"{first} first in PROVIDER_ORDER, {fallback(first)} behind it")
    if failed:
        raise ExceptionGroup(
            f"first in the order, with a fallback: {', '.join(failed)} failed",
            [
                exc if isinstance(exc, Exception) else RuntimeError(repr(exc))
                for exc in failed.values()
            ],
        )
