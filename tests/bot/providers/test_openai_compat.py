"""OpenAI-compatible gateway adapter: its pure readings, then the whole flow against the fake."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import SecretStr

from bot.errors import (
    BadCredentials,
    ContentModerated,
    OutOfCredit,
    ProviderMisconfigured,
    ProviderRejected,
    RateLimited,
    SubmitUnknown,
    TaskFailed,
    Transient,
)
from bot.handles import JobHandle, TaskRef
from bot.models import ASPECT_RATIOS, OutputFormat, ReferenceImage, decode_base64
from bot.providers import openai_compat as oc
from bot.providers.base import ProviderConfig
from bot.providers.capabilities import make_plan
from bot.providers.http import HttpClient, Response
from tests.bot.providers.conftest import make_provider, request
from tests.fakes.clock import RecordingSleep
from tests.fakes.providers.base import render
from tests.fakes.providers.openai_compat import (
    PREFIX,
    FakeOpenAICompat,
    upstream_of,
    validation_error,
)

GEN = PREFIX + "/images/generations"

# --- pure -----------------------------------------------------------------------------


def _body(**fields: Any) -> dict[str, Any]:
    req = request(**fields)
    return oc.build_body(req, make_plan(oc.NAME, oc.CAPABILITIES, req), 0, oc.DEFAULT_MODEL)


def test_body_sends_ratio_as_size_and_aspect_ratio_and_passes_flux_fields() -> None:
    body = _body(aspect_ratio="21:9", seed=7, output_format="png", raw=True, count=3)
    assert body["model"] == "flux1.1-pro-ultra"
    assert body["size"] == "21:9" and body["aspect_ratio"] == "21:9"
    assert body["n"] == 3 and type(body["n"]) is int
    assert body["response_format"] == "url", "URLs keep the answer small"
    assert body["output_format"] == "png"
    assert body["raw"] is True and body["seed"] == 7
    assert "safety_tolerance" not in body
    assert validation_error(body) is None and upstream_of(body["model"]) is not None


def test_body_leaves_out_unset_raw_and_seed() -> None:
    body = _body()
    assert "seed" not in body and "raw" not in body
    assert body["output_format"] == "jpeg" and body["aspect_ratio"] == "1:1"


def test_pinned_model_is_sent_untouched() -> None:
    req = request()
    body = oc.build_body(req, make_plan(oc.NAME, oc.CAPABILITIES, req), 0, "fal/flux1.1-pro-ultra")
    assert body["model"] == "fal/flux1.1-pro-ultra"


def test_capabilities_are_exact() -> None:
    caps = oc.OpenAICompatProvider.capabilities
    assert caps.aspect_ratios == frozenset(ASPECT_RATIOS)
    assert caps.max_images_per_task == 4
    assert caps.safety_tolerance is None and not caps.cancel
    assert caps.formats == frozenset(OutputFormat) and caps.raw
    assert not caps.reference_bytes and not caps.reference_url
    ref = ReferenceImage(data=render(8, 8, "png"), content_type="image/png")
    assert caps.refusals(request(reference=ref)) == ["cannot take a reference image"]
    plan = make_plan(oc.NAME, caps, request(count=4, safety_tolerance=6))
    assert plan.images_per_task == (4,) and plan.safety_tolerance is None
    assert any("safety tolerance" in note for note in plan.notes)


def test_image_readings() -> None:
    png = render(4, 2, "png")
    got = oc.parse_images(
        {
            "created": 1,
            "data": [
                {"url": "https://cdn.example/a.jpg", "revised_prompt": "x"},
                {"b64_json": base64.b64encode(png).decode(), "url": None},
            ],
        },
        OutputFormat.PNG,
        42,
    )
    assert got.seed == 42
    assert got.images[0].url == "https://cdn.example/a.jpg"
    assert got.images[1].url.startswith("data:image/png;base64,")
    assert decode_base64(got.images[1].url) == png
    assert not any(image.nsfw for image in got.images), "the gateway has no NSFW signal"
    no_created = oc.parse_images({"data": [{"url": "https://x/y.png"}]}, OutputFormat.JPEG, None)
    assert no_created.images[0].url == "https://x/y.png"
    for malformed in (
        {"created": 1, "data": []},
        {"created": 1},
        {"data": [{"revised_prompt": "x"}]},
        {"data": ["https://x"]},
        [],
        None,
    ):
        with pytest.raises(ValueError, match=r"."):
            oc.parse_images(malformed, OutputFormat.JPEG, None)


def test_request_id_reading() -> None:
    assert oc.request_id({"X-Lumenfall-Request-Id": "lf-1", "x-request-id": "r"}) == "lf-1"
    assert oc.request_id({"x-request-id": "r-2"}) == "r-2"
    generated = oc.request_id({})
    assert len(generated) == 36 and generated != oc.request_id({})


def _err(code: str | None, message: str = "nope", kind: str = "invalid_request_error") -> dict:
    return {"error": {"message": message, "type": kind, "code": code}}


@pytest.mark.parametrize(
    ("status", "body", "headers", "kind"),
    [
        (401, _err("invalid_api_key", kind="authentication_error"), {}, BadCredentials),
        (403, _err(None, "forbidden"), {}, BadCredentials),
        (402, _err("insufficient_quota", kind="insufficient_quota"), {}, OutOfCredit),
        (429, _err("insufficient_quota", kind="insufficient_quota"), {}, OutOfCredit),
        (400, _err("content_policy_violation"), {}, ContentModerated),
        (400, _err(None, "Prompt flagged by moderation"), {}, ContentModerated),
        (400, _err(None, "rejected by the safety system"), {}, ContentModerated),
        (400, _err("invalid_value", "n must be 1-4"), {}, ProviderRejected),
        (404, _err("model_not_found", "The model 'x' does not exist"), {}, ProviderMisconfigured),
        (429, _err("rate_limit_exceeded"), {"Retry-After": "12"}, RateLimited),
        (502, _err(None, "All providers exhausted", "upstream_error"), {}, Transient),
        (500, "<html>oops</html>", {}, Transient),
    ],
)
def test_error_readings(status: int, body: object, headers: dict, kind: type) -> None:
    raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    error = oc.classify(Response(status, headers, raw), submit=True)
    assert type(error) is kind
    if kind in (Transient,):
        assert error.accepted is None, "an ambiguous submit failure must never be resubmitted"
    else:
        assert error.accepted is False
    if kind is RateLimited:
        assert error.retry_after == 12


def test_unknown_model_tells_the_operator_which_setting() -> None:
    raw = json.dumps(_err("model_not_found", "The model 'flux-x' does not exist")).encode()
    error = oc.classify(Response(404, {}, raw), submit=True, model="flux-x")
    assert isinstance(error, ProviderMisconfigured)
    assert error.failover, "a wrong model at the gateway should not stop the other providers"
    assert "OPENAI_COMPAT_MODEL" not in error.user_message, "settings are for the operator's log"
    assert "OPENAI_COMPAT_MODEL" in error.detail and "flux-x" in error.detail
    assert (
        "OPENAI_COMPAT_BASE_URL"
        in oc.classify(Response(404, {}, b"Not Found"), submit=False).detail
    )


def test_invalid_field_is_named() -> None:
    raw = json.dumps(
        {"error": {"message": "bad n", "type": "invalid_request_error", "param": "n"}}
    ).encode()
    error = oc.classify(Response(400, {}, raw), submit=True)
    assert isinstance(error, ProviderRejected) and error.field == "n"


def test_base_url_is_required(http: HttpClient) -> None:
    with pytest.raises(ValueError, match="OPENAI_COMPAT_BASE_URL"):
        oc.OpenAICompatProvider(http, ProviderConfig(api_key=SecretStr("k"), base_url=""))


# --- against the fake -----------------------------------------------------------------------


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAICompat]:
    async with FakeOpenAICompat(latency=0.05) as server:
        yield server


def provider_for(fake: FakeOpenAICompat, http: HttpClient, **kw: Any) -> oc.OpenAICompatProvider:
    kw.setdefault("base_url", fake.url() + PREFIX)
    made = make_provider(oc.OpenAICompatProvider, fake, http, **kw)
    assert isinstance(made, oc.OpenAICompatProvider)
    return made


async def test_generates_with_one_post_and_one_download(
    fake: FakeOpenAICompat, http: HttpClient
) -> None:
    result = await provider_for(fake, http).generate(request(aspect_ratio="16:9", seed=42))
    assert result.provider == "openai_compat" and result.seed == 42
    [image] = result.images
    assert image.content_type == "image/jpeg" and not image.nsfw and image.seed == 42
    assert abs(image.width / image.height - 16 / 9) < 0.05
    assert result.job_id in fake.tasks, "the job id is the gateway's request id"
    assert fake.count("api", "POST", GEN) == 1 and fake.count("cdn", "GET") == 1
    assert len(fake.requests) == 2
    sent = fake.requests[0]
    assert sent.headers["Authorization"] == "Bearer test-key"
    assert sent.body["size"] == "16:9" and sent.body["seed"] == 42
    assert "authorization" not in {
        k.lower() for r in fake.requests if r.host == "cdn" for k in r.headers
    }, "the key must not go to the image host"


async def test_four_images_in_one_call(fake: FakeOpenAICompat, http: HttpClient) -> None:
    result = await provider_for(fake, http).generate(request(count=4, aspect_ratio="9:21"))
    assert len(result.images) == 4
    assert all(abs(i.width / i.height - 9 / 21) < 0.05 for i in result.images)
    assert fake.count("api", "POST") == 1 and fake.requests[0].body["n"] == 4
    assert fake.count("cdn", "GET") == 4
    assert not any("separate" in note for note in result.notes)


async def test_png_raw_and_pinned_model_pass_through(
    fake: FakeOpenAICompat, http: HttpClient
) -> None:
    provider = provider_for(fake, http, model="fal/flux1.1-pro-ultra")
    result = await provider.generate(request(output_format=OutputFormat.PNG, raw=True))
    assert result.images[0].content_type == "image/png"
    sent = fake.requests[0].body
    assert sent["model"] == "fal/flux1.1-pro-ultra"
    assert sent["raw"] is True and sent["output_format"] == "png"


async def test_base64_answers_need_no_download(fake: FakeOpenAICompat, http: HttpClient) -> None:
    fake.b64_answers = True
    result = await provider_for(fake, http).generate(request(count=2, aspect_ratio="3:2"))
    assert len(result.images) == 2
    assert abs(result.images[0].width / result.images[0].height - 3 / 2) < 0.05
    assert fake.count("cdn") == 0


async def test_submit_uses_a_long_explicit_timeout(
    fake: FakeOpenAICompat, session: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = provider_for(fake, HttpClient(session, timeout=5.0))
    timeouts: list[float | None] = []
    real = provider.http.request

    async def spy(method: str, url: str, **kw: Any) -> Response:
        timeouts.append(kw.get("timeout"))
        return await real(method, url, **kw)

    monkeypatch.setattr(provider.http, "request", spy)
    await provider.submit(request())
    assert timeouts == [oc.SYNC_CEILING] and oc.SYNC_CEILING >= 120


async def test_timeout_is_ambiguous_and_never_resubmitted(
    fake: FakeOpenAICompat, http: HttpClient
) -> None:
    # A JOB_TIMEOUT of 1 s ends the call; it reaches the gateway before that, even when loaded.
    fake.latency = 600.0
    with pytest.raises(Transient) as caught:
        await provider_for(fake, http, max_wait=1.0).submit(request())
    assert caught.value.accepted is None
    assert fake.count("api", "POST") == 1


async def test_nsfw_outcome_is_just_images(fake: FakeOpenAICompat, http: HttpClient) -> None:
    fake.script("nsfw")
    result = await provider_for(fake, http).generate(request())
    assert result.images and not result.nsfw


async def test_moderated_is_not_charged(fake: FakeOpenAICompat, http: HttpClient) -> None:
    fake.balance = 10
    fake.script("moderated")
    with pytest.raises(ContentModerated) as caught:
        await provider_for(fake, http).generate(request())
    assert caught.value.reasons == ("content_policy_violation",)
    assert fake.balance == 10 and fake.count("api", "POST") == 1


async def test_all_providers_exhausted_proves_no_image_was_made(
    fake: FakeOpenAICompat, http: HttpClient
) -> None:
    fake.script("failed", "failed", "failed")
    with pytest.raises(Transient) as caught:
        await provider_for(fake, http).generate(request())
    assert caught.value.status == 502 and caught.value.failover
    assert caught.value.accepted is False, "the gateway's own answer: no upstream made it"
    assert fake.count("api", "POST") == 3, "so asking again is safe"


async def test_a_proxys_502_page_is_not_proof(fake: FakeOpenAICompat, http: HttpClient) -> None:
    fake.fail_next("submit", 502, "<html><body><h1>502 Bad Gateway</h1></body></html>")
    with pytest.raises(SubmitUnknown):
        await provider_for(fake, http).generate(request())
    assert fake.count("api", "POST") == 1


async def test_bad_key(fake: FakeOpenAICompat, http: HttpClient) -> None:
    provider = provider_for(fake, http, key="sk-wrong-key-123")
    with pytest.raises(BadCredentials) as caught:
        await provider.submit(request())
    for text in (caught.value.log_message, caught.value.user_message):
        assert "sk-wrong-key-123" not in text
    with pytest.raises(BadCredentials):
        await provider.check_credentials()
    await provider_for(fake, http).check_credentials()
    assert fake.count("api", "GET", PREFIX + "/models") == 2


async def test_echoed_key_is_redacted(fake: FakeOpenAICompat, http: HttpClient) -> None:
    fake.fail_next("submit", 400, _err("invalid_value", "bad request from key test-key"))
    with pytest.raises(ProviderRejected) as caught:
        await provider_for(fake, http).submit(request())
    assert "test-key" not in caught.value.log_message
    assert "test-key" not in caught.value.user_message


async def test_wrong_base_url_is_named(fake: FakeOpenAICompat, http: HttpClient) -> None:
    with pytest.raises(ProviderMisconfigured) as caught:
        await provider_for(fake, http, base_url=fake.url() + "/v1").check_credentials()
    assert "OPENAI_COMPAT_BASE_URL" in caught.value.detail


async def test_out_of_credit(fake: FakeOpenAICompat, http: HttpClient) -> None:
    fake.balance = 0
    with pytest.raises(OutOfCredit) as caught:
        await provider_for(fake, http).submit(request())
    assert caught.value.failover and caught.value.status == 402


async def test_unknown_model_is_refused_with_the_setting_named(
    fake: FakeOpenAICompat, http: HttpClient
) -> None:
    with pytest.raises(ProviderMisconfigured) as caught:
        await provider_for(fake, http, model="flux9-ultra").submit(request())
    assert "OPENAI_COMPAT_MODEL" in caught.value.detail and caught.value.status == 404


async def test_invalid_request(fake: FakeOpenAICompat, http: HttpClient) -> None:
    fake.fail_next(
        "submit",
        400,
        {"error": {"message": "size invalid", "type": "invalid_request_error", "param": "size"}},
    )
    with pytest.raises(ProviderRejected) as caught:
        await provider_for(fake, http).submit(request())
    assert caught.value.field == "size" and "size invalid" in caught.value.user_message


async def test_rate_limit_with_long_retry_after_is_reported(
    fake: FakeOpenAICompat, http: HttpClient
) -> None:
    fake.fail_next("submit", 429, _err("rate_limit_exceeded"), headers={"Retry-After": "30"})
    with pytest.raises(RateLimited) as caught:
        await provider_for(fake, http).submit(request())
    assert caught.value.retry_after == 30
    assert fake.count("api", "POST") == 1


async def test_short_retry_after_is_waited_then_retried(
    fake: FakeOpenAICompat, http: HttpClient, sleeps: RecordingSleep
) -> None:
    fake.fail_next("submit", 429, _err("rate_limit_exceeded"), headers={"Retry-After": "1"})
    result = await provider_for(fake, http, sleep=sleeps).generate(request())
    assert result.images
    assert 1.0 in sleeps.delays
    assert fake.count("api", "POST") == 2


async def test_5xx_is_not_resubmitted(fake: FakeOpenAICompat, http: HttpClient) -> None:
    fake.fail_next("submit", 503, _err(None, "unavailable", "server_error"))
    with pytest.raises(Transient) as caught:
        await provider_for(fake, http).submit(request())
    assert caught.value.accepted is None
    assert fake.count("api", "POST") == 1


async def test_dropped_connection_is_not_resubmitted(
    fake: FakeOpenAICompat, http: HttpClient
) -> None:
    fake.drop_next("submit")
    with pytest.raises(Transient) as caught:
        await provider_for(fake, http).submit(request())
    assert caught.value.accepted is None
    assert fake.count("api", "POST") == 1


@pytest.mark.parametrize("answer", ["garble", {"created": 1, "data": []}, {"object": "x"}])
async def test_malformed_answer_is_transient(
    fake: FakeOpenAICompat, http: HttpClient, answer: Any
) -> None:
    if answer == "garble":
        fake.garble_next("submit")
    else:
        fake.fail_next("submit", 200, answer)
    with pytest.raises(Transient) as caught:
        await provider_for(fake, http).submit(request())
    assert caught.value.accepted is None
    assert fake.count("api", "POST") == 1


async def test_resume_from_a_stored_handle(fake: FakeOpenAICompat, http: HttpClient) -> None:
    fake.b64_answers = True
    handle = await provider_for(fake, http).submit(request(seed=3, count=2))
    assert all(task.outcome is not None for task in handle.tasks)
    stored = handle.model_dump_json()
    restarted = provider_for(fake, http)
    result = await restarted.wait(JobHandle.model_validate_json(stored))
    assert result.seed == 3 and len(result.images) == 2
    assert fake.count("api", "POST") == 1


async def test_task_without_outcome_cannot_be_resumed(
    fake: FakeOpenAICompat, http: HttpClient
) -> None:
    with pytest.raises(TaskFailed):
        await provider_for(fake, http).await_task(TaskRef(id="lost"), 0.0)


async def test_no_cancel(fake: FakeOpenAICompat, http: HttpClient) -> None:
    provider = provider_for(fake, http)
    assert not provider.capabilities.cancel
    handle = await provider.submit(request())
    assert await provider.cancel(handle) is False
    assert len(fake.requests) == 1
