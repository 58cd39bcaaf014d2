"""A fake OpenAI-compatible images gateway (Lumenfall's shape), quirks included.

- Everything lives under ``/openai/v1`` on the "api" host; images are served by a
  separate "cdn" host, so a client that sends its key there is caught.
- ``POST /images/generations`` is synchronous: it answers the moment the task
  completes, with ``{"created","data":[{"url"|"b64_json","revised_prompt"}]}`` and the
  ``X-Lumenfall-Provider``/``-Model``/``-Request-Id`` headers.
- ``model`` must be a known id, optionally pinned to an upstream ("fal/..."):
  anything else is a 404 ``model_not_found``. ``n`` must be an int 1–4,
  ``response_format`` "url" or "b64_json", ``output_format`` "jpeg" or "png",
  ``size`` "WxH" or "W:H"; other fields (``raw``, ``seed``) pass through.
- Errors use ``{"error":{"message","type","code"}}``: 401 bad key, 402
  ``insufficient_quota`` when out of balance, 400 ``content_policy_violation`` for a
  moderated task, 502 "all providers exhausted" for a failed one. No NSFW flag exists.
- ``GET /models`` lists the models (401 with a bad key). No cancel endpoint.
"""

from __future__ import annotations

import base64
import time
from typing import Any

from aiohttp import web

from tests.fakes.providers.base import SCALE, FakeProviderServer, FakeTask, json_body

PREFIX = "/openai/v1"
MODELS = ("flux1.1-pro-ultra", "flux1.1-pro", "flux-dev")
UPSTREAMS = ("fal", "replicate", "bfl", "wavespeed")
SYNC_TIMEOUT = 300.0


def error(status: int, message: str, kind: str, code: str | None, **headers: str) -> web.Response:
    """The gateway's error answer."""
    return web.json_response(
        {"error": {"message": message, "type": kind, "code": code}}, status=status, headers=headers
    )


def _ratio(value: Any) -> str | None:
    """``value`` as "W:H" when it is a ratio between 21:9 and 9:21 ("WxH" sizes reduced)."""
    if not isinstance(value, str):
        return None
    sep = ":" if ":" in value else "x"
    w, _, h = value.partition(sep)
    if not (w.isdigit() and h.isdigit()) or int(w) == 0 or int(h) == 0:
        return None
    if not 9 / 21 - 1e-9 <= int(w) / int(h) <= 21 / 9 + 1e-9:
        return None
    return f"{w}:{h}"


def validation_error(body: dict[str, Any]) -> tuple[str, str] | None:
    """(param, message) for the first field the gateway would refuse, or None."""
    if not isinstance(body.get("prompt"), str) or not body["prompt"].strip():
        return "prompt", "prompt is required"
    n = body.get("n", 1)
    if type(n) is not int or not 1 <= n <= 4:
        return "n", "n must be an integer between 1 and 4"
    if body.get("response_format", "url") not in ("url", "b64_json"):
        return "response_format", "response_format must be 'url' or 'b64_json'"
    if body.get("output_format", "jpeg") not in ("jpeg", "png"):
        return "output_format", "output_format must be 'jpeg' or 'png'"
    for name in ("size", "aspect_ratio"):
        if body.get(name) is not None and _ratio(body[name]) is None:
            return name, f"{name} must be 'WxH' or 'W:H' between 21:9 and 9:21"
    if "raw" in body and type(body["raw"]) is not bool:
        return "raw", "raw must be a boolean"
    seed = body.get("seed")
    if seed is not None and type(seed) is not int:
        return "seed", "seed must be an integer"
    return None


def upstream_of(model: Any) -> tuple[str, str] | None:
    """(upstream, model id) for a known model, pinned or not; None when unknown."""
    if not isinstance(model, str):
        return None
    pin, _, bare = model.rpartition("/")
    if bare not in MODELS or (pin and pin not in UPSTREAMS):
        return None
    return pin or "fal", bare


class FakeOpenAICompat(FakeProviderServer):
    """A synchronous OpenAI-style images endpoint under ``/openai/v1``, images on a CDN host."""

    hosts = ("api", "cdn")
    media_host = "cdn"
    fault_routes = ("submit", "models", "file")

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.b64_answers = False

    def routes(self, host: str, router: web.UrlDispatcher) -> None:
        if host == "api":
            router.add_post(f"{PREFIX}/images/generations", self.generate)
            router.add_get(f"{PREFIX}/models", self.models)

    def charges(self, task: FakeTask) -> bool:
        """The gateway charges for outputs: "all providers exhausted" made none."""
        return task.outcome != "failed"

    def _auth(self, request: web.Request) -> web.Response | None:
        scheme, _, key = request.headers.get("Authorization", "").partition(" ")
        if scheme != "Bearer" or key != self.api_key:
            return error(
                401, "Invalid API key provided.", "authentication_error", "invalid_api_key"
            )
        return None

    async def models(self, request: web.Request) -> web.StreamResponse:
        if (stop := await self.admit("models", request)) is not None:
            return stop
        created = int(time.time())
        return web.json_response(
            {
                "object": "list",
                "data": [
                    {"id": m, "object": "model", "created": created, "owned_by": "lumenfall"}
                    for m in MODELS
                ],
            }
        )

    async def generate(self, request: web.Request) -> web.StreamResponse:
        if (stop := await self.admit("submit", request)) is not None:
            return stop
        try:
            body = json_body(await request.json())
        except ValueError:
            return error(400, "Invalid JSON body", "invalid_request_error", "invalid_json")
        route = upstream_of(body.get("model"))
        if route is None:
            return error(
                404,
                f"The model '{body.get('model')}' does not exist",
                "invalid_request_error",
                "model_not_found",
            )
        if (bad := validation_error(body)) is not None:
            return web.json_response(
                {
                    "error": {
                        "message": bad[1],
                        "type": "invalid_request_error",
                        "code": "invalid_value",
                        "param": bad[0],
                    }
                },
                status=400,
            )
        if self.balance is not None and self.balance <= 0:
            return error(
                402,
                "You exceeded your current quota; add credits to continue.",
                "insufficient_quota",
                "insufficient_quota",
            )
        task = self._start(body)
        upstream, model = route
        headers = {
            "X-Lumenfall-Request-Id": task.id,
            "X-Lumenfall-Provider": upstream,
            "X-Lumenfall-Model": model,
        }
        if not await self.wait_done(task, SYNC_TIMEOUT):
            return error(504, "Upstream timed out", "upstream_error", "timeout", **headers)
        if task.outcome in ("moderated", "moderated_request"):
            return error(
                400,
                "Your request was rejected by the upstream provider's safety system.",
                "invalid_request_error",
                "content_policy_violation",
                **headers,
            )
        if task.outcome not in ("ok", "nsfw"):
            return error(502, "All providers exhausted", "upstream_error", None, **headers)
        as_b64 = self.b64_answers or body.get("response_format") == "b64_json"
        data = [self._item(url, body["prompt"], as_b64) for url in task.image_urls]
        return web.json_response({"created": int(time.time()), "data": data}, headers=headers)

    def _start(self, body: dict[str, Any]) -> FakeTask:
        fmt = body.get("output_format", "jpeg")
        shape = body.get("aspect_ratio") or body.get("size") or "1:1"
        ratio = _ratio(shape) or "1:1"
        task = self.new_task(body, count=body.get("n", 1), aspect=ratio, fmt=fmt)
        if "x" in shape and task.image_urls:
            w, _, h = shape.partition("x")
            size = (max(1, int(w) // SCALE), max(1, int(h) // SCALE))
            task.image_urls = [
                self.add_image(f"{task.id}-{i}", ratio, fmt, size=size) for i in range(task.count)
            ]
        if body.get("seed") is not None:
            task.seed = body["seed"]
        return task

    def _item(self, url: str, prompt: str, as_b64: bool) -> dict[str, Any]:
        if not as_b64:
            return {"url": url, "revised_prompt": prompt}
        encoded = base64.b64encode(self.image_bytes(url)).decode("ascii")
        return {"b64_json": encoded, "revised_prompt": prompt}

    def image_bytes(self, url: str) -> bytes:
        """The bytes behind one of this fake's image URLs."""
        return self._images[url.rsplit("/", 1)[1]][0]
