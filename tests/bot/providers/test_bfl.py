"""BFL adapter: its pure readings, then the whole flow against the fake BFL."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator

import pytest

from bot.errors import (
    BadCredentials,
    ContentModerated,
    OutOfCredit,
    ProviderFault,
    ProviderRejected,
    RateLimited,
    TaskFailed,
    Transient,
)
from bot.handles import JobHandle, Pending, TaskOutcome
from bot.models import GenerationRequest, OutputFormat, ReferenceImage
from bot.providers import bfl
from bot.providers.capabilities import make_plan
from bot.providers.http import HttpClient, Response
from tests.bot.providers.conftest import make_provider, request
from tests.fakes.clock import RecordingSleep
from tests.fakes.providers.base import render
from tests.fakes.providers.bfl import FakeBfl, validation_errors

# --- pure -----------------------------------------------------------------------------


def test_body_uses_bfl_types() -> None:
    req = request(aspect_ratio="21:9", seed=7, safety_tolerance=0, output_format="png", raw=True)
    body = bfl.build_body(req, make_plan("bfl", bfl.CAPABILITIES, req), 0, None)
    assert body["safety_tolerance"] == 0 and type(body["safety_tolerance"]) is int
    assert body["output_format"] == "png"
    assert body["aspect_ratio"] == "21:9"
    assert body["raw"] is True and body["seed"] == 7
    assert "image_prompt" not in body
    assert validation_errors(body) == []


def test_body_omits_seed_when_random_and_sends_reference_as_base64() -> None:
    ref = ReferenceImage(data=render(8, 8, "png"), content_type="image/png")
    req = request(reference=ref, reference_strength=0.4)
    body = bfl.build_body(req, make_plan("bfl", bfl.CAPABILITIES, req), 0, ref.base64())
    assert "seed" not in body
    assert base64.b64decode(body["image_prompt"]) == ref.data
    assert body["image_prompt_strength"] == 0.4


def test_poll_readings() -> None:
    assert bfl.parse_poll({"id": "t", "status": "Pending", "progress": 0.4}) == Pending(0.4)
    assert bfl.parse_poll({"id": "t", "status": "Pending", "progress": None}) == Pending(None)
    ready = bfl.parse_poll(
        {
            "id": "t",
            "status": "Ready",
            "result": {"sample": "https://delivery-eu1.bfl.ai/x.jpg", "seed": 42, "duration": 3.5},
        }
    )
    assert isinstance(ready, TaskOutcome)
    assert ready.images[0].url.endswith("x.jpg") and ready.seed == 42
    assert ready.provider_seconds == 3.5
    with pytest.raises(ContentModerated) as moderated:
        bfl.parse_poll(
            {
                "id": "t",
                "status": "Request Moderated",
                "result": None,
                "details": {"Moderation Reasons": ["Derivative Works Filter"]},
            }
        )
    assert moderated.value.reasons == ("Derivative Works Filter",)
    with pytest.raises(ContentModerated):
        bfl.parse_poll({"id": "t", "status": "Content Moderated", "result": None})
    with pytest.raises(TaskFailed):
        bfl.parse_poll({"id": "t", "status": "Error", "result": None})
    with pytest.raises(TaskFailed):
        bfl.parse_poll({"id": "t", "status": "Task not found", "result": None})
    for malformed in ({"status": "Exploded"}, {"status": "Ready", "result": None}, [], None):
        with pytest.raises(ValueError, match=r"."):
            bfl.parse_poll(malformed)


def test_submit_reading_keeps_the_polling_url_as_given() -> None:
    got = bfl.parse_submit(
        {"id": "t1", "polling_url": "https://api.eu1.bfl.ai/v1/get_result?id=t1"},
        "https://api.bfl.ai",
    )
    assert got == ("t1", "https://api.eu1.bfl.ai/v1/get_result?id=t1")
    assert bfl.parse_submit({"id": "t1"}, "https://api.bfl.ai")[1] == (
        "https://api.bfl.ai/v1/get_result?id=t1"
    )
    with pytest.raises(ValueError, match="id"):
        bfl.parse_submit({"polling_url": "x"}, "https://api.bfl.ai")


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (403, {"detail": "Not authenticated - Invalid Authentication"}, BadCredentials),
        (422, {"detail": "Invalid API key format"}, BadCredentials),
        (
            422,
            {"detail": [{"loc": ["body", "aspect_ratio"], "msg": "bad", "type": "x"}]},
            ProviderRejected,
        ),
        (402, {"detail": "Insufficient credits"}, OutOfCredit),
        (429, {"detail": "too many active tasks"}, RateLimited),
        (503, {"detail": "unavailable"}, Transient),
        (500, "<html>oops</html>", Transient),
    ],
)
def test_error_readings(status: int, body: object, kind: type) -> None:
    raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    error = bfl.classify(Response(status, {}, raw), submit=True)
    assert isinstance(error, kind)
    if status < 429:
        assert error.accepted is False


# --- against the fake -----------------------------------------------------------------------


@pytest.fixture
async def fake() -> AsyncIterator[FakeBfl]:
    async with FakeBfl(latency=0.05) as server:
        yield server


async def test_generates_an_image_polling_the_given_host(fake: FakeBfl, http: HttpClient) -> None:
    provider = make_provider(bfl.BflProvider, fake, http)
    result = await provider.generate(request(aspect_ratio="16:9", seed=42))
    assert result.provider == "bfl" and result.seed == 42
    [image] = result.images
    assert image.content_type == "image/jpeg" and not image.nsfw
    assert abs(image.width / image.height - 16 / 9) < 0.05
    assert result.job_id in fake.tasks
    assert fake.count("poll", "GET", "/v1/get_result") >= 1
    assert fake.count("api", "GET") == 0, "the polling URL must be used as given"
    assert "x-key" not in {
        k.lower() for r in fake.requests if r.host == "delivery" for k in r.headers
    }, "the key must not go to the image host"


async def test_png_and_raw_reach_bfl_typed(fake: FakeBfl, http: HttpClient) -> None:
    provider = make_provider(bfl.BflProvider, fake, http)
    result = await provider.generate(
        request(output_format=OutputFormat.PNG, raw=True, safety_tolerance=5)
    )
    assert result.images[0].content_type == "image/png"
    sent = fake.requests[0].body
    assert sent["safety_tolerance"] == 5 and sent["raw"] is True and sent["output_format"] == "png"


async def test_moderated_request_is_not_charged(fake: FakeBfl, http: HttpClient) -> None:
    fake.balance = 10
    fake.script("moderated_request")
    with pytest.raises(ContentModerated) as caught:
        await make_provider(bfl.BflProvider, fake, http).generate(request())
    assert caught.value.reasons == ("Derivative Works Filter",)
    assert fake.balance == 10


async def test_content_moderated(fake: FakeBfl, http: HttpClient) -> None:
    fake.script("moderated")
    with pytest.raises(ContentModerated):
        await make_provider(bfl.BflProvider, fake, http).generate(request())


async def test_task_error_is_task_failed(fake: FakeBfl, http: HttpClient) -> None:
    fake.script("failed")
    with pytest.raises(TaskFailed) as caught:
        await make_provider(bfl.BflProvider, fake, http).generate(request())
    assert caught.value.failover


async def test_bad_and_malformed_keys(fake: FakeBfl, http: HttpClient) -> None:
    for key in ("wrong-key", "has space"):
        provider = make_provider(bfl.BflProvider, fake, http, key=key)
        with pytest.raises(BadCredentials) as caught:
            await provider.submit(request())
        assert key not in caught.value.log_message and key not in caught.value.user_message
        with pytest.raises(BadCredentials):
            await provider.check_credentials()
    await make_provider(bfl.BflProvider, fake, http).check_credentials()


async def test_out_of_credit(fake: FakeBfl, http: HttpClient) -> None:
    fake.balance = 0
    with pytest.raises(OutOfCredit):
        await make_provider(bfl.BflProvider, fake, http).submit(request())


async def test_submit_429_reports_retry_after_without_resubmitting(
    fake: FakeBfl, http: HttpClient
) -> None:
    fake.fail_next(
        "submit",
        429,
        {"detail": "You have reached the maximum of 24 active tasks."},
        headers={"Retry-After": "30"},
    )
    with pytest.raises(RateLimited) as caught:
        await make_provider(bfl.BflProvider, fake, http).submit(request())
    assert caught.value.retry_after == 30
    assert fake.count("api", "POST") == 1


async def test_short_retry_after_on_submit_is_waited_then_retried(
    fake: FakeBfl, http: HttpClient, sleeps: RecordingSleep
) -> None:
    fake.fail_next("submit", 429, {"detail": "busy"}, headers={"Retry-After": "1"})
    fake.latency = 0
    provider = make_provider(bfl.BflProvider, fake, http, sleep=sleeps)
    await provider.generate(request())
    assert 1.0 in sleeps.delays
    assert fake.count("api", "POST") == 2


async def test_retry_after_on_poll_is_honoured(
    fake: FakeBfl, http: HttpClient, sleeps: RecordingSleep
) -> None:
    fake.latency = 0
    fake.fail_next("poll", 429, {"detail": "slow down"}, headers={"Retry-After": "7"})
    result = await make_provider(bfl.BflProvider, fake, http, sleep=sleeps).generate(request())
    assert result.images
    assert 7.0 in sleeps.delays


async def test_5xx_on_submit_is_not_resubmitted(fake: FakeBfl, http: HttpClient) -> None:
    fake.fail_next("submit", 503, {"detail": "unavailable"})
    with pytest.raises(Transient) as caught:
        await make_provider(bfl.BflProvider, fake, http).submit(request())
    assert caught.value.accepted is None
    assert fake.count("api", "POST") == 1


async def test_malformed_and_dropped_polls_are_retried(fake: FakeBfl, http: HttpClient) -> None:
    fake.garble_next("poll")
    fake.drop_next("poll")
    result = await make_provider(bfl.BflProvider, fake, http).generate(request())
    assert result.images


async def test_malformed_submit_answer_is_transient(fake: FakeBfl, http: HttpClient) -> None:
    fake.fail_next("submit", 200, {"unexpected": True})
    with pytest.raises(Transient) as caught:
        await make_provider(bfl.BflProvider, fake, http).submit(request())
    assert caught.value.accepted is None


async def test_resume_from_a_stored_handle(fake: FakeBfl, http: HttpClient) -> None:
    first = make_provider(bfl.BflProvider, fake, http)
    handle = await first.submit(request(seed=3))
    stored = handle.model_dump_json()
    restarted = make_provider(bfl.BflProvider, fake, http)
    result = await restarted.wait(JobHandle.model_validate_json(stored))
    assert result.seed == 3 and result.images
    assert fake.count("api", "POST") == 1


async def test_no_cancel_endpoint(fake: FakeBfl, http: HttpClient) -> None:
    provider = make_provider(bfl.BflProvider, fake, http)
    assert not provider.capabilities.cancel
    handle = await provider.submit(request())
    assert await provider.cancel(handle) is False


async def test_four_images_as_four_tasks_with_distinct_seeds(
    fake: FakeBfl, http: HttpClient
) -> None:
    provider = make_provider(bfl.BflProvider, fake, http)
    result = await provider.generate(request(count=4, seed=10))
    assert len(result.images) == 4
    assert sorted(r.body["seed"] for r in fake.requests if r.method == "POST") == [10, 11, 12, 13]
    assert [image.seed for image in result.images] == [10, 11, 12, 13]
    assert any("4 separate" in note for note in result.notes)


async def test_one_moderated_task_of_four_still_delivers_three(
    fake: FakeBfl, http: HttpClient
) -> None:
    fake.script("ok", "moderated", "ok", "ok")
    result = await make_provider(bfl.BflProvider, fake, http).generate(request(count=4))
    assert len(result.images) == 3
    assert any("1 of 4" in note for note in result.notes)


async def test_linked_reference_is_fetched_and_sent_as_base64(
    fake: FakeBfl, http: HttpClient
) -> None:
    link = fake.add_image("ref", "1:1", "png")
    provider = make_provider(bfl.BflProvider, fake, http)
    await provider.generate(request(reference=ReferenceImage(url=link)))
    sent = next(r.body for r in fake.requests if r.method == "POST")
    assert base64.b64decode(sent["image_prompt"])[:8] == b"\x89PNG\r\n\x1a\n"


async def test_unreadable_reference_link_is_refused(fake: FakeBfl, http: HttpClient) -> None:
    provider = make_provider(bfl.BflProvider, fake, http)
    with pytest.raises(ProviderRejected) as caught:
        await provider.submit(
            request(reference=ReferenceImage(url=fake.url("delivery") + "/files/missing.png"))
        )
    assert caught.value.field == "reference"
    assert fake.count("api", "POST") == 0


async def test_downloaded_file_that_is_not_an_image_is_the_providers_fault(
    fake: FakeBfl, http: HttpClient
) -> None:
    fake.fail_next("file", 200, "<html>expired</html>", times=5)
    with pytest.raises(ProviderFault, match="not a readable image"):
        await make_provider(bfl.BflProvider, fake, http).generate(request())


def test_request_type_is_shared() -> None:
    assert bfl.BflProvider.capabilities.refusals(GenerationRequest(prompt="x")) == []
