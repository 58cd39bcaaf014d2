"""A fake AIML API, quirks included.

- One synchronous ``POST /v1/images/generations`` on the "api" host: it answers
  the moment the task completes, with the images (files on the "cdn" host).
- ``Authorization: Bearer <key>`` is checked before the body, so an empty body
  with a good key is a 400 "Body validation error!" and with a bad key a 401.
- Strict zod-like validation (400 "Body validation error!" with issues in
  ``meta``): ``safety_tolerance`` must be a STRING "1"–"6", ``seed`` ≥ 1, ``raw``
  only false, ``num_images`` 1–4, only fal's nine aspect ratios, ``model`` exact.
- Success is 201 (``success_status``) in the fal shape or, with
  ``response_shape = "openai"``, the ``data`` shape (``b64 = True``: images inline).
- Out of balance: 403 "You've run out of credits"; moderation: 400 (prompt) or
  422 (image) with a content-policy message; failure: 500. Errors use
  ``{"message","path","requestId","statusCode","timestamp"}``.
"""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from tests.fakes.providers.base import CITED_SIZES, SCALE, FakeProviderServer, FakeTask

PATH = "/v1/images/generations"
MODEL = "flux-pro/v1.1-ultra"
RATIOS = ("21:9", "16:9", "4:3", "3:2", "1:1", "2:3", "3:4", "9:16", "9:21")
TOLERANCES = ("1", "2", "3", "4", "5", "6")
BAD_KEY = (
    "This request requires a valid API key. You can create a new API key on the Billing page: "
    "https://aimlapi.com/app/keys"
)
NO_CREDIT = (
    "You've run out of credits. Please top up your balance or update your payment method to "
    "continue: https://aimlapi.com/app/billing/"
)


def error_body(status: int, message: str | list[str], **extra: Any) -> dict[str, Any]:
    """AIML's (NestJS) error shape."""
    return {
        "message": message,
        "path": PATH,
        "requestId": str(uuid.uuid4()),
        "statusCode": status,
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        **extra,
    }


def _enum(value: Any, allowed: tuple[str, ...]) -> str:
    options = " | ".join(f"'{a}'" for a in allowed)
    return f"Invalid enum value. Expected {options}, received '{value}'"


def validation_issues(body: Any) -> list[dict[str, Any]]:
    """The zod issues AIML's schema would list for this body (empty when it is valid)."""
    if not isinstance(body, dict):
        return [{"code": "invalid_type", "path": [], "message": "Expected object"}]
    issues: list[dict[str, Any]] = []

    def bad(field: str, code: str, message: str) -> None:
        issues.append({"code": code, "path": [field], "message": message})

    def is_int(value: Any) -> bool:
        return type(value) is int

    if body.get("model") != MODEL:
        bad("model", "invalid_enum_value", _enum(body.get("model"), (MODEL,)))
    prompt = body.get("prompt")
    if not isinstance(prompt, str):
        bad("prompt", "invalid_type", "Required" if prompt is None else "Expected string")
    elif not 1 <= len(prompt) <= 4000:
        bad("prompt", "too_big", "String must contain at most 4000 character(s)")
    if "num_images" in body:
        n = body["num_images"]
        if not is_int(n):
            bad("num_images", "invalid_type", "Expected integer")
        elif not 1 <= n <= 4:
            bad("num_images", "too_big", "Number must be between 1 and 4")
    if "seed" in body:
        if not is_int(body["seed"]):
            bad("seed", "invalid_type", "Expected integer")
        elif body["seed"] < 1:
            bad("seed", "too_small", "Number must be greater than or equal to 1")
    if "safety_tolerance" in body:
        tol = body["safety_tolerance"]
        if not isinstance(tol, str):
            bad(
                "safety_tolerance",
                "invalid_type",
                f"Expected string, received {type(tol).__name__}",
            )
        elif tol not in TOLERANCES:
            bad("safety_tolerance", "invalid_enum_value", _enum(tol, TOLERANCES))
    if body.get("output_format", "jpeg") not in ("jpeg", "png"):
        bad("output_format", "invalid_enum_value", _enum(body["output_format"], ("jpeg", "png")))
    if type(body.get("enable_safety_checker", True)) is not bool:
        bad("enable_safety_checker", "invalid_type", "Expected boolean")
    if body.get("aspect_ratio", "16:9") not in RATIOS:
        bad("aspect_ratio", "invalid_enum_value", _enum(body["aspect_ratio"], RATIOS))
    if body.get("raw", False) is not False:
        bad("raw", "invalid_literal", "Invalid literal value, expected false")
    return issues


class FakeAiml(FakeProviderServer):
    """AIML API's synchronous generation endpoint, with a CDN for the files."""

    hosts = ("api", "cdn")
    media_host = "cdn"
    submit_route = "generate"
    fault_routes = ("generate", "file")

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.response_shape = "fal"
        self.b64 = False
        self.success_status = 201
        self.sync_timeout = 300.0

    def routes(self, host: str, router: web.UrlDispatcher) -> None:
        if host == "api":
            router.add_post(PATH, self.generate)

    def _auth(self, request: web.Request) -> web.Response | None:
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return web.json_response(error_body(401, BAD_KEY), status=401)
        return None

    async def generate(self, request: web.Request) -> web.StreamResponse:
        if (stop := await self.admit("generate", request)) is not None:
            return stop
        try:
            body = await request.json()
        except ValueError:
            body = None
        if issues := validation_issues(body):
            return web.json_response(
                error_body(400, "Body validation error!", meta=issues), status=400
            )
        if self.balance is not None and self.balance <= 0:
            return web.json_response(error_body(403, NO_CREDIT), status=403)
        aspect, fmt = body.get("aspect_ratio", "16:9"), body.get("output_format", "jpeg")
        task = self.new_task(body, count=body.get("num_images", 1), aspect=aspect, fmt=fmt)
        if "seed" in body:
            task.seed = body["seed"]
        if not await self.wait_done(task, self.sync_timeout):
            return web.json_response(error_body(504, "Gateway Timeout"), status=504)
        if task.outcome == "moderated_request":
            message = "Your prompt was flagged by the content moderation system."
            return web.json_response(error_body(400, message), status=400)
        if task.outcome == "moderated":
            message = "The generated image violates the content policy."
            return web.json_response(error_body(422, message), status=422)
        if task.outcome not in ("ok", "nsfw"):
            return web.json_response(error_body(500, "Internal server error"), status=500)
        return web.json_response(self.answer(task, aspect, fmt), status=self.success_status)

    def answer(self, task: FakeTask, aspect: str, fmt: str) -> dict[str, Any]:
        """The success body in the configured shape."""
        if self.response_shape == "openai":
            return {
                "data": [self._openai_item(url) for url in task.image_urls],
                "meta": {"usage": {"credits_used": 120000 * task.count}},
            }
        w, h = CITED_SIZES[aspect]
        return {
            "images": [
                {
                    "url": url,
                    "width": w // SCALE,
                    "height": h // SCALE,
                    "content_type": f"image/{fmt}",
                }
                for url in task.image_urls
            ],
            "timings": {"inference": (task.completed_at or task.created) - task.created},
            "seed": task.seed,
            "has_nsfw_concepts": [task.outcome == "nsfw"] * task.count,
            "prompt": task.body.get("prompt"),
        }

    def _openai_item(self, url: str) -> dict[str, Any]:
        if not self.b64:
            return {"url": url, "b64_json": None}
        data, _ = self._images[url.rsplit("/", 1)[1]]
        return {"url": None, "b64_json": base64.b64encode(data).decode("ascii")}
