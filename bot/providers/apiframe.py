"""Apiframe v2: submit (202 + job id) with an Idempotency-Key, then poll ``/v2/jobs/{id}``.

Traps handled here: the submit carries one ``Idempotency-Key`` per task, reused on
every retry, so a submit whose answer was lost is repeated safely (the same job
comes back, charged once); ``result`` is either a URL string or ``{"images":[...]}``
whose items are URLs or ``{"url"}`` objects; moderation is only a FAILED job whose
``error`` text mentions the content policy (no per-image NSFW flag); the default
``image_prompt_strength`` is 0.5, not BFL's 0.1, so ours is always sent; the format
is "jpg", not "jpeg"; only five aspect ratios; no safety tolerance; no cancel.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any

from bot.errors import (
    BadCredentials,
    ContentModerated,
    OutOfCredit,
    ProviderError,
    ProviderRejected,
    TaskFailed,
)
from bot.handles import ImageRef, Pending, TaskOutcome, TaskRef
from bot.models import GenerationRequest, OutputFormat
from bot.providers.base import Provider, generic_error
from bot.providers.capabilities import Capabilities, Plan
from bot.providers.http import Response

NAME = "apiframe"
MODEL = "flux-1.1-pro-ultra"
SUBMIT_PATH = "/v2/images/generate"
JOBS_PATH = "/v2/jobs/"
FORMATS = {OutputFormat.JPEG: "jpg", OutputFormat.PNG: "png"}
PENDING = ("QUEUED", "PROCESSING")
MODERATION = re.compile(r"content[\s_-]*policy|nsfw|moderat|safety", re.IGNORECASE)

CAPABILITIES = Capabilities(
    aspect_ratios=frozenset({"1:1", "3:4", "4:3", "9:16", "16:9"}),
    reference_bytes=False,
    reference_url=True,
    safety_tolerance=None,
    cancel=False,
    idempotent_submit=True,
    free_outcomes=frozenset({"failed", "moderated"}),
    price_published=False,
)


def build_body(request: GenerationRequest, plan: Plan, index: int) -> dict[str, Any]:
    """The submit body: Apiframe's envelope, "jpg" for JPEG, a linked reference, explicit ratio."""
    params: dict[str, Any] = {
        "aspect_ratio": request.aspect_ratio,
        "output_format": FORMATS[request.output_format],
    }
    if request.raw:
        params["raw"] = True
    if plan.seeds[index] is not None:
        params["seed"] = plan.seeds[index]
    ref = request.reference
    if ref is not None:
        if ref.url is None:
            raise ProviderRejected(
                "Apiframe takes a reference image only as a link", provider=NAME, field="reference"
            )
        params["image_prompt"] = ref.url
        params["image_prompt_strength"] = request.reference_strength
    return {"prompt": request.prompt, "model": MODEL, "fluxParams": params}


def idempotency_key(plan: Plan, index: int) -> str:
    """One key per task of an attempt: every repeat of that submit (a retry, a lookup after a
    lost answer, a restart) names the same task, so Apiframe makes and bills it once."""
    if not plan.token:
        return str(uuid.uuid4())
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"imagine-bot:{plan.token}:{index}"))


def parse_submit(body: Any) -> str:
    """The job id from the 202 answer (``jobId``; ``id`` tolerated)."""
    if isinstance(body, dict):
        for key in ("jobId", "id"):
            if isinstance(body.get(key), str) and body[key]:
                return body[key]
    raise ValueError("submit answer has no job id")


def parse_poll(body: Any) -> Pending | TaskOutcome:
    """Read one job answer: pending with progress, completed, or raise moderated/failed."""
    if not isinstance(body, dict) or not isinstance(body.get("status"), str):
        raise ValueError("job answer has no status")
    status = body["status"].upper()
    if status in PENDING:
        return Pending(_progress(body.get("progress")))
    if status == "COMPLETED":
        result = body.get("result")
        seed = result.get("seed") if isinstance(result, dict) else None
        return TaskOutcome(
            images=tuple(ImageRef(url=url) for url in image_urls(result)),
            seed=seed if type(seed) is int else None,
            provider_seconds=_duration(body.get("createdAt"), body.get("completedAt")),
        )
    if status == "FAILED":
        text = error_text(body.get("error")) or "no reason given"
        if MODERATION.search(text):
            raise ContentModerated(text, reasons=[text], provider=NAME, accepted=True)
        raise TaskFailed(f"job failed: {text}", provider=NAME)
    raise ValueError(f"unknown status {body['status']!r}")


def image_urls(result: Any) -> list[str]:
    """Image URLs from either ``result`` shape: a URL string, or images as URLs or objects."""
    if isinstance(result, str):
        items: list[Any] = [result]
    elif isinstance(result, dict) and isinstance(result.get("images"), list):
        items = result["images"]
    elif isinstance(result, dict) and "url" in result:
        items = [result]
    else:
        raise ValueError("COMPLETED answer without a result")
    urls = [item.get("url") if isinstance(item, dict) else item for item in items]
    links = [u for u in urls if isinstance(u, str) and u.startswith(("https://", "http://"))]
    if not links or len(links) < len(urls):
        raise ValueError("COMPLETED answer without image URLs")
    return links


def error_text(error: Any) -> str:
    """The message of an Apiframe error, whether a string or an ``{"code","message"}`` object."""
    if isinstance(error, str):
        return error
    if isinstance(error, dict):
        message = error.get("message") or error.get("error") or error.get("code")
        return str(message) if message else ""
    return ""


def classify(response: Response, *, submit: bool) -> ProviderError:
    """Apiframe's errors: 401 key, 402 credit, 400/422 body, 404 unknown job, 429, 5xx."""
    try:
        payload = response.json()
    except ValueError:
        payload = None
    envelope = payload.get("error") if isinstance(payload, dict) else None
    message = error_text(envelope) or (error_text(payload) if isinstance(payload, dict) else "")
    status = response.status
    if status in (401, 403):
        return BadCredentials(
            message or f"HTTP {status}", provider=NAME, status=status, accepted=False
        )
    if status == 402:
        return OutOfCredit(
            message or "insufficient credits", provider=NAME, status=402, accepted=False
        )
    if status in (400, 422):
        field = _field(envelope)
        detail = f"{field}: {message}" if field and message else message
        return ProviderRejected(
            detail or f"HTTP {status}", provider=NAME, status=status, field=field
        )
    if status == 404 and not submit:
        return TaskFailed(message or "job not found", provider=NAME, status=404)
    return generic_error(response, NAME, submit=submit)


def _field(envelope: Any) -> str | None:
    if not isinstance(envelope, dict):
        return None
    details = envelope.get("details")
    first = details[0] if isinstance(details, list) and details else envelope
    if not isinstance(first, dict):
        return None
    field = first.get("field") or first.get("path")
    if isinstance(field, list):
        field = ".".join(map(str, field))
    return str(field).rsplit(".", 1)[-1] if field else None


def _progress(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return min(1.0, max(0.0, value / 100))


def _duration(start: Any, end: Any) -> float | None:
    try:
        seconds = (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    except (TypeError, ValueError):
        return None
    return seconds if seconds >= 0 else None


class ApiframeProvider(Provider):
    """Apiframe (api.apiframe.ai), a reseller with its own job queue."""

    name = NAME
    label = "Apiframe"
    capabilities = CAPABILITIES

    def auth_headers(self) -> dict[str, str]:
        return {"X-API-Key": self.config.api_key.get_secret_value()}

    def classify(self, response: Response, *, submit: bool) -> ProviderError:
        return classify(response, submit=submit)

    async def submit_task(self, request: GenerationRequest, plan: Plan, index: int) -> TaskRef:
        body = build_body(request, plan, index)
        resp = await self.send(
            "POST",
            self.config.base_url + SUBMIT_PATH,
            json=body,
            headers={"Idempotency-Key": idempotency_key(plan, index)},
            submit=True,
            idempotent=True,
        )
        job_id = self.parsed(resp, parse_submit, what="submit answer", accepted=None)
        return TaskRef(
            id=job_id,
            seed=plan.seeds[index],
            urls={"poll": f"{self.config.base_url}{JOBS_PATH}{job_id}"},
        )

    async def await_task(self, task: TaskRef, submitted_at: float) -> TaskOutcome:
        async def check() -> Pending | TaskOutcome:
            resp = await self.send("GET", task.urls["poll"])
            state = self.parsed(resp, parse_poll, what="job answer", accepted=True)
            if isinstance(state, TaskOutcome):
                seed = task.seed if state.seed is None else state.seed
                return state.model_copy(update={"images": state.images[: task.count], "seed": seed})
            return state

        return await self.poll(check, submitted_at)

    async def check_credentials(self) -> None:
        try:
            await self.send("GET", f"{self.config.base_url}{JOBS_PATH}{uuid.uuid4()}")
        except TaskFailed:
            return  # 404 for a made-up job id: the key was accepted
