"""A fake Black Forest Labs API, quirks included.

- Submit on the "api" host; the ``polling_url`` it returns points at another host
  ("poll", like ``api.eu1.bfl.ai``). The submit host answers "Task not found" for
  tasks it does not own, so a client that rebuilds the URL fails as it would live.
- ``safety_tolerance`` must be an int 0–6, ``output_format`` "jpeg" or "png":
  a string tolerance or "jpg" is a 422, as a typed schema would answer.
- More than 24 active tasks: 429. Out of balance: 402. Bad key: 403; malformed key: 422.
- Result URLs live on a third host ("delivery"). No cancel endpoint.
- Moderated tasks are not charged (``charges``); every other task is.
"""

from __future__ import annotations

import base64
import binascii
import time
from typing import Any

from aiohttp import web

from tests.fakes.providers.base import FakeProviderServer, FakeTask, enhanced, json_body

MAX_ACTIVE = 24


def _ratio_ok(value: Any) -> bool:
    if not isinstance(value, str) or value.count(":") != 1:
        return False
    w, h = value.split(":")
    if not (w.isdigit() and h.isdigit()) or int(h) == 0:
        return False
    return 9 / 21 - 1e-9 <= int(w) / int(h) <= 21 / 9 + 1e-9


def validation_errors(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The 422 ``detail`` list BFL's schema would give for this body."""
    errors: list[dict[str, Any]] = []

    def bad(loc: str, msg: str, kind: str) -> None:
        errors.append({"loc": ["body", loc], "msg": msg, "type": kind})

    if not isinstance(body.get("prompt"), str):
        bad("prompt", "Field required", "missing")
    if "aspect_ratio" in body and not _ratio_ok(body["aspect_ratio"]):
        bad("aspect_ratio", "Aspect ratio must be between 21:9 and 9:21", "value_error")
    tol = body.get("safety_tolerance", 2)
    if type(tol) is not int or not 0 <= tol <= 6:
        bad("safety_tolerance", "Input should be a valid integer between 0 and 6", "int_type")
    if body.get("output_format", "jpeg") not in ("jpeg", "png"):
        bad("output_format", "Input should be 'jpeg' or 'png'", "enum")
    for flag in ("raw", "prompt_upsampling"):
        if flag in body and type(body[flag]) is not bool:
            bad(flag, "Input should be a valid boolean", "bool_type")
    seed = body.get("seed")
    if seed is not None and type(seed) is not int:
        bad("seed", "Input should be a valid integer", "int_type")
    strength = body.get("image_prompt_strength", 0.1)
    if not isinstance(strength, int | float) or not 0 <= strength <= 1:
        bad("image_prompt_strength", "Input should be between 0 and 1", "value_error")
    if body.get("image_prompt") is not None:
        try:
            base64.b64decode(body["image_prompt"], validate=True)
        except (binascii.Error, ValueError, TypeError):
            bad("image_prompt", "Invalid base64 image", "value_error")
    return errors


class FakeBfl(FakeProviderServer):
    """BFL's submit + polling_url protocol on three loopback hosts."""

    hosts = ("api", "poll", "delivery")
    media_host = "delivery"
    fault_routes = ("submit", "poll", "file")

    def routes(self, host: str, router: web.UrlDispatcher) -> None:
        if host == "api":
            router.add_post("/v1/flux-pro-1.1-ultra", self.submit)
            router.add_get("/v1/get_result", self.not_owned)
        elif host == "poll":
            router.add_get("/v1/get_result", self.get_result)

    def charges(self, task: FakeTask) -> bool:
        """BFL does not charge a moderated task."""
        return task.outcome not in ("moderated", "moderated_request")

    def _auth(self, request: web.Request) -> web.Response | None:
        key = request.headers.get("x-key")
        if key is None:
            return web.json_response({"detail": "Not authenticated"}, status=403)
        if not key or " " in key or len(key) < 4:
            return web.json_response({"detail": "Invalid API key format"}, status=422)
        if key != self.api_key:
            return web.json_response(
                {"detail": "Not authenticated - Invalid Authentication"}, status=403
            )
        return None

    async def submit(self, request: web.Request) -> web.StreamResponse:
        if (stop := await self.admit("submit", request)) is not None:
            return stop
        try:
            body = json_body(await request.json())
        except ValueError:
            return web.json_response({"detail": "Invalid JSON"}, status=400)
        if errors := validation_errors(body):
            return web.json_response({"detail": errors}, status=422)
        if self.balance is not None and self.balance <= 0:
            return web.json_response({"detail": "Insufficient credits"}, status=402)
        active = sum(1 for t in self.tasks.values() if not t.finished)
        if active >= MAX_ACTIVE:
            return web.json_response(
                {"detail": f"You have reached the maximum of {MAX_ACTIVE} active tasks."},
                status=429,
            )
        task = self.new_task(
            body, aspect=body.get("aspect_ratio", "16:9"), fmt=body.get("output_format", "jpeg")
        )
        if body.get("seed") is not None:
            task.seed = body["seed"]
        return web.json_response(
            {
                "id": task.id,
                "polling_url": f"{self.url('poll')}/v1/get_result?id={task.id}",
                "cost": 6.0,
                "input_mp": 0.0,
                "output_mp": 4.23,
            }
        )

    async def not_owned(self, request: web.Request) -> web.StreamResponse:
        if (denied := self._auth(request)) is not None:
            return denied
        return web.json_response(
            {"id": request.query.get("id"), "status": "Task not found", "result": None}, status=404
        )

    async def get_result(self, request: web.Request) -> web.StreamResponse:
        if (stop := await self.admit("poll", request)) is not None:
            return stop
        task = self.tasks.get(request.query.get("id", ""))
        if task is None:
            return web.json_response(
                {"id": request.query.get("id"), "status": "Task not found", "result": None},
                status=404,
            )
        return web.json_response(self.task_json(task))

    def task_json(self, task: FakeTask) -> dict[str, Any]:
        """The poll answer for a task in its current state."""
        base: dict[str, Any] = {"id": task.id, "result": None, "details": None, "preview": None}
        if not task.finished:
            return {**base, "status": "Pending", "progress": round(task.progress(), 3)}
        if task.outcome in ("ok", "nsfw"):
            duration = (task.completed_at or 0) - task.created
            end = time.time()
            return {
                **base,
                "status": "Ready",
                "progress": None,
                "result": {
                    "sample": task.image_urls[0],
                    "seed": task.seed,
                    "prompt": (
                        enhanced(task.body.get("prompt"))
                        if task.body.get("prompt_upsampling") is True
                        else task.body.get("prompt")
                    ),
                    "start_time": end - duration,
                    "end_time": end,
                    "duration": duration,
                },
            }
        if task.outcome == "moderated_request":
            return {
                **base,
                "status": "Request Moderated",
                "details": {"Moderation Reasons": ["Derivative Works Filter"]},
            }
        if task.outcome == "moderated":
            return {
                **base,
                "status": "Content Moderated",
                "details": {"Moderation Reasons": ["NSFW"]},
            }
        return {**base, "status": "Error"}
