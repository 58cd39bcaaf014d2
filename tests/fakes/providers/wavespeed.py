"""A fake WaveSpeedAI v3 API, quirks included.

- Every answer is an envelope ``{"code","message","data"}``; a failed task is still HTTP 200
  (``status: "failed"`` with ``error`` text). ``errors_in_envelope = True`` answers errors
  too with HTTP 200 and the error in ``code``, the other shape sources report.
- Sync mode blocks until the task is done or ``sync_timeout`` passes; then, per
  ``sync_timeout_answer``: "processing" (HTTP 200, ``status: "processing"``, ``data.code``
  5004), "504" (a bare gateway 504 with no task id) or "504_envelope" (504 naming the task).
  The task goes on in every case.
- Strict types: only five aspect ratios, "jpg"|"png", an int seed -1..2147483647, booleans;
  no field beyond the documented ones (so nothing like a safety tolerance slips through).
- Bad key: 401. No balance: 402 "Insufficient balance" (UNCONFIRMED live).
  ``max_active`` (None: unlimited) answers 429 with Retry-After beyond that many running tasks.
- Results at ``/api/v3/predictions/{id}/result`` and ``/api/v3/predictions/{id}``;
  images on the "cdn" host. No cancel endpoint.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from tests.fakes.providers.base import FakeProviderServer, FakeTask, json_body

MODEL = "wavespeed-ai/flux-1.1-pro-ultra"
RATIOS = ("1:1", "16:9", "9:16", "4:3", "3:4")
FIELDS = frozenset(
    {
        "prompt",
        "aspect_ratio",
        "output_format",
        "raw",
        "seed",
        "enable_base64_output",
        "enable_sync_mode",
    }
)
MAX_SEED = 2_147_483_647
ERRORS = {
    "failed": "Inference failed: worker crashed while generating the image",
    "moderated": "The generated image was flagged as NSFW content by the safety checker",
    "moderated_request": "Your prompt contains sensitive content that violates our policy",
    "cancelled": "Task was cancelled",
}


def validation_error(body: dict[str, Any]) -> str | None:
    """The 400 message WaveSpeed's schema would give for this body, or None when it is valid."""
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        return f"{unknown[0]}: unknown field"
    if not isinstance(body.get("prompt"), str) or not body["prompt"].strip():
        return "prompt: field required"
    if body.get("aspect_ratio", "1:1") not in RATIOS:
        return f"aspect_ratio: must be one of {', '.join(RATIOS)}"
    if body.get("output_format", "jpg") not in ("jpg", "png"):
        return "output_format: must be one of jpg, png"
    seed = body.get("seed", -1)
    if type(seed) is not int or not -1 <= seed <= MAX_SEED:
        return f"seed: must be an integer from -1 to {MAX_SEED}"
    for flag in ("raw", "enable_base64_output", "enable_sync_mode"):
        if flag in body and type(body[flag]) is not bool:
            return f"{flag}: must be a boolean"
    return None


class FakeWaveSpeed(FakeProviderServer):
    """WaveSpeed's envelope protocol on an "api" host, with images on a "cdn" host."""

    hosts = ("api", "cdn")
    media_host = "cdn"
    fault_routes = ("submit", "result", "file")

    def __init__(self, *, latency: float = 0.05, api_key: str = "test-key") -> None:
        super().__init__(latency=latency, api_key=api_key)
        self.sync_timeout = 10.0
        self.sync_timeout_answer = "processing"
        self.errors_in_envelope = False
        self.max_active: int | None = None

    def routes(self, host: str, router: web.UrlDispatcher) -> None:
        if host == "api":
            router.add_post(f"/api/v3/{MODEL}", self.submit)
            router.add_get("/api/v3/predictions/{id}/result", self.result)
            router.add_get("/api/v3/predictions/{id}", self.result)

    def error(
        self, status: int, message: str, headers: dict[str, str] | None = None
    ) -> web.Response:
        """An error envelope, with that HTTP status or inside an HTTP 200."""
        body = {"code": status, "message": message, "data": None}
        http_status = 200 if self.errors_in_envelope else status
        return web.json_response(body, status=http_status, headers=headers)

    def _auth(self, request: web.Request) -> web.Response | None:
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return self.error(401, "Unauthorized: invalid or missing API key")
        return None

    async def submit(self, request: web.Request) -> web.StreamResponse:
        if (stop := await self.admit("submit", request)) is not None:
            return stop
        try:
            body = json_body(await request.json())
        except ValueError:
            return self.error(400, "invalid JSON body")
        if (problem := validation_error(body)) is not None:
            return self.error(400, problem)
        if self.balance is not None and self.balance <= 0:
            return self.error(402, "Insufficient balance")
        active = sum(1 for t in self.tasks.values() if not t.finished)
        if self.max_active is not None and active >= self.max_active:
            return self.error(
                429, "Too many requests: concurrency limit reached", {"Retry-After": "30"}
            )
        task = self.new_task(
            body, aspect=body.get("aspect_ratio", "1:1"), fmt=body.get("output_format", "jpg")
        )
        if body.get("seed", -1) != -1:
            task.seed = body["seed"]
        if body.get("enable_sync_mode") and not await self.wait_done(task, self.sync_timeout):
            data = {
                **self.task_json(task),
                "code": 5004,
                "error": "Sync mode timed out, please query the result later",
            }
            if self.sync_timeout_answer == "504":
                return web.Response(status=504, text="<html>504 Gateway Time-out</html>")
            if self.sync_timeout_answer == "504_envelope":
                return web.json_response(
                    {"code": 504, "message": "sync mode timed out", "data": data}, status=504
                )
            return self.envelope(data)
        return self.envelope(self.task_json(task))

    async def result(self, request: web.Request) -> web.StreamResponse:
        if (stop := await self.admit("result", request)) is not None:
            return stop
        task = self.tasks.get(request.match_info["id"])
        if task is None:
            return self.error(404, "prediction not found")
        return self.envelope(self.task_json(task))

    def envelope(self, data: dict[str, Any]) -> web.Response:
        """A successful answer: HTTP 200, code 200, the prediction in ``data``."""
        return web.json_response({"code": 200, "message": "success", "data": data})

    def task_json(self, task: FakeTask) -> dict[str, Any]:
        """The prediction as WaveSpeed shows it in its current state."""
        data: dict[str, Any] = {
            "id": task.id,
            "model": MODEL,
            "outputs": [],
            "urls": {"get": f"{self.url()}/api/v3/predictions/{task.id}/result"},
            "has_nsfw_contents": [],
            "status": "created" if task.progress() < 0.1 else "processing",
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "error": "",
            "timings": {"inference": 0},
        }
        if not task.finished:
            return data
        inference = round(((task.completed_at or task.created) - task.created) * 1000)
        data["timings"] = {"inference": inference}
        if task.outcome in ("ok", "nsfw"):
            data["status"] = "completed"
            data["outputs"] = list(task.image_urls)
            data["has_nsfw_contents"] = [task.outcome == "nsfw"] * len(task.image_urls)
        else:
            data["status"] = "cancelled" if task.outcome == "cancelled" else "failed"
            data["error"] = ERRORS.get(task.outcome, ERRORS["failed"])
        return data
