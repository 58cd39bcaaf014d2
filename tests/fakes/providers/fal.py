"""A fake fal.ai queue for ``fal-ai/flux-pro/v1.1-ultra``, quirks included.

- Auth is ``Authorization: Key <key>``; anything else is a 401 (an unknown request
  id with a good key is a 404, which is what ``check_credentials`` relies on).
- Submit is ``POST /fal-ai/flux-pro/v1.1-ultra``, but the status, result and
  cancel URLs it returns are under ``/fal-ai/flux-pro/requests/{id}``: the same
  paths rebuilt with the ``/v1.1-ultra`` subpath answer 404.
- Status answers 202 while IN_QUEUE (with ``queue_position``) or IN_PROGRESS,
  200 when COMPLETED (with ``logs`` and ``metrics.inference_time``).
- The status stream sends one ``data:`` event per status change, a comment as a
  keep-alive, and closes right after COMPLETED, the moment the task completes.
- ``safety_tolerance`` must be a STRING "1"–"6": an int is a 422 in fal's
  ``{"detail": [{"loc", "msg", "type"}]}`` shape; ``aspect_ratio`` is one of nine.
- Out of balance is a 403 "User is locked. Reason: Exhausted balance."
- Outcomes: "nsfw" delivers images with ``has_nsfw_concepts`` true; "moderated" and
  "moderated_request" complete, then the result answers 422
  ``content_policy_violation``; "failed" completes, then the result answers 500.
- Images live on a second host ("media", like v3.fal.media).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import time
from collections import deque
from typing import Any

from aiohttp import web

from tests.fakes.providers.base import (
    CITED_SIZES,
    SCALE,
    FakeProviderServer,
    FakeTask,
    enhanced,
    json_body,
)

APP_PATH = "/fal-ai/flux-pro/v1.1-ultra"
REQUESTS = "/fal-ai/flux-pro/requests"
FAL_RATIOS = ("21:9", "16:9", "4:3", "3:2", "1:1", "2:3", "3:4", "9:16", "9:21")
TOLERANCES = ("1", "2", "3", "4", "5", "6")
QUEUE_SHARE = 0.3  # the part of the latency a task spends IN_QUEUE
EXHAUSTED = (
    "User is locked. Reason: Exhausted balance. Top up your balance at fal.ai/dashboard/billing."
)


def validation_errors(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The 422 ``detail`` list fal's input schema would give for this body."""
    errors: list[dict[str, Any]] = []

    def bad(loc: str, msg: str, kind: str) -> None:
        errors.append({"loc": ["body", loc], "msg": msg, "type": kind})

    if not isinstance(body.get("prompt"), str):
        bad("prompt", "Field required", "missing")
    seed = body.get("seed")
    if seed is not None and type(seed) is not int:
        bad("seed", "Input should be a valid integer", "int_type")
    count = body.get("num_images", 1)
    if type(count) is not int or not 1 <= count <= 4:
        bad("num_images", "Input should be between 1 and 4", "less_than_equal")
    if body.get("output_format", "jpeg") not in ("jpeg", "png"):
        bad("output_format", "Input should be 'jpeg' or 'png'", "literal_error")
    if body.get("safety_tolerance", "2") not in TOLERANCES:
        bad(
            "safety_tolerance",
            "Input should be '1', '2', '3', '4', '5' or '6'",
            "literal_error",
        )
    if body.get("aspect_ratio", "16:9") not in FAL_RATIOS:
        bad("aspect_ratio", f"Input should be {', '.join(FAL_RATIOS)}", "literal_error")
    for flag in ("raw", "enable_safety_checker", "sync_mode", "enhance_prompt"):
        if flag in body and type(body[flag]) is not bool:
            bad(flag, "Input should be a valid boolean", "bool_type")
    strength = body.get("image_prompt_strength", 0.1)
    if type(strength) not in (int, float) or not 0 <= strength <= 1:
        bad("image_prompt_strength", "Input should be between 0 and 1", "less_than_equal")
    image_url = body.get("image_url")
    if image_url is not None and not _image_url_ok(image_url):
        bad("image_url", "Failed to load the image: not a URL or data URI", "image_load_error")
    return errors


def _image_url_ok(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    if value.startswith(("https://", "http://")):
        return True
    if not value.startswith("data:image/") or ";base64," not in value:
        return False
    try:
        base64.b64decode(value.partition(",")[2], validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


class FakeFal(FakeProviderServer):
    """fal's queue protocol on a "queue" host, images on a "media" host."""

    hosts = ("queue", "media")
    media_host = "media"
    fault_routes = ("submit", "status", "stream", "result", "cancel", "file")

    def __init__(self, *, keepalive: float = 15.0, **kw: Any) -> None:
        super().__init__(**kw)
        self.keepalive = keepalive
        self._cuts: deque[str] = deque()

    def cut_next_stream(self, how: str = "close", times: int = 1) -> None:
        """End the next streams after their first event: "close" cleanly or "abort" the socket."""
        assert how in ("close", "abort")
        self._cuts.extend([how] * times)

    def routes(self, host: str, router: web.UrlDispatcher) -> None:
        if host != "queue":
            return
        router.add_post(APP_PATH, self.submit)
        router.add_route("*", APP_PATH + "/requests/{tail:.*}", self.rebuilt)
        router.add_get(REQUESTS + "/{id}/status", self.status)
        router.add_get(REQUESTS + "/{id}/status/stream", self.stream)
        router.add_get(REQUESTS + "/{id}", self.result)
        router.add_put(REQUESTS + "/{id}/cancel", self.cancel_request)

    # helpers

    def charges(self, task: FakeTask) -> bool:
        """fal does not charge a request that failed on its side (a 5xx)."""
        return task.outcome != "failed"

    def _auth(self, request: web.Request) -> web.Response | None:
        header = request.headers.get("Authorization")
        if header is None:
            return web.json_response(
                {"detail": "Authentication is required to access this application."},
                status=401,
            )
        scheme, _, key = header.partition(" ")
        if scheme != "Key" or key != self.api_key:
            return web.json_response({"detail": "No user found for Key ID and Secret"}, status=401)
        return None

    def _task(self, request: web.Request) -> FakeTask | web.Response:
        task = self.tasks.get(request.match_info["id"])
        if task is None:
            return web.json_response({"detail": "Request not found"}, status=404)
        return task

    def urls(self, task_id: str) -> dict[str, str]:
        """The URLs fal gives for a request: owner/alias, no ``/v1.1-ultra``."""
        root = f"{self.url('queue')}{REQUESTS}/{task_id}"
        return {
            "response_url": root,
            "status_url": f"{root}/status",
            "cancel_url": f"{root}/cancel",
        }

    def status_json(self, task: FakeTask, logs: bool) -> dict[str, Any]:
        """The status object for a task as it is now."""
        response_url = self.urls(task.id)["response_url"]
        if not task.finished and time.perf_counter() < self._started_at(task):
            return {"status": "IN_QUEUE", "queue_position": 0, "response_url": response_url}
        lines = None
        if logs:
            lines = [
                {
                    "message": "Generating image",
                    "level": "INFO",
                    "source": "user",
                    "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S"),
                }
            ]
        if not task.finished:
            return {"status": "IN_PROGRESS", "logs": lines, "response_url": response_url}
        answer: dict[str, Any] = {
            "status": "COMPLETED",
            "logs": lines,
            "metrics": {"inference_time": round((task.completed_at or 0) - task.created, 4)},
            "response_url": response_url,
        }
        if task.outcome == "failed":
            answer.update(error="Internal error", error_type="internal_server_error")
        elif task.outcome == "cancelled":
            answer.update(error="Request was cancelled", error_type="request_cancelled")
        return answer

    def _started_at(self, task: FakeTask) -> float:
        return task.created + task.latency * QUEUE_SHARE

    # routes

    async def submit(self, request: web.Request) -> web.StreamResponse:
        if (stop := await self.admit("submit", request)) is not None:
            return stop
        try:
            body = json_body(await request.json())
        except ValueError:
            return web.json_response({"detail": "Invalid JSON body"}, status=400)
        if errors := validation_errors(body):
            return web.json_response(
                {"detail": errors}, status=422, headers={"X-Fal-Retryable": "false"}
            )
        if self.balance is not None and self.balance <= 0:
            return web.json_response({"detail": EXHAUSTED}, status=403)
        task = self.new_task(
            body,
            count=body.get("num_images", 1),
            aspect=body.get("aspect_ratio", "16:9"),
            fmt=body.get("output_format", "jpeg"),
        )
        if body.get("seed") is not None:
            task.seed = body["seed"]
        return web.json_response(
            {
                "status": "IN_QUEUE",
                "request_id": task.id,
                **self.urls(task.id),
                "queue_position": 0,
            }
        )

    async def rebuilt(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"detail": "Not Found"}, status=404)

    async def status(self, request: web.Request) -> web.StreamResponse:
        if (stop := await self.admit("status", request)) is not None:
            return stop
        task = self._task(request)
        if isinstance(task, web.Response):
            return task
        state = self.status_json(task, request.query.get("logs") in ("1", "true"))
        return web.json_response(state, status=200 if state["status"] == "COMPLETED" else 202)

    async def stream(self, request: web.Request) -> web.StreamResponse:
        if (stop := await self.admit("stream", request)) is not None:
            return stop
        task = self._task(request)
        if isinstance(task, web.Response):
            return task
        logs = request.query.get("logs") in ("1", "true")
        first = web.Response(
            text=f"data: {json.dumps(self.status_json(task, logs))}\n\n",
            content_type="text/event-stream",
        )
        if (lost := await self.lose_now(request, first)) is not None:
            return lost
        cut = self._cuts.popleft() if self._cuts else None
        resp = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await resp.prepare(request)
        # A client that went away (closed, or killed) leaves nobody to tell: stop quietly.
        with contextlib.suppress(ConnectionResetError):
            await self._stream_states(request, resp, task, logs, cut)
        return resp

    async def _stream_states(
        self,
        request: web.Request,
        resp: web.StreamResponse,
        task: FakeTask,
        logs: bool,
        cut: str | None,
    ) -> None:
        """Send each new state (and keep-alives between) until COMPLETED or a scripted cut."""
        last: str | None = None
        while True:
            state = self.status_json(task, logs)
            if state["status"] != last:
                await resp.write(f"data: {json.dumps(state)}\n\n".encode())
                last = state["status"]
                if cut == "abort":
                    assert request.transport is not None
                    request.transport.abort()
                    raise asyncio.CancelledError
                if cut == "close":
                    break
            if last == "COMPLETED":
                break
            wake = self.keepalive
            if last == "IN_QUEUE":
                wake = min(wake, max(0.0, self._started_at(task) - time.perf_counter()))
            if (
                not await self.wait_done(task, wake)
                and self.status_json(task, False)["status"] == last
            ):
                await resp.write(b": keep-alive\n\n")
        await resp.write_eof()

    async def result(self, request: web.Request) -> web.StreamResponse:
        if (stop := await self.admit("result", request)) is not None:
            return stop
        task = self._task(request)
        if isinstance(task, web.Response):
            return task
        if not task.finished:
            return web.json_response({"detail": "Request is still in progress"}, status=400)
        if task.outcome in ("moderated", "moderated_request"):
            what = "prompt" if task.outcome == "moderated_request" else "generated image"
            return web.json_response(
                {
                    "detail": [
                        {
                            "loc": ["body", "prompt"],
                            "msg": f"The {what} was flagged as sensitive by the content "
                            "checker (content policy violation).",
                            "type": "content_policy_violation",
                            "url": "https://docs.fal.ai/errors#content_policy_violation",
                        }
                    ]
                },
                status=422,
                headers={"X-Fal-Retryable": "false"},
            )
        if task.outcome == "failed":
            return web.json_response({"detail": "Internal error"}, status=500)
        if task.outcome == "cancelled":
            return web.json_response({"detail": "Request was cancelled"}, status=400)
        return web.json_response(self.result_json(task))

    def result_json(self, task: FakeTask) -> dict[str, Any]:
        """The result of a task that made images."""
        aspect = task.body.get("aspect_ratio", "16:9")
        fmt = task.body.get("output_format", "jpeg")
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
            "timings": {"inference": round((task.completed_at or 0) - task.created, 4)},
            "seed": task.seed,
            "has_nsfw_concepts": [task.outcome == "nsfw"] * len(task.image_urls),
            "prompt": (
                enhanced(task.body.get("prompt"))
                if task.body.get("enhance_prompt") is True
                else task.body.get("prompt")
            ),
        }

    async def cancel_request(self, request: web.Request) -> web.StreamResponse:
        if (stop := await self.admit("cancel", request)) is not None:
            return stop
        task = self.tasks.get(request.match_info["id"])
        if task is None:
            return web.json_response({"status": "NOT_FOUND"}, status=404)
        if not self.cancel(task):
            return web.json_response({"status": "ALREADY_COMPLETED"}, status=400)
        return web.json_response({"status": "CANCELLATION_REQUESTED"}, status=202)
