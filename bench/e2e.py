"""The whole bot under a burst: 500 /imagine across 20 servers, fake Discord, fake fal.

The real bot (``imagine-bot run``, real discord.py, pipeline and SQLite) runs in its own
process; the fake Discord and a fake fal (fixed latency, default 1 s) run in this one.

    .venv/bin/python -m bench.e2e [--jobs 500] [--guilds 20] [--latency 1]
                                  [--starts-per-second 250] [--trace]

Printed: acknowledgement delay (interaction sent on the gateway → callback received),
the bot's own added time per job (fal finished the image → Discord received the message
with the file; the fake's images are small, so transfer time is negligible), jobs per
second (first interaction → last result), the bot process's peak RSS, and the CPU each
process spent per job during the burst. The bot is configured as an operator would for a
burst this size: every server may run its whole share at once, and the bot starts at
most ``--starts-per-second`` jobs a second (MAX_STARTS_PER_SECOND), so the images come
back at a pace it can post instead of all at once. The fake
Discord still enforces Discord's rules here but skips the OpenAPI body checks, which the
tests do and which would make this measure the fake rather than the bot.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import resource
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.fakes.discord import FakeDiscord, FakeInteraction, FakeMessage
from tests.fakes.providers import FAKES, trust_for

ROOT = Path(__file__).parents[1]


def percentile(values: list[float], share: float) -> float:
    """The value below which ``share`` of the values fall."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def run(
    jobs: int, guild_count: int, latency: float, starts_per_second: float, folder: Path
) -> dict[str, Any]:
    """Start the fakes and the bot, fire the burst, and measure."""
    per_guild = jobs // guild_count
    # Schema checks stay in the tests; here they would measure the fake, not the bot.
    async with FakeDiscord(check_schemas=False) as fake, FAKES["fal"].cls(latency=latency) as fal:
        servers = []
        for g in range(guild_count):
            guild = fake.add_guild(f"guild {g}", owner_id=9_000_000 + g)
            channel = guild.add_channel("art")
            users = [10_000_000 + g * 1000 + u for u in range(per_guild)]
            for user in users:
                guild.add_member(user, f"member {user}")
            servers.append((guild, channel, users))
        database = folder / "bot.db"
        env = {
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": str(ROOT),
            "FAKE_DISCORD_URL": fake.url,
            "DISCORD_TOKEN": fake.token,
            "FAL_KEY": fal.api_key,
            "FAL_BASE_URL": FAKES["fal"].base_url(fal),
            **trust_for({"fal": fal}),
            "DATABASE_PATH": str(database),
            "MAX_RUNNING_JOBS": str(jobs * 2),
            "MAX_STARTS_PER_SECOND": str(starts_per_second),
            # Each server may run its whole share at once: this measures the bot, not the limits.
            "GUILD_MAX_RUNNING": str(per_guild),
            "GUILD_MAX_QUEUED": str(per_guild),
            "GUILD_JOBS_PER_MINUTE": "60000",
            "GUILD_BURST": str(per_guild),
            "LOG_LEVEL": "WARNING",
        }
        bot = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.fakes.bot_process",
            cwd=folder,
            env=env,
            stderr=asyncio.subprocess.PIPE,
        )
        await fake.wait_ready(timeout=60)

        started = time.monotonic()
        cpu_before, bot_before = _cpu(resource.RUSAGE_SELF), _process_cpu(bot.pid)
        burst = [
            fake.slash(
                "imagine",
                guild=guild,
                channel=channel,
                user_id=user,
                options={"prompt": f"bench {guild.id} {user}"},
            )
            for guild, channel, users in servers
            for user in users
        ]
        interactions: list[FakeInteraction] = await asyncio.gather(*burst)
        await asyncio.gather(*(i.acknowledged(timeout=30) for i in interactions))

        async def result(interaction: FakeInteraction) -> FakeMessage:
            original = interaction.original
            assert original is not None
            return await fake.wait_for(
                lambda m: bool(m.attachments), timeout=120, message_id=original.id
            )

        results = await asyncio.gather(*(result(i) for i in interactions))
        finished = time.monotonic()
        fakes_cpu = _cpu(resource.RUSAGE_SELF) - cpu_before
        bot_cpu = _process_cpu(bot.pid) - bot_before
        bot.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(bot.communicate(), 60)
        if bot.returncode != 0:
            raise RuntimeError(f"the bot exited with {bot.returncode}: {err.decode()[-2000:]}")

        wall_of_counter = time.time() - time.perf_counter()
        done_at = {task.body.get("prompt"): task.completed_at for task in fal.tasks.values()}
        added = []
        for interaction, message in zip(interactions, results, strict=True):
            prompt = interaction.payload["data"]["options"][0]["value"]
            completed = done_at[prompt]
            assert completed is not None
            assert message.edited_at is not None
            added.append(message.edited_at - (completed + wall_of_counter))
        acks = [i.ack_delay for i in interactions if i.ack_delay is not None]
        stages = _stages(fal, interactions, results, wall_of_counter)
        return {
            "stages": stages,
            "jobs": len(results),
            "starts_per_second": starts_per_second,
            "guilds": guild_count,
            "latency": latency,
            "ack_p50": percentile(acks, 0.5),
            "ack_p99": percentile(acks, 0.99),
            "added_p50": statistics.median(added),
            "added_p95": percentile(added, 0.95),
            "jobs_per_s": len(results) / (finished - started),
            "seconds": finished - started,
            "bot_cpu_ms": bot_cpu / len(results) * 1000,
            "fakes_cpu_ms": fakes_cpu / len(results) * 1000,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
            "violations": len(fake.violations),
        }


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def _process_cpu(pid: int) -> float:
    """CPU seconds a running process has used so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _stages(
    fal: Any, interactions: list[FakeInteraction], results: list[FakeMessage], wall: float
) -> dict[str, float]:
    """Median moment of each step of a job, counted from its submission at fal."""
    task_id = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
    reached: dict[str, dict[str, float]] = {}
    for rec in fal.requests:
        found = task_id.search(rec.path)
        if found:
            step = f"{rec.method} {rec.host}{' stream' if rec.path.endswith('stream') else ''}"
            reached.setdefault(found.group(), {}).setdefault(step, rec.at)
    steps: dict[str, list[float]] = {}
    by_prompt = {task.body.get("prompt"): task for task in fal.tasks.values()}
    for interaction, message in zip(interactions, results, strict=True):
        task = by_prompt[interaction.payload["data"]["options"][0]["value"]]
        marks = {
            "interaction sent": interaction.dispatched,
            "acknowledged": interaction.dispatched + (interaction.ack_delay or 0.0),
            "done at fal": task.completed_at,
            "file at Discord": (message.edited_at or 0.0) - wall,
            **reached.get(task.id, {}),
        }
        for name, at in marks.items():
            steps.setdefault(name, []).append(at - task.created)
    return {name: statistics.median(values) for name, values in steps.items()}


def main() -> None:
    """Run once and print the figures next to the targets."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--guilds", type=int, default=20)
    parser.add_argument("--latency", type=float, default=1.0)
    parser.add_argument(
        "--starts-per-second",
        type=float,
        default=250.0,
        help="the bot's MAX_STARTS_PER_SECOND (its default, 20, is for a real server)",
    )
    parser.add_argument("--trace", action="store_true", help="print each step's median time")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        r = asyncio.run(
            run(args.jobs, args.guilds, args.latency, args.starts_per_second, Path(folder))
        )
    print(
        f"{r['jobs']} /imagine in a burst across {r['guilds']} servers, fake fal latency "
        f"{r['latency']:g} s; bot in its own process, at most "
        f"{r['starts_per_second']:g} starts/s"
    )
    print(
        f"  acknowledgement    p50 {r['ack_p50'] * 1000:.0f} ms, p99 {r['ack_p99'] * 1000:.0f} ms"
        f"   (target p99 < 250 ms)"
    )
    print(
        f"  added by the bot   p50 {r['added_p50'] * 1000:.0f} ms, p95 "
        f"{r['added_p95'] * 1000:.0f} ms  (target p50 < 50 ms)"
    )
    print(
        f"  throughput         {r['jobs_per_s']:.0f} jobs/s, all done in {r['seconds']:.2f} s"
        f"   (target >= 150)"
    )
    print(f"  bot peak RSS       {r['peak_rss_mb']:.0f} MB              (target < 150 MB)")
    print(f"  CPU per job        bot {r['bot_cpu_ms']:.2f} ms, fakes {r['fakes_cpu_ms']:.2f} ms")
    print(f"  Discord rule or schema violations: {r['violations']}")
    if args.trace:
        print("  median moment of each step, from the job's submission at fal")
        for name, at in sorted(r["stages"].items(), key=lambda kv: kv[1]):
            print(f"    {name:<24} {at * 1000:8.1f} ms")


if __name__ == "__main__":
    main()
