"""The fake fal queue, checked against fal's OFFICIAL client (``fal_client``).

If fal's own client can submit, follow, fetch and cancel on the fake, the fake
speaks fal's protocol, and the adapter tests against it mean something.
"""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator

import fal_client
import fal_client.client
import httpx
import pytest
from PIL import Image

from tests.fakes.providers.fal import FakeFal

APP = "fal-ai/flux-pro/v1.1-ultra"
ARGS = {
    "prompt": "a lighthouse at dusk, oil painting",
    "aspect_ratio": "9:16",
    "num_images": 2,
    "seed": 77,
    "safety_tolerance": "2",
    "output_format": "png",
    "enable_safety_checker": True,
}


@pytest.fixture
async def fake() -> AsyncIterator[FakeFal]:
    async with FakeFal(latency=0.05) as server:
        yield server


@pytest.fixture
async def client(
    fake: FakeFal, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[fal_client.AsyncClient]:
    monkeypatch.setattr(fal_client.client, "QUEUE_URL_FORMAT", fake.url("queue") + "/")
    official = fal_client.AsyncClient(key=fake.api_key)
    yield official
    await (await official._client).aclose()


async def _image(url: str) -> Image.Image:
    async with httpx.AsyncClient() as plain:
        resp = await plain.get(url)
    assert resp.status_code == 200
    return Image.open(io.BytesIO(resp.content))


async def test_subscribe_gets_real_images(fake: FakeFal, client: fal_client.AsyncClient) -> None:
    result = await client.subscribe(APP, arguments=ARGS, interval=0.01)
    assert result["seed"] == 77
    assert result["has_nsfw_concepts"] == [False, False]
    assert len(result["images"]) == 2
    for meta in result["images"]:
        image = await _image(meta["url"])
        assert image.format == "PNG"
        assert (image.width, image.height) == (meta["width"], meta["height"])
        assert abs(image.width / image.height - 9 / 16) < 0.05
    [task] = fake.tasks.values()
    assert task.body == ARGS
    assert fake.requests[0].headers["Authorization"] == f"Key {fake.api_key}"


async def test_submit_status_get(fake: FakeFal, client: fal_client.AsyncClient) -> None:
    fake.latency = 600.0  # queued until the test completes it, however slow the machine
    handle = await client.submit(APP, arguments=ARGS)
    assert handle.status_url.endswith(f"/fal-ai/flux-pro/requests/{handle.request_id}/status")
    assert "/v1.1-ultra/" not in handle.response_url
    first = await handle.status()
    assert isinstance(first, fal_client.Queued) and first.position == 0
    fake.finish_all()
    done = await handle.status(with_logs=True)
    assert isinstance(done, fal_client.Completed)
    assert done.logs and done.metrics["inference_time"] > 0
    result = await handle.get()
    assert result["images"] and result["prompt"] == ARGS["prompt"]


async def test_in_progress_is_read_with_logs(fake: FakeFal, client: fal_client.AsyncClient) -> None:
    fake.latency = 600.0
    handle = await client.submit(APP, arguments=ARGS)
    task = fake.tasks[handle.request_id]
    task.created -= fake.latency / 2  # past the queueing part, still running
    status = await handle.status(with_logs=True)
    assert isinstance(status, fal_client.InProgress) and status.logs
    await handle.cancel()
    assert task.cancelled


async def test_cancel_a_queued_request(fake: FakeFal, client: fal_client.AsyncClient) -> None:
    fake.latency = 600.0
    handle = await client.submit(APP, arguments=ARGS)
    await handle.cancel()
    assert fake.tasks[handle.request_id].cancelled
    assert isinstance(await handle.status(), fal_client.Completed)


async def test_nsfw_flags(fake: FakeFal, client: fal_client.AsyncClient) -> None:
    fake.script("nsfw")
    result = await client.subscribe(APP, arguments={**ARGS, "num_images": 1}, interval=0.01)
    assert result["has_nsfw_concepts"] == [True]
    await _image(result["images"][0]["url"])


async def test_errors_as_fals_client_reads_them(
    fake: FakeFal, client: fal_client.AsyncClient
) -> None:
    with pytest.raises(fal_client.client.FalClientHTTPError) as bad_type:
        await client.submit(APP, arguments={**ARGS, "safety_tolerance": 2})
    assert bad_type.value.status_code == 422
    assert bad_type.value.message[0]["loc"] == ["body", "safety_tolerance"]

    fake.script("moderated")
    with pytest.raises(fal_client.client.FalClientHTTPError) as moderated:
        await client.subscribe(APP, arguments=ARGS, interval=0.01)
    assert moderated.value.status_code == 422
    assert moderated.value.message[0]["type"] == "content_policy_violation"

    fake.balance = 0
    with pytest.raises(fal_client.client.FalClientHTTPError) as broke:
        await client.submit(APP, arguments=ARGS)
    assert broke.value.status_code == 403 and "Exhausted balance" in broke.value.message

    stranger = fal_client.AsyncClient(key="not-the-key")
    try:
        with pytest.raises(fal_client.client.FalClientHTTPError) as refused:
            await stranger.submit(APP, arguments=ARGS)
        assert refused.value.status_code == 401
    finally:
        await (await stranger._client).aclose()


async def test_status_stream_sends_each_state_and_closes_after_completed(
    fake: FakeFal, client: fal_client.AsyncClient
) -> None:
    """fal-js ``streamStatus`` reads this stream; the Python client only polls, so read it raw.

    The task never moves on by itself: each state change is made only after the stream
    has shown the previous one, so a slow machine cannot skip a state.
    """
    fake.latency, fake.keepalive = 600.0, 0.05
    handle = await client.submit(APP, arguments=ARGS)
    task = fake.tasks[handle.request_id]
    lines: list[str] = []
    async with (
        httpx.AsyncClient() as plain,
        plain.stream(
            "GET", handle.status_url + "/stream", headers={"Authorization": f"Key {fake.api_key}"}
        ) as resp,
    ):
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        async for line in resp.aiter_lines():
            lines.append(line)
            if line.startswith("data:") and json.loads(line[5:])["status"] == "IN_QUEUE":
                task.created -= fake.latency / 2  # past the queueing part, still running
            elif line.startswith(":") and any("IN_PROGRESS" in seen for seen in lines):
                fake.finish_all()  # a keep-alive was seen while running: now complete it
    events = [json.loads(line[5:]) for line in lines if line.startswith("data:")]
    assert [e["status"] for e in events] == ["IN_QUEUE", "IN_PROGRESS", "COMPLETED"]
    assert events[-1]["metrics"]["inference_time"] > 0
    assert task.completed_at is not None
    assert any(line.startswith(":") for line in lines), "keep-alive comments while waiting"
