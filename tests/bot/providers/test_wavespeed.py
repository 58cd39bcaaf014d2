"""WaveSpeedAI adapter: its pure readings, then the whole flow against the fake WaveSpeed."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

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
from bot.handles import JobHandle, Pending, TaskOutcome, TaskRef
from bot.models import OutputFormat, ReferenceImage
from bot.providers import wavespeed
from bot.providers.capabilities import make_plan
from bot.providers.http import HttpClient, Response
from tests.bot.providers.conftest import make_provider, request
from tests.fakes.clock import RecordingSleep
from tests.fakes.providers.wavespeed import FakeWaveSpeed, validation_error

API = "https://api.wavespeed.ai"


def prediction(**fields: Any) -> dict[str, Any]:
    """A prediction as WaveSpeed shows it, with the given fields changed."""
    data: dict[str, Any] = {
        "id": "W",
        "model": wavespeed.MODEL,
        "outputs": [],
        "urls": {"get": f"{API}/api/v3/predictions/W/result"},
        "has_nsfw_contents": [],
        "status": "created",
        "created_at": "2026-01-01T00:00:00Z",
        "error": "",
        "timings": {"inference": 2500},
    }
    return {**data, **fields}


def answer(status: int, body: object, headers: dict[str, str] | None = None) -> Response:
    """A provider answer as the HTTP layer hands it over."""
    raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    return Response(status, headers or {}, raw)


# --- pure -----------------------------------------------------------------------------


def test_body_uses_wavespeed_names_and_types() -> None:
    req = request(aspect_ratio="16:9", seed=7, raw=True, safety_tolerance=6)
    body = wavespeed.build_body(req, make_plan("wavespeed", wavespeed.CAPABILITIES, req), 0)
    assert body == {
        "prompt": req.prompt,
        "aspect_ratio": "16:9",
        "output_format": "jpg",
        "raw": True,
        "seed": 7,
        "enable_base64_output": False,
        "enable_sync_mode": True,
    }
    assert validation_error(body) is None


def test_random_seed_is_minus_one_and_png_stays_png() -> None:
    req = request(output_format=OutputFormat.PNG)
    body = wavespeed.build_body(req, make_plan("wavespeed", wavespeed.CAPABILITIES, req), 0)
    assert body["seed"] == -1 and body["output_format"] == "png"
    assert body["aspect_ratio"] == "1:1", "sent explicitly, never left to the default"


def test_capabilities_say_what_wavespeed_cannot_do() -> None:
    caps = wavespeed.CAPABILITIES
    assert caps.refusals(request(aspect_ratio="21:9"))
    assert caps.refusals(request(aspect_ratio="3:2"))
    assert caps.refusals(request(reference=ReferenceImage(url="https://example.com/a.png")))
    assert caps.refusals(request(aspect_ratio="9:16", output_format="png", raw=True)) == []
    assert not caps.cancel and caps.max_images_per_task == 1 and caps.max_concurrent_tasks == 2
    plan = make_plan("wavespeed", caps, request(safety_tolerance=5))
    assert plan.safety_tolerance is None
    assert any("cannot set a safety tolerance" in note for note in plan.notes)


def test_prediction_readings() -> None:
    assert wavespeed.parse_task(prediction(status="created")) == Pending()
    assert wavespeed.parse_task(prediction(status="processing")) == Pending()
    sync_timeout = prediction(status="processing", code=5004, error="Sync mode timed out")
    assert wavespeed.parse_task(sync_timeout) == Pending()
    done = wavespeed.parse_task(
        prediction(
            status="completed",
            outputs=["https://cdn.wavespeed.ai/a.jpg", "https://cdn.wavespeed.ai/b.jpg"],
            has_nsfw_contents=[False, "true"],
        ),
        seed=9,
    )
    assert isinstance(done, TaskOutcome)
    assert [(i.url[-5:], i.nsfw) for i in done.images] == [("a.jpg", False), ("b.jpg", True)]
    assert done.seed == 9 and done.provider_seconds == 2.5
    no_flags = wavespeed.parse_task(prediction(status="completed", outputs=["https://x/a.jpg"]))
    assert isinstance(no_flags, TaskOutcome) and not no_flags.images[0].nsfw
    with pytest.raises(TaskFailed) as failed:
        wavespeed.parse_task(prediction(status="failed", error="worker crashed"))
    assert "worker crashed" in failed.value.detail and failed.value.accepted is True
    for status in ("cancelled", "timeout"):
        with pytest.raises(TaskFailed):
            wavespeed.parse_task(prediction(status=status, error=""))
    for text in ("Image flagged as NSFW", "prompt violates content policy", "sensitive content"):
        with pytest.raises(ContentModerated) as moderated:
            wavespeed.parse_task(prediction(status="failed", error=text))
        assert moderated.value.reasons == (text,)
    for malformed in (
        prediction(status="exploded"),
        prediction(status="completed", outputs=[]),
        prediction(status="completed", outputs=[None]),
        {"id": "W"},
        [],
        None,
    ):
        with pytest.raises(ValueError, match=r"."):
            wavespeed.parse_task(malformed)


def test_result_url_is_used_as_given_or_rebuilt() -> None:
    given = prediction(urls={"get": "https://api.wavespeed.ai/api/v3/predictions/W/result"})
    assert wavespeed.result_url(given, "http://elsewhere") == given["urls"]["get"]
    assert wavespeed.result_url(prediction(urls={}), API) == f"{API}/api/v3/predictions/W/result"
    with pytest.raises(ValueError, match="id"):
        wavespeed.task_id({"status": "created"})


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (401, {"code": 401, "message": "Unauthorized", "data": None}, BadCredentials),
        (401, "Unauthorized", BadCredentials),
        (402, {"code": 402, "message": "Insufficient balance"}, OutOfCredit),
        (400, {"code": 400, "message": "Insufficient balance, please top up"}, OutOfCredit),
        (400, {"code": 400, "message": "aspect_ratio: must be one of 1:1"}, ProviderRejected),
        (429, {"code": 429, "message": "Too many requests"}, RateLimited),
        (500, {"code": 500, "message": "internal error"}, Transient),
        (503, "<html>unavailable</html>", Transient),
        (504, "<html>504 Gateway Time-out</html>", Transient),
    ],
)
def test_error_readings(status: int, body: object, kind: type) -> None:
    error = wavespeed.classify(answer(status, body, {"Retry-After": "12"}), submit=True)
    assert type(error) is kind
    if status < 429:
        assert error.accepted is False
    if status >= 500:
        assert error.accepted is None, "a submit that failed this way may have started a task"
    if kind is RateLimited:
        assert error.retry_after == 12


def test_rejection_names_the_field() -> None:
    error = wavespeed.classify(
        answer(400, {"code": 400, "message": "seed: must be an integer"}), submit=True
    )
    assert isinstance(error, ProviderRejected) and error.field == "seed"
    assert "seed: must be an integer" in error.user_message


def test_unknown_task_on_read_is_task_failed() -> None:
    error = wavespeed.classify(answer(404, {"code": 404, "message": "not found"}), submit=False)
    assert isinstance(error, TaskFailed)


def test_504_naming_its_task_means_poll_it() -> None:
    body = {"code": 504, "message": "timeout", "data": prediction(status="processing")}
    error = wavespeed.classify(answer(504, body), submit=True)
    assert isinstance(error, wavespeed.SyncTimedOut)
    assert error.accepted is True and error.data["id"] == "W"


def test_envelope_code_counts_as_the_http_status() -> None:
    def read(envelope: dict[str, Any]) -> object:
        return wavespeed.envelope_error(envelope, answer(200, envelope), submit=True)

    assert read({"code": 200, "message": "success", "data": prediction()}) is None
    assert read({"code": 5004, "data": prediction(status="processing")}) is None
    assert isinstance(read({"code": 401, "message": "Unauthorized"}), BadCredentials)
    assert isinstance(read({"code": 402, "message": "Insufficient balance"}), OutOfCredit)
    assert isinstance(read({"code": 429, "message": "slow down"}), RateLimited)
    rejected = read({"code": 400, "message": "output_format: must be jpg or png"})
    assert isinstance(rejected, ProviderRejected) and rejected.field == "output_format"
    assert wavespeed.envelope_error(None, answer(200, "null"), submit=True) is None


# --- against the fake -----------------------------------------------------------------------


@pytest.fixture
async def fake() -> AsyncIterator[FakeWaveSpeed]:
    async with FakeWaveSpeed(latency=0.05) as server:
        yield server


def provider_for(fake: FakeWaveSpeed, http: HttpClient, **kw: Any) -> wavespeed.WaveSpeedProvider:
    """The adapter pointed at the fake, typed as itself."""
    provider = make_provider(wavespeed.WaveSpeedProvider, fake, http, **kw)
    assert isinstance(provider, wavespeed.WaveSpeedProvider)
    return provider


async def test_one_sync_call_and_one_download_per_image(
    fake: FakeWaveSpeed, http: HttpClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    timeouts: dict[str, float | None] = {}
    provider = provider_for(fake, http)
    real_request = provider.http.request

    async def spy(method: str, url: str, **kw: Any) -> Response:
        timeouts[method] = kw.get("timeout")
        return await real_request(method, url, **kw)

    monkeypatch.setattr(provider.http, "request", spy)
    result = await provider.generate(request(aspect_ratio="16:9", seed=42))
    assert result.provider == "wavespeed" and result.seed == 42
    [image] = result.images
    assert image.content_type == "image/jpeg" and not image.nsfw and image.seed == 42
    assert abs(image.width / image.height - 16 / 9) < 0.05
    assert result.job_id in fake.tasks
    assert fake.tasks[result.job_id].body["seed"] == 42
    assert len(fake.requests) == 2, "submit + download, no polling"
    assert fake.count("api", "POST") == 1 and fake.count("cdn", "GET") == 1
    assert (timeouts["POST"] or 0) > fake.sync_timeout, "the sync call outlives the server's wait"
    cdn_headers = {k.lower() for r in fake.requests if r.host == "cdn" for k in r.headers}
    assert "authorization" not in cdn_headers, "the key must not go to the image host"
    assert result.timings.provider is not None


async def test_png_random_seed_and_raw_reach_wavespeed_typed(
    fake: FakeWaveSpeed, http: HttpClient
) -> None:
    result = await provider_for(fake, http).generate(
        request(output_format=OutputFormat.PNG, raw=True, aspect_ratio="3:4")
    )
    [image] = result.images
    assert image.content_type == "image/png" and image.height > image.width
    sent = fake.requests[0].body
    assert sent["output_format"] == "png" and sent["raw"] is True and sent["seed"] == -1
    assert "safety_tolerance" not in sent


async def test_nsfw_flag_reaches_the_image(fake: FakeWaveSpeed, http: HttpClient) -> None:
    fake.script("nsfw")
    result = await provider_for(fake, http).generate(request())
    assert result.nsfw and result.images[0].nsfw


@pytest.mark.parametrize("outcome", ["moderated", "moderated_request"])
async def test_moderation_inside_http_200_is_content_moderated(
    fake: FakeWaveSpeed, http: HttpClient, outcome: str
) -> None:
    fake.balance = 5
    fake.script(outcome)
    with pytest.raises(ContentModerated) as caught:
        await provider_for(fake, http).generate(request())
    assert caught.value.reasons and fake.balance == 5


async def test_failed_task_inside_http_200_is_task_failed(
    fake: FakeWaveSpeed, http: HttpClient
) -> None:
    fake.script("failed")
    with pytest.raises(TaskFailed) as caught:
        await provider_for(fake, http).generate(request())
    assert caught.value.failover and "worker crashed" in caught.value.log_message


async def test_sync_timeout_answers_processing_then_the_result_is_polled(
    fake: FakeWaveSpeed, http: HttpClient
) -> None:
    fake.latency, fake.sync_timeout = 600.0, 0.01  # still running when the sync wait ends
    provider = provider_for(fake, http)
    handle = await provider.submit(request(seed=5))
    [task] = handle.tasks
    assert task.outcome is None and task.urls["get"].endswith(f"/predictions/{task.id}/result")
    fake.finish_all()
    result = await provider.wait(handle)
    assert result.images and result.seed == 5
    assert fake.count("api", "POST") == 1, "never resubmitted"
    assert fake.count("api", "GET", "/api/v3/predictions/") >= 1
    assert fake.count("cdn", "GET") == 1


async def test_bare_504_on_the_sync_call_is_ambiguous_and_not_resubmitted(
    fake: FakeWaveSpeed, http: HttpClient
) -> None:
    fake.latency, fake.sync_timeout, fake.sync_timeout_answer = 600.0, 0.01, "504"
    with pytest.raises(Transient) as caught:
        await provider_for(fake, http).submit(request())
    assert caught.value.accepted is None and caught.value.status == 504
    assert fake.count("api", "POST") == 1
    assert len(fake.tasks) == 1, "the task went on at WaveSpeed: a resubmit would pay twice"


async def test_504_naming_the_task_is_polled_to_the_image(
    fake: FakeWaveSpeed, http: HttpClient
) -> None:
    fake.latency, fake.sync_timeout, fake.sync_timeout_answer = 600.0, 0.01, "504_envelope"
    provider = provider_for(fake, http)
    handle = await provider.submit(request())
    assert handle.tasks[0].outcome is None, "the 504 came while the task was running"
    fake.finish_all()
    result = await provider.wait(handle)
    assert result.images and result.job_id in fake.tasks
    assert fake.count("api", "POST") == 1


@pytest.mark.parametrize("in_envelope", [False, True])
async def test_bad_key(fake: FakeWaveSpeed, http: HttpClient, in_envelope: bool) -> None:
    fake.errors_in_envelope = in_envelope
    key = "ws-wrong-key-123"
    provider = provider_for(fake, http, key=key)
    with pytest.raises(BadCredentials) as caught:
        await provider.submit(request())
    assert key not in caught.value.log_message and key not in caught.value.user_message
    with pytest.raises(BadCredentials):
        await provider.check_credentials()
    assert not fake.tasks


@pytest.mark.parametrize("in_envelope", [False, True])
async def test_good_key_is_proven_by_a_lookup_of_an_unknown_task(
    fake: FakeWaveSpeed, http: HttpClient, in_envelope: bool
) -> None:
    fake.errors_in_envelope = in_envelope
    await provider_for(fake, http).check_credentials()
    assert fake.count("api", "GET", "/api/v3/predictions/") == 1 and not fake.tasks


@pytest.mark.parametrize("in_envelope", [False, True])
async def test_out_of_credit(fake: FakeWaveSpeed, http: HttpClient, in_envelope: bool) -> None:
    fake.balance, fake.errors_in_envelope = 0, in_envelope
    with pytest.raises(OutOfCredit) as caught:
        await provider_for(fake, http).submit(request())
    assert caught.value.accepted is False and not fake.tasks


@pytest.mark.parametrize("in_envelope", [False, True])
async def test_invalid_request_is_rejected_with_the_field(
    fake: FakeWaveSpeed, http: HttpClient, in_envelope: bool
) -> None:
    fake.errors_in_envelope = in_envelope
    provider = provider_for(fake, http)
    with pytest.raises(ProviderRejected) as caught:
        await provider.submit(request(aspect_ratio="21:9"))  # past the capability check
    assert caught.value.field == "aspect_ratio" and not fake.tasks
    assert fake.count("api", "POST") == 1


async def test_concurrency_limit_reports_retry_after_without_resubmitting(
    fake: FakeWaveSpeed, http: HttpClient
) -> None:
    fake.latency, fake.sync_timeout, fake.max_active = 600.0, 0.0, 1  # the first one runs on
    provider = provider_for(fake, http)
    await provider.submit(request())
    with pytest.raises(RateLimited) as caught:
        await provider.submit(request())
    assert caught.value.retry_after == 30 and caught.value.accepted is False
    assert fake.count("api", "POST") == 2 and len(fake.tasks) == 1


async def test_short_retry_after_on_submit_is_waited_then_retried(
    fake: FakeWaveSpeed, http: HttpClient, sleeps: RecordingSleep
) -> None:
    fake.fail_next("submit", 429, {"code": 429, "message": "busy"}, headers={"Retry-After": "1"})
    await provider_for(fake, http, sleep=sleeps).generate(request())
    assert 1.0 in sleeps.delays
    assert fake.count("api", "POST") == 2


async def test_retry_after_on_result_poll_is_honoured(
    fake: FakeWaveSpeed, http: HttpClient
) -> None:
    sleeps = RecordingSleep(cap=0.01)
    fake.latency, fake.sync_timeout = 600.0, 0.0  # still running after the submit: polled
    fake.fail_next("result", 429, {"code": 429, "message": "slow"}, headers={"Retry-After": "7"})
    provider = provider_for(fake, http, sleep=sleeps)
    handle = await provider.submit(request())
    fake.finish_all()
    result = await provider.wait(handle)
    assert result.images
    assert 7.0 in sleeps.delays


async def test_5xx_on_submit_is_not_resubmitted(fake: FakeWaveSpeed, http: HttpClient) -> None:
    fake.fail_next("submit", 503, {"code": 503, "message": "unavailable"})
    with pytest.raises(Transient) as caught:
        await provider_for(fake, http).submit(request())
    assert caught.value.accepted is None
    assert fake.count("api", "POST") == 1


@pytest.mark.parametrize("fault", ["garble", "drop"])
async def test_malformed_or_dropped_submit_is_ambiguous_and_not_resubmitted(
    fake: FakeWaveSpeed, http: HttpClient, fault: str
) -> None:
    (fake.garble_next if fault == "garble" else fake.drop_next)("submit")
    with pytest.raises(Transient) as caught:
        await provider_for(fake, http).submit(request())
    assert caught.value.accepted is None
    assert fake.count("api", "POST") == 1


async def test_submit_answer_without_task_id_is_transient(
    fake: FakeWaveSpeed, http: HttpClient
) -> None:
    fake.fail_next("submit", 200, {"code": 200, "message": "success", "data": {"status": "x"}})
    with pytest.raises(Transient) as caught:
        await provider_for(fake, http).submit(request())
    assert caught.value.accepted is None


async def test_bad_result_answers_are_retried_while_polling(
    fake: FakeWaveSpeed, http: HttpClient
) -> None:
    fake.latency, fake.sync_timeout = 600.0, 0.0  # still running after the submit: polled
    fake.garble_next("result")
    fake.drop_next("result")
    fake.fail_next("result", 200, {"code": 500, "message": "internal error", "data": None})
    fake.fail_next("result", 200, {"code": 429, "message": "too many requests", "data": None})
    fake.fail_next("result", 502, "<html>bad gateway</html>")
    provider = provider_for(fake, http)
    handle = await provider.submit(request())
    fake.finish_all()
    result = await provider.wait(handle)
    assert result.images
    assert fake.count("api", "POST") == 1
    assert fake.count("api", "GET") >= 6, "every scripted fault was met and got past"


async def test_resume_from_a_stored_handle(fake: FakeWaveSpeed, http: HttpClient) -> None:
    fake.latency, fake.sync_timeout = 600.0, 0.0
    handle = await provider_for(fake, http).submit(request(seed=3))
    assert handle.tasks[0].outcome is None
    fake.finish_all()
    stored = handle.model_dump_json()
    restarted = provider_for(fake, http)
    result = await restarted.wait(JobHandle.model_validate_json(stored))
    assert result.seed == 3 and result.images
    assert fake.count("api", "POST") == 1


async def test_resume_of_a_finished_handle_only_downloads(
    fake: FakeWaveSpeed, http: HttpClient
) -> None:
    handle = await provider_for(fake, http).submit(request())
    assert handle.tasks[0].outcome is not None
    restored = JobHandle.model_validate_json(handle.model_dump_json())
    result = await provider_for(fake, http).wait(restored)
    assert result.images and fake.count("api", "GET") == 0


async def test_resume_with_only_a_task_id_uses_the_documented_paths(
    fake: FakeWaveSpeed, http: HttpClient
) -> None:
    fake.sync_timeout = 0.0
    handle = await provider_for(fake, http).submit(request())
    task_id = handle.tasks[0].id
    for urls in ({}, {"get": f"{fake.url()}/api/v3/predictions/{task_id}"}):
        bare = JobHandle(
            provider="wavespeed",
            tasks=(TaskRef(id=task_id, urls=urls),),
            submitted_at=handle.submitted_at,
        )
        assert (await provider_for(fake, http).wait(bare)).images


async def test_unknown_task_fails_over(fake: FakeWaveSpeed, http: HttpClient) -> None:
    bare = JobHandle(provider="wavespeed", tasks=(TaskRef(id="gone"),), submitted_at=time.time())
    with pytest.raises(TaskFailed):
        await provider_for(fake, http).wait(bare)


async def test_cancel_is_unsupported(fake: FakeWaveSpeed, http: HttpClient) -> None:
    fake.sync_timeout = 0.0
    provider = provider_for(fake, http)
    handle = await provider.submit(request())
    assert await provider.cancel(handle) is False
    assert fake.count("api", "DELETE") == 0 and fake.count("api", "POST") == 1


async def test_key_echoed_by_the_provider_is_redacted(
    fake: FakeWaveSpeed, http: HttpClient
) -> None:
    echo = {"code": 400, "message": f"bad header: Bearer {fake.api_key}"}
    fake.fail_next("submit", 400, echo)
    fake.fail_next("submit", 200, echo)
    for _ in range(2):
        with pytest.raises(ProviderRejected) as caught:
            await provider_for(fake, http).submit(request())
        assert fake.api_key not in caught.value.log_message
        assert fake.api_key not in caught.value.user_message


async def test_four_images_as_four_tasks_with_distinct_seeds(
    fake: FakeWaveSpeed, http: HttpClient
) -> None:
    result = await provider_for(fake, http).generate(request(count=4, seed=10))
    assert len(result.images) == 4
    assert sorted(r.body["seed"] for r in fake.requests if r.method == "POST") == [10, 11, 12, 13]
    assert sorted(image.seed or 0 for image in result.images) == [10, 11, 12, 13]
    assert len(fake.requests) == 8, "one sync call and one download per image"


async def test_one_moderated_task_of_four_still_delivers_three(
    fake: FakeWaveSpeed, http: HttpClient
) -> None:
    fake.script("ok", "moderated", "ok", "ok")
    result = await provider_for(fake, http).generate(request(count=4))
    assert len(result.images) == 3
    assert any("1 of 4" in note for note in result.notes)


async def test_fake_is_strict_about_types(fake: FakeWaveSpeed) -> None:
    base = {"prompt": "x", "aspect_ratio": "1:1", "output_format": "jpg", "seed": -1}
    assert validation_error(base) is None
    for change in (
        {"output_format": "jpeg"},
        {"seed": "42"},
        {"aspect_ratio": "21:9"},
        {"raw": "true"},
        {"safety_tolerance": 2},
    ):
        assert validation_error({**base, **change}), change
