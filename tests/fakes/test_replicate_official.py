"""The fake Replicate checked against the official ``replicate`` client: same protocol both ways."""

from __future__ import annotations

import asyncio
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


async def test_list_pages_newest_first_as_the_official_client_reads_them(
    fake: FakeReplicate,
) -> None:
    fake.list_page_size = 2
    official = client(fake)
    made = []
    for n in range(5):
        created = await official.predictions.async_create(model=MODEL, input={"prompt": f"fox {n}"})
        made.append(created.id)

    first = await official.predictions.async_list()
    assert [p.id for p in first] == [made[4], made[3]] and first.previous is None
    assert first[0].input == {"prompt": "fox 4"} and first[0].model == MODEL
    assert first[0].urls is not None and first[0].urls["get"].endswith(made[4])

    pages = [page async for page in replicate.async_paginate(official.predictions.async_list)]
    assert [[p.id for p in page] for page in pages] == [made[4:2:-1], made[2:0:-1], made[:1]]
    assert pages[-1].next is None and pages[-1].previous is not None
    back = await official.predictions.async_list(pages[2].previous)
    assert [p.id for p in back] == [p.id for p in pages[1]]

    in_thread = await asyncio.to_thread(official.predictions.list)  # the blocking client too
    assert [p.id for p in in_thread] == [made[4], made[3]]


async def test_list_items_carry_the_documented_fields(fake: FakeReplicate) -> None:
    fake.latency = 0
    await client(fake).async_run(MODEL, input={"prompt": "a fox", "seed": 3})
    async with httpx.AsyncClient(trust_env=False) as plain:
        resp = await plain.get(
            f"{fake.url()}/v1/predictions", headers={"Authorization": f"Bearer {fake.api_key}"}
        )
    body = resp.json()
    assert resp.status_code == 200 and set(body) == {"next", "previous", "results"}
    [item] = body["results"]
    required = {"id", "model", "version", "input", "status", "created_at", "urls", "output"}
    assert required | {"error", "source"} <= set(item)
    assert item["status"] == "succeeded" and item["source"] == "api"
    assert item["input"] == {"prompt": "a fox", "seed": 3} and item["output"].startswith("http")


async def test_list_finds_the_prediction_whose_create_answer_was_lost(
    fake: FakeReplicate,
) -> None:
    official = client(fake)
    fake.lose_answer_next("create", "drop")
    with pytest.raises(httpx.RemoteProtocolError):
        await official.predictions.async_create(model=MODEL, input={"prompt": "lost fox"})
    listed = await official.predictions.async_list()
    assert [p.input for p in listed] == [{"prompt": "lost fox"}]
    assert [p.id for p in listed] == [t.id for t in fake.billed_tasks()]


async def test_list_filters_and_refuses_what_it_did_not_write(fake: FakeReplicate) -> None:
    official = client(fake)
    old = await official.predictions.async_create(model=MODEL, input={"prompt": "old"})
    new = await official.predictions.async_create(model=MODEL, input={"prompt": "new"})
    auth = {"Authorization": f"Bearer {fake.api_key}"}
    async with httpx.AsyncClient(base_url=fake.url(), trust_env=False, headers=auth) as plain:

        async def ids(**query: str) -> list[str]:
            resp = await plain.get("/v1/predictions", params=query)
            assert resp.status_code == 200, resp.text
            return [p["id"] for p in resp.json()["results"]]

        assert await ids(created_after=new.created_at) == [new.id], "created_after is inclusive"
        assert await ids(created_before=new.created_at) == [old.id], "created_before is not"
        assert await ids(source="web") == []
        bad = await plain.get("/v1/predictions", params={"cursor": "not-a-cursor"})
        assert bad.status_code == 400 and bad.json()["detail"] == "Invalid cursor"
        stranger = await plain.get("/v1/predictions", headers={"Authorization": "Bearer nope"})
        assert stranger.status_code == 401
