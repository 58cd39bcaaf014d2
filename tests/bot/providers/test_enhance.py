"""Prompt enhancement: asked for in each provider's own field, the rewritten prompt kept."""

from __future__ import annotations

import pytest

from bot.providers.http import HttpClient
from bot.providers.registry import ADAPTERS
from bot.providers.router import Router
from tests.bot.providers.conftest import make_provider, request
from tests.fakes.providers import FAKES

# From ../shared/specs/providers.md: BFL's `prompt_upsampling` and fal's `enhance_prompt`,
# both booleans; no other provider documents one for this model.
FIELDS = {"bfl": "prompt_upsampling", "fal": "enhance_prompt"}


@pytest.mark.parametrize("name", list(FIELDS))
async def test_the_flag_goes_in_the_providers_own_field_and_the_new_prompt_comes_back(
    name: str, http: HttpClient
) -> None:
    async with FAKES[name].cls(latency=0) as fake:
        provider = make_provider(ADAPTERS[name], fake, http, host=FAKES[name].host)
        result = await provider.generate(request(enhance=True))
        plain = await provider.generate(request())
        bodies = [t.body for t in fake.tasks.values()]
    assert bodies[0][FIELDS[name]] is True, "a real boolean, in the provider's own name"
    assert bodies[1][FIELDS[name]] is False
    assert result.prompt is not None and result.prompt != request().prompt
    assert result.prompt.startswith(request().prompt), "the provider's rewrite, as it gave it"
    assert plain.prompt == request().prompt


@pytest.mark.parametrize("name", [n for n in ADAPTERS if n not in FIELDS])
def test_a_provider_without_enhancement_refuses_it(name: str) -> None:
    caps = ADAPTERS[name].capabilities
    assert "cannot enhance the prompt" in caps.refusals(request(enhance=True))
    assert "cannot enhance the prompt" not in caps.refusals(request())


async def test_the_router_skips_a_provider_that_cannot_enhance(http: HttpClient) -> None:
    async with FAKES["wavespeed"].cls(latency=0) as ws, FAKES["fal"].cls(latency=0) as fal:
        router = Router(
            [
                make_provider(ADAPTERS["wavespeed"], ws, http),
                make_provider(ADAPTERS["fal"], fal, http, host="queue"),
            ]
        )
        result = await router.generate(request(enhance=True))
        assert result.provider == "fal"
        assert not ws.tasks, "never sent to a provider that would ignore the flag"
