"""An OpenAI-compatible images gateway (e.g. Lumenfall): one synchronous POST per task.

Traps handled here: the call blocks until the images exist, so it gets a long
timeout of its own and an ambiguous failure (timeout, 5xx) is never resubmitted;
the aspect ratio goes both as ``size`` ("W:H") and ``aspect_ratio`` since gateways
read one or the other; ``raw`` and ``seed`` are unknown to the OpenAI schema and pass
through; images may come back as URLs or as bare base64 (kept as ``data:`` URIs);
out of credit can be a 402 or OpenAI's own 429 ``insufficient_quota``; there is no
NSFW flag, no safety tolerance, no reference image and no cancel.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from bot.errors import (
    BadCredentials,
    ContentModerated,
    OutOfCredit,
    ProviderError,
    ProviderMisconfigured,
    ProviderRejected,
    TaskFailed,
)
from bot.handles import ImageRef, TaskOutcome, TaskRef
from bot.models import ASPECT_RATIOS, GenerationRequest, OutputFormat
from bot.providers.base import Provider, ProviderConfig, generic_error, refused_before_work
from bot.providers.capabilities import Capabilities, Plan
from bot.providers.http import HttpClient, Response
from bot.providers.sync import sync_timeout

log = logging.getLogger(__name__)

NAME = "openai_compat"
DEFAULT_MODEL = "flux1.1-pro-ultra"
GENERATE_PATH = "/images/generations"
MODELS_PATH = "/models"
SYNC_CEILING = 180.0  # the most one generation call may take (see bot.providers.sync)
REQUEST_ID_HEADERS = ("X-Lumenfall-Request-Id", "x-request-id")
MODERATION_WORDS = ("content_policy", "moderat", "safety")

CAPABILITIES = Capabilities(
    aspect_ratios=frozenset(ASPECT_RATIOS),
    max_images_per_task=4,
    safety_tolerance=None,
    free_outcomes=frozenset({"failed"}),
)


def build_body(request: GenerationRequest, plan: Plan, index: int, model: str) -> dict[str, Any]:
    """The generation body: OpenAI's names plus the FLUX fields gateways pass through."""
    body: dict[str, Any] = {
        "model": model,
        "prompt": request.prompt,
        "n": plan.images_per_task[index],
        "size": request.aspect_ratio,
        "aspect_ratio": request.aspect_ratio,
        "response_format": "url",
        "output_format": request.output_format.value,
    }
    if request.raw:
        body["raw"] = True
    if plan.seeds[index] is not None:
        body["seed"] = plan.seeds[index]
    return body


def parse_images(body: Any, fmt: OutputFormat, seed: int | None) -> TaskOutcome:
    """Read ``{"created","data":[{"url"|"b64_json"}]}``; base64 images become data URIs."""
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise ValueError("answer has no data list")
    images: list[ImageRef] = []
    for item in body["data"]:
        if not isinstance(item, dict):
            raise ValueError("data entry is not an object")
        url, b64 = item.get("url"), item.get("b64_json")
        if isinstance(url, str) and url:
            images.append(ImageRef(url=url))
        elif isinstance(b64, str) and b64:
            if not b64.startswith("data:"):
                b64 = f"data:{fmt.content_type};base64,{b64}"
            images.append(ImageRef(url=b64))
        else:
            raise ValueError("data entry has neither url nor b64_json")
    if not images:
        raise ValueError("answer has no images")
    return TaskOutcome(images=tuple(images), seed=seed)


def request_id(headers: Any) -> str:
    """The gateway's request id from the answer headers, or a fresh one when it gave none."""
    for name in REQUEST_ID_HEADERS:
        value = headers.get(name)
        if value:
            return str(value)
    return str(uuid.uuid4())


def error_fields(response: Response) -> tuple[str, str, str, str | None]:
    """(message, type, code, param) from ``{"error":{...}}``, tolerating other shapes."""
    try:
        payload = response.json()
    except ValueError:
        return response.text(), "", "", None
    err = payload.get("error", payload) if isinstance(payload, dict) else payload
    if isinstance(err, str):
        return err, "", "", None
    if not isinstance(err, dict):
        return response.text(), "", "", None
    message = err.get("message") or err.get("detail") or response.text()
    param = err.get("param")
    return (
        str(message),
        str(err.get("type") or ""),
        str(err.get("code") or ""),
        str(param) if param else None,
    )


def proves_not_created(response: Response) -> bool:
    """A 4xx refusal, or the gateway's own 502 saying every upstream failed (no image made);
    a proxy's 502 page, a 504 or a timeout prove nothing."""
    if refused_before_work(response):
        return True
    if response.status != 502:
        return False
    message, kind, _, _ = error_fields(response)
    return kind == "upstream_error" and "exhausted" in message.lower()


def classify(response: Response, *, submit: bool, model: str = DEFAULT_MODEL) -> ProviderError:
    """The gateway's errors: 401 key, 402/insufficient_quota credit, 400 refusals, 404 model."""
    status = response.status
    message, kind, code, param = error_fields(response)
    detail = f"{message} ({code or kind or status})"
    if status == 401:
        return BadCredentials(detail, provider=NAME, status=status, accepted=False)
    if status == 402 or "insufficient_quota" in (code, kind):
        return OutOfCredit(detail, provider=NAME, status=status, accepted=False)
    if status == 404:
        if submit or "model" in f"{code} {message}".lower():
            hint = f"model {model!r} not found at the gateway; check OPENAI_COMPAT_MODEL"
        else:
            hint = "the gateway answered 404; check OPENAI_COMPAT_BASE_URL"
        return ProviderMisconfigured(
            f"{hint} ({message})", provider=NAME, status=status, accepted=False
        )
    if 400 <= status < 500 and status not in (408, 409, 425, 429):
        said = f"{code} {kind} {message}".lower()
        if any(word in said for word in MODERATION_WORDS):
            return ContentModerated(
                detail, reasons=[code or message], provider=NAME, status=status, accepted=False
            )
        if status != 403:
            return ProviderRejected(message, provider=NAME, status=status, field=param)
    return generic_error(response, NAME, submit=submit)


class OpenAICompatProvider(Provider):
    """Any OpenAI-compatible images endpoint that routes to FLUX 1.1 [pro] Ultra."""

    name = NAME
    label = "OpenAI-compatible gateway"
    capabilities = CAPABILITIES

    def __init__(self, http: HttpClient, config: ProviderConfig, **kw: Any) -> None:
        if not config.base_url:
            raise ValueError(
                "OPENAI_COMPAT_BASE_URL is required (e.g. https://api.lumenfall.ai/openai/v1)"
            )
        super().__init__(http, config, **kw)
        self.base_url = config.base_url.rstrip("/")
        self.model = config.model or DEFAULT_MODEL

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.config.api_key.get_secret_value()}"}

    def classify(self, response: Response, *, submit: bool) -> ProviderError:
        return classify(response, submit=submit, model=self.model)

    def proves_not_created(self, response: Response) -> bool:
        return proves_not_created(response)

    async def submit_task(self, request: GenerationRequest, plan: Plan, index: int) -> TaskRef:
        body = build_body(request, plan, index, self.model)
        resp = await self.send(
            "POST",
            self.base_url + GENERATE_PATH,
            json=body,
            submit=True,
            timeout=sync_timeout(self.config.max_wait, SYNC_CEILING),
        )
        task_id = request_id(resp.headers)
        log.debug(
            "%s task %s served by %s as %s",
            self.name,
            task_id,
            resp.headers.get("X-Lumenfall-Provider", "?"),
            resp.headers.get("X-Lumenfall-Model", "?"),
        )
        outcome = self.parsed(
            resp,
            lambda body: parse_images(body, request.output_format, plan.seeds[index]),
            what="answer",
            accepted=None,
        )
        return TaskRef(id=task_id, seed=plan.seeds[index], count=body["n"], outcome=outcome)

    async def await_task(self, task: TaskRef, submitted_at: float) -> TaskOutcome:
        raise TaskFailed(
            f"task {task.id} has no outcome and a synchronous gateway cannot be asked again",
            provider=self.name,
        )

    async def check_credentials(self) -> None:
        resp = await self.send("GET", self.base_url + MODELS_PATH)
        try:
            payload = resp.json()
            ids = {m.get("id") for m in payload.get("data", []) if isinstance(m, dict)}
        except (ValueError, AttributeError, TypeError):
            return
        if ids and self.model.rpartition("/")[2] not in ids and self.model not in ids:
            log.warning(
                "%s: model %r is not in the gateway's model list; check OPENAI_COMPAT_MODEL",
                self.name,
                self.model,
            )
