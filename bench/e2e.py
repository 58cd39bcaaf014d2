"""The whole bot under a burst: 500 /imagine across 20 servers, fake Discord, fake fal.

Two bots, one after the other, each in its own process against fresh fakes of the same
settings: a bare baseline (``bench.bare_bot``: defer, submit to fal, poll every second,
post; nothing else) and the real bot (``imagine-bot run``, real discord.py, pipeline and
SQLite). The fake Discord and a fake fal (fixed latency, default 1 s) run in this process.
The figures that matter are the ratios: absolute times on a shared machine are noise.

    .venv/bin/python -m bench.e2e [--jobs 500] [--guilds 20] [--latency 1]
                                  [--starts-per-second 250] [--only BOT] [--trace]

Printed for both: acknowledgement delay (interaction sent on the gateway → callback
received), completion (interaction sent → Discord has the message with the file), the time
added after fal finished the image, jobs per second (first interaction → last result), the
bot process's peak RSS, and the CPU it spent per job during the burst; for imagine-bot also
the longest event-loop stall it measured itself (``bot.loopwatch``). imagine-bot is
configured as an operator would for a burst this size: every server may run its whole
share at once, and the bot starts at most ``--starts-per-second`` jobs a second
(MAX_STARTS_PER_SECOND), so the images come back at a pace it can post instead of all at
once. The fake Discord still enforces Discord's rules here but skips the OpenAPI body
checks, which the tests do and which would make this measure the fake rather than the bot.
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
from collections import Counter
from pathlib import Path
from typing import Any

from tests.fakes.discord import FakeDiscord, FakeInteraction, FakeMessage
from tests.fakes.providers import FAKES, trust_for

ROOT = Path(__file__).parents[1]


def percentile(values: list[float], share: float) -> float:
    """The value below which ``share`` of the values fall."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


BOTS = ("bare bot", "imagine-bot")


async def run(
    kind: str, jobs: int, guild_count: int, latency: float, starts_per_second: float, folder: Path
) -> dict[str, Any]:
    """Start fresh fakes and one bot (``kind``), fire the burst, and measure."""
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
        env = {
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": str(ROOT),
            "FAKE_DISCORD_URL": fake.url,
            "DISCORD_TOKEN": fake.token,
            "FAL_KEY": fal.api_key,
            "FAL_BASE_URL": FAKES["fal"].base_url(fal),
        }
        if kind == "bare bot":
            module = "bench.bare_bot"
        else:
            module = "tests.fakes.bot_process"
            env |= {
                **trust_for({"fal": fal}),
                "DATABASE_PATH": str(folder / f"bot-{time.monotonic_ns()}.db"),
                # An operator's settings for a burst this size: every server may run its
                # whole share at once, and the bot paces its starts.
                "MAX_RUNNING_JOBS": str(jobs * 2),
                "MAX_STARTS_PER_SECOND": str(starts_per_second),
                "GUILD_MAX_RUNNING": str(per_guild),
                "GUILD_MAX_QUEUED": str(per_guild),
                "GUILD_JOBS_PER_MINUTE": "60000",
                "GUILD_BURST": str(per_guild),
                "USER_MAX_RUNNING": "3",
                "LOG_LEVEL": "INFO",
            }
            if os.environ.get("IMAGINE_PROFILE"):
                env["IMAGINE_PROFILE"] = os.environ["IMAGINE_PROFILE"]
        bot = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            module,
            cwd=folder,
            env=env,
            stderr=asyncio.subprocess.PIPE,
        )
        stderr = asyncio.ensure_future(bot.stderr.read()) if bot.stderr else None
        await fake.wait_ready(timeout=60)

        started = time.monotonic()
        cpu_before, bot_before = _cpu(resource.RUSAGE_SELF), _process_cpu(bot.pid)
        main_before = _thread_cpu(bot.pid, bot.pid)
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
        main_cpu = _thread_cpu(bot.pid, bot.pid) - main_before
        peak_rss = _peak_rss_mb(bot.pid)
        bot.send_signal(signal.SIGTERM)
        await asyncio.wait_for(bot.wait(), 60)
        err = (await stderr).decode() if stderr else ""
        if bot.returncode != 0:
            raise RuntimeError(f"the {kind} exited with {bot.returncode}: {err[-2000:]}")

        wall_of_counter = time.time() - time.perf_counter()
        done_at = {task.body.get("prompt"): task.completed_at for task in fal.tasks.values()}
        added, completion = [], []
        for interaction, message in zip(interactions, results, strict=True):
            prompt = interaction.payload["data"]["options"][0]["value"]
            completed = done_at[prompt]
            assert completed is not None
            assert message.edited_at is not None
            added.append(message.edited_at - (completed + wall_of_counter))
            completion.append(message.edited_at - wall_of_counter - interaction.dispatched)
        acks = [i.ack_delay for i in interactions if i.ack_delay is not None]
        stall = re.search(r"longest event-loop stall: ([0-9.]+) ms", err)
        return {
            "requests": _requests(fake, fal, len(results)),
            "stages": _stages(fal, interactions, results, wall_of_counter),
            "jobs": len(results),
            "ack_p50": percentile(acks, 0.5),
            "ack_p99": percentile(acks, 0.99),
            "completion_p50": statistics.median(completion),
            "completion_p95": percentile(completion, 0.95),
            "added_p50": statistics.median(added),
            "jobs_per_s": len(results) / (finished - started),
            "seconds": finished - started,
            "cpu_ms": bot_cpu / len(results) * 1000,
            "loop_cpu_ms": main_cpu / len(results) * 1000,
            "fakes_cpu_ms": fakes_cpu / len(results) * 1000,
            "peak_rss_mb": peak_rss,
            "stall_ms": float(stall.group(1)) if stall else None,
            "violations": len(fake.violations),
        }


def _requests(fake: FakeDiscord, fal: Any, jobs: int) -> dict[str, float]:
    """Requests per job that each fake answered, by route (ids folded away)."""
    routes = [
        f"discord {m} {re.sub(r'/[0-9]{5,}|/[A-Za-z0-9_.-]{40,}', '/…', p)}"
        for m, p, _ in fake.requests
    ]
    routes += [
        f"fal {r.method} {r.host} {re.sub(r'/[0-9a-f-]{36}[^/]*', '/…', r.path)}"
        for r in fal.requests
    ]
    return {route: n / jobs for route, n in Counter(routes).most_common()}


def _peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory so far (Linux ``VmHWM``), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def _thread_cpu(pid: int, tid: int) -> float:
    """CPU seconds one thread of a running process has used so far (Linux)."""
    fields = Path(f"/proc/{pid}/task/{tid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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


# Each figure: its label, how it prints, and the target for imagine-bot against the bare bot
# ("<=" ratio, ">=" ratio, or an absolute ceiling).
FIGURES: tuple[tuple[str, str, str, float], ...] = (
    ("ack_p99", "acknowledgement p99", "<=", 1.0),
    ("ack_p50", "acknowledgement p50", "", 0.0),
    ("completion_p50", "completion p50", "<=", 1.25),
    ("completion_p95", "completion p95", "", 0.0),
    ("jobs_per_s", "jobs/s", ">=", 0.8),
    ("peak_rss_mb", "peak RSS", "<=", 1.5),
    ("cpu_ms", "CPU per job", "", 0.0),
    ("loop_cpu_ms", "  of it on the loop", "", 0.0),
    ("added_p50", "added after fal p50", "", 0.0),
)


def _show(key: str, value: float | None) -> str:
    if value is None:
        return "-"
    if key.endswith("cpu_ms"):
        return f"{value:.2f} ms"
    if key.startswith(("ack", "added")):
        return f"{value * 1000:.1f} ms"
    if key.startswith("completion"):
        return f"{value:.2f} s"
    if key == "peak_rss_mb":
        return f"{value:.0f} MB"
    return f"{value:.0f}"


def table(bare: dict[str, Any], ours: dict[str, Any]) -> list[str]:
    """Both bots' figures side by side, the ratio, and whether each target is met."""
    lines = [f"  {'':<22}{'bare bot':>12}{'imagine-bot':>14}{'ratio':>9}   target"]
    for key, label, sense, bound in FIGURES:
        ratio = ours[key] / bare[key] if bare[key] else float("nan")
        target = ""
        if sense:
            met = ratio <= bound if sense == "<=" else ratio >= bound
            target = f"{sense} {bound:.2f}x {'met' if met else 'MISSED'}"
        lines.append(
            f"  {label:<22}{_show(key, bare[key]):>12}{_show(key, ours[key]):>14}"
            f"{ratio:>8.2f}x   {target}"
        )
    stall = ours["stall_ms"]
    shown = "not measured" if stall is None else f"{stall:.1f} ms"
    verdict = "" if stall is None else ("met" if stall < 100 else "MISSED")
    lines.append(f"  {'longest loop stall':<22}{'-':>12}{shown:>14}{'':>9}   < 100 ms {verdict}")
    lines.append(
        f"  Discord rule or schema violations: bare {bare['violations']}, "
        f"imagine-bot {ours['violations']}"
    )
    return lines


def main() -> None:
    """Run both bots against the same fakes, one after the other, and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--guilds", type=int, default=20)
    parser.add_argument("--latency", type=float, default=1.0)
    parser.add_argument(
        "--starts-per-second",
        type=float,
        default=1000.0,
        help="imagine-bot's MAX_STARTS_PER_SECOND, sized for this burst (its default, 20, is "
        "for a real provider account)",
    )
    parser.add_argument("--only", choices=BOTS, help="run one bot only")
    parser.add_argument("--trace", action="store_true", help="print each step's median time")
    args = parser.parse_args()
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as folder:
        for kind in BOTS if args.only is None else (args.only,):
            results[kind] = asyncio.run(
                run(
                    kind,
                    args.jobs,
                    args.guilds,
                    args.latency,
                    args.starts_per_second,
                    Path(folder),
                )
            )
    print(
        f"{args.jobs} /imagine in a burst across {args.guilds} servers, fake fal latency "
        f"{args.latency:g} s; each bot in its own process; imagine-bot at most "
        f"{args.starts_per_second:g} starts/s"
    )
    if len(results) == 2:
        print("\n".join(table(results["bare bot"], results["imagine-bot"])))
    for kind, r in results.items():
        if len(results) == 1:
            print(f"  {kind}: " + ", ".join(f"{k} {_show(k, r[k])}" for k, *_ in FIGURES))
        if args.trace:
            print(f"  {kind}: requests per job, by route")
            for route, per_job in r["requests"].items():
                print(f"    {per_job:6.2f}  {route}")
            print(f"  {kind}: median moment of each step, from the job's submission at fal")
            for name, at in sorted(r["stages"].items(), key=lambda kv: kv[1]):
                print(f"    {name:<24} {at * 1000:8.1f} ms")


if __name__ == "__main__":
    main()
