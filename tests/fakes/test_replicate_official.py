"""The fake Replicate checked against the official ``replicate`` client: same protocol both ways."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import replicate
from PIL import Image
from replicate.exceptions import ModelError, ReplicateError

from tests.fakes.providers.replicate import MODEL, FakeReplicate


@pytest.fixture
async def fake() -> AsyncIterator[FakeReplicate]:
    async with FakeReplicate(latency=0.05) as server:
        yield server


def client(fake: FakeReplicate, key: str | None = None) -> replicate.Client:
    """An official client pointed at the fake, polling fast."""
    official = replicate.Client(api_token=key or fake.api_key, base_url=fake.url(), trust_env=False)
    official.poll_interval = 0.01
    return official


async def read_output(output: Any) -> bytes:
    """The image bytes behind what the client returned (a FileOutput, or a URL string)."""
    if isinstance(output, list):
        [output] = output
    if hasattr(output, "aread"):
        return await output.aread()
    async with httpx.AsyncClient(trust_env=False) as plain:
        resp = await plain.get(str(output))
        resp.raise_for_status()
        return resp.content


async def test_async_run_blocks_with_prefer_wait_and_returns_the_image(
    fake: FakeReplicate,
) -> None:
    output = await client(fake).async_run(
        MODEL, input={"prompt": "a fox", "aspect_ratio": "16:9", "output_format": "png"}
    )
    data = await read_output(output)
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    assert abs(image.width / image.height - 16 / 9) < 0.05
    [create] = [r for r in fake.requests if r.method == "POST"]
    assert create.path == f"/v1/models/{MODEL}/predictions"
    assert create.headers.get("Prefer") == "wait"
    assert create.headers.get("Authorization") == f"Bearer {fake.api_key}"
    assert fake.count("api", "GET") == 0, "a blocking create that ends needs no poll"


async def test_create_then_wait_polls_until_succeeded(fake: FakeReplicate) -> None:
    official = client(fake)
    prediction = await official.predictions.async_create(model=MODEL, input={"prompt": "a fox"})
    assert prediction.status == "starting"
    assert prediction.urls is not None and prediction.urls["get"].endswith(prediction.id)
    await prediction.async_wait()
    assert prediction.status == "succeeded"
    assert isinstance(prediction.output, str)
    image = Image.open(io.BytesIO(await read_output(prediction.output)))
    assert image.format == "JPEG" and image.width == image.height  # Replicate's default 1:1
    assert prediction.metrics and prediction.metrics["predict_time"] > 0


async def test_cancel_returns_a_canceled_prediction(fake: FakeReplicate) -> None:
    fake.latency = 600.0
    official = client(fake)
    prediction = await official.predictions.async_create(model=MODEL, input={"prompt": "a fox"})
    await prediction.async_cancel()
    assert prediction.status == "canceled"
    assert fake.tasks[prediction.id].cancelled


async def test_current_account(fake: FakeReplicate) -> None:
    account = await client(fake).accounts.async_current()
    assert account.username == fake.username and account.type == "user"


async def test_bad_key_is_a_401_problem(fake: FakeReplicate) -> None:
    with pytest.raises(ReplicateError) as caught:
        await client(fake, key="wrong").accounts.async_current()
    assert caught.value.status == 401 and caught.value.title == "Unauthenticated"


@pytest.mark.parametrize(
    ("field", "value"),
    [("safety_tolerance", "2"), ("output_format", "jpeg"), ("aspect_ratio", "7:3")],
)
async def test_type_traps_are_422_problems(fake: FakeReplicate, field: str, value: str) -> None:
    with pytest.raises(ReplicateError) as caught:
        await client(fake).async_run(MODEL, input={"prompt": "a fox", field: value})
    assert caught.value.status == 422
    assert f"input.{field}" in (caught.value.detail or "")
    assert not fake.tasks


async def test_moderation_is_a_failed_prediction_with_e005(fake: FakeReplicate) -> None:
    fake.script("moderated")
    with pytest.raises(ModelError) as caught:
        await client(fake).async_run(MODEL, input={"prompt": "a fox"})
    assert "(E005)" in str(caught.value)


async def test_out_of_credit_is_a_402_problem(fake: FakeReplicate) -> None:
    fake.balance = 0
    with pytest.raises(ReplicateError) as caught:
        await client(fake).async_run(MODEL, input={"prompt": "a fox"})
    assert caught.value.status == 402 and caught.value.title == "Insufficient credit"
