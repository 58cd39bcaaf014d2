"""fal.ai's queue for ``fal-ai/flux-pro/v1.1-ultra``: submit, wait on the status stream, fetch.

Traps handled here: the status/result/cancel URLs drop the ``/v1.1-ultra``
subpath, so the adapter keeps the URLs the submit answer gave (in
``TaskRef.urls``, for resuming) and never rebuilds them; ``safety_tolerance`` is
a STRING "1"–"6"; NSFW is a per-image flag list that may be missing or short;
moderation and failures surface only when the result is fetched (422
``content_policy_violation``, 500); ``X-Fal-Retryable`` overrides the status
code's retryability; out of balance is a 403, not a 402.

Waiting costs one request: the server-sent status stream closes right after
COMPLETED. If the stream fails, it is reopened a few times, then the status URL
is polled on the learned schedule.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from bot.errors import (
    BadCredentials,
    ContentModerated,
    OutOfCredit,
    ProviderError,
    ProviderMisconfigured,
    ProviderRejected,
    RateLimited,
    TaskFailed,
    Transient,
    describe,
)
from bot.handles import ImageRef, Pending, TaskOutcome, TaskRef, flag_at
from bot.models import GenerationRequest
from bot.providers.base import READ_RETRY, Provider, generic_error
from bot.providers.capabilities import Capabilities, Plan
from bot.providers.http import Response, StreamRefused, transient_for_status
from bot.retry import backoff_delay

log = logging.getLogger(__name__)

APP = "fal-ai/flux-pro/v1.1-ultra"
APP_ROOT = "fal-ai/flux-pro"  # owner/alias: where fal keeps the requests, without the subpath
FAL_RATIOS = frozenset({"21:9", "16:9", "4:3", "3:2", "1:1", "2:3", "3:4", "9:16", "9:21"})
RETRYABLE = frozenset({408, 409, 429, 502, 503, 504})
STREAM_CONNECTS = 3
STREAM_IDLE = 60.0  # fal sends a keep-alive comment every 15 s
MODERATION_WORDS = ("content_policy", "content policy", "flagged as sensitive", "content checker")
# fal's field names back to ours, so a refusal names what the member typed
FIELDS = {
    "image_url": "reference",
    "image_prompt_strength": "reference_strength",
    "num_images": "count",
}

ENHANCE = "enhance_prompt"  # the provider's own prompt enhancement, a boolean

CAPABILITIES = Capabilities(
    aspect_ratios=FAL_RATIOS,
    max_images_per_task=4,
    reference_bytes=True,
    reference_url=True,
    safety_tolerance=(1, 6),
    tolerance_as_string=True,
    cancel=True,
    free_outcomes=frozenset({"failed"}),
    enhance_field=ENHANCE,
)


@dataclass(frozen=True)
class Done:
    """The status said COMPLETED: the result (images or an error) is at the response URL."""

    inference_time: float | None = None


def build_body(request: GenerationRequest, plan: Plan, index: int) -> dict[str, Any]:
    """The submit body: fal's names and types (STRING tolerance, "jpeg", explicit ratio)."""
    body: dict[str, Any] = {
        "prompt": request.prompt,
        "num_images": plan.images_per_task[index],
        "aspect_ratio": request.aspect_ratio,
        "output_format": request.output_format.value,
        "raw": request.raw,
        ENHANCE: request.enhance,
    }
    if plan.safety_tolerance is not None:
        body["safety_tolerance"] = CAPABILITIES.wire_tolerance(plan.safety_tolerance)
    if plan.seeds[index] is not None:
        body["seed"] = plan.seeds[index]
    ref = request.reference
    if ref is not None:
        body["image_url"] = ref.url if ref.url is not None else ref.data_uri()
        body["image_prompt_strength"] = request.reference_strength
    return body


def parse_submit(body: Any, base_url: str) -> tuple[str, dict[str, str]]:
    """Request id and its status/response/cancel URLs, kept exactly as fal gave them."""
    if not isinstance(body, dict) or not isinstance(body.get("request_id"), str):
        raise ValueError("submit answer has no request_id")
    request_id = body["request_id"]
    # Only when an answer lacks a URL: fal's own client builds it so, on owner/alias.
    root = f"{base_url.rstrip('/')}/{APP_ROOT}/requests/{request_id}"
    given = {"response": root, "status": f"{root}/status", "cancel": f"{root}/cancel"}
    urls: dict[str, str] = {}
    for name, fallback in given.items():
        url = body.get(f"{name}_url")
        urls[name] = url if isinstance(url, str) and url.startswith("http") else fallback
    return request_id, urls


def parse_status(body: Any) -> Pending | Done:
    """Read one status object (from a GET or a stream event)."""
    if not isinstance(body, dict) or not isinstance(body.get("status"), str):
        raise ValueError("status answer has no status")
    status = body["status"]
    if status in ("IN_QUEUE", "IN_PROGRESS"):
        return Pending(None)
    if status == "COMPLETED":
        metrics = body.get("metrics")
        seconds = metrics.get("inference_time") if isinstance(metrics, dict) else None
        return Done(float(seconds) if isinstance(seconds, int | float) else None)
    raise ValueError(f"unknown status {status!r}")


def parse_result(body: Any, inference_time: float | None = None) -> TaskOutcome:
    """Images from the result, each flagged by ``has_nsfw_concepts`` at its index."""
    if not isinstance(body, dict) or not isinstance(body.get("images"), list):
        raise ValueError("result has no images list")
    flags = body.get("has_nsfw_concepts")
    flags = flags if isinstance(flags, list) else []
    images = []
    for i, item in enumerate(body["images"]):
        if not isinstance(item, dict) or not isinstance(item.get("url"), str):
            raise ValueError(f"image {i} has no url")
        images.append(ImageRef(url=item["url"], nsfw=flag_at(flags, i)))
    if not images:
        raise TaskFailed("the result holds no images", provider="fal")
    seed = body.get("seed")
    if inference_time is None:
        timings = body.get("timings")
        value = timings.get("inference") if isinstance(timings, dict) else None
        inference_time = float(value) if isinstance(value, int | float) else None
    return TaskOutcome(
        images=tuple(images),
        seed=seed if isinstance(seed, int) and not isinstance(seed, bool) else None,
        provider_seconds=inference_time,
        prompt=body["prompt"] if isinstance(body.get("prompt"), str) else None,
    )


def _detail(response: Response) -> Any:
    try:
        payload = response.json()
    except ValueError:
        return None
    return payload.get("detail") if isinstance(payload, dict) else None


def _field(item: dict[str, Any]) -> str | None:
    names = [part for part in item.get("loc") or [] if isinstance(part, str) and part != "body"]
    return FIELDS.get(names[-1], names[-1]) if names else None


def _moderated(text: str, kind: Any = None) -> bool:
    lowered = text.lower()
    return kind == "content_policy_violation" or any(w in lowered for w in MODERATION_WORDS)


def classify(response: Response, *, submit: bool) -> ProviderError:
    """fal's errors: 401/403 key, 403 balance, 422 details and moderation, X-Fal-Retryable."""
    status, text = response.status, response.text()
    detail = _detail(response)
    items = [d for d in detail if isinstance(d, dict)] if isinstance(detail, list) else []
    words = detail if isinstance(detail, str) else "; ".join(str(d.get("msg")) for d in items)
    error: ProviderError
    if status in (401, 403):
        kind = OutOfCredit if "balance" in text.lower() else BadCredentials
        error = kind(
            f"HTTP {status}: {words or text}", provider="fal", status=status, accepted=False
        )
    elif status in (400, 422) and (
        any(_moderated(str(d.get("msg", "")), d.get("type")) for d in items)
        or (isinstance(detail, str) and _moderated(detail))
    ):
        error = ContentModerated(
            words,
            reasons=[str(d.get("msg")) for d in items] or [words],
            provider="fal",
            status=status,
            accepted=not submit,
        )
    elif status in (400, 422) and not submit and "cancel" in words.lower():
        error = TaskFailed(f"the request was cancelled: {words}", provider="fal", status=status)
    elif status in (400, 422):
        field = _field(items[0]) if items else None
        reason = str(items[0].get("msg", "invalid")) if items else words or text
        error = ProviderRejected(
            f"{field}: {reason}" if field else reason or f"HTTP {status}",
            provider="fal",
            status=status,
            field=field,
        )
    elif status == 404 and submit:
        error = ProviderMisconfigured(
            f"the model path was not found (check FAL_BASE_URL): {words or text}",
            provider="fal",
            status=404,
            accepted=False,
        )
    elif status == 404:
        error = TaskFailed(
            f"the request was not found: {words or text}", provider="fal", status=404
        )
    elif status in RETRYABLE:
        error = transient_for_status(response, "fal", accepted=None if submit else True)
    elif status >= 500:
        error = Transient(
            f"HTTP {status}: {words or text}",
            provider="fal",
            status=status,
            accepted=None if submit else True,
        )
        error.retryable = False
    else:
        error = generic_error(response, "fal", submit=submit)
    header = {k.lower(): v for k, v in response.headers.items()}.get("x-fal-retryable")
    return _override_retryable(error, header)


def _override_retryable(error: ProviderError, header: str | None) -> ProviderError:
    """fal's ``X-Fal-Retryable`` header wins over the status code."""
    flag = (header or "").strip().lower()
    if flag == "false":
        error.retryable = False
    elif flag == "true" and not error.retryable:
        if isinstance(error, Transient | RateLimited):
            error.retryable = True
        elif isinstance(error, ProviderRejected | TaskFailed):
            return Transient(
                error.detail,
                provider="fal",
                status=error.status,
                accepted=error.accepted,
                retry_after=error.retry_after,
            )
    return error


def stream_url(status_url: str) -> str:
    """The status stream lives at the status URL plus ``/stream`` (query kept)."""
    path, sep, query = status_url.partition("?")
    return f"{path}/stream{sep}{query}"


def with_query(url: str, query: str) -> str:
    """``url`` with one more query parameter."""
    return f"{url}{'&' if '?' in url else '?'}{query}"


def cancel_confirmed(body: Any) -> bool:
    """True when fal says the request is (being) cancelled."""
    return isinstance(body, dict) and body.get("status") in ("CANCELLATION_REQUESTED", "OK")


class FalProvider(Provider):
    """fal.ai's queue API (queue.fal.run) serving FLUX 1.1 [pro] Ultra."""

    name = "fal"
    label = "fal.ai"
    capabilities = CAPABILITIES

    @property
    def base(self) -> str:
        """The queue host without a trailing slash."""
        return self.config.base_url.rstrip("/")

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Key {self.config.api_key.get_secret_value()}"}

    def classify(self, response: Response, *, submit: bool) -> ProviderError:
        return classify(response, submit=submit)

    async def submit_task(self, request: GenerationRequest, plan: Plan, index: int) -> TaskRef:
        body = build_body(request, plan, index)
        resp = await self.send("POST", f"{self.base}/{APP}", json=body, submit=True)
        request_id, urls = self.parsed(
            resp, lambda body: parse_submit(body, self.base), what="submit answer", accepted=None
        )
        return TaskRef(
            id=request_id, seed=plan.seeds[index], count=plan.images_per_task[index], urls=urls
        )

    async def await_task(self, task: TaskRef, submitted_at: float) -> TaskOutcome:
        done = await self._stream_until_done(task, submitted_at)
        if done is not None:
            self.estimator.observe(self.clock() - submitted_at)
            try:
                return await self._result(task, done)
            except Transient as exc:
                log.warning("fal result fetch failed, polling instead: %s", describe(exc))

        async def check() -> Pending | TaskOutcome:
            resp = await self.send("GET", with_query(task.urls["status"], "logs=0"))
            state = self.parsed(resp, parse_status, what="status answer", accepted=True)
            return state if isinstance(state, Pending) else await self._result(task, state)

        return await self.poll(check, submitted_at)

    async def check_credentials(self) -> None:
        try:
            await self.send("GET", f"{self.base}/{APP_ROOT}/requests/{uuid.uuid4()}/status")
        except TaskFailed:
            return  # an unknown request id for a key that was accepted

    async def cancel_task(self, task: TaskRef) -> bool:
        try:
            resp = await self.send("PUT", task.urls["cancel"])
        except (ProviderRejected, TaskFailed):
            return False  # 400 ALREADY_COMPLETED / 404 NOT_FOUND
        try:
            return cancel_confirmed(resp.json())
        except ValueError:
            return False

    async def _stream_until_done(self, task: TaskRef, submitted_at: float) -> Done | None:
        """Follow the status stream to COMPLETED; None when it keeps failing (then poll)."""
        url = stream_url(task.urls["status"])
        for attempt in range(1, STREAM_CONNECTS + 1):
            elapsed = self.clock() - submitted_at
            if elapsed > self.config.max_wait:
                break
            retry_after: float | None = None
            try:
                async with asyncio.timeout(self.config.max_wait - elapsed):
                    done = await self._follow_stream(url)
                if done is not None:
                    return done
                why = "the stream ended before COMPLETED"
            except TimeoutError:
                raise Transient(
                    f"still pending after {self.config.max_wait:.0f} s; gave up waiting",
                    provider=self.name,
                    accepted=True,
                ) from None
            except StreamRefused as refused:
                error = self.redact(self.classify(refused.response, submit=False))
                if not isinstance(error, Transient | RateLimited):
                    raise error from None
                why, retry_after = describe(error), error.retry_after
            except Transient as exc:
                why = describe(self.redact(exc))
            except ValueError as exc:
                why = f"malformed stream event: {exc}"
            log.warning("fal status stream failed (%d/%d): %s", attempt, STREAM_CONNECTS, why)
            if attempt < STREAM_CONNECTS:
                await self.sleep(
                    retry_after if retry_after is not None else backoff_delay(attempt, READ_RETRY)
                )
        return None

    async def _follow_stream(self, url: str) -> Done | None:
        """One connection to the status stream: Done at COMPLETED, None if it ends before."""
        async with self.http.event_stream(
            url, provider=self.name, headers=self.credentials_for(url), idle_timeout=STREAM_IDLE
        ) as events:
            async for data in events:
                state = parse_status(json.loads(data))
                if isinstance(state, Done):
                    return state
        return None

    async def _result(self, task: TaskRef, done: Done) -> TaskOutcome:
        try:
            async with self.finishing():
                resp = await self.send("GET", task.urls["response"])
        except Transient as exc:
            if exc.retryable or exc.status is None or exc.status < 500:
                raise
            raise TaskFailed(
                f"the request completed without a result: {exc.detail}",
                provider=self.name,
                status=exc.status,
            ) from exc
        return self.parsed(
            resp,
            lambda body: parse_result(body, done.inference_time),
            what="result",
            accepted=True,
        )
