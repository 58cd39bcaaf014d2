"""Crashes mid-failover: 50 /imagine, BFL failing every task, Replicate slow, 4 SIGKILLs.

The real bot (``imagine-bot run``) runs in its own process with PROVIDER_ORDER=bfl,replicate
and the operator's default timeouts, against a fake Discord, a fake BFL whose every task
fails, and a fake Replicate whose submit answers come 0.5–1.5 s after the task exists (tasks
take 0.5–2 s at both). Each member sends one /imagine at once; the bot is SIGKILLed at
random moments while jobs remain, ``--kills`` times, and started again on the same database
each time, then runs until every job has ended.

    .venv/bin/python -m bench.faults [--jobs 50] [--kills 4] [--seed 1] [--images 1]
                                     [--order bfl,replicate]

Printed: provider tasks that made an image per image delivered (target 1.00), extra paid
generations (a second paid image for one job; target 0), paid images never delivered, the
tasks that failed at the first provider and what it bills for them, the refunds and why,
whether any job went on while the first provider may have had it, whether the provider task
log agrees with what the fakes billed, and whether the members' ledger reconciles.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from collections import Counter
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from bot.providers.registry import ADAPTERS
from tests.fakes.audit import UNFINISHED, Audit, audit
from tests.fakes.bot_world import BotWorld
from tests.fakes.discord import FakeDiscord
from tests.fakes.providers import FAKES
from tests.fakes.providers.lost import uniform


async def run(
    order: tuple[str, str], jobs: int, images: int, kills: int, seed: int, folder: Path
) -> dict[str, Any]:
    """Start the fakes and the bot, send the jobs, kill and restart, then audit."""
    rng = random.Random(seed)
    first, second = order
    async with AsyncExitStack() as stack:
        # Schema checks stay in the tests; here they would measure the fake, not the bot.
        fake = await stack.enter_async_context(FakeDiscord(check_schemas=False))
        failing = await stack.enter_async_context(FAKES[first].cls(latency=uniform(0.5, 2, seed)))
        slow = await stack.enter_async_context(FAKES[second].cls(latency=uniform(0.5, 2, seed + 1)))
        failing.script_always("failed")
        slow.submit_delay = uniform(0.5, 1.5, seed + 2)
        world = BotWorld(fake, {first: failing, second: slow}, folder)
        stack.push_async_callback(world.close)
        started = time.monotonic()
        await world.start()
        await asyncio.gather(*(world.imagine(f"bench job {n}", count=images) for n in range(jobs)))
        await world.until_admitted(jobs)
        at_kill: list[Counter[str]] = []
        for _ in range(kills):
            await asyncio.sleep(rng.uniform(0.3, 1.5))  # a random moment while jobs run
            seen = world.statuses()
            if not any(seen[status] for status in UNFINISHED):
                break
            at_kill.append(seen)
            await world.kill()
            await world.start()
        await world.until_all_ended(timeout=600)
        await world.stop()
        return {
            "audit": audit(world.db, world.providers),
            "at_kill": at_kill,
            "seconds": time.monotonic() - started,
            "starts": world.starts,
            "violations": len(fake.violations),
        }


def figures(found: Audit, order: tuple[str, str]) -> dict[str, Any]:
    """The money figures of one run."""
    tasks = [task for made in found.made.values() for task in made]
    made = [t for t in tasks if t.made_an_image]
    extra = 0
    for prompt, of_job in found.made.items():
        paid = sum(t.record.count for t in of_job if t.made_an_image and t.record.billed)
        extra += max(0, paid - found.jobs[prompt].asked)
    undelivered = sum(t.record.count for t in made if t.record.billed) - sum(
        job.images for job in found.jobs.values()
    )
    at_first = [t for t in tasks if t.provider == order[0]]
    return {
        "made": sum(t.record.count for t in made),
        "delivered": sum(job.images for job in found.jobs.values()),
        "extra": extra,
        "undelivered": undelivered - extra,
        "first_failed": sum(t.record.outcome == "failed" for t in at_first),
        "first_billed": sum(t.record.billed for t in at_first if t.record.outcome == "failed"),
        "refunds": Counter(job.error for job in found.jobs.values() if job.status != "done"),
        "checks": {
            "an image paid twice": found.paid_twice(),
            "sent on while the first provider may have had it": found.moved_on_in_doubt(order),
            "task log vs the fakes' bills": found.disagreements(),
            "members charged other than once per delivered image": found.wrong_charges(),
        },
        "ledger": found.reconcile,
    }


def main() -> None:
    """Run once and print the figures next to the targets."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--kills", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--images", type=int, default=1, help="images each job asks for")
    parser.add_argument(
        "--order",
        default="bfl,replicate",
        help="the provider failing every task, then the slow one",
    )
    args = parser.parse_args()
    names = args.order.split(",")
    if len(names) != 2 or not set(names) <= set(FAKES) or names[0] == names[1]:
        parser.error(f"--order takes two different providers of {', '.join(FAKES)}")
    order = (names[0], names[1])
    with tempfile.TemporaryDirectory() as folder:
        r = asyncio.run(run(order, args.jobs, args.images, args.kills, args.seed, Path(folder)))
    f = figures(r["audit"], order)
    first, second = (ADAPTERS[name].label for name in order)
    price = ADAPTERS[order[0]].capabilities.usd_per_image
    killed = ", ".join(
        "/".join(f"{n} {s}" for s, n in sorted(c.items()) if s in UNFINISHED) for c in r["at_kill"]
    )
    print(
        f"{len(r['audit'].jobs)} /imagine of {args.images} image(s), {first} failing every task, "
        f"{second}'s submit slow (0.5-1.5 s); {len(r['at_kill'])} SIGKILLs, {r['starts']} starts, "
        f"{r['seconds']:.1f} s in all"
    )
    print(f"  jobs unfinished at each kill: {killed or 'none'}")
    ratio = f"{f['made'] / f['delivered']:.2f}" if f["delivered"] else "-"
    print(
        f"  images made at the providers / images delivered: {f['made']} / {f['delivered']} "
        f"= {ratio}   (target 1.00)"
    )
    print(f"  extra paid generations: {f['extra']}   (target 0)")
    print(f"  paid images never delivered (their jobs refunded): {f['undelivered']}")
    print(
        f"  tasks that failed at {first}: {f['first_failed']}; {first} bills "
        f"{f['first_billed']} of them (${f['first_billed'] * price:.2f} at ${price} each)"
    )
    print(f"  refunds: {sum(f['refunds'].values())}")
    for reason, count in f["refunds"].most_common():
        print(f"    {count} x {reason}")
    for name, problems in f["checks"].items():
        print(f"  {name}: {len(problems) or 'none'}")
        for problem in problems[:5]:
            print(f"    {problem}")
    print(f"  ledger reconciles: {'yes' if not f['ledger'] else 'NO: ' + '; '.join(f['ledger'])}")
    print(f"  Discord rule or schema violations: {r['violations']}")
    unfinished = sum(job.status in UNFINISHED for job in r["audit"].jobs.values())
    if unfinished:
        sys.exit(f"{unfinished} jobs never ended")


if __name__ == "__main__":
    main()
