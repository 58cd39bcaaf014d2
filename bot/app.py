"""Builds the bot's parts from Settings and owns their lifetime: open once, close on the way out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp

from bot.providers.http import HttpClient
from bot.providers.registry import build_providers
from bot.providers.router import Router
from bot.settings import Settings

USER_AGENT = "imagine-bot/0.1 (+https://github.com/imagine-bot)"


@dataclass
class Core:
    """Everything the Discord layer and the command line use, built once."""

    settings: Settings
    http: HttpClient
    router: Router


@asynccontextmanager
async def open_core(settings: Settings) -> AsyncIterator[Core]:
    """Open the one HTTP session, build the providers and the router; close them on exit."""
    timeout = aiohttp.ClientTimeout(total=settings.http_timeout)
    async with aiohttp.ClientSession(
        timeout=timeout, headers={"User-Agent": USER_AGENT}
    ) as session:
        http = HttpClient(
            session,
            timeout=settings.http_timeout,
            max_download_bytes=settings.download_max_mb * 1024 * 1024,
        )
        yield Core(settings=settings, http=http, router=Router(build_providers(settings, http)))
