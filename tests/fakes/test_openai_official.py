"""The fake OpenAI-compatible gateway checked against the official ``openai`` client."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import openai
import pytest

from bot.images import probe
from tests.fakes.providers.openai_compat import MODELS, PREFIX, FakeOpenAICompat


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAICompat]:
    async with FakeOpenAICompat(latency=0.02) as server:
        yield server


def client(fake: FakeOpenAICompat, key: str | None = None, retries: int = 0) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        api_key=key or fake.api_key,
        base_url=fake.url() + PREFIX,
        max_retries=retries,
        timeout=10.0,
    )


async def _generate(fake: FakeOpenAICompat, key: str | None = None, **kw: Any) -> Any:
    kw.setdefault("model", "flux1.1-pro-ultra")
    kw.setdefault("prompt", "a red fox in snow")
    async with client(fake, key) as official:
        return await official.images.generate(**kw)


async def test_url_answer_downloads_to_a_real_image(fake: FakeOpenAICompat) -> None:
    result = await _generate(
        fake,
        n=2,
        size="16:9",
        response_format="url",
        extra_body={"raw": True, "seed": 9, "aspect_ratio": "16:9", "output_format": "png"},
    )
    assert len(result.data) == 2 and result.created > 0
    async with aiohttp.ClientSession() as session, session.get(result.data[0].url) as resp:
        assert resp.status == 200
        info = probe(await resp.read())
    assert info.content_type == "image/png"
    assert abs(info.width / info.height - 16 / 9) < 0.05
    sent = fake.requests[0]
    assert sent.headers["Authorization"] == f"Bearer {fake.api_key}"
    assert sent.body["raw"] is True and sent.body["seed"] == 9
    assert sent.body["aspect_ratio"] == "16:9" and sent.body["output_format"] == "png"


async def test_b64_answer_decodes_to_a_real_image(fake: FakeOpenAICompat) -> None:
    result = await _generate(
        fake, response_format="b64_json", output_format="jpeg", extra_body={"aspect_ratio": "1:1"}
    )
    [image] = result.data
    assert image.url is None
    info = probe(base64.b64decode(image.b64_json))
    assert info.content_type == "image/jpeg" and info.width == info.height


async def test_pinned_model_and_models_list(fake: FakeOpenAICompat) -> None:
    result = await _generate(fake, model="fal/flux1.1-pro-ultra")
    assert result.data[0].url
    async with client(fake) as official:
        listed = [model.id async for model in await official.models.list()]
    assert set(MODELS) <= set(listed)


async def test_bad_key_is_authentication_error(fake: FakeOpenAICompat) -> None:
    with pytest.raises(openai.AuthenticationError) as caught:
        await _generate(fake, key="sk-wrong")
    assert caught.value.code == "invalid_api_key"
    with pytest.raises(openai.AuthenticationError):
        async with client(fake, "sk-wrong") as official:
            await official.models.list()


async def test_out_of_quota_is_a_402_insufficient_quota(fake: FakeOpenAICompat) -> None:
    fake.balance = 0
    with pytest.raises(openai.APIStatusError) as caught:
        await _generate(fake)
    assert caught.value.status_code == 402
    assert caught.value.code == "insufficient_quota"


async def test_rate_limit_is_rate_limit_error(fake: FakeOpenAICompat) -> None:
    fake.fail_next(
        "submit",
        429,
        {"error": {"message": "slow down", "type": "rate_limit", "code": "rate_limit_exceeded"}},
        headers={"Retry-After": "3"},
    )
    with pytest.raises(openai.RateLimitError) as caught:
        await _generate(fake)
    assert caught.value.response.headers["retry-after"] == "3"
    assert fake.count("api", "POST") == 1


async def test_unknown_model_is_not_found(fake: FakeOpenAICompat) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        await _generate(fake, model="flux9")
    assert caught.value.code == "model_not_found"


async def test_moderated_is_bad_request_with_policy_code(fake: FakeOpenAICompat) -> None:
    fake.script("moderated")
    with pytest.raises(openai.BadRequestError) as caught:
        await _generate(fake)
    assert caught.value.code == "content_policy_violation"


async def test_failed_is_server_error(fake: FakeOpenAICompat) -> None:
    fake.script("failed")
    with pytest.raises(openai.InternalServerError) as caught:
        await _generate(fake)
    assert caught.value.status_code == 502


async def test_bad_n_is_bad_request(fake: FakeOpenAICompat) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await _generate(fake, n=5)
    assert caught.value.param == "n"
