"""The one rule for synchronous calls: as long as the job may take, capped per provider.

With the default JOB_TIMEOUT (600 s) every adapter keeps the limit it always had; a short
JOB_TIMEOUT shortens every synchronous call with it, so an operator (or a test) that wants
a hung call given up quickly says so in one setting.
"""

from __future__ import annotations

from typing import Any

import pytest

from bot.providers.aimlapi import AimlProvider
from bot.providers.base import Provider
from bot.providers.http import HttpClient, Response
from bot.providers.openai_compat import OpenAICompatProvider
from bot.providers.replicate import ReplicateProvider
from bot.providers.sync import prefer_wait, sync_timeout
from bot.providers.wavespeed import WaveSpeedProvider
from tests.bot.providers.conftest import make_provider, request
from tests.fakes.providers import FAKES

SYNC_ADAPTERS: dict[str, type[Provider]] = {
    "replicate": ReplicateProvider,
    "wavespeed": WaveSpeedProvider,
    "aimlapi": AimlProvider,
    "openai_compat": OpenAICompatProvider,
}
# What each adapter allowed its synchronous call before the rule, at JOB_TIMEOUT 600.
DEFAULT_LIMITS = {"replicate": 75.0, "wavespeed": 180.0, "aimlapi": 600.0, "openai_compat": 180.0}


def test_the_rule_caps_the_job_wait_at_the_provider_ceiling() -> None:
    assert sync_timeout(600.0, 180.0) == 180.0
    assert sync_timeout(4.0, 180.0) == 4.0
    assert sync_timeout(3600.0, 600.0) == 600.0


@pytest.mark.parametrize("timeout", [0.5, 1.0, 2.0, 4.0, 10.0, 74.0, 75.0, 600.0])
def test_prefer_wait_is_a_little_under_the_client_limit(timeout: float) -> None:
    wait = prefer_wait(timeout)
    assert 1 <= wait <= 60
    assert wait < timeout or wait == 1, "the provider, not the client, ends the wait"
    assert prefer_wait(75.0) == 60, "Replicate's documented longest wait by default"


async def submit_call(name: str, http: HttpClient, max_wait: float) -> tuple[float, dict[str, str]]:
    """The timeout and headers the adapter gives its submit, with this JOB_TIMEOUT."""
    cls = SYNC_ADAPTERS[name]
    async with FAKES[name].cls(latency=0) as fake:
        extra = {"base_url": FAKES[name].base_url(fake)} if name == "openai_compat" else {}
        provider = make_provider(cls, fake, http, max_wait=max_wait, **extra)
        calls: list[tuple[str, dict[str, Any]]] = []
        real = provider.http.request

        async def spy(method: str, url: str, **kw: Any) -> Response:
            calls.append((method, kw))
            return await real(method, url, **kw)

        provider.http.request = spy  # type: ignore[method-assign]
        await provider.submit(request(aspect_ratio="16:9"))
    [(method, kw)] = calls
    assert method == "POST"
    return kw["timeout"], dict(kw.get("headers") or {})


@pytest.mark.parametrize("name", SYNC_ADAPTERS)
async def test_default_job_timeout_keeps_each_providers_limit(name: str, http: HttpClient) -> None:
    timeout, headers = await submit_call(name, http, max_wait=600.0)
    assert timeout == DEFAULT_LIMITS[name]
    if name == "replicate":
        assert headers["Prefer"] == "wait=60"


@pytest.mark.parametrize("name", SYNC_ADAPTERS)
async def test_a_short_job_timeout_shortens_every_sync_call(name: str, http: HttpClient) -> None:
    timeout, headers = await submit_call(name, http, max_wait=4.0)
    assert timeout == 4.0
    if name == "replicate":
        assert headers["Prefer"] == "wait=3", "Replicate ends its wait before the client does"
