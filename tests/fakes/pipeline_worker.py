"""A bot process for crash tests: the real pipeline and BFL adapter, a file for a channel.

    python -m tests.fakes.pipeline_worker --db DB --posts POSTS --bfl URL [--submit N]

It submits N jobs (when asked), then runs until nothing is queued or running and
exits 0. Tests kill it with SIGKILL at awkward moments and start it again.
Delivery writes one row per job into a separate SQLite file with INSERT OR IGNORE,
the way the Discord layer posts idempotently by job id; every attempt is counted.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import aiohttp
from pydantic import SecretStr

from bot.jobs import Job
from bot.models import GeneratedImage, GenerationRequest
from bot.pipeline.estimates import Estimate
from bot.pipeline.service import Pipeline, Submission
from bot.providers.base import ProviderConfig
from bot.providers.bfl import BflProvider
from bot.providers.http import HttpClient
from bot.providers.polling import PollTuning
from bot.providers.router import Router
from bot.providers.trust import TrustPolicy
from bot.safety import DeliveryPlan
from bot.settings import Settings
from bot.storage.engines import open_store

KEY = "test-key"


class FileChannel:
    """Posts go into a SQLite file; a repeated post of a job changes nothing."""

    def __init__(self, path: Path, delay: float) -> None:
        self.path = path
        self.delay = delay
        self.rng = random.Random(11)
        with sqlite3.connect(path) as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS posts (job_id INTEGER PRIMARY KEY, "
                "images INTEGER NOT NULL)"
            )
            conn.execute("CREATE TABLE IF NOT EXISTS attempts (job_id INTEGER NOT NULL)")

    async def queued(self, job: Job, estimate: Estimate) -> None:
        """Nothing to show."""

    async def started(self, job: Job) -> None:
        """Nothing to show."""

    async def deliver(self, job: Job, images: Sequence[GeneratedImage], plan: DeliveryPlan) -> None:
        """Record the attempt, take a while (a slow upload), then post once."""
        with sqlite3.connect(self.path) as conn:
            conn.execute("INSERT INTO attempts (job_id) VALUES (?)", (job.id,))
        await asyncio.sleep(self.rng.uniform(0.5, 1.5) * self.delay)
        with sqlite3.connect(self.path) as conn:
            conn.execute(
                "INSERT OR IGNORE INTO posts (job_id, images) VALUES (?, ?)",
                (job.id, len(plan.post)),
            )

    async def finished(self, job: Job) -> None:
        """Nothing to show."""


async def main(args: argparse.Namespace) -> None:
    """Run the pipeline until idle."""
    operator = Settings(
        _env_file=None,
        bfl_api_key=SecretStr(KEY),  # type: ignore[call-arg]
        max_running_jobs=args.running,
        daily_allowance=600,
        guild_jobs_per_minute=6000,
        user_max_queued=100,
        user_max_running=50,
    )
    db = await open_store(args.db)
    try:
        async with aiohttp.ClientSession() as session:
            # TRUSTED_HOSTS and PROVIDER_API_HOSTS come from the environment, as for the bot.
            policy = TrustPolicy.from_settings(operator).trusting([args.bfl])
            http = HttpClient(session, timeout=10, policy=policy)
            bfl = BflProvider(
                http,
                ProviderConfig(
                    api_key=SecretStr(KEY),
                    base_url=args.bfl,
                    api_hosts=operator.provider_api_hosts.get("bfl", ()),
                ),
                polling=PollTuning().scaled(0.1),
            )
            pipeline = Pipeline(
                db,
                Router([bfl]),
                operator,
                FileChannel(args.posts, args.deliver),
                progress_interval=0.5,
            )
            await pipeline.start()
            for i in range(args.submit):
                await pipeline.submit(
                    Submission(
                        guild_id=1 + i % 3,
                        user_id=10 + i % 5,
                        channel_id=99,
                        request=GenerationRequest(prompt=f"crash job {i}"),
                    )
                )
            await pipeline.drain()
            await pipeline.stop()
    finally:
        await db.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--posts", type=Path, required=True)
    parser.add_argument("--bfl", required=True)
    parser.add_argument("--submit", type=int, default=0)
    parser.add_argument("--running", type=int, default=6)
    parser.add_argument("--deliver", type=float, default=0.2)
    asyncio.run(main(parser.parse_args()))
