"""Builds the bot's parts from Settings and owns their lifetime: open once, close on the way out."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import aiohttp
from aiohttp.abc import AbstractResolver

from bot.loopwatch import LoopWatch
from bot.nsfw import load_classifier
from bot.pipeline.facade import Facade
from bot.pipeline.service import Pipeline
from bot.providers.guard import guarded_session
from bot.providers.http import HttpClient
from bot.providers.registry import build_providers
from bot.providers.router import Router
from bot.providers.trust import TrustPolicy
from bot.settings import Settings
from bot.startup import check_providers_at_start
from bot.storage.engines import open_store
from bot.storage.interface import Store
from bot.storage.sqlite.lock import instance_lock

USER_AGENT = "imagine-bot/0.1 (+https://github.com/imagine-bot)"


@dataclass
class Core:
    """Everything the Discord layer and the command line use, built once."""

    settings: Settings
    http: HttpClient
    router: Router


@dataclass
class Service:
    """The core plus what a running bot adds: the database, the pipeline, and the facade the
    Discord layer goes through."""

    core: Core
    store: Store
    pipeline: Pipeline
    facade: Facade = field(init=False)

    def __post_init__(self) -> None:
        self.facade = Facade(self.pipeline, self.core.http, facts=self)

    @property
    def settings(self) -> Settings:
        """The operator's settings the service was built from."""
        return self.core.settings

    async def check_providers(self) -> None:
        """Check every provider's key before going online; StartupFailure if none works."""
        await check_providers_at_start(self.core.router.providers, self.core.settings)

    async def recall(self, key: str) -> str | None:
        """A fact the bot stored about itself in an earlier run."""
        return await self.store.run(lambda tx: tx.state.get(key))

    async def remember(self, key: str, value: str) -> None:
        """Store a fact about the bot for later runs."""
        at = time.time()
        await self.store.run(lambda tx: tx.state.put(key, value, at=at))


@asynccontextmanager
async def open_core(
    settings: Settings, *, resolver: AbstractResolver | None = None
) -> AsyncIterator[Core]:
    """Open the one HTTP session, build the providers and the router; close them on exit.

    ``resolver`` replaces aiohttp's DNS resolver under the address guard (tests use it so
    that nothing leaves the machine).
    """
    timeout = aiohttp.ClientTimeout(total=settings.http_timeout)
    policy = TrustPolicy.from_settings(settings)
    # A running job may hold a status stream, a download and a request at once; aiohttp's
    # default of 100 connections would make jobs queue for a socket.
    async with guarded_session(
        policy,
        resolver=resolver,
        limit=max(100, 4 * settings.max_running_jobs),
        timeout=timeout,
        headers={"User-Agent": USER_AGENT},
    ) as session:
        http = HttpClient(
            session,
            timeout=settings.http_timeout,
            max_download_bytes=settings.download_max_mb * 1024 * 1024,
            policy=policy,
        )
        router = Router(
            build_providers(settings, http),
            concurrency=dict(settings.provider_concurrency),
            finishing=settings.max_finishing_jobs,
        )
        yield Core(settings=settings, http=http, router=router)


@asynccontextmanager
async def open_service(
    settings: Settings, *, resolver: AbstractResolver | None = None
) -> AsyncIterator[Service]:
    """Open the core and the database (migrated), and build the pipeline over them.

    A SQLite database is this process's alone while it runs (``storage.sqlite.lock``): a
    second process on it is refused with AlreadyRunning before anything is opened. A
    PostgreSQL database is shared by every process of a fleet.
    """
    single = settings.database_url is None  # PostgreSQL is shared by a fleet: no file lock
    with instance_lock(settings.database_path) if single else contextlib.nullcontext():
        async with open_core(settings, resolver=resolver) as core:
            store = await open_store(settings.database())
            classifier = load_classifier(settings.nsfw_threshold) if settings.nsfw_check else None
            if classifier is not None:
                await classifier.ready()
            watch = LoopWatch()
            watch.start()
            try:
                pipeline = Pipeline(store, core.router, settings, classifier=classifier)
                yield Service(core=core, store=store, pipeline=pipeline)
            finally:
                await watch.stop()
                if classifier is not None:
                    classifier.close()
                await store.close()
