"""AIML API adapter: its pure readings, then the whole synchronous flow against the fake."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.errors import (
    BadCredentials,
    ContentModerated,
    InvalidRequest,
    OutOfCredit,
    ProviderRejected,
    RateLimited,
    SubmitUnknown,
    TaskFailed,
    Transient,
)
from bot.handles import JobHandle, TaskRef
from bot.models import OutputFormat, ReferenceImage, decode_base64
from bot.providers import aimlapi
from bot.providers.capabilities import make_plan
from bot.providers.http import HttpClient, Response
from tests.bot.providers.conftest import make_provider, request
from tests.fakes.clock import RecordingSleep
from tests.fakes.providers.aimlapi import PATH, FakeAiml, error_body, validation_issues
from tests.fakes.providers.base import render

CAPS = aimlapi.CAPABILITIES


def body_for(**fields: Any) -> dict[str, Any]:
    req = request(**fields)
    return aimlapi.build_body(req, make_plan("aimlapi", CAPS, req), 0)


def answer(status: int, body: object, headers: dict[str, str] | None = None) -> Response:
    raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    return Response(status, headers or {}, raw)


# --- pure -----------------------------------------------------------------------------


def test_body_uses_aiml_names_and_types() -> None:
    body = body_for(aspect_ratio="21:9", seed=7, safety_tolerance=5, output_format="png", count=3)
    assert body["model"] == "flux-pro/v1.1-ultra"
    assert body["safety_tolerance"] == "5", "AIML wants the tolerance as a string"
    assert body["raw"] is False and body["enable_safety_checker"] is True
    assert body["aspect_ratio"] == "21:9" and body["output_format"] == "png"
    assert body["num_images"] == 3 and body["seed"] == 7
    assert validation_issues(body) == []


def test_defaults_are_sent_explicitly_and_random_seed_is_omitted() -> None:
    body = body_for()
    assert body["aspect_ratio"] == "1:1", "AIML's default is 16:9, ours 1:1: always send it"
    assert "seed" not in body


def test_tolerance_zero_is_refused_never_loosened_to_one() -> None:
    assert CAPS.refusals(request(safety_tolerance=0)) == [
        "cannot apply safety tolerance 0: its strictest is 1"
    ]
    with pytest.raises(InvalidRequest):
        make_plan("aimlapi", CAPS, request(safety_tolerance=0))
    req = request(safety_tolerance=1)
    assert aimlapi.build_body(req, make_plan("aimlapi", CAPS, req), 0)["safety_tolerance"] == "1"


def test_capabilities_refuse_what_aiml_would_reject_or_change() -> None:
    assert CAPS.refusals(request(seed=0)) == ["seed must be from 1 to 2147483647"]
    assert CAPS.refusals(request(seed=1)) == []
    assert CAPS.refusals(request(raw=True)) == ["cannot make raw images"]
    assert CAPS.refusals(request(aspect_ratio="5:4"))
    assert CAPS.refusals(request(aspect_ratio="4:5"))
    for ratio in aimlapi.ASPECT_RATIOS:
        assert CAPS.refusals(request(aspect_ratio=ratio)) == []
    ref = ReferenceImage(data=render(8, 8, "png"), content_type="image/png")
    assert CAPS.refusals(request(reference=ref)) == ["cannot take a reference image"]
    assert not CAPS.cancel


def test_four_images_fit_in_one_request() -> None:
    req = request(count=4, seed=9)
    plan = make_plan("aimlapi", CAPS, req)
    assert plan.images_per_task == (4,) and plan.seeds == (9,)
    assert not any("separate" in note for note in plan.notes)


def test_reads_the_fal_shape() -> None:
    outcome = aimlapi.parse_result(
        {
            "images": [
                {"url": "https://cdn.aimlapi.com/a.jpg", "width": 2752, "height": 1536},
                {"url": "https://cdn.aimlapi.com/b.jpg", "width": 2752, "height": 1536},
            ],
            "timings": {"inference": 6.5},
            "seed": 526588311,
            "has_nsfw_concepts": [False, True],
            "prompt": "x",
        },
        OutputFormat.JPEG,
    )
    assert [i.url.rsplit("/", 1)[1] for i in outcome.images] == ["a.jpg", "b.jpg"]
    assert [i.nsfw for i in outcome.images] == [False, True]
    assert outcome.seed == 526588311 and outcome.provider_seconds == 6.5


def test_reads_the_openai_shape_with_urls_and_inline_images() -> None:
    png = render(4, 4, "png")
    outcome = aimlapi.parse_result(
        {
            "data": [
                {"url": "https://cdn.aimlapi.com/a.png", "b64_json": None},
                {"url": None, "b64_json": base64.b64encode(png).decode()},
            ],
            "meta": {"usage": {"credits_used": 120000}},
        },
        OutputFormat.PNG,
        requested_seed=77,
    )
    first, second = outcome.images
    assert first.url == "https://cdn.aimlapi.com/a.png"
    assert second.url.startswith("data:image/png;base64,")
    assert decode_base64(second.url) == png
    assert not first.nsfw and not second.nsfw
    assert outcome.seed == 77, "no seed in this shape: the one we asked for"


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        {},
        {"images": []},
        {"images": [{"url": None}]},
        {"images": ["https://x/a.jpg"]},
        {"images": [{"url": "ftp://x/a.jpg"}]},
        {"data": [{"url": None, "b64_json": None}]},
        {"data": ["x"]},
    ],
)
def test_malformed_answers_are_refused(body: object) -> None:
    with pytest.raises(ValueError, match=r"."):
        aimlapi.parse_result(body, OutputFormat.JPEG)


def test_answer_id_comes_from_body_or_header() -> None:
    assert aimlapi.answer_id({"requestId": "r1"}, {}) == "r1"
    assert aimlapi.answer_id({"id": "i1"}, {}) == "i1"
    assert aimlapi.answer_id({"images": []}, {"x-request-id": "h1"}) == "h1"
    assert aimlapi.answer_id({"images": []}, {}) is None
    assert aimlapi.local_id().startswith("local-")


@pytest.mark.parametrize(
    ("status", "body", "kind", "field"),
    [
        (
            400,
            error_body(
                400,
                "Body validation error!",
                meta=[{"path": ["seed"], "message": "Number must be greater than or equal to 1"}],
            ),
            ProviderRejected,
            "seed",
        ),
        (
            400,
            error_body(400, ["num_images must not be greater than 4"]),
            ProviderRejected,
            "count",
        ),
        (
            400,
            error_body(
                400,
                "Body validation error!",
                meta=[{"path": ["model"], "message": "received 'a flagged nsfw poster'"}],
            ),
            ProviderRejected,
            "model",
        ),
        (400, error_body(400, "Your prompt was flagged by moderation."), ContentModerated, None),
        (422, error_body(422, "The image violates the content policy."), ContentModerated, None),
        (401, error_body(401, "This request requires a valid API key."), BadCredentials, None),
        (403, error_body(403, "You've run out of credits. Please top up."), OutOfCredit, None),
        (403, error_body(403, "Forbidden resource"), BadCredentials, None),
        (429, error_body(429, "Too Many Requests"), RateLimited, None),
        (500, error_body(500, "Internal server error"), Transient, None),
        (502, "<html>bad gateway</html>", Transient, None),
    ],
)
def test_error_readings(status: int, body: object, kind: type, field: str | None) -> None:
    error = aimlapi.classify(answer(status, body), submit=True)
    assert type(error) is kind
    if status < 429:
        assert error.accepted is False
    if status >= 500:
        assert error.accepted is None, "a sync POST that failed may have run: never repeat it"
    if field is not None:
        assert isinstance(error, ProviderRejected) and error.field == field


def test_rate_limit_reads_retry_after() -> None:
    error = aimlapi.classify(
        answer(429, error_body(429, "Too Many Requests"), {"Retry-After": "12"}), submit=True
    )
    assert isinstance(error, RateLimited) and error.retry_after == 12


def test_fake_validates_like_aiml() -> None:
    good = body_for(seed=5)
    for change in (
        {"safety_tolerance": 2},
        {"safety_tolerance": "7"},
        {"raw": True},
        {"seed": 0},
        {"aspect_ratio": "5:4"},
        {"num_images": 5},
        {"num_images": 0},
        {"output_format": "jpg"},
        {"model": "flux-pro"},
    ):
        [issue] = validation_issues({**good, **change})
        assert issue["path"] == [next(iter(change))]


# --- against the fake -----------------------------------------------------------------------


@pytest.fixture
async def fake() -> AsyncIterator[FakeAiml]:
    async with FakeAiml(latency=0.05) as server:
        yield server


def posts(fake: FakeAiml) -> int:
    return fake.count("api", "POST", PATH)


@pytest.mark.parametrize("status", [200, 201])
async def test_generates_in_one_call_then_downloads(
    fake: FakeAiml, http: HttpClient, status: int
) -> None:
    fake.success_status = status
    provider = make_provider(aimlapi.AimlProvider, fake, http)
    result = await provider.generate(request(aspect_ratio="16:9", seed=42))
    assert result.provider == "aimlapi" and result.seed == 42
    [image] = result.images
    assert image.content_type == "image/jpeg" and not image.nsfw and image.seed == 42
    assert abs(image.width / image.height - 16 / 9) < 0.05
    assert result.job_id.startswith("local-"), "no id in the answer: one of ours, marked"
    assert result.timings.provider is not None
    assert posts(fake) == 1 and fake.count("cdn", "GET") == 1
    assert fake.requests[0].headers["Authorization"] == f"Bearer {fake.api_key}"
    assert not any(
        k.lower() == "authorization" for r in fake.requests if r.host == "cdn" for k in r.headers
    ), "the key must not go to the image host"


async def test_four_images_in_one_request(fake: FakeAiml, http: HttpClient) -> None:
    fake.balance = 10
    result = await make_provider(aimlapi.AimlProvider, fake, http).generate(
        request(count=4, aspect_ratio="9:16")
    )
    assert len(result.images) == 4
    assert all(abs(i.width / i.height - 9 / 16) < 0.05 for i in result.images)
    assert posts(fake) == 1 and fake.requests[0].body["num_images"] == 4
    assert fake.count("cdn", "GET") == 4
    assert fake.balance == 6


async def test_png_and_tolerance_reach_aiml_typed(fake: FakeAiml, http: HttpClient) -> None:
    result = await make_provider(aimlapi.AimlProvider, fake, http).generate(
        request(output_format=OutputFormat.PNG, safety_tolerance=6)
    )
    assert result.images[0].content_type == "image/png"
    sent = fake.requests[0].body
    assert sent["safety_tolerance"] == "6" and sent["output_format"] == "png"


async def test_openai_shape_with_urls(fake: FakeAiml, http: HttpClient) -> None:
    fake.response_shape = "openai"
    result = await make_provider(aimlapi.AimlProvider, fake, http).generate(
        request(count=2, seed=5)
    )
    assert len(result.images) == 2 and result.seed == 5
    assert fake.count("cdn", "GET") == 2


async def test_openai_shape_with_inline_images_needs_no_download(
    fake: FakeAiml, http: HttpClient
) -> None:
    fake.response_shape, fake.b64 = "openai", True
    result = await make_provider(aimlapi.AimlProvider, fake, http).generate(
        request(count=2, output_format=OutputFormat.PNG, aspect_ratio="3:2")
    )
    assert [i.content_type for i in result.images] == ["image/png", "image/png"]
    assert abs(result.images[0].width / result.images[0].height - 3 / 2) < 0.05
    assert posts(fake) == 1 and fake.count("cdn") == 0


async def test_nsfw_flag_reaches_the_images(fake: FakeAiml, http: HttpClient) -> None:
    fake.script("nsfw")
    result = await make_provider(aimlapi.AimlProvider, fake, http).generate(request(count=2))
    assert result.nsfw and all(image.nsfw for image in result.images)


@pytest.mark.parametrize("outcome", ["moderated", "moderated_request"])
async def test_moderation_is_reported_and_not_charged(
    fake: FakeAiml, http: HttpClient, outcome: str
) -> None:
    fake.balance = 10
    fake.script(outcome)
    with pytest.raises(ContentModerated) as caught:
        await make_provider(aimlapi.AimlProvider, fake, http).generate(request())
    assert caught.value.reasons
    assert fake.balance == 10 and posts(fake) == 1


async def test_failure_is_transient_and_not_resubmitted(fake: FakeAiml, http: HttpClient) -> None:
    fake.script("failed")
    with pytest.raises(SubmitUnknown) as caught:
        await make_provider(aimlapi.AimlProvider, fake, http).submit(request())
    assert caught.value.accepted is None and caught.value.status == 500
    assert not caught.value.failover, "the image may exist: it must not go to another provider"
    assert posts(fake) == 1


async def test_bad_key(fake: FakeAiml, http: HttpClient) -> None:
    provider = make_provider(aimlapi.AimlProvider, fake, http, key="sk-wrong-key")
    with pytest.raises(BadCredentials) as caught:
        await provider.submit(request())
    for text in (caught.value.log_message, caught.value.user_message):
        assert "sk-wrong-key" not in text
    assert not fake.tasks


async def test_key_echoed_by_the_provider_is_redacted(fake: FakeAiml, http: HttpClient) -> None:
    fake.fail_next("generate", 401, error_body(401, f"Unknown key {fake.api_key}"))
    with pytest.raises(BadCredentials) as caught:
        await make_provider(aimlapi.AimlProvider, fake, http).submit(request())
    assert fake.api_key not in caught.value.log_message
    assert fake.api_key not in caught.value.user_message


async def test_check_credentials_proves_the_key_without_generating(
    fake: FakeAiml, http: HttpClient
) -> None:
    fake.balance = 0
    await make_provider(aimlapi.AimlProvider, fake, http).check_credentials()
    assert fake.requests[-1].body == {} and not fake.tasks
    with pytest.raises(BadCredentials):
        await make_provider(aimlapi.AimlProvider, fake, http, key="nope").check_credentials()
    fake.fail_next("generate", 403, error_body(403, "Forbidden resource"))
    with pytest.raises(BadCredentials):
        await make_provider(aimlapi.AimlProvider, fake, http).check_credentials()


async def test_out_of_credit(fake: FakeAiml, http: HttpClient) -> None:
    fake.balance = 0
    with pytest.raises(OutOfCredit) as caught:
        await make_provider(aimlapi.AimlProvider, fake, http).submit(request())
    assert caught.value.failover and posts(fake) == 1


async def test_short_retry_after_is_waited_then_retried(
    fake: FakeAiml, http: HttpClient, sleeps: RecordingSleep
) -> None:
    fake.fail_next(
        "generate", 429, error_body(429, "Too Many Requests"), headers={"Retry-After": "1"}
    )
    provider = make_provider(aimlapi.AimlProvider, fake, http, sleep=sleeps)
    result = await provider.generate(request())
    assert result.images
    assert sleeps.delays == [1.0]
    assert posts(fake) == 2


async def test_long_retry_after_is_reported(fake: FakeAiml, http: HttpClient) -> None:
    fake.fail_next(
        "generate", 429, error_body(429, "Too Many Requests"), headers={"Retry-After": "30"}
    )
    with pytest.raises(RateLimited) as caught:
        await make_provider(aimlapi.AimlProvider, fake, http).submit(request())
    assert caught.value.retry_after == 30
    assert posts(fake) == 1


async def test_invalid_body_is_refused_by_the_fake_and_read_as_rejected(
    fake: FakeAiml, http: HttpClient
) -> None:
    provider = make_provider(aimlapi.AimlProvider, fake, http)
    bad = {**body_for(), "safety_tolerance": 2}
    with pytest.raises(ProviderRejected) as caught:
        await provider.send("POST", fake.url() + PATH, json=bad, submit=True)
    assert caught.value.field == "safety_tolerance" and caught.value.status == 400
    assert "safety_tolerance" in caught.value.user_message
    assert not fake.tasks


async def test_rejection_from_the_provider_is_not_resubmitted(
    fake: FakeAiml, http: HttpClient
) -> None:
    fake.fail_next(
        "generate",
        400,
        error_body(400, "Body validation error!", meta=[{"path": ["prompt"], "message": "bad"}]),
    )
    with pytest.raises(ProviderRejected) as caught:
        await make_provider(aimlapi.AimlProvider, fake, http).submit(request())
    assert caught.value.field == "prompt" and posts(fake) == 1


@pytest.mark.parametrize("fault", ["503", "drop", "garble", "shape"])
async def test_ambiguous_failures_are_transient_and_never_resubmitted(
    fake: FakeAiml, http: HttpClient, fault: str
) -> None:
    if fault == "503":
        fake.fail_next("generate", 503, error_body(503, "Service Unavailable"))
    elif fault == "drop":
        fake.drop_next("generate")
    elif fault == "garble":
        fake.garble_next("generate")
    else:
        fake.fail_next("generate", 201, {"unexpected": True})
    with pytest.raises(SubmitUnknown) as caught:
        await make_provider(aimlapi.AimlProvider, fake, http).submit(request())
    assert caught.value.accepted is None
    assert not caught.value.failover
    assert posts(fake) == 1


async def test_sync_call_that_times_out_is_not_repeated(http: HttpClient) -> None:
    # A JOB_TIMEOUT of 1 s ends the call; it reaches AIML before that, even on a loaded machine.
    async with FakeAiml(latency=600.0) as slow:
        provider = make_provider(aimlapi.AimlProvider, slow, http, max_wait=1.0)
        with pytest.raises(Transient) as caught:
            await provider.submit(request())
        assert caught.value.accepted is None
        assert slow.count("api", "POST", PATH) == 1


async def test_generation_call_gets_a_long_explicit_timeout(
    fake: FakeAiml, http: HttpClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[float | None] = []
    provider = make_provider(aimlapi.AimlProvider, fake, http, max_wait=300.0)
    real = provider.http.request

    async def spy(*args: Any, **kw: Any) -> Response:
        seen.append(kw.get("timeout"))
        return await real(*args, **kw)

    monkeypatch.setattr(provider.http, "request", spy)
    await provider.submit(request())
    assert seen == [300.0]
    assert seen[0] > http.timeout


async def test_answer_id_becomes_the_job_id(fake: FakeAiml, http: HttpClient) -> None:
    url = fake.add_image("given", "1:1", "jpeg")
    fake.fail_next("generate", 201, {"requestId": "req-123", "images": [{"url": url}], "seed": 8})
    result = await make_provider(aimlapi.AimlProvider, fake, http).generate(request())
    assert result.job_id == "req-123" and result.seed == 8


@pytest.mark.parametrize("b64", [False, True])
async def test_resume_from_a_stored_handle(fake: FakeAiml, http: HttpClient, b64: bool) -> None:
    fake.response_shape, fake.b64 = ("openai", True) if b64 else ("fal", False)
    handle = await make_provider(aimlapi.AimlProvider, fake, http).submit(request(seed=3))
    stored = handle.model_dump_json()
    restarted = make_provider(aimlapi.AimlProvider, fake, http)
    result = await restarted.wait(JobHandle.model_validate_json(stored))
    assert result.seed == 3 and len(result.images) == 1
    assert posts(fake) == 1
    assert fake.count("cdn", "GET") == (0 if b64 else 1)


async def test_task_without_its_answer_cannot_be_resumed(fake: FakeAiml, http: HttpClient) -> None:
    lost = JobHandle(provider="aimlapi", tasks=(TaskRef(id="local-x"),), submitted_at=0.0)
    with pytest.raises(TaskFailed):
        await make_provider(aimlapi.AimlProvider, fake, http).wait(lost)
    assert posts(fake) == 0


async def test_no_cancel(fake: FakeAiml, http: HttpClient) -> None:
    provider = make_provider(aimlapi.AimlProvider, fake, http)
    assert not provider.capabilities.cancel
    handle = await provider.submit(request())
    assert await provider.cancel(handle) is False


async def test_dropped_image_download_is_retried(fake: FakeAiml, http: HttpClient) -> None:
    fake.drop_next("file")
    result = await make_provider(aimlapi.AimlProvider, fake, http).generate(request())
    assert result.images and posts(fake) == 1
    assert fake.count("cdn", "GET") == 2
