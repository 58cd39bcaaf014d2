"""The fake provider servers, one per provider, and how to point the bot at each."""

from __future__ import annotations

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

    def base_url(self, fake: FakeProviderServer) -> str:
        """The base URL setting that points the bot's adapter at this running fake."""
        return fake.url(self.host) + self.path


FAKES: dict[str, FakeSpec] = {
    "bfl": FakeSpec(FakeBfl),
    "fal": FakeSpec(FakeFal, host="queue"),
    "replicate": FakeSpec(FakeReplicate),
    "wavespeed": FakeSpec(FakeWaveSpeed),
    "apiframe": FakeSpec(FakeApiframe),
    "aimlapi": FakeSpec(FakeAiml),
    "openai_compat": FakeSpec(FakeOpenAICompat, path="/openai/v1"),
}
