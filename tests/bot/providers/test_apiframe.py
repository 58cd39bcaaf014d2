"""Apiframe adapter: its pure readings, then the whole flow against the fake Apiframe."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator

import pytest

from bot.errors import (
    BadCredentials,
    ContentModerated,
    OutOfCredit,
    ProviderFault,
    ProviderRejected,
    RateLimited,
    SubmitUnknown,
    TaskFailed,
    Transient,
)
from bot.handles import JobHandle, Pending, TaskOutcome, TaskRef
from bot.models import OutputFormat, ReferenceImage
from bot.providers import apiframe
from bot.providers.apiframe import ApiframeProvider
from bot.providers.capabilities import make_plan
from bot.providers.http import HttpClient, Response
from tests.bot.providers.conftest import FAST_POLLING, make_provider, request
from tests.fakes.clock import RecordingSleep
from tests.fakes.providers.apiframe import FakeApiframe, error_body, validation_errors
from tests.fakes.providers.base import render

COMPLETED = {
    "id": "j1",
    "status": "COMPLETED",
    "model": "flux-1.1-pro-ultra",
    "progress": 100,
    "error": None,
    "creditCost": 6,
    "createdAt": "2026-01-01T10:00:00.000Z",
    "completedAt": "2026-01-01T10:00:07.500Z",
}


def body_for(**fields: object) -> dict:
    req = request(**fields)
    return apiframe.build_body(req, make_plan("apiframe", apiframe.CAPABILITIES, req), 0)


# --- pure -----------------------------------------------------------------------------


def test_body_uses_apiframe_names_and_types() -> None:
    body = body_for()
    assert body["model"] == "flux-1.1-pro-ultra"
    assert body["prompt"] == "a lighthouse at dusk, oil painting"
    assert body["fluxParams"] == {"aspect_ratio": "1:1", "output_format": "jpg"}
    assert validation_errors(body) == []


def test_body_carries_png_raw_and_seed_when_set() -> None:
    body = body_for(aspect_ratio="9:16", output_format="png", raw=True, seed=7)
    assert body["fluxParams"] == {
        "aspect_ratio": "9:16",
        "output_format": "png",
        "raw": True,
        "seed": 7,
    }
    assert validation_errors(body) == []


def test_linked_reference_is_sent_with_our_strength_not_apiframes_default() -> None:
    params = body_for(reference=ReferenceImage(url="https://example.com/ref.png"))["fluxParams"]
    assert params["image_prompt"] == "https://example.com/ref.png"
    assert params["image_prompt_strength"] == 0.1
    upload = ReferenceImage(data=render(8, 8, "png"), content_type="image/png")
    with pytest.raises(ProviderRejected) as caught:
        body_for(reference=upload)
    assert caught.value.field == "reference"


def test_fake_schema_refuses_what_apiframe_refuses() -> None:
    body = body_for()
    body["fluxParams"] |= {"output_format": "jpeg", "aspect_ratio": "21:9", "safety_tolerance": 2}
    fields = {e["field"] for e in validation_errors(body)}
    assert fields == {
        "fluxParams.output_format",
        "fluxParams.aspect_ratio",
        "fluxParams.safety_tolerance",
    }


def test_capabilities_are_exact() -> None:
    caps = apiframe.CAPABILITIES
    assert caps.aspect_ratios == {"1:1", "3:4", "4:3", "9:16", "16:9"}
    assert caps.safety_tolerance is None and not caps.cancel
    assert caps.reference_url and not caps.reference_bytes
    assert caps.max_images_per_task == 1
    assert caps.refusals(request(aspect_ratio="21:9"))
    upload = ReferenceImage(data=render(8, 8, "png"), content_type="image/png")
    assert caps.refusals(request(reference=upload)) == ["takes a reference image only as a link"]
    plan = make_plan("apiframe", caps, request(safety_tolerance=6, count=3))
    assert plan.safety_tolerance is None and len(plan.images_per_task) == 3
    assert any("safety tolerance" in note for note in plan.notes)


def test_submit_reading() -> None:
    assert apiframe.parse_submit({"jobId": "j1", "status": "QUEUED"}) == "j1"
    assert apiframe.parse_submit({"id": "j2"}) == "j2"
    for malformed in ({"status": "QUEUED"}, {"jobId": ""}, [], None):
        with pytest.raises(ValueError, match="job id"):
            apiframe.parse_submit(malformed)


def test_pending_progress_is_normalised() -> None:
    assert apiframe.parse_poll({"status": "QUEUED", "progress": 0}) == Pending(0.0)
    assert apiframe.parse_poll({"status": "PROCESSING", "progress": 40}) == Pending(0.4)
    assert apiframe.parse_poll({"status": "PROCESSING", "progress": None}) == Pending(None)


@pytest.mark.parametrize(
    "result",
    [
        "https://cdn.apiframe.ai/a.jpg",
        {"images": ["https://cdn.apiframe.ai/a.jpg"]},
        {"images": [{"url": "https://cdn.apiframe.ai/a.jpg", "width": 2048}]},
    ],
)
def test_both_result_shapes_are_read(result: object) -> None:
    outcome = apiframe.parse_poll({**COMPLETED, "result": result})
    assert isinstance(outcome, TaskOutcome)
    assert [ref.url for ref in outcome.images] == ["https://cdn.apiframe.ai/a.jpg"]
    assert not outcome.images[0].nsfw
    assert outcome.provider_seconds == 7.5


def test_completed_without_an_image_is_malformed() -> None:
    for result in (None, {"images": []}, {"images": [{"id": 1}]}, "not a url", 42):
        with pytest.raises(ValueError, match=r"."):
            apiframe.parse_poll({**COMPLETED, "result": result})
    for malformed in ({"status": "EXPLODED"}, {"progress": 5}, [], None):
        with pytest.raises(ValueError, match=r"."):
            apiframe.parse_poll(malformed)


@pytest.mark.parametrize(
    "error",
    [
        "Provider returned an error: content policy violation",
        "NSFW content detected",
        {"code": "MODERATION", "message": "Prompt flagged by moderation"},
        "Blocked by safety filter",
    ],
)
def test_failed_for_content_policy_is_moderation(error: object) -> None:
    with pytest.raises(ContentModerated) as caught:
        apiframe.parse_poll({"status": "FAILED", "result": None, "error": error})
    assert caught.value.reasons and caught.value.accepted is True


def test_other_failures_are_task_failed() -> None:
    for error in ("Provider returned an error: internal server error", None, {"code": "X"}):
        with pytest.raises(TaskFailed) as caught:
            apiframe.parse_poll({"status": "FAILED", "result": None, "error": error})
        assert caught.value.failover


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (401, error_body("UNAUTHORIZED", "Invalid API key"), BadCredentials),
        (401, {"message": "Unauthorized"}, BadCredentials),
        (401, "Unauthorized", BadCredentials),
        (402, error_body("INSUFFICIENT_CREDITS", "Insufficient credits"), OutOfCredit),
        (402, "Payment Required", OutOfCredit),
        (400, error_body("VALIDATION_ERROR", "bad ratio"), ProviderRejected),
        (422, {"error": "prompt is too long"}, ProviderRejected),
        (429, error_body("RATE_LIMITED", "Too many requests"), RateLimited),
        (503, error_body("UNAVAILABLE", "try later"), Transient),
        (500, "<html>oops</html>", Transient),
    ],
)
def test_error_readings(status: int, body: object, kind: type) -> None:
    raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    error = apiframe.classify(Response(status, {"Retry-After": "12"}, raw), submit=True)
    assert isinstance(error, kind)
    if status < 429:
        assert error.accepted is False
    if status == 429:
        assert error.retry_after == 12


def test_validation_error_names_the_field() -> None:
    body = error_body(
        "VALIDATION_ERROR",
        "aspect_ratio must be one of 1:1, 3:4, 4:3, 9:16, 16:9",
        details=[{"field": "fluxParams.aspect_ratio", "message": "must be one of ..."}],
    )
    error = apiframe.classify(Response(400, {}, json.dumps(body).encode()), submit=True)
    assert isinstance(error, ProviderRejected)
    assert error.field == "aspect_ratio" and "1:1" in error.detail


def test_unknown_job_on_poll_is_task_failed() -> None:
    raw = json.dumps(error_body("NOT_FOUND", "Job not found")).encode()
    assert isinstance(apiframe.classify(Response(404, {}, raw), submit=False), TaskFailed)


# --- against the fake -----------------------------------------------------------------------


@pytest.fixture
async def fake() -> AsyncIterator[FakeApiframe]:
    async with FakeApiframe(latency=0.05) as server:
        yield server


def posts(fake: FakeApiframe) -> list:
    return [r for r in fake.requests if r.method == "POST"]


@pytest.mark.parametrize("shape", ["string", "images", "objects"])
async def test_generates_an_image_whatever_the_result_shape(
    fake: FakeApiframe, http: HttpClient, shape: str
) -> None:
    fake.result_shape = shape
    provider = make_provider(ApiframeProvider, fake, http)
    result = await provider.generate(request(aspect_ratio="16:9", seed=42))
    assert result.provider == "apiframe" and result.seed == 42
    [image] = result.images
    assert image.content_type == "image/jpeg" and not image.nsfw and image.seed == 42
    assert abs(image.width / image.height - 16 / 9) < 0.05
    assert result.job_id in fake.tasks
    assert result.timings.provider is not None and result.timings.provider >= 0
    [submit] = posts(fake)
    assert submit.headers["X-API-Key"] == fake.api_key
    assert uuid.UUID(submit.headers["Idempotency-Key"])
    assert fake.count("cdn") == 1
    assert "x-api-key" not in {
        k.lower() for r in fake.requests if r.host == "cdn" for k in r.headers
    }


async def test_png_raw_and_seed_reach_apiframe_typed(fake: FakeApiframe, http: HttpClient) -> None:
    provider = make_provider(ApiframeProvider, fake, http)
    result = await provider.generate(
        request(output_format=OutputFormat.PNG, raw=True, seed=5, aspect_ratio="3:4")
    )
    image = result.images[0]
    assert image.content_type == "image/png"
    assert abs(image.width / image.height - 3 / 4) < 0.05
    sent = posts(fake)[0].body["fluxParams"]
    assert sent == {"aspect_ratio": "3:4", "output_format": "png", "raw": True, "seed": 5}


async def test_polls_stay_within_the_budget(fake: FakeApiframe, http: HttpClient) -> None:
    fake.latency = 0.1
    provider = make_provider(ApiframeProvider, fake, http)
    await provider.generate(request())
    polls = fake.count("api", "GET", "/v2/jobs/")
    assert 1 <= polls <= 1 + fake.latency / FAST_POLLING.budget
    assert fake.count("api", "POST") == 1 and fake.count("cdn") == 1


async def test_nsfw_image_is_delivered_unflagged(fake: FakeApiframe, http: HttpClient) -> None:
    fake.script("nsfw")
    result = await make_provider(ApiframeProvider, fake, http).generate(request())
    assert result.images and not result.nsfw


@pytest.mark.parametrize("outcome", ["moderated", "moderated_request"])
async def test_moderated_job_is_refused_and_not_charged(
    fake: FakeApiframe, http: HttpClient, outcome: str
) -> None:
    fake.balance = 10
    fake.script(outcome)
    with pytest.raises(ContentModerated) as caught:
        await make_provider(ApiframeProvider, fake, http).generate(request())
    assert caught.value.reasons
    assert fake.balance == 10


async def test_failed_job_is_task_failed_and_not_charged(
    fake: FakeApiframe, http: HttpClient
) -> None:
    fake.balance = 10
    fake.script("failed")
    with pytest.raises(TaskFailed) as caught:
        await make_provider(ApiframeProvider, fake, http).generate(request())
    assert caught.value.failover and "internal server error" in caught.value.detail
    assert fake.balance == 10


async def test_bad_key(fake: FakeApiframe, http: HttpClient) -> None:
    key = "wrong-key-123"
    provider = make_provider(ApiframeProvider, fake, http, key=key)
    with pytest.raises(BadCredentials) as caught:
        await provider.submit(request())
    assert key not in caught.value.log_message and key not in caught.value.user_message
    with pytest.raises(BadCredentials):
        await provider.check_credentials()
    assert not fake.tasks


async def test_good_key_passes_the_credential_check_without_making_a_job(
    fake: FakeApiframe, http: HttpClient
) -> None:
    await make_provider(ApiframeProvider, fake, http).check_credentials()
    assert fake.count("api", "GET", "/v2/jobs/") == 1 and fake.count("api", "POST") == 0


async def test_echoed_key_is_redacted(fake: FakeApiframe, http: HttpClient) -> None:
    fake.fail_next("submit", 400, error_body("VALIDATION_ERROR", f"bad key {fake.api_key}"))
    with pytest.raises(ProviderRejected) as caught:
        await make_provider(ApiframeProvider, fake, http).submit(request())
    assert fake.api_key not in caught.value.log_message
    assert fake.api_key not in caught.value.user_message


async def test_out_of_credit(fake: FakeApiframe, http: HttpClient) -> None:
    fake.balance = 0
    with pytest.raises(OutOfCredit):
        await make_provider(ApiframeProvider, fake, http).submit(request())
    assert not fake.tasks


async def test_invalid_request_is_not_retried(fake: FakeApiframe, http: HttpClient) -> None:
    fake.fail_next(
        "submit",
        400,
        error_body(
            "VALIDATION_ERROR",
            "prompt must be a string of 1 to 2000 characters",
            details=[{"field": "prompt", "message": "too long"}],
        ),
    )
    with pytest.raises(ProviderRejected) as caught:
        await make_provider(ApiframeProvider, fake, http).submit(request())
    assert caught.value.field == "prompt"
    assert fake.count("api", "POST") == 1


async def test_long_retry_after_on_submit_is_reported(fake: FakeApiframe, http: HttpClient) -> None:
    fake.fail_next(
        "submit", 429, error_body("RATE_LIMITED", "Too many requests"), {"Retry-After": "30"}
    )
    with pytest.raises(RateLimited) as caught:
        await make_provider(ApiframeProvider, fake, http).submit(request())
    assert caught.value.retry_after == 30
    assert fake.count("api", "POST") == 1 and not fake.tasks


async def test_short_retry_after_on_submit_is_waited_then_retried(
    fake: FakeApiframe, http: HttpClient, sleeps: RecordingSleep
) -> None:
    fake.latency = 0
    fake.fail_next("submit", 429, error_body("RATE_LIMITED", "slow"), {"Retry-After": "1"})
    await make_provider(ApiframeProvider, fake, http, sleep=sleeps).generate(request())
    assert 1.0 in sleeps.delays
    assert fake.count("api", "POST") == 2 and len(fake.tasks) == 1


async def test_retry_after_on_poll_is_honoured(
    fake: FakeApiframe, http: HttpClient, sleeps: RecordingSleep
) -> None:
    fake.latency = 0
    fake.fail_next("poll", 429, error_body("RATE_LIMITED", "slow"), {"Retry-After": "7"})
    result = await make_provider(ApiframeProvider, fake, http, sleep=sleeps).generate(request())
    assert result.images
    assert 7.0 in sleeps.delays


async def test_5xx_before_the_job_is_made_is_retried_with_the_same_key(
    fake: FakeApiframe, http: HttpClient, sleeps: RecordingSleep
) -> None:
    fake.latency = 0
    fake.fail_next("submit", 503, error_body("UNAVAILABLE", "try later"))
    result = await make_provider(ApiframeProvider, fake, http, sleep=sleeps).generate(request())
    assert result.images and len(fake.tasks) == 1
    keys = {r.headers["Idempotency-Key"] for r in posts(fake)}
    assert len(posts(fake)) == 2 and len(keys) == 1


@pytest.mark.parametrize("lost", [None, 502, 504])
async def test_lost_submit_answer_is_retried_into_the_same_job(
    fake: FakeApiframe, http: HttpClient, sleeps: RecordingSleep, lost: int | None
) -> None:
    fake.latency = 0
    fake.balance = 10
    fake.lose_next_answer(lost)
    result = await make_provider(ApiframeProvider, fake, http, sleep=sleeps).generate(request())
    assert result.images
    assert len(posts(fake)) == 2, "the submit must be retried"
    assert len(fake.tasks) == 1 and result.job_id in fake.tasks, "one job, not two"
    assert fake.balance == 9, "charged once"


async def test_submit_failing_every_time_gives_up_without_a_job(
    fake: FakeApiframe, http: HttpClient, sleeps: RecordingSleep
) -> None:
    fake.fail_next("submit", 503, error_body("UNAVAILABLE", "down"), times=10)
    with pytest.raises(SubmitUnknown):
        await make_provider(ApiframeProvider, fake, http, sleep=sleeps).submit(request())
    posted = posts(fake)
    assert len(posted) == 6, "three tries, then three more to settle the doubt"
    assert len({r.headers["Idempotency-Key"] for r in posted}) == 1, "always the same task"
    assert not fake.tasks


async def test_each_task_has_its_own_key(fake: FakeApiframe, http: HttpClient) -> None:
    result = await make_provider(ApiframeProvider, fake, http).generate(request(count=3, seed=10))
    assert len(result.images) == 3 and len(fake.tasks) == 3
    assert len({r.headers["Idempotency-Key"] for r in posts(fake)}) == 3
    assert sorted(r.body["fluxParams"]["seed"] for r in posts(fake)) == [10, 11, 12]
    assert [image.seed for image in result.images] == [10, 11, 12]


async def test_an_unreadable_submit_answer_is_settled_with_the_same_key(
    fake: FakeApiframe, http: HttpClient
) -> None:
    fake.garble_next("submit")
    handle = await make_provider(ApiframeProvider, fake, http).submit(request())
    assert [t.id for t in handle.tasks] == list(fake.tasks) and not handle.unknown
    keys = {r.headers["Idempotency-Key"] for r in posts(fake)}
    assert len(posts(fake)) == 2 and len(keys) == 1


async def test_malformed_dropped_and_failing_polls_are_retried(
    fake: FakeApiframe, http: HttpClient
) -> None:
    fake.garble_next("poll")
    fake.drop_next("poll")
    fake.fail_next("poll", 503, error_body("UNAVAILABLE", "try later"))
    result = await make_provider(ApiframeProvider, fake, http).generate(request())
    assert result.images and fake.count("api", "POST") == 1


async def test_resume_from_a_stored_handle(fake: FakeApiframe, http: HttpClient) -> None:
    handle = await make_provider(ApiframeProvider, fake, http).submit(request(seed=3))
    stored = handle.model_dump_json()
    restarted = make_provider(ApiframeProvider, fake, http)
    result = await restarted.wait(JobHandle.model_validate_json(stored))
    assert result.seed == 3 and result.images
    assert fake.count("api", "POST") == 1


async def test_unknown_job_is_task_failed(fake: FakeApiframe, http: HttpClient) -> None:
    provider = make_provider(ApiframeProvider, fake, http)
    ghost = TaskRef(id="missing", urls={"poll": fake.url() + "/v2/jobs/missing"})
    handle = JobHandle(provider="apiframe", tasks=(ghost,), submitted_at=provider.clock())
    with pytest.raises(TaskFailed):
        await provider.wait(handle)


async def test_cancel_is_unsupported(fake: FakeApiframe, http: HttpClient) -> None:
    provider = make_provider(ApiframeProvider, fake, http)
    handle = await provider.submit(request())
    assert await provider.cancel(handle) is False
    assert (await provider.wait(handle)).images


async def test_downloaded_file_that_is_not_an_image_is_the_providers_fault(
    fake: FakeApiframe, http: HttpClient
) -> None:
    fake.fail_next("file", 200, "<html>expired</html>", times=5)
    with pytest.raises(ProviderFault) as caught:
        await make_provider(ApiframeProvider, fake, http).generate(request())
    assert caught.value.user_message == (
        "The image provider's answer was refused: the file is not a readable image."
    )
    assert fake.count(path_prefix="/files/") == 1, "a bad file is not fetched again"
