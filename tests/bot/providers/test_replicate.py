"""Replicate adapter: its pure readings, then the whole flow against the fake Replicate."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator

import pytest

from bot.errors import (
    BadCredentials,
    ContentModerated,
    OutOfCredit,
    ProviderRejected,
    RateLimited,
    TaskFailed,
    Transient,
)
from bot.handles import JobHandle, Pending, TaskOutcome
from bot.models import OutputFormat, ReferenceImage
from bot.providers import replicate
from bot.providers.capabilities import make_plan
from bot.providers.http import HttpClient, Response
from tests.bot.providers.conftest import make_provider, request
from tests.fakes.clock import RecordingSleep
from tests.fakes.providers.base import render
from tests.fakes.providers.replicate import MODEL, FakeReplicate, invalid_fields

CREATE_PATH = f"/v1/models/{MODEL}/predictions"

# --- pure -----------------------------------------------------------------------------


def test_input_uses_replicate_types() -> None:
    req = request(aspect_ratio="21:9", seed=7, safety_tolerance=5, output_format="jpeg", raw=True)
    plan = make_plan("replicate", replicate.CAPABILITIES, req)
    body = replicate.build_input(req, plan, 0)
    assert body["safety_tolerance"] == 5 and type(body["safety_tolerance"]) is int
    assert body["output_format"] == "jpg"
    assert body["aspect_ratio"] == "21:9"
    assert body["raw"] is True and body["seed"] == 7
    assert "image_prompt" not in body
    assert invalid_fields({"input": body}) == []


def test_default_ratio_is_sent_and_tolerance_zero_is_refused_not_clamped() -> None:
    assert replicate.CAPABILITIES.refusals(request(safety_tolerance=0)) == [
        "cannot apply safety tolerance 0: its strictest is 1"
    ]
    req = request(safety_tolerance=1, output_format="png")
    plan = make_plan("replicate", replicate.CAPABILITIES, req)
    body = replicate.build_input(req, plan, 0)
    assert body["aspect_ratio"] == "1:1", "always sent, never left to the provider's default"
    assert body["safety_tolerance"] == 1 and body["output_format"] == "png"
    assert "seed" not in body
    assert plan.notes == ()


def test_reference_bytes_as_data_uri_and_links_as_given() -> None:
    ref = ReferenceImage(data=render(8, 8, "png"), content_type="image/png")
    req = request(reference=ref, reference_strength=0.4)
    body = replicate.build_input(req, make_plan("replicate", replicate.CAPABILITIES, req), 0)
    assert body["image_prompt"].startswith("data:image/png;base64,")
    assert base64.b64decode(body["image_prompt"].split(",", 1)[1]) == ref.data
    assert body["image_prompt_strength"] == 0.4
    assert invalid_fields({"input": body}) == []
    linked = request(reference=ReferenceImage(url="https://example.com/ref.jpg"))
    plan = make_plan("replicate", replicate.CAPABILITIES, linked)
    assert replicate.build_input(linked, plan, 0)["image_prompt"] == "https://example.com/ref.jpg"


def prediction(**fields: object) -> dict[str, object]:
    base: dict[str, object] = {
        "id": "p1",
        "model": MODEL,
        "version": "hidden",
        "input": {"prompt": "x"},
        "logs": "",
        "output": None,
        "error": None,
        "status": "starting",
        "urls": {
            "get": "https://api.replicate.com/v1/predictions/p1",
            "cancel": "https://api.replicate.com/v1/predictions/p1/cancel",
        },
        "metrics": {},
    }
    return {**base, **fields}


def test_prediction_readings() -> None:
    assert replicate.parse_prediction(prediction()) == Pending(None)
    assert replicate.parse_prediction(prediction(status="processing")) == Pending(None)
    assert replicate.parse_prediction(
        prediction(status="processing", logs="40%|████      | 20/50")
    ) == Pending(0.4)
    done = replicate.parse_prediction(
        prediction(
            status="succeeded",
            input={"prompt": "x", "seed": 42},
            output="https://replicate.delivery/x/out.jpg",
            metrics={"predict_time": 4.2},
        )
    )
    assert isinstance(done, TaskOutcome)
    assert [i.url for i in done.images] == ["https://replicate.delivery/x/out.jpg"]
    assert done.seed == 42 and done.provider_seconds == 4.2
    listed = replicate.parse_prediction(
        prediction(status="succeeded", output=["https://replicate.delivery/a.png"])
    )
    assert isinstance(listed, TaskOutcome) and listed.images[0].url.endswith("a.png")
    from_logs = replicate.parse_prediction(
        prediction(status="succeeded", output="https://r/o.jpg", logs="Using seed: 991\n")
    )
    assert isinstance(from_logs, TaskOutcome) and from_logs.seed == 991


def test_failure_readings() -> None:
    with pytest.raises(ContentModerated) as moderated:
        replicate.parse_prediction(
            prediction(status="failed", error="The input or output was flagged (E005)")
        )
    assert moderated.value.accepted is True
    for status in ("failed", "aborted", "canceled"):
        with pytest.raises(TaskFailed):
            replicate.parse_prediction(prediction(status=status, error="boom"))
    for malformed in (
        {"id": "p1"},
        prediction(status="exploded"),
        prediction(status="succeeded", output=None),
        prediction(status="succeeded", output=[42]),
        [],
        None,
    ):
        with pytest.raises(ValueError, match=r"."):
            replicate.parse_prediction(malformed)


def test_created_reading_keeps_the_given_urls() -> None:
    pid, urls = replicate.parse_created(prediction(), "http://base")
    assert pid == "p1" and urls["get"] == "https://api.replicate.com/v1/predictions/p1"
    _, rebuilt = replicate.parse_created({"id": "p2", "status": "starting"}, "http://base")
    assert rebuilt == {
        "get": "http://base/v1/predictions/p2",
        "cancel": "http://base/v1/predictions/p2/cancel",
    }
    with pytest.raises(ValueError, match="id"):
        replicate.parse_created({"status": "starting"}, "http://base")


def answer(status: int, body: object, headers: dict[str, str] | None = None) -> Response:
    raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    return Response(status, headers or {}, raw)


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (401, {"title": "Unauthenticated", "detail": "bad token", "status": 401}, BadCredentials),
        (
            402,
            {
                "title": "Insufficient credit",
                "detail": "You have insufficient credit",
                "status": 402,
            },
            OutOfCredit,
        ),
        (429, {"detail": "Request was throttled."}, RateLimited),
        (
            422,
            {"title": "Input validation failed", "detail": "- input.seed: bad"},
            ProviderRejected,
        ),
        (503, {"detail": "unavailable"}, Transient),
        (500, "<html>oops</html>", Transient),
    ],
)
def test_error_readings(status: int, body: object, kind: type) -> None:
    error = replicate.classify(answer(status, body), submit=True)
    assert isinstance(error, kind)
    assert error.accepted is (None if status >= 500 else False)


def test_rate_limit_wait_from_header_or_from_the_text() -> None:
    text = {"detail": "Request was throttled. Your rate limit resets in ~30s."}
    from_text = replicate.classify(answer(429, text), submit=True)
    assert from_text.retry_after == 30
    from_header = replicate.classify(answer(429, text, {"Retry-After": "12"}), submit=True)
    assert from_header.retry_after == 12
    bare = replicate.classify(answer(429, {"detail": "slow down"}), submit=True)
    assert bare.retry_after is None


def test_rejection_names_our_field() -> None:
    body = {
        "title": "Input validation failed",
        "detail": "- input.image_prompt_strength: Must be between 0 and 1\n",
        "status": 422,
        "invalid_fields": [
            {"type": "enum", "field": "input.image_prompt_strength", "description": "x"}
        ],
    }
    error = replicate.classify(answer(422, body), submit=True)
    assert isinstance(error, ProviderRejected) and error.field == "reference_strength"
    text_only = replicate.classify(
        answer(422, {"detail": "- input.aspect_ratio: must be one of ..."}), submit=True
    )
    assert isinstance(text_only, ProviderRejected) and text_only.field == "aspect_ratio"
    assert "input.aspect_ratio" in text_only.user_message


def test_lost_prediction_on_poll_is_task_failed() -> None:
    error = replicate.classify(answer(404, {"detail": "Not found."}), submit=False)
    assert isinstance(error, TaskFailed)


# --- against the fake -----------------------------------------------------------------------


@pytest.fixture
async def fake() -> AsyncIterator[FakeReplicate]:
    async with FakeReplicate(latency=0.05) as server:
        yield server


async def test_one_blocking_create_and_one_download(fake: FakeReplicate, http: HttpClient) -> None:
    provider = make_provider(replicate.ReplicateProvider, fake, http)
    result = await provider.generate(request(aspect_ratio="16:9", seed=42))
    assert result.provider == "replicate" and result.seed == 42
    [image] = result.images
    assert image.content_type == "image/jpeg" and not image.nsfw and image.seed == 42
    assert abs(image.width / image.height - 16 / 9) < 0.05
    assert result.job_id in fake.tasks
    assert result.timings.provider is not None
    assert len(fake.requests) == 2, "create + download is the whole job"
    create = fake.requests[0]
    assert create.path == CREATE_PATH and create.headers["Prefer"] == "wait=60"
    assert create.headers["Authorization"] == f"Bearer {fake.api_key}"
    assert "authorization" not in {
        k.lower() for r in fake.requests if r.host == "delivery" for k in r.headers
    }, "the key must not go to the image host"


@pytest.mark.parametrize("nonterminal", ["starting", "processing"])
async def test_non_terminal_create_answer_is_polled_to_the_image(
    fake: FakeReplicate, http: HttpClient, nonterminal: str
) -> None:
    fake.wait_cap = 0
    fake.nonterminal_status = nonterminal
    provider = make_provider(replicate.ReplicateProvider, fake, http)
    handle = await provider.submit(request())
    assert handle.tasks[0].outcome is None
    result = await provider.wait(handle)
    assert result.images and result.images[0].width == result.images[0].height
    assert fake.count("api", "GET", "/v1/predictions/") >= 1


async def test_png_raw_and_tolerance_reach_replicate_typed(
    fake: FakeReplicate, http: HttpClient
) -> None:
    provider = make_provider(replicate.ReplicateProvider, fake, http)
    result = await provider.generate(
        request(output_format=OutputFormat.PNG, raw=True, safety_tolerance=6)
    )
    assert result.images[0].content_type == "image/png"
    sent = fake.requests[0].body["input"]
    assert sent["safety_tolerance"] == 6 and sent["raw"] is True and sent["output_format"] == "png"


async def test_output_as_a_list_is_accepted(fake: FakeReplicate, http: HttpClient) -> None:
    fake.output_as_list = True
    result = await make_provider(replicate.ReplicateProvider, fake, http).generate(request())
    assert len(result.images) == 1


async def test_nsfw_outcome_has_no_flag_to_carry(fake: FakeReplicate, http: HttpClient) -> None:
    fake.script("nsfw")
    result = await make_provider(replicate.ReplicateProvider, fake, http).generate(request())
    assert result.images and not result.nsfw, "Replicate reports no per-image NSFW flag"


@pytest.mark.parametrize("outcome", ["moderated", "moderated_request"])
async def test_moderation_is_e005(fake: FakeReplicate, http: HttpClient, outcome: str) -> None:
    fake.balance = 10
    fake.script(outcome)
    with pytest.raises(ContentModerated) as caught:
        await make_provider(replicate.ReplicateProvider, fake, http).generate(request())
    assert "(E005)" in caught.value.detail
    assert fake.balance == 10


async def test_moderation_seen_while_polling(fake: FakeReplicate, http: HttpClient) -> None:
    fake.wait_cap = 0
    fake.script("moderated")
    with pytest.raises(ContentModerated):
        await make_provider(replicate.ReplicateProvider, fake, http).generate(request())


@pytest.mark.parametrize("status", ["failed", "aborted"])
async def test_failed_prediction_is_task_failed(
    fake: FakeReplicate, http: HttpClient, status: str
) -> None:
    fake.failed_status = status
    fake.script("failed")
    with pytest.raises(TaskFailed) as caught:
        await make_provider(replicate.ReplicateProvider, fake, http).generate(request())
    assert caught.value.failover and status in caught.value.detail


async def test_bad_key(fake: FakeReplicate, http: HttpClient) -> None:
    key = "r8_wrong-key-0123456789"
    provider = make_provider(replicate.ReplicateProvider, fake, http, key=key)
    with pytest.raises(BadCredentials) as caught:
        await provider.submit(request())
    assert key not in caught.value.log_message and key not in caught.value.user_message
    assert fake.count("api", "POST") == 1
    with pytest.raises(BadCredentials):
        await provider.check_credentials()


async def test_check_credentials_reads_the_account(fake: FakeReplicate, http: HttpClient) -> None:
    await make_provider(replicate.ReplicateProvider, fake, http).check_credentials()
    assert [(r.method, r.path) for r in fake.requests] == [("GET", "/v1/account")]


async def test_key_echoed_in_an_error_is_redacted(fake: FakeReplicate, http: HttpClient) -> None:
    fake.fail_next("create", 400, {"detail": f"token {fake.api_key} is not allowed here"})
    with pytest.raises(ProviderRejected) as caught:
        await make_provider(replicate.ReplicateProvider, fake, http).submit(request())
    assert fake.api_key not in caught.value.log_message
    assert fake.api_key not in caught.value.user_message


async def test_out_of_credit(fake: FakeReplicate, http: HttpClient) -> None:
    fake.balance = 0
    with pytest.raises(OutOfCredit) as caught:
        await make_provider(replicate.ReplicateProvider, fake, http).submit(request())
    assert caught.value.failover and not fake.tasks


async def test_invalid_input_names_the_field(fake: FakeReplicate, http: HttpClient) -> None:
    fake.fail_next(
        "create",
        422,
        {
            "title": "Input validation failed",
            "detail": "- input.aspect_ratio: must be one of the following: ...\n",
            "status": 422,
            "invalid_fields": [{"type": "enum", "field": "input.aspect_ratio"}],
        },
    )
    with pytest.raises(ProviderRejected) as caught:
        await make_provider(replicate.ReplicateProvider, fake, http).submit(request())
    assert caught.value.field == "aspect_ratio"
    assert fake.count("api", "POST") == 1


async def test_throttled_create_reports_the_wait_without_resubmitting(
    fake: FakeReplicate, http: HttpClient
) -> None:
    fake.fail_next(
        "create", 429, {"detail": "Request was throttled. Your rate limit resets in ~30s."}
    )
    with pytest.raises(RateLimited) as caught:
        await make_provider(replicate.ReplicateProvider, fake, http).submit(request())
    assert caught.value.retry_after == 30
    assert fake.count("api", "POST") == 1


async def test_short_retry_after_on_create_is_waited_then_retried(
    fake: FakeReplicate, http: HttpClient, sleeps: RecordingSleep
) -> None:
    fake.fail_next(
        "create", 429, {"detail": "Request was throttled."}, headers={"Retry-After": "1"}
    )
    provider = make_provider(replicate.ReplicateProvider, fake, http, sleep=sleeps)
    await provider.generate(request())
    assert 1.0 in sleeps.delays
    assert fake.count("api", "POST") == 2


async def test_retry_after_on_poll_is_honoured(
    fake: FakeReplicate, http: HttpClient, sleeps: RecordingSleep
) -> None:
    fake.wait_cap = 0
    sleeps.cap = 0.02
    fake.fail_next("poll", 429, {"detail": "slow down"}, headers={"Retry-After": "7"})
    result = await make_provider(replicate.ReplicateProvider, fake, http, sleep=sleeps).generate(
        request()
    )
    assert result.images
    assert 7.0 in sleeps.delays


async def test_5xx_or_dropped_create_is_not_resubmitted(
    fake: FakeReplicate, http: HttpClient
) -> None:
    fake.fail_next("create", 503, {"detail": "unavailable"})
    fake.drop_next("create")
    provider = make_provider(replicate.ReplicateProvider, fake, http)
    for _ in range(2):
        with pytest.raises(Transient) as caught:
            await provider.submit(request())
        assert caught.value.accepted is None
    assert fake.count("api", "POST") == 2


async def test_malformed_create_answer_is_transient(fake: FakeReplicate, http: HttpClient) -> None:
    fake.garble_next("create")
    with pytest.raises(Transient) as caught:
        await make_provider(replicate.ReplicateProvider, fake, http).submit(request())
    assert caught.value.accepted is None
    assert fake.count("api", "POST") == 1


async def test_malformed_and_dropped_polls_are_retried(
    fake: FakeReplicate, http: HttpClient
) -> None:
    fake.wait_cap = 0
    fake.garble_next("poll")
    fake.drop_next("poll")
    result = await make_provider(replicate.ReplicateProvider, fake, http).generate(request())
    assert result.images


async def test_resume_from_a_stored_handle(fake: FakeReplicate, http: HttpClient) -> None:
    fake.wait_cap = 0
    first = make_provider(replicate.ReplicateProvider, fake, http)
    handle = await first.submit(request(seed=3))
    stored = handle.model_dump_json()
    restarted = make_provider(replicate.ReplicateProvider, fake, http)
    result = await restarted.wait(JobHandle.model_validate_json(stored))
    assert result.seed == 3 and result.images
    assert fake.count("api", "POST") == 1


async def test_cancel_a_running_prediction(fake: FakeReplicate, http: HttpClient) -> None:
    fake.wait_cap = 0
    fake.latency = 600.0
    provider = make_provider(replicate.ReplicateProvider, fake, http)
    assert provider.capabilities.cancel
    handle = await provider.submit(request())
    assert await provider.cancel(handle) is True
    [task] = fake.tasks.values()
    assert task.cancelled
    with pytest.raises(TaskFailed, match="canceled"):
        await provider.wait(handle)


async def test_cancel_after_it_finished_is_not_confirmed(
    fake: FakeReplicate, http: HttpClient
) -> None:
    fake.wait_cap = 0
    provider = make_provider(replicate.ReplicateProvider, fake, http)
    handle = await provider.submit(request())
    await provider.wait(handle)
    assert await provider.cancel(handle) is False


async def test_four_images_as_four_predictions_with_distinct_seeds(
    fake: FakeReplicate, http: HttpClient
) -> None:
    provider = make_provider(replicate.ReplicateProvider, fake, http)
    result = await provider.generate(request(count=4, seed=10))
    assert len(result.images) == 4
    seeds = sorted(r.body["input"]["seed"] for r in fake.requests if r.method == "POST")
    assert seeds == [10, 11, 12, 13]
    assert sorted(image.seed for image in result.images) == [10, 11, 12, 13]
    assert any("4 separate" in note for note in result.notes)


async def test_one_moderated_prediction_of_four_still_delivers_three(
    fake: FakeReplicate, http: HttpClient
) -> None:
    fake.script("ok", "moderated", "ok", "ok")
    result = await make_provider(replicate.ReplicateProvider, fake, http).generate(request(count=4))
    assert len(result.images) == 3
    assert any("1 of 4" in note for note in result.notes)


async def test_reference_upload_reaches_replicate_as_a_data_uri(
    fake: FakeReplicate, http: HttpClient
) -> None:
    ref = ReferenceImage(data=render(8, 8, "jpeg"), content_type="image/jpeg")
    provider = make_provider(replicate.ReplicateProvider, fake, http)
    await provider.generate(request(reference=ref, reference_strength=0.3))
    sent = next(r.body["input"] for r in fake.requests if r.method == "POST")
    assert sent["image_prompt"].startswith("data:image/jpeg;base64,")
    assert sent["image_prompt_strength"] == 0.3


async def test_expired_output_is_transient(
    fake: FakeReplicate, http: HttpClient, sleeps: RecordingSleep
) -> None:
    fake.fail_next("file", 404, "Not Found", times=5)
    provider = make_provider(replicate.ReplicateProvider, fake, http, sleep=sleeps)
    with pytest.raises(Transient) as caught:
        await provider.generate(request())
    assert caught.value.accepted is True
    assert fake.count("api", "POST") == 1
