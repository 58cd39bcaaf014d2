"""The fake provider servers, one per provider, and how to point the bot at each."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from tests.fakes.providers.aimlapi import FakeAiml
from tests.fakes.providers.apiframe import FakeApiframe
from tests.fakes.providers.base import FakeProviderServer
from tests.fakes.providers.bfl import FakeBfl
from tests.fakes.providers.fal import FakeFal
from tests.fakes.providers.openai_compat import FakeOpenAICompat
from tests.fakes.providers.replicate import FakeReplicate
from tests.fakes.providers.wavespeed import FakeWaveSpeed


@dataclass(frozen=True)
class FakeSpec:
    """A fake's class and where its API lives (host name and path under it)."""

    cls: type[FakeProviderServer]
    host: str = "api"
    path: str = ""
    # Other hosts the provider documents as its own API (they get the key), e.g. BFL's
    # polling host; every other host of the fake serves media only.
    api_hosts: tuple[str, ...] = ()

    def base_url(self, fake: FakeProviderServer) -> str:
        """The base URL setting that points the bot's adapter at this running fake."""
        return fake.url(self.host) + self.path

    def media_origins(self, fake: FakeProviderServer) -> list[str]:
        """The fake's hosts that are neither its base URL nor its API: trusted, no key."""
        skip = {self.host, *self.api_hosts}
        return [fake.url(h) for h in fake.hosts if h not in skip]

    def api_origins(self, fake: FakeProviderServer) -> list[str]:
        """The fake's other API hosts, which an operator lists in PROVIDER_API_HOSTS."""
        return [fake.url(h) for h in self.api_hosts]


FAKES: dict[str, FakeSpec] = {
    "bfl": FakeSpec(FakeBfl, api_hosts=("poll",)),
    "fal": FakeSpec(FakeFal, host="queue"),
    "replicate": FakeSpec(FakeReplicate),
    "wavespeed": FakeSpec(FakeWaveSpeed),
    "apiframe": FakeSpec(FakeApiframe),
    "aimlapi": FakeSpec(FakeAiml),
    "openai_compat": FakeSpec(FakeOpenAICompat, path="/openai/v1"),
}


def trust_for(fakes: Mapping[str, FakeProviderServer], *more: str) -> dict[str, str]:
    """TRUSTED_HOSTS and PROVIDER_API_HOSTS as an operator running these fakes would set them:
    the fakes' media hosts (and ``more``, e.g. the fake Discord's CDN) are trusted, and each
    fake's other API hosts get its key. Nothing else on 127.0.0.1 is trusted."""
    trusted = [*more]
    api = []
    for name, fake in fakes.items():
        trusted += FAKES[name].media_origins(fake)
        api += [f"{name}={origin}" for origin in FAKES[name].api_origins(fake)]
    return {"TRUSTED_HOSTS": ",".join(trusted), "PROVIDER_API_HOSTS": ",".join(api)}
