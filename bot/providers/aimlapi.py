"""AIML API (api.aimlapi.com): one synchronous POST that answers with the images.

Traps handled here: ``safety_tolerance`` is a STRING "1"–"6"; ``seed`` must be
at least 1 and ``raw`` may only be false (both declared, so such requests are
refused up front, never silently changed); only fal's nine aspect ratios exist;
the answer comes in a fal shape (``images`` + ``has_nsfw_concepts``) or an
OpenAI shape (``data`` with ``url`` or ``b64_json``), with status 200 or 201.
Validation errors say "Body validation error!" and may carry zod-style issues
(``meta``/``issues``/``errors``, UNCONFIRMED) or a list of messages; content
refusals are recognised by their wording. There is no task to poll or cancel:
the generation happens inside the POST, which is therefore never repeated
after an ambiguous failure (timeout, 5xx, dropped connection).
"""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Mapping
from typing import Any

from bot.errors import (
    BadCredentials,
    ContentModerated,
    OutOfCredit,
    ProviderError,
    ProviderRejected,
    TaskFailed,
    Transient,
)
from bot.handles import ImageRef, TaskOutcome, TaskRef, flag_at
from bot.models import MAX_SEED, GenerationRequest, OutputFormat
from bot.providers.answers import get_as
from bot.providers.base import Provider, generic_error
from bot.providers.capabilities import Capabilities, Plan
from bot.providers.http import Response
from bot.providers.sync import sync_timeout

NAME = "aimlapi"
MODEL = "flux-pro/v1.1-ultra"
GENERATE_PATH = "/v1/images/generations"
ASPECT_RATIOS = ("21:9", "16:9", "4:3", "3:2", "1:1", "2:3", "3:4", "9:16", "9:21")
SYNC_CEILING = 600.0  # the most one generation call may take (see bot.providers.sync)
LOCAL_ID_PREFIX = "local-"

CAPABILITIES = Capabilities(
    aspect_ratios=frozenset(ASPECT_RATIOS),
    max_images_per_task=4,
    safety_tolerance=(1, 6),
    tolerance_as_string=True,
    raw=False,
    seed_range=(1, MAX_SEED),
    max_prompt_chars=4000,
    price_published=False,
)

# Our request's names for the provider's fields, where they differ.
_FIELD_NAMES = {"num_images": "count"}
_BODY_FIELDS = (
    "model",
    "prompt",
    "num_images",
    "seed",
    "safety_tolerance",
    "output_format",
    "enable_safety_checker",
    "aspect_ratio",
    "raw",
)
_MODERATION = re.compile(
    r"flagged|content[ _-]?polic|moderat|violat|nsfw|inappropriate|safety (?:filter|system)",
    re.IGNORECASE,
)
_CREDIT = re.compile(r"credit|balance|top up|billing|quota", re.IGNORECASE)
_VALIDATION = "body validation error"


def build_body(request: GenerationRequest, plan: Plan, index: int) -> dict[str, Any]:
    """The body with AIML's names and types: string tolerance, raw false, ratio always sent."""
    assert plan.safety_tolerance is not None
    body: dict[str, Any] = {
        "model": MODEL,
        "prompt": request.prompt,
        "num_images": plan.images_per_task[index],
        "safety_tolerance": CAPABILITIES.wire_tolerance(plan.safety_tolerance),
        "output_format": request.output_format.value,
        "enable_safety_checker": True,
        "aspect_ratio": request.aspect_ratio,
        "raw": False,
    }
    if plan.seeds[index] is not None:
        body["seed"] = plan.seeds[index]
    return body


def parse_result(
    body: Any, output_format: OutputFormat, requested_seed: int | None = None
) -> TaskOutcome:
    """Read either answer shape into images (URL or data URI), NSFW flags, seed and time."""
    if not isinstance(body, dict):
        raise ValueError("answer is not a JSON object")
    if isinstance(body.get("images"), list):
        images = _fal_images(body)
    elif isinstance(body.get("data"), list):
        images = _openai_images(body["data"], output_format.content_type)
    else:
        raise ValueError("answer has neither 'images' nor 'data'")
    if not images:
        raise ValueError("answer carries no image")
    seed = body.get("seed")
    timings = get_as(body, "timings", dict, {})
    inference = timings.get("inference")
    return TaskOutcome(
        images=tuple(images),
        seed=seed if type(seed) is int else requested_seed,
        provider_seconds=float(inference) if isinstance(inference, int | float) else None,
    )


def _fal_images(body: dict[str, Any]) -> list[ImageRef]:
    flags = body.get("has_nsfw_concepts")
    flags = flags if isinstance(flags, list) else []
    images = []
    for i, item in enumerate(body["images"]):
        url = item.get("url") if isinstance(item, dict) else None
        images.append(ImageRef(url=_checked_url(url), nsfw=flag_at(flags, i)))
    return images


def _openai_images(data: list[Any], content_type: str) -> list[ImageRef]:
    images = []
    for item in data:
        if not isinstance(item, dict):
            raise ValueError("image entry is not an object")
        b64 = item.get("b64_json")
        if isinstance(b64, str) and b64:
            url = b64 if b64.startswith("data:") else f"data:{content_type};base64,{b64}"
            images.append(ImageRef(url=url))
        else:
            images.append(ImageRef(url=_checked_url(item.get("url"))))
    return images


def _checked_url(url: Any) -> str:
    if not isinstance(url, str) or not url.startswith(("https://", "http://", "data:")):
        raise ValueError(f"image entry has no usable url ({str(url)[:40]!r})")
    return url


def answer_id(body: Any, headers: Mapping[str, str]) -> str | None:
    """The provider's id for this generation, when the answer carries one."""
    if isinstance(body, dict):
        for key in ("requestId", "request_id", "id"):
            if isinstance(body.get(key), str) and body[key]:
                return body[key]
    return headers.get("x-request-id") or headers.get("X-Request-Id") or None


def local_id() -> str:
    """An id of our own for an answer that carried none (marked so nobody looks it up)."""
    return f"{LOCAL_ID_PREFIX}{uuid.uuid4()}"


def classify(response: Response, *, submit: bool) -> ProviderError:
    """AIML's errors: 400 validation or refusal, 401 key, 403 credits or key, 429, 5xx."""
    status = response.status
    payload: Any = None
    with contextlib.suppress(ValueError):
        payload = response.json()
    message = _message(payload) or response.text()
    if status == 401:
        return BadCredentials(f"HTTP 401: {message}", provider=NAME, status=401, accepted=False)
    if status == 403:
        cls = OutOfCredit if _CREDIT.search(message) else BadCredentials
        return cls(f"HTTP 403: {message}", provider=NAME, status=403, accepted=False)
    if status in (400, 422):
        validation = message.lower().startswith(_VALIDATION)
        if not validation and _MODERATION.search(message):
            return ContentModerated(
                message, reasons=[message], provider=NAME, status=status, accepted=False
            )
        field, why = _first_issue(payload)
        detail = f"{field}: {why}" if field and why else (why or message)
        return ProviderRejected(
            detail, provider=NAME, status=status, field=_FIELD_NAMES.get(field or "", field)
        )
    return generic_error(response, NAME, submit=submit)


def _message(payload: Any) -> str:
    if not isinstance(payload, dict):
        return ""
    message = payload.get("message")
    if isinstance(message, list):
        return "; ".join(str(m) for m in message)
    return str(message) if message is not None else ""


def _first_issue(payload: Any) -> tuple[str | None, str | None]:
    """The field and reason of the first validation issue, from issue lists or message lists."""
    if not isinstance(payload, dict):
        return None, None
    for key in ("meta", "issues", "errors"):
        issues = payload.get(key)
        if isinstance(issues, list) and issues and isinstance(issues[0], dict):
            path = issues[0].get("path")
            field = str(path[0]) if isinstance(path, list) and path else None
            reason = issues[0].get("message")
            return field, str(reason) if reason is not None else None
    message = payload.get("message")
    if isinstance(message, list) and message:
        first = str(message[0])
        word = first.split(" ", 1)[0].strip("'\".:")
        return (word if word in _BODY_FIELDS else None), first
    return None, None


class AimlProvider(Provider):
    """AIML API: synchronous generation, up to four images per request.

    Resumable once ``submit`` has returned, because the handle then holds the
    images (URLs or data URIs). A crash DURING the synchronous call cannot be
    resumed: the answer is lost with the connection and there is no task to poll.
    """

    name = NAME
    label = "AIML API"
    capabilities = CAPABILITIES

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.config.api_key.get_secret_value()}"}

    def classify(self, response: Response, *, submit: bool) -> ProviderError:
        return classify(response, submit=submit)

    async def submit_task(self, request: GenerationRequest, plan: Plan, index: int) -> TaskRef:
        body = build_body(request, plan, index)
        resp = await self.send(
            "POST",
            self.config.base_url + GENERATE_PATH,
            json=body,
            submit=True,
            timeout=sync_timeout(self.config.max_wait, SYNC_CEILING),
        )
        try:
            payload = resp.json()
            outcome = parse_result(payload, request.output_format, plan.seeds[index])
        except ValueError as exc:
            raise Transient(
                f"malformed answer: {exc}", provider=self.name, status=resp.status, accepted=None
            ) from exc
        return TaskRef(
            id=answer_id(payload, resp.headers) or local_id(),
            seed=plan.seeds[index],
            count=plan.images_per_task[index],
            outcome=outcome,
        )

    async def await_task(self, task: TaskRef, submitted_at: float) -> TaskOutcome:
        raise TaskFailed(
            "AIML API answers synchronously; a task without its answer cannot be resumed",
            provider=self.name,
            accepted=None,
        )

    async def check_credentials(self) -> None:
        try:
            await self.send("POST", self.config.base_url + GENERATE_PATH, json={})
        except ProviderRejected:
            return  # "Body validation error!" for an empty body: the key was accepted
