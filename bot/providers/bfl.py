"""Black Forest Labs' own API: submit, then poll the ``polling_url`` exactly as given.

Traps handled here: the polling host can differ from the submit host (a rebuilt
URL answers "Task not found"); moderation is a *status*, not a flag; result URLs
die after 10 minutes (the base downloads at once); 429 means more than 24 active
tasks; ``image_prompt`` is bare base64, so a linked reference is fetched first.
"""

from __future__ import annotations

import base64
import uuid
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
from bot.models import ASPECT_RATIOS, GenerationRequest
from bot.providers.answers import get_as
from bot.providers.base import Provider, fetch_reference, generic_error
from bot.providers.capabilities import Capabilities, Plan
from bot.providers.http import Response

SUBMIT_PATH = "/v1/flux-pro-1.1-ultra"

ENHANCE = "prompt_upsampling"  # the provider's own prompt enhancement, a boolean

CAPABILITIES = Capabilities(
    aspect_ratios=frozenset(ASPECT_RATIOS),
    reference_bytes=True,
    reference_url=True,
    safety_tolerance=(0, 6),
    max_concurrent_tasks=24,
    free_outcomes=frozenset({"moderated"}),
    enhance_field=ENHANCE,
)


def build_body(
    request: GenerationRequest, plan: Plan, index: int, image_prompt: str | None
) -> dict[str, Any]:
    """The submit body: BFL's names and types (int tolerance 0–6, "jpeg")."""
    body: dict[str, Any] = {
        "prompt": request.prompt,
        "aspect_ratio": request.aspect_ratio,
        "safety_tolerance": plan.safety_tolerance,
        "output_format": request.output_format.value,
        "raw": request.raw,
        ENHANCE: request.enhance,
    }
    if plan.seeds[index] is not None:
        body["seed"] = plan.seeds[index]
    if image_prompt is not None:
        body["image_prompt"] = image_prompt
        body["image_prompt_strength"] = request.reference_strength
    return body


def parse_submit(body: Any, base_url: str) -> tuple[str, str]:
    """Task id and polling URL from the submit answer (legacy answers lack the URL)."""
    if not isinstance(body, dict) or not isinstance(body.get("id"), str):
        raise ValueError("submit answer has no task id")
    polling_url = body.get("polling_url")
    if not isinstance(polling_url, str) or not polling_url.startswith("http"):
        polling_url = f"{base_url}/v1/get_result?id={body['id']}"
    return body["id"], polling_url


def parse_poll(body: Any) -> Pending | TaskOutcome:
    """Read one poll answer: pending, ready, or raise moderated/failed/malformed."""
    if not isinstance(body, dict) or not isinstance(body.get("status"), str):
        raise ValueError("poll answer has no status")
    status = body["status"]
    if status in ("Pending", "Queued", "Processing"):
        progress = body.get("progress")
        return Pending(float(progress) if isinstance(progress, int | float) else None)
    if status == "Ready":
        result = body.get("result")
        if not isinstance(result, dict) or not isinstance(result.get("sample"), str):
            raise ValueError("Ready answer without result.sample")
        seed = result.get("seed")
        duration = result.get("duration")
        return TaskOutcome(
            images=(ImageRef(url=result["sample"]),),
            seed=seed if isinstance(seed, int) else None,
            provider_seconds=float(duration) if isinstance(duration, int | float) else None,
            prompt=result["prompt"] if isinstance(result.get("prompt"), str) else None,
        )
    if status in ("Request Moderated", "Content Moderated"):
        details = get_as(body, "details", dict, {})
        reasons = details.get("Moderation Reasons") or []
        raise ContentModerated(
            f"{status}: {', '.join(map(str, reasons)) or 'no reason given'}",
            reasons=[str(r) for r in reasons],
            accepted=True,
            provider="bfl",
        )
    if status == "Task not found":
        raise TaskFailed("the polling URL answered 'Task not found'", provider="bfl")
    if status in ("Error", "Failed"):
        raise TaskFailed(f"task ended with status {status}", provider="bfl")
    raise ValueError(f"unknown status {status!r}")


def classify(response: Response, *, submit: bool) -> ProviderError:
    """BFL's errors: 403 bad key, 422 bad key format or body, 402 credits, 429 24 active tasks."""
    detail: Any = None
    try:
        payload = response.json()
        detail = payload.get("detail") if isinstance(payload, dict) else None
    except ValueError:
        pass
    status = response.status
    if status == 422 and isinstance(detail, str) and "key" in detail.lower():
        return BadCredentials(detail, provider="bfl", status=422, accepted=False)
    if status == 422 and isinstance(detail, list) and detail:
        first = detail[0] if isinstance(detail[0], dict) else {}
        loc = first.get("loc") or []
        field = str(loc[-1]) if loc else None
        return ProviderRejected(
            f"{field or 'request'}: {first.get('msg', 'invalid')}",
            provider="bfl",
            status=422,
            field=field,
        )
    if status == 402:
        return OutOfCredit(
            str(detail or "insufficient credits"), provider="bfl", status=402, accepted=False
        )
    if status == 404 and not submit:
        return TaskFailed("the polling URL answered 'Task not found'", provider="bfl", status=404)
    return generic_error(response, "bfl", submit=submit)


class BflProvider(Provider):
    """Black Forest Labs (api.bfl.ai and its regional hosts)."""

    name = "bfl"
    label = "Black Forest Labs"
    capabilities = CAPABILITIES

    def auth_headers(self) -> dict[str, str]:
        return {"x-key": self.config.api_key.get_secret_value()}

    def classify(self, response: Response, *, submit: bool) -> ProviderError:
        return classify(response, submit=submit)

    async def submit_task(self, request: GenerationRequest, plan: Plan, index: int) -> TaskRef:
        image_prompt = await self._image_prompt(request)
        body = build_body(request, plan, index, image_prompt)
        resp = await self.send("POST", self.config.base_url + SUBMIT_PATH, json=body, submit=True)
        task_id, polling_url = self.parsed(
            resp,
            lambda body: parse_submit(body, self.config.base_url),
            what="submit answer",
            accepted=None,
        )
        return TaskRef(id=task_id, seed=plan.seeds[index], urls={"poll": polling_url})

    async def await_task(self, task: TaskRef, submitted_at: float) -> TaskOutcome:
        async def check() -> Pending | TaskOutcome:
            resp = await self.send("GET", task.urls["poll"])
            return self.parsed(resp, parse_poll, what="poll answer", accepted=True)

        return await self.poll(check, submitted_at)

    async def check_credentials(self) -> None:
        try:
            await self.send("GET", f"{self.config.base_url}/v1/get_result?id={uuid.uuid4()}")
        except TaskFailed:
            return  # "Task not found" for a made-up id: the key was accepted

    async def _image_prompt(self, request: GenerationRequest) -> str | None:
        ref = request.reference
        if ref is None:
            return None
        if ref.data is not None:
            return ref.base64()
        assert ref.url is not None
        return base64.b64encode(await fetch_reference(self.http, ref.url, self.name)).decode()
