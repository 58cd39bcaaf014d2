"""A pipeline wired to scripted providers, a real database and recording events."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from bot.models import GenerationRequest
from bot.pipeline.service import Pipeline, Submission
from bot.providers.http import HttpClient
from bot.providers.router import Router
from bot.settings import Settings
from bot.storage.interface import Store
from bot.storage.records import Balance
from tests.fakes.events import RecordingEvents
from tests.fakes.providers.scripted import ScriptedProvider

GUILD, USER, CHANNEL = 100, 200, 300


def operator(**changes: Any) -> Settings:
    """Operator settings fixed for tests, whatever the developer's environment says."""
    values: dict[str, Any] = {
        "price_per_image": 6,
        "provider_prices": {},
        "provider_concurrency": {},
        "max_running_jobs": 8,
        "max_starts_per_second": 1000.0,
        "daily_allowance": 60,
        "guild_jobs_per_minute": 600.0,
        "user_max_running": 3,
        "user_max_queued": 10,
    }
    values.update(changes)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@dataclass
class Rig:
    """Everything a pipeline test touches."""

    db: Store
    pipeline: Pipeline
    events: RecordingEvents
    providers: dict[str, ScriptedProvider]

    def submission(
        self,
        prompt: str = "a lighthouse",
        *,
        user: int = USER,
        guild: int = GUILD,
        channel: int = CHANNEL,
        age_restricted: bool = False,
        **fields: Any,
    ) -> Submission:
        return Submission(
            guild_id=guild,
            user_id=user,
            channel_id=channel,
            age_restricted=age_restricted,
            request=GenerationRequest.parse(prompt=prompt, **fields),
        )

    async def balance(self, user: int = USER, guild: int = GUILD) -> Balance:
        return await self.pipeline.balance(guild, user)

    async def reconciled(self) -> list[str]:
        return await self.db.run(lambda tx: tx.ledger.reconcile())


RigFactory = Callable[..., Any]


@pytest.fixture
async def make_rig(db: Store, http: HttpClient) -> AsyncIterator[RigFactory]:
    """Build (and later stop) a pipeline over scripted providers named in ``names``."""
    started: list[Pipeline] = []

    async def build(
        *names: str,
        start: bool = True,
        events: RecordingEvents | None = None,
        providers: dict[str, ScriptedProvider] | None = None,
        **settings: Any,
    ) -> Rig:
        chosen = providers or {n: ScriptedProvider(n, http) for n in (names or ("alpha",))}
        events = events or RecordingEvents()
        pipeline = Pipeline(
            db, Router(list(chosen.values())), operator(**settings), events, progress_interval=0.01
        )
        if start:
            await pipeline.start()
            started.append(pipeline)
        return Rig(db, pipeline, events, chosen)

    yield build
    for pipeline in started:
        await pipeline.stop(grace=0.1)
