"""How well each adapter waits: requests per job, detection delay, wall time.

Runs, in one process, N jobs per provider against the fake servers with a fixed
provider latency, through this project's adapters (production poll schedule),
and for fal and Replicate the same jobs through the official client libraries.
Jobs arrive one every ``--gap`` seconds, as members' requests do; each
provider runs alone so no run's timings include another's work.

    .venv/bin/python -m bench.providers [--jobs 20] [--latency 3] [--gap 0.5]

Columns: requests per job (every request the fake saw, downloads included);
status requests per 2 s of waiting (the poll budget); seconds from the fake's
completion to the result in hand (median, p95); wall time per job (median).
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import httpx
from pydantic import SecretStr

from bot.models import GenerationRequest
from bot.origins import origin_of, parse_origin
from bot.providers.base import ProviderConfig
from bot.providers.http import HttpClient
from bot.providers.registry import ADAPTERS
from tests.fakes.providers import FAKES
from tests.fakes.providers.base import FakeProviderServer, FakeTask, Recorded

# provider -> fake, API host, base-URL suffix, and which requests are status requests
POLL_ONLY = {"bfl", "apiframe"}


def is_status_request(provider: str, r: Recorded) -> bool:
    """A request that only asks 'is it done yet?' (polls and status streams)."""
    if r.method != "GET" or r.path.startswith("/files/"):
        return False
    if provider == "fal":
        return "/status" in r.path
    return True


@dataclass
class Row:
    """One line of the table."""

    label: str
    requests_per_job: float
    status_per_2s: float
    delay_median: float
    delay_p95: float
    wall_median: float
    failures: int


def prompt_of(body: Any) -> str | None:
    """The prompt a fake received, wherever the provider's body keeps it."""
    if isinstance(body, dict):
        if isinstance(body.get("prompt"), str):
            return body["prompt"]
        return prompt_of(body.get("input"))
    return None


def find_task(fake: FakeProviderServer, prompt: str) -> FakeTask:
    """The fake's task for the job with this (unique) prompt."""
    return next(t for t in fake.tasks.values() if prompt_of(t.body) == prompt)


async def measure(
    label: str,
    provider: str,
    fake: FakeProviderServer,
    job: Callable[[str], Awaitable[None]],
    *,
    jobs: int,
    gap: float,
) -> Row:
    """Run ``jobs`` staggered jobs through ``job`` and read the fake's records."""
    delays: list[float] = []
    walls: list[float] = []
    failures = 0

    async def one(i: int) -> None:
        nonlocal failures
        prompt = f"bench {label} job {i}: a lighthouse at dusk"
        started = time.perf_counter()
        try:
            await job(prompt)
        except Exception as exc:  # the table reports failures; one must not stop the run
            failures += 1
            print(f"  {label} job {i} failed: {exc!r}", file=sys.stderr)
            return
        in_hand = time.perf_counter()
        completed = find_task(fake, prompt).completed_at
        assert completed is not None
        delays.append(in_hand - completed)
        walls.append(in_hand - started)

    running = []
    for i in range(jobs):
        running.append(asyncio.create_task(one(i)))
        await asyncio.sleep(gap)
    await asyncio.gather(*running)
    status = sum(is_status_request(provider, r) for r in fake.requests)
    delays.sort()
    return Row(
        label=label,
        requests_per_job=len(fake.requests) / jobs,
        status_per_2s=status / (sum(walls) / 2) if walls else 0.0,
        delay_median=statistics.median(delays) if delays else float("nan"),
        delay_p95=delays[min(len(delays) - 1, int(0.95 * len(delays)))] if delays else float("nan"),
        wall_median=statistics.median(walls) if walls else float("nan"),
        failures=failures,
    )


async def ours(name: str, fake: FakeProviderServer, http: HttpClient, **kw: Any) -> Row:
    """Jobs through this project's adapter, as the bot runs it."""
    spec = FAKES[name]
    config = ProviderConfig(
        api_key=SecretStr(fake.api_key),
        base_url=spec.base_url(fake),
        api_hosts=tuple(map(parse_origin, spec.api_origins(fake))),
    )
    # Trusted as the bot's settings would trust them: base URL, API and media hosts.
    trusted = http.trusting(
        origin_of(config.base_url), *spec.api_origins(fake), *spec.media_origins(fake)
    )
    adapter = ADAPTERS[name](trusted, config)

    async def job(prompt: str) -> None:
        await adapter.generate(GenerationRequest(prompt=prompt, aspect_ratio="16:9"))

    return await measure(f"{name} (imagine-bot)", name, fake, job, **kw)


async def fal_official(fake: FakeProviderServer, **kw: Any) -> Row:
    """The same jobs through fal's official client, the image fetched as ours is."""
    import fal_client
    import fal_client.client as fal_module

    fal_module.QUEUE_URL_FORMAT = fake.url("queue") + "/"
    client = fal_client.AsyncClient(key=fake.api_key)
    async with httpx.AsyncClient(trust_env=False) as download:

        async def job(prompt: str) -> None:
            result = await client.subscribe(
                "fal-ai/flux-pro/v1.1-ultra", arguments={"prompt": prompt, "aspect_ratio": "16:9"}
            )
            (await download.get(result["images"][0]["url"])).raise_for_status()

        return await measure("fal (fal-client)", "fal", fake, job, **kw)


async def replicate_official(fake: FakeProviderServer, **kw: Any) -> Row:
    """The same jobs through Replicate's official client, the image fetched as ours is."""
    import replicate

    client = replicate.Client(api_token=fake.api_key, base_url=fake.url("api"))
    async with httpx.AsyncClient(trust_env=False) as download:

        async def job(prompt: str) -> None:
            output = await client.async_run(
                "black-forest-labs/flux-1.1-pro-ultra",
                input={"prompt": prompt, "aspect_ratio": "16:9"},
            )
            url = output if isinstance(output, str) else str(getattr(output, "url", output))
            (await download.get(url)).raise_for_status()

        return await measure("replicate (replicate)", "replicate", fake, job, **kw)


async def run(jobs: int, latency: float, gap: float) -> list[Row]:
    """Each provider, then the two official clients, one at a time, each on a fresh fake.

    One at a time, so that no run's timings include another run's work on the event loop.
    """
    kw = {"jobs": jobs, "gap": gap}
    rows = []
    async with aiohttp.ClientSession() as session:
        http = HttpClient(session)
        runs: list[tuple[type[FakeProviderServer], Callable[[FakeProviderServer], Any]]] = [
            (spec.cls, lambda fake, name=name: ours(name, fake, http, **kw))
            for name, spec in FAKES.items()
        ]
        runs += [
            (FAKES["fal"].cls, lambda fake: fal_official(fake, **kw)),
            (FAKES["replicate"].cls, lambda fake: replicate_official(fake, **kw)),
        ]
        for fake_cls, measure_run in runs:
            async with fake_cls(latency=latency) as fake:
                rows.append(await measure_run(fake))
    return rows


def verdicts(rows: list[Row]) -> list[str]:
    """Each target from the issue, checked against the figures."""
    by = {
        row.label.split(" ")[0] + (" official" if "(imagine-bot)" not in row.label else ""): row
        for row in rows
    }
    lines = []
    for row in rows:
        if "(imagine-bot)" not in row.label:
            continue
        name = row.label.split(" ")[0]
        ok = row.delay_median < 0.25 and row.failures == 0
        lines.append(
            f"{'PASS' if ok else 'FAIL'}  {name}: detection median "
            f"{row.delay_median:.3f} s < 0.25 s"
        )
        if name in POLL_ONLY:
            ok = row.status_per_2s <= 1.0
            lines.append(
                f"{'PASS' if ok else 'FAIL'}  {name}: {row.status_per_2s:.2f} status "
                "requests per 2 s of waiting <= 1"
            )
        if f"{name} official" in by:
            other = by[f"{name} official"]
            ok = (
                row.requests_per_job <= other.requests_per_job
                and row.delay_median <= other.delay_median
            )
            lines.append(
                f"{'PASS' if ok else 'FAIL'}  {name}: {row.requests_per_job:.2f} req/job "
                f"vs {other.requests_per_job:.2f}, detection {row.delay_median:.3f} s vs "
                f"{other.delay_median:.3f} s (official client)"
            )
    return lines


def main() -> None:
    """Parse options, run, print the table and the verdicts."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20, help="jobs per provider (default 20)")
    parser.add_argument("--latency", type=float, default=3.0, help="fake provider latency, s")
    parser.add_argument("--gap", type=float, default=0.5, help="seconds between job arrivals")
    args = parser.parse_args()
    started = time.perf_counter()
    rows = asyncio.run(run(args.jobs, args.latency, args.gap))
    print(
        f"{args.jobs} jobs per provider, fake latency {args.latency:g} s, "
        f"one job every {args.gap:g} s, one provider at a time\n"
    )
    print(
        f"{'client':<30} {'req/job':>8} {'status/2s':>10} {'detect p50':>11} "
        f"{'detect p95':>11} {'wall p50':>9} {'failed':>7}"
    )
    for r in rows:
        print(
            f"{r.label:<30} {r.requests_per_job:>8.2f} {r.status_per_2s:>10.2f} "
            f"{r.delay_median:>10.3f}s {r.delay_p95:>10.3f}s {r.wall_median:>8.2f}s "
            f"{r.failures:>7}"
        )
    print()
    print("\n".join(verdicts(rows)))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS {peak_mb:.0f} MB, run took {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
