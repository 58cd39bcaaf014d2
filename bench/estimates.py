"""Does the queue tell each member the truth? A burst under the operator's default limits.

500 ``/imagine`` across 20 servers, fake fal latency 1 s, imagine-bot in its own process
with every limit left at its default (10 starts per server per minute in bursts of 5, 4
running per server, 32 running and 20 starts a second in all): most jobs wait, for up to two
minutes. Every status message a member is shown ("Queued: 3 ahead of you, starting in
about 40 s") is recorded with the moment it appeared, and compared with the moment that job
really started (its task reached fal).

    .venv/bin/python -m bench.estimates [--jobs 500] [--guilds 20] [--latency 1]

Printed: how long the burst took, how many status lines members saw, and how far the start
they promised was from the real one (early or late), overall and by how far ahead it looked.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.e2e import ROOT, percentile
from tests.fakes.discord import FakeDiscord, FakeMessage
from tests.fakes.providers import FAKES, trust_for

_PROMISE = re.compile(r"starting (in a moment|in about (\d+) (s|min))")


def promised_in(text: str) -> float | None:
    """The wait a status line promises, in seconds (None when it promises nothing)."""
    found = _PROMISE.search(text)
    if found is None:
        return None
    if found.group(1) == "in a moment":
        return 0.0
    return float(found.group(2)) * (60 if found.group(3) == "min" else 1)


async def run(jobs: int, guild_count: int, latency: float, folder: Path) -> dict[str, Any]:
    """Fire the burst at a bot with default limits; pair every promise with the real start."""
    per_guild = jobs // guild_count
    async with FakeDiscord(check_schemas=False) as fake, FAKES["fal"].cls(latency=latency) as fal:
        servers = []
        for g in range(guild_count):
            guild = fake.add_guild(f"guild {g}", owner_id=9_000_000 + g)
            channel = guild.add_channel("art")
            users = [10_000_000 + g * 1000 + u for u in range(per_guild)]
            for user in users:
                guild.add_member(user, f"member {user}")
            servers.append((guild, channel, users))
        env = {
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": str(ROOT),
            "FAKE_DISCORD_URL": fake.url,
            "DISCORD_TOKEN": fake.token,
            "FAL_KEY": fal.api_key,
            "FAL_BASE_URL": FAKES["fal"].base_url(fal),
            **trust_for({"fal": fal}),
            "DATABASE_PATH": str(folder / "bot.db"),
            "LOG_LEVEL": "WARNING",
        }
        bot = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.fakes.bot_process", cwd=folder, env=env
        )
        await fake.wait_ready(timeout=60)

        shown: list[tuple[float, int, str]] = []

        def record(message: FakeMessage) -> bool:
            if message.content and "starting" in message.content:
                shown.append((time.time(), message.id, message.content))
            return False

        watching = asyncio.ensure_future(fake.wait_for(record, timeout=3600))
        started = time.time()
        interactions = await asyncio.gather(
            *(
                fake.slash(
                    "imagine",
                    guild=guild,
                    channel=channel,
                    user_id=user,
                    options={"prompt": f"queue {guild.id} {user}"},
                )
                for guild, channel, users in servers
                for user in users
            )
        )
        await asyncio.gather(*(i.acknowledged(timeout=60) for i in interactions))
        results = await asyncio.gather(
            *(
                fake.wait_for(
                    lambda m: bool(m.attachments),
                    timeout=900,
                    message_id=i.original.id if i.original else None,
                )
                for i in interactions
            )
        )
        finished = time.time()
        watching.cancel()
        bot.terminate()
        await bot.wait()

        wall = time.time() - time.perf_counter()
        start_of = {t.body.get("prompt"): t.created + wall for t in fal.tasks.values()}
        status_of = {
            i.original.id: start_of[i.payload["data"]["options"][0]["value"]]
            for i in interactions
            if i.original is not None
        }
        errors: list[tuple[float, float]] = []  # (promised wait, real minus promised)
        for at, message_id, text in shown:
            wait = promised_in(text)
            real = status_of.get(message_id)
            if wait is not None and real is not None and real >= at:
                errors.append((wait, real - (at + wait)))
        completion = [
            (m.edited_at or finished) - started for m in results if m.edited_at is not None
        ]
        return {"seconds": finished - started, "errors": errors, "completion": completion}


def describe(errors: list[tuple[float, float]]) -> list[str]:
    """The promise's error, overall and by how far ahead it looked."""
    lines = []
    bands = ((0, 30, "promised under 30 s"), (30, 90, "30-90 s"), (90, 10_000, "over 90 s"))
    for lo, hi, label in ((0, 10_000, "all status lines"), *bands):
        picked = [e for w, e in errors if lo <= w < hi]
        if not picked:
            continue
        absolute = [abs(e) for e in picked]
        close = sum(1 for w, e in errors if lo <= w < hi and abs(e) <= max(15.0, 0.25 * max(w, 1)))
        lines.append(
            f"  {label:<20} {len(picked):>5} lines: real start minus promised, median "
            f"{statistics.median(picked):+6.1f} s, |error| p50 {statistics.median(absolute):5.1f}"
            f" s, p90 {percentile(absolute, 0.9):5.1f} s; within 15 s or 25 %: "
            f"{close / len(picked):.0%}"
        )
    return lines


def main() -> None:
    """Run once and print how truthful the queue was."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--guilds", type=int, default=20)
    parser.add_argument("--latency", type=float, default=1.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        r = asyncio.run(run(args.jobs, args.guilds, args.latency, Path(folder)))
    print(
        f"{args.jobs} /imagine in a burst across {args.guilds} servers, fake fal latency "
        f"{args.latency:g} s, every limit at its default"
    )
    print(
        f"  all done in {r['seconds']:.0f} s; completion p50 "
        f"{statistics.median(r['completion']):.0f} s, p95 {percentile(r['completion'], 0.95):.0f} s"
    )
    print("\n".join(describe(r["errors"])))


if __name__ == "__main__":
    main()
