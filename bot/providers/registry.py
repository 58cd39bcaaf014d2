"""Which adapter serves which provider name, and building them from settings."""

from __future__ import annotations

from bot.providers.aimlapi import AimlProvider
from bot.providers.apiframe import ApiframeProvider
from bot.providers.base import Provider, ProviderConfig
from bot.providers.bfl import BflProvider
from bot.providers.fal import FalProvider
from bot.providers.http import HttpClient
from bot.providers.openai_compat import OpenAICompatProvider
from bot.providers.replicate import ReplicateProvider
from bot.providers.wavespeed import WaveSpeedProvider
from bot.settings import PROVIDER_NAMES, Settings

ADAPTERS: dict[str, type[Provider]] = {
    cls.name: cls
    for cls in (
        BflProvider,
        FalProvider,
        ReplicateProvider,
        WaveSpeedProvider,
        ApiframeProvider,
        AimlProvider,
        OpenAICompatProvider,
    )
}
assert tuple(ADAPTERS) == PROVIDER_NAMES


def provider_config(settings: Settings, name: str) -> ProviderConfig | None:
    """The adapter configuration for ``name``, or None when its key is not set."""
    key, url = settings.api_key(name), settings.base_url(name)
    if key is None or url is None:
        return None
    model = settings.openai_compat_model if name == "openai_compat" else None
    return ProviderConfig(
        api_key=key,
        base_url=url,
        model=model,
        max_wait=settings.job_timeout,
        api_hosts=settings.provider_api_hosts.get(name, ()),
    )


def build_providers(settings: Settings, http: HttpClient) -> list[Provider]:
    """One adapter per enabled provider, in the configured order."""
    providers = []
    for name in settings.enabled_providers():
        config = provider_config(settings, name)
        assert config is not None
        providers.append(ADAPTERS[name](http, config))
    return providers
