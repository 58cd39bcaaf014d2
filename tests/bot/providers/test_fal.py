"""fal adapter: its pure readings, then the whole flow against the fake fal queue."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest

from bot.errors import (
    BadCredentials,
    ContentModerated,
    OutOfCredit,
    ProviderMisconfigured,
    ProviderRejected,
    RateLimited,
    TaskFailed,
    Transient,
)
from bot.handles import JobHandle, Pending, TaskOutcome
from bot.models import OutputFormat, ReferenceImage, decode_base64
from bot.providers import fal
from bot.providers.capabilities import make_plan
from bot.providers.http import HttpClient, Response
from tests.bot.providers.conftest import make_provider, request
from tests.fakes.clock import RecordingSleep
from tests.fakes.providers.base import render
from tests.fakes.providers.fal import FakeFal, validation_errors

QUEUE = "https://queue.fal.run"

# --- pure -----------------------------------------------------------------------------


def test_body_uses_fal_types() -> None:
    req = request(aspect_ratio="21:9", seed=7, safety_tolerance=5, output_format="png", raw=True)
    body = fal.build_body(req, make_plan("fal", fal.CAPABILITIES, req), 0)
    assert body["safety_tolerance"] == "5", "fal wants the tolerance as a string"
    assert body["output_format"] == "png" and body["aspect_ratio"] == "21:9"
    assert body["raw"] is True and body["seed"] == 7 and body["num_images"] == 1
    assert "image_url" not in body
    assert validation_errors(body) == []


def test_tolerance_zero_is_refused_rather_than_sent_as_fals_strictest() -> None:
    assert "cannot apply safety tolerance 0: its strictest is 1" in fal.CAPABILITIES.refusals(
        request(safety_tolerance=0)
    )
    req = request(safety_tolerance=1)
    assert (
        fal.build_body(req, make_plan("fal", fal.CAPABILITIES, req), 0)["safety_tolerance"] == "1"
    )


def test_four_images_fit_one_task_and_default_ratio_is_sent() -> None:
    req = request(count=4)
    plan = make_plan("fal", fal.CAPABILITIES, req)
    assert plan.images_per_task == (4,)
    body = fal.build_body(req, plan, 0)
    assert body["num_images"] == 4 and body["aspect_ratio"] == "1:1"
    assert "seed" not in body


def test_reference_goes_as_data_uri_or_link() -> None:
    data = render(8, 8, "png")
    req = request(
        reference=ReferenceImage(data=data, content_type="image/png"), reference_strength=0.4
    )
    body = fal.build_body(req, make_plan("fal", fal.CAPABILITIES, req), 0)
    assert body["image_url"].startswith("data:image/png;base64,")
    assert decode_base64(body["image_url"]) == data
    assert body["image_prompt_strength"] == 0.4
    linked = request(reference=ReferenceImage(url="https://example.com/a.png"))
    body = fal.build_body(linked, make_plan("fal", fal.CAPABILITIES, linked), 0)
    assert body["image_url"] == "https://example.com/a.png"
    assert validation_errors(body) == []


def test_ratios_fal_lacks_are_refused_before_sending() -> None:
    assert fal.CAPABILITIES.refusals(request(aspect_ratio="5:4"))
    assert fal.CAPABILITIES.refusals(request(aspect_ratio="4:5"))
    assert fal.CAPABILITIES.refusals(request(aspect_ratio="9:21")) == []


def test_submit_reading_keeps_the_urls_as_given() -> None:
    given = {
        "status": "IN_QUEUE",
        "request_id": "R",
        "response_url": f"{QUEUE}/fal-ai/flux-pro/requests/R",
        "status_url": f"{QUEUE}/fal-ai/flux-pro/requests/R/status",
        "cancel_url": f"{QUEUE}/fal-ai/flux-pro/requests/R/cancel",
        "queue_position": 0,
    }
    request_id, urls = fal.parse_submit(given, QUEUE)
    assert request_id == "R"
    assert urls == {
        "response": given["response_url"],
        "status": given["status_url"],
        "cancel": given["cancel_url"],
    }
    _, fallback = fal.parse_submit({"request_id": "R"}, QUEUE + "/")
    assert fallback == urls, "without URLs, build them as fal's client does: no subpath"
    for malformed in ({"status": "IN_QUEUE"}, [], None, {"request_id": 5}):
        with pytest.raises(ValueError, match="request_id"):
            fal.parse_submit(malformed, QUEUE)


def test_status_readings() -> None:
    assert fal.parse_status({"status": "IN_QUEUE", "queue_position": 3}) == Pending(None)
    assert fal.parse_status({"status": "IN_PROGRESS", "logs": []}) == Pending(None)
    done = fal.parse_status(
        {"status": "COMPLETED", "logs": None, "metrics": {"inference_time": 4.5}}
    )
    assert done == fal.Done(4.5)
    assert fal.parse_status({"status": "COMPLETED", "logs": None}) == fal.Done(None)
    for malformed in ({"status": "EXPLODED"}, {}, [], None):
        with pytest.raises(ValueError, match=r"."):
            fal.parse_status(malformed)


def test_result_reading_flags_nsfw_by_index_and_tolerates_short_lists() -> None:
    images = [{"url": f"https://v3.fal.media/files/{i}.jpg"} for i in range(3)]
    got = fal.parse_result({"images": images, "seed": 123, "has_nsfw_concepts": [False, True]}, 2.5)
    assert [ref.nsfw for ref in got.images] == [False, True, None]  # no flag: unknown
    assert got.seed == 123 and got.provider_seconds == 2.5
    bare = fal.parse_result({"images": images[:1], "timings": {"inference": 1.25}})
    assert bare == TaskOutcome(images=(fal.ImageRef(url=images[0]["url"]),), provider_seconds=1.25)
    with pytest.raises(TaskFailed):
        fal.parse_result({"images": [], "has_nsfw_concepts": []})
    for malformed in ({"images": [{"width": 1}]}, {"detail": "x"}, [], None):
        with pytest.raises(ValueError, match=r"."):
            fal.parse_result(malformed)


def _answer(status: int, body: object, headers: dict[str, str] | None = None) -> Response:
    raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    return Response(status, headers or {}, raw)


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (401, {"detail": "No user found for Key ID and Secret"}, BadCredentials),
        (403, {"detail": "Forbidden"}, BadCredentials),
        (403, {"detail": "User is locked. Reason: Exhausted balance. Top up."}, OutOfCredit),
        (422, {"detail": "prompt is too long"}, ProviderRejected),
        (429, {"detail": "slow down"}, RateLimited),
        (408, {"detail": "timeout"}, Transient),
        (409, {"detail": "conflict"}, Transient),
        (502, "<html>bad gateway</html>", Transient),
        (503, {"detail": "unavailable"}, Transient),
        (504, {"detail": "gateway timeout"}, Transient),
    ],
)
def test_error_readings(status: int, body: object, kind: type) -> None:
    error = fal.classify(_answer(status, body), submit=True)
    assert isinstance(error, kind)


def test_validation_error_names_our_field() -> None:
    error = fal.classify(
        _answer(
            422,
            {"detail": [{"loc": ["body", "image_url"], "msg": "Failed to load", "type": "x"}]},
        ),
        submit=False,
    )
    assert isinstance(error, ProviderRejected) and error.field == "reference"
    assert "Failed to load" in error.user_message


def test_content_policy_is_moderation_not_a_bad_request() -> None:
    body = {
        "detail": [
            {"loc": ["body", "prompt"], "msg": "flagged", "type": "content_policy_violation"}
        ]
    }
    after = fal.classify(_answer(422, body), submit=False)
    assert isinstance(after, ContentModerated) and after.accepted is True
    assert after.reasons == ("flagged",)
    at_submit = fal.classify(_answer(422, body), submit=True)
    assert isinstance(at_submit, ContentModerated) and at_submit.accepted is False
    text = fal.classify(_answer(422, {"detail": "Image violates content policy"}), submit=False)
    assert isinstance(text, ContentModerated)


def test_retryable_header_overrides_the_status() -> None:
    plain_500 = fal.classify(_answer(500, {"detail": "boom"}), submit=False)
    assert isinstance(plain_500, Transient) and not plain_500.retryable
    told_retry = fal.classify(
        _answer(500, {"detail": "boom"}, {"X-Fal-Retryable": "true"}), submit=False
    )
    assert told_retry.retryable
    told_not = fal.classify(
        _answer(503, {"detail": "busy"}, {"X-Fal-Retryable": "false"}), submit=False
    )
    assert not told_not.retryable
    odd_422 = fal.classify(
        _answer(422, {"detail": "try later"}, {"X-Fal-Retryable": "true"}), submit=False
    )
    assert isinstance(odd_422, Transient) and odd_422.retryable


def test_unknown_request_is_task_failed_but_unknown_app_is_misconfigured() -> None:
    gone = fal.classify(_answer(404, {"detail": "Request not found"}), submit=False)
    assert isinstance(gone, TaskFailed) and gone.accepted is True
    no_app = fal.classify(_answer(404, {"detail": "Not Found"}), submit=True)
    assert isinstance(no_app, ProviderMisconfigured)
    assert no_app.accepted is False
    assert no_app.failover, "a wrong base URL at one provider should not stop the others"


def test_url_helpers() -> None:
    assert fal.stream_url(f"{QUEUE}/a/requests/R/status") == f"{QUEUE}/a/requests/R/status/stream"
    assert fal.stream_url("https://h/s?x=1") == "https://h/s/stream?x=1"
    assert fal.with_query("https://h/s", "logs=0") == "https://h/s?logs=0"
    assert fal.with_query("https://h/s?x=1", "logs=0") == "https://h/s?x=1&logs=0"
    assert fal.cancel_confirmed({"status": "CANCELLATION_REQUESTED"})
    assert fal.cancel_confirmed({"status": "OK"})
    assert not fal.cancel_confirmed({"status": "ALREADY_COMPLETED"})
    assert not fal.cancel_confirmed({"status": "NOT_FOUND"})


# --- against the fake -----------------------------------------------------------------------


@pytest.fixture
async def fake() -> AsyncIterator[FakeFal]:
    async with FakeFal(latency=0.05) as server:
        yield server


def provider_for(fake: FakeFal, http: HttpClient, **kw: object) -> fal.FalProvider:
    made = make_provider(fal.FalProvider, fake, http, host="queue", **kw)
    assert isinstance(made, fal.FalProvider)
    return made


async def test_generates_an_image_with_four_requests(fake: FakeFal, http: HttpClient) -> None:
    result = await provider_for(fake, http).generate(request(aspect_ratio="16:9", seed=42))
    assert result.provider == "fal" and result.seed == 42
    [image] = result.images
    assert image.content_type == "image/jpeg" and not image.nsfw and image.seed == 42
    assert abs(image.width / image.height - 16 / 9) < 0.05
    assert result.job_id in fake.tasks
    assert result.timings.provider is not None
    routes = [(r.host, r.method, r.path.rsplit("/", 1)[-1]) for r in fake.requests]
    assert routes == [
        ("queue", "POST", "v1.1-ultra"),
        ("queue", "GET", "stream"),
        ("queue", "GET", result.job_id),
        ("media", "GET", f"{result.job_id}-0.jpg"),
    ], "submit, one status stream, result, download: nothing else"
    assert all(r.headers.get("Authorization") == "Key test-key" for r in fake.requests[:3])
    assert "authorization" not in {k.lower() for k in fake.requests[3].headers}, (
        "the key must not go to the image host"
    )


async def test_the_stream_answers_the_moment_the_task_completes(
    fake: FakeFal, http: HttpClient, sleeps: RecordingSleep
) -> None:
    """The task completes only once the adapter is following the stream, so what is timed is
    the adapter's reaction alone. Any other way to learn of the completion is a sleep or a
    poll (both counted), or a keep-alive or idle timer of 15 s and more: 5 s tells them apart
    however loaded the machine."""
    fake.latency = 600.0
    provider = provider_for(fake, http, sleep=sleeps)
    handle = await provider.submit(request())
    waiting = asyncio.create_task(provider.await_task(handle.tasks[0], handle.submitted_at))
    await fake.wait_for_requests(1, "queue", "GET", "/fal-ai/flux-pro/requests")  # the stream
    fake.finish_all()
    outcome = await asyncio.wait_for(waiting, 30)
    had_result = time.perf_counter()
    task = fake.tasks[handle.job_id]
    assert task.completed_at is not None and outcome.images
    assert sleeps.delays == [], "no waiting beyond the completion"
    assert had_result - task.completed_at < 5.0, "no waiting beyond the completion"
    assert fake.count("queue", "GET", "/fal-ai/flux-pro/requests") == 2  # stream + result


async def test_png_tolerance_and_raw_reach_fal_typed(fake: FakeFal, http: HttpClient) -> None:
    result = await provider_for(fake, http).generate(
        request(output_format=OutputFormat.PNG, raw=True, safety_tolerance=5)
    )
    assert result.images[0].content_type == "image/png"
    sent = fake.requests[0].body
    assert sent["safety_tolerance"] == "5" and sent["raw"] is True
    assert sent["output_format"] == "png"


async def test_fake_refuses_an_int_tolerance_like_fal(
    fake: FakeFal, session: aiohttp.ClientSession
) -> None:
    async with session.post(
        fake.url("queue") + "/fal-ai/flux-pro/v1.1-ultra",
        json={"prompt": "x", "safety_tolerance": 2},
        headers={"Authorization": f"Key {fake.api_key}"},
    ) as resp:
        assert resp.status == 422
        detail = (await resp.json())["detail"]
    assert detail[0]["loc"] == ["body", "safety_tolerance"]


async def test_four_images_in_one_task(fake: FakeFal, http: HttpClient) -> None:
    result = await provider_for(fake, http).generate(request(count=4, seed=10))
    assert len(result.images) == 4
    assert fake.count("queue", "POST") == 1
    assert fake.requests[0].body["num_images"] == 4
    assert {image.seed for image in result.images} == {10}
    assert len(fake.requests) == 3 + 4


async def test_nsfw_flag_reaches_the_image(fake: FakeFal, http: HttpClient) -> None:
    fake.script("nsfw")
    result = await provider_for(fake, http).generate(request())
    assert result.nsfw and result.images[0].nsfw


@pytest.mark.parametrize("outcome", ["moderated", "moderated_request"])
async def test_moderation_is_reported_and_not_charged(
    fake: FakeFal, http: HttpClient, outcome: str
) -> None:
    fake.balance = 10
    fake.script(outcome)
    with pytest.raises(ContentModerated) as caught:
        await provider_for(fake, http).generate(request())
    assert caught.value.accepted is True
    assert "flagged as sensitive" in caught.value.reasons[0]
    assert fake.balance == 10


async def test_failed_task_is_task_failed(fake: FakeFal, http: HttpClient) -> None:
    fake.script("failed")
    with pytest.raises(TaskFailed) as caught:
        await provider_for(fake, http).generate(request())
    assert caught.value.accepted is True and caught.value.failover
    assert fake.count("queue", "GET", "/fal-ai/flux-pro/requests") == 2, "500 is not retried"


async def test_bad_key(fake: FakeFal, http: HttpClient) -> None:
    provider = provider_for(fake, http, key="wrong-key-123")
    with pytest.raises(BadCredentials) as caught:
        await provider.submit(request())
    assert caught.value.accepted is False
    assert "wrong-key-123" not in caught.value.log_message
    assert "wrong-key-123" not in caught.value.user_message
    with pytest.raises(BadCredentials):
        await provider.check_credentials()
    await provider_for(fake, http).check_credentials()


async def test_key_echoed_by_fal_is_redacted(fake: FakeFal, http: HttpClient) -> None:
    fake.fail_next("submit", 400, {"detail": f"key {fake.api_key} may not do this"})
    with pytest.raises(ProviderRejected) as caught:
        await provider_for(fake, http).submit(request())
    assert fake.api_key not in caught.value.log_message
    assert fake.api_key not in caught.value.user_message


async def test_out_of_credit(fake: FakeFal, http: HttpClient) -> None:
    fake.balance = 0
    with pytest.raises(OutOfCredit) as caught:
        await provider_for(fake, http).submit(request())
    assert caught.value.failover and caught.value.accepted is False


async def test_submit_429_reports_retry_after_without_resubmitting(
    fake: FakeFal, http: HttpClient
) -> None:
    fake.fail_next("submit", 429, {"detail": "Too many requests"}, headers={"Retry-After": "30"})
    with pytest.raises(RateLimited) as caught:
        await provider_for(fake, http).submit(request())
    assert caught.value.retry_after == 30
    assert fake.count("queue", "POST") == 1


async def test_short_retry_after_on_submit_is_waited_then_retried(
    fake: FakeFal, http: HttpClient, sleeps: RecordingSleep
) -> None:
    fake.fail_next("submit", 429, {"detail": "busy"}, headers={"Retry-After": "1"})
    await provider_for(fake, http, sleep=sleeps).generate(request())
    assert 1.0 in sleeps.delays
    assert fake.count("queue", "POST") == 2


async def test_retry_after_on_result_is_honoured(
    fake: FakeFal, http: HttpClient, sleeps: RecordingSleep
) -> None:
    fake.fail_next("result", 429, {"detail": "slow down"}, headers={"Retry-After": "7"})
    result = await provider_for(fake, http, sleep=sleeps).generate(request())
    assert result.images and 7.0 in sleeps.delays


async def test_refused_stream_honours_retry_after_and_reconnects(
    fake: FakeFal, http: HttpClient, sleeps: RecordingSleep
) -> None:
    fake.fail_next("stream", 429, {"detail": "slow down"}, headers={"Retry-After": "3"})
    result = await provider_for(fake, http, sleep=sleeps).generate(request())
    assert result.images and 3.0 in sleeps.delays
    assert fake.count("queue", "GET", "/fal-ai/flux-pro/requests") == 3  # 2 streams + result


async def test_invalid_request_names_the_field(fake: FakeFal, http: HttpClient) -> None:
    fake.fail_next(
        "submit",
        422,
        {"detail": [{"loc": ["body", "prompt"], "msg": "String too long", "type": "too_long"}]},
    )
    with pytest.raises(ProviderRejected) as caught:
        await provider_for(fake, http).submit(request())
    assert caught.value.field == "prompt" and "String too long" in caught.value.user_message
    assert fake.count("queue", "POST") == 1


@pytest.mark.parametrize("status", [500, 503])
async def test_5xx_on_submit_is_not_resubmitted(
    fake: FakeFal, http: HttpClient, status: int
) -> None:
    fake.fail_next("submit", status, {"detail": "unavailable"})
    with pytest.raises(Transient) as caught:
        await provider_for(fake, http).submit(request())
    assert caught.value.accepted is None
    assert fake.count("queue", "POST") == 1


async def test_dropped_submit_is_not_resubmitted(fake: FakeFal, http: HttpClient) -> None:
    fake.drop_next("submit")
    with pytest.raises(Transient) as caught:
        await provider_for(fake, http).submit(request())
    assert caught.value.accepted is None
    assert fake.count("queue", "POST") == 1


async def test_malformed_submit_answer_is_transient(fake: FakeFal, http: HttpClient) -> None:
    fake.garble_next("submit")
    with pytest.raises(Transient) as caught:
        await provider_for(fake, http).submit(request())
    assert caught.value.accepted is None


@pytest.mark.parametrize("how", ["close", "abort"])
async def test_cut_stream_is_reopened(fake: FakeFal, http: HttpClient, how: str) -> None:
    """The task runs until the stream was reopened: a cut that came after the completion
    would end the job without the reconnect this test is about."""
    fake.latency = 600.0
    fake.cut_next_stream(how)
    job = asyncio.create_task(provider_for(fake, http).generate(request()))
    await fake.wait_for_requests(2, "queue", "GET", "/fal-ai/flux-pro/requests")
    fake.finish_all()
    result = await asyncio.wait_for(job, 30)
    assert result.images
    assert fake.count("queue", "GET", "/fal-ai/flux-pro/requests") == 3


async def test_garbled_stream_is_reopened(fake: FakeFal, http: HttpClient) -> None:
    fake.garble_next("stream")
    result = await provider_for(fake, http).generate(request())
    assert result.images
    assert fake.count("queue", "GET", "/fal-ai/flux-pro/requests") == 3


async def test_failing_streams_fall_back_to_polling(
    fake: FakeFal, http: HttpClient, sleeps: RecordingSleep
) -> None:
    fake.fail_next("stream", 503, {"detail": "unavailable"}, times=fal.STREAM_CONNECTS)
    fake.garble_next("status")
    result = await provider_for(fake, http, sleep=sleeps).generate(request())
    assert result.images
    stream_calls = [r for r in fake.requests if r.path.endswith("/status/stream")]
    polls = [r for r in fake.requests if r.path.endswith("/status")]
    assert len(stream_calls) == fal.STREAM_CONNECTS
    assert polls and all(r.query.get("logs") == "0" for r in polls)


async def test_garbled_and_dropped_results_are_retried(fake: FakeFal, http: HttpClient) -> None:
    fake.drop_next("result")
    fake.garble_next("result")
    result = await provider_for(fake, http).generate(request())
    assert result.images


async def test_a_stuck_request_is_given_up_after_max_wait(fake: FakeFal, http: HttpClient) -> None:
    fake.latency = 600.0
    with pytest.raises(Transient) as caught:
        await provider_for(fake, http, max_wait=0.2).generate(request())
    assert "gave up" in caught.value.detail and caught.value.accepted is True


async def test_lost_request_is_task_failed(fake: FakeFal, http: HttpClient) -> None:
    provider = provider_for(fake, http)
    handle = await provider.submit(request())
    fake.tasks.clear()
    with pytest.raises(TaskFailed):
        await provider.wait(handle)


async def test_resume_from_a_stored_handle(fake: FakeFal, http: HttpClient) -> None:
    handle = await provider_for(fake, http).submit(request(seed=3))
    stored = handle.model_dump_json()
    assert "/fal-ai/flux-pro/requests/" in stored
    restarted = provider_for(fake, http)
    result = await restarted.wait(JobHandle.model_validate_json(stored))
    assert result.seed == 3 and result.images
    assert fake.count("queue", "POST") == 1


async def test_given_urls_are_used_and_rebuilt_ones_fail(
    fake: FakeFal, http: HttpClient, session: aiohttp.ClientSession
) -> None:
    handle = await provider_for(fake, http).submit(request())
    await provider_for(fake, http).wait(handle)
    assert not any("/v1.1-ultra/requests" in r.path for r in fake.requests)
    auth = {"Authorization": f"Key {fake.api_key}"}
    rebuilt = f"{fake.url('queue')}/fal-ai/flux-pro/v1.1-ultra/requests/{handle.job_id}/status"
    async with session.get(rebuilt, headers=auth) as resp:
        assert resp.status == 404
    async with session.get(handle.tasks[0].urls["status"], headers=auth) as resp:
        assert resp.status == 200


async def test_cancel_a_running_task(fake: FakeFal, http: HttpClient) -> None:
    fake.latency = 600.0
    provider = provider_for(fake, http)
    assert provider.capabilities.cancel
    handle = await provider.submit(request())
    assert await provider.cancel(handle) is True
    assert fake.tasks[handle.job_id].cancelled
    with pytest.raises(TaskFailed):
        await provider.wait(handle)


async def test_cancel_after_completion_is_not_confirmed(fake: FakeFal, http: HttpClient) -> None:
    provider = provider_for(fake, http)
    handle = await provider.submit(request())
    await provider.wait(handle)
    assert await provider.cancel(handle) is False


async def test_reference_upload_reaches_fal_as_data_uri(fake: FakeFal, http: HttpClient) -> None:
    data = render(16, 16, "jpeg")
    await provider_for(fake, http).generate(
        request(reference=ReferenceImage(data=data, content_type="image/jpeg"))
    )
    sent = fake.requests[0].body
    assert decode_base64(sent["image_url"]) == data
