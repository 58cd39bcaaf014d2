"""Helpers for adapter tests: build an adapter pointed at its fake, with a fast poll schedule."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import SecretStr

from bot.models import GenerationRequest
from bot.origins import origin_of, parse_origin
from bot.providers.base import Provider, ProviderConfig
from bot.providers.http import HttpClient
from bot.providers.polling import PollTuning
from tests.fakes.providers import FAKES
from tests.fakes.providers.base import FakeProviderServer

FAST_POLLING = PollTuning().scaled(0.01)


def make_provider(
    cls: type[Provider],
    fake: FakeProviderServer,
    http: HttpClient,
    *,
    host: str = "api",
    key: str | None = None,
    sleep: Any = asyncio.sleep,
    **config: Any,
) -> Provider:
    """An adapter of ``cls`` talking to ``fake`` with the fake's key (or ``key``).

    As an operator would: the fake's other API hosts are listed as the provider's
    (PROVIDER_API_HOSTS) and its media hosts are trusted (TRUSTED_HOSTS).
    """
    spec = FAKES[cls.name]
    api = spec.api_origins(fake)
    config.setdefault("api_hosts", tuple(map(parse_origin, api)))
    cfg = ProviderConfig(
        api_key=SecretStr(fake.api_key if key is None else key),
        base_url=config.pop("base_url", fake.url(host)),
        **config,
    )
    # What TrustPolicy.from_settings trusts for a provider: its base URL and API hosts.
    trusted = http.trusting(origin_of(cfg.base_url), *api, *spec.media_origins(fake))
    return cls(trusted, cfg, sleep=sleep, polling=FAST_POLLING)


def request(**fields: Any) -> GenerationRequest:
    """A valid request with a default prompt."""
    fields.setdefault("prompt", "a lighthouse at dusk, oil painting")
    return GenerationRequest.parse(**fields)
