"""A fake Apiframe v2 API, quirks included.

- ``X-API-Key`` auth; a missing or wrong key is a 401 ``{"error":{"code","message"}}``.
- Submit answers 202 ``{"jobId","status":"QUEUED"}``. An ``Idempotency-Key`` the same
  account sent before returns the job it made, 202 with the same ``jobId`` (no second
  job, no second charge), whatever the body; ``lose_next_answer`` (older name of
  ``lose_answer_next("submit", ...)``) makes the job and then loses the answer.
- Strict schema: ``model`` must be "flux-1.1-pro-ultra"; ``fluxParams`` takes only
  its documented keys with their types ("jpeg" is not a format here, only "jpg",
  and ``image_prompt`` is a URL); anything else is a 400 VALIDATION_ERROR.
- Jobs go QUEUED → PROCESSING (progress rising linearly 0..100) → COMPLETED | FAILED.
  ``result_shape`` picks how ``result`` looks: "string" (a URL), "images" (a list of
  URLs) or "objects" (a list of ``{"url"}``). Moderated jobs FAIL with a
  content-policy ``error`` and, like every failure, are refunded (``charges``); an
  "nsfw" job completes unflagged (Apiframe reports no per-image flag).
- Out of balance: 402. Unknown job: 404. Images are served from the "cdn" host.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from tests.fakes.providers.base import FakeProviderServer, FakeTask, json_body

MODEL = "flux-1.1-pro-ultra"
RATIOS = ("1:1", "3:4", "4:3", "9:16", "16:9")
FORMATS = ("jpg", "png", "webp")
PARAMS = (
    "aspect_ratio",
    "image_prompt",
    "image_prompt_strength",
    "output_format",
    "output_quality",
    "raw",
    "seed",
)
CREDIT_COST = 6
FAILURES = {
    "moderated": "Provider returned an error: content policy violation",
    "moderated_request": "Provider returned an error: prompt flagged by moderation",
    "failed": "Provider returned an error: internal server error",
    "cancelled": "Job cancelled",
}


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    """Apiframe's error envelope (UNCONFIRMED beyond code and message)."""
    return {"error": {"code": code, "message": message, **extra}}


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def validation_errors(body: dict[str, Any]) -> list[dict[str, str]]:
    """The ``details`` a strict schema would list for this submit body."""
    errors: list[dict[str, str]] = []

    def bad(field: str, message: str) -> None:
        errors.append({"field": field, "message": message})

    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not 1 <= len(prompt) <= 2000:
        bad("prompt", "prompt must be a string of 1 to 2000 characters")
    if body.get("model") != MODEL:
        bad("model", f"unsupported model {body.get('model')!r}")
    params = body.get("fluxParams", {})
    if not isinstance(params, dict):
        bad("fluxParams", "fluxParams must be an object")
        return errors
    for key in params:
        if key not in PARAMS:
            bad(f"fluxParams.{key}", f"unknown parameter {key!r}")
    if params.get("aspect_ratio", "16:9") not in RATIOS:
        bad("fluxParams.aspect_ratio", f"aspect_ratio must be one of {', '.join(RATIOS)}")
    if params.get("output_format", "jpg") not in FORMATS:
        bad("fluxParams.output_format", "output_format must be one of jpg, png, webp")
    if "image_prompt" in params and not (
        isinstance(params["image_prompt"], str)
        and params["image_prompt"].startswith(("https://", "http://"))
    ):
        bad("fluxParams.image_prompt", "image_prompt must be an image URL")
    strength = params.get("image_prompt_strength", 0.5)
    if not _number(strength) or not 0 <= strength <= 1:
        bad("fluxParams.image_prompt_strength", "image_prompt_strength must be between 0 and 1")
    quality = params.get("output_quality", 90)
    if type(quality) is not int or not 0 <= quality <= 100:
        bad("fluxParams.output_quality", "output_quality must be an integer from 0 to 100")
    if "raw" in params and type(params["raw"]) is not bool:
        bad("fluxParams.raw", "raw must be a boolean")
    seed = params.get("seed")
    if seed is not None and (type(seed) is not int or seed < 0):
        bad("fluxParams.seed", "seed must be a non-negative integer")
    return errors


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


class FakeApiframe(FakeProviderServer):
    """Apiframe's submit (202) + job polling protocol, with its idempotency keys."""

    hosts = ("api", "cdn")
    media_host = "cdn"
    fault_routes = ("submit", "poll", "file")

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.result_shape = "string"
        self.idempotency: dict[tuple[str, str], str] = {}  # (account key, Idempotency-Key): job

    def routes(self, host: str, router: web.UrlDispatcher) -> None:
        if host == "api":
            router.add_post("/v2/images/generate", self.submit)
            router.add_get("/v2/jobs/{id}", self.job)

    def lose_next_answer(self, status: int | None = None, times: int = 1) -> None:
        """Make the next jobs, then drop the connection (or answer a gateway ``status``)."""
        self.lose_answer_next("submit", "drop" if status is None else str(status), times)

    def charges(self, task: FakeTask) -> bool:
        """A FAILED job is refunded: only jobs that complete are paid for."""
        return task.outcome in ("ok", "nsfw")

    def _auth(self, request: web.Request) -> web.Response | None:
        if request.headers.get("X-API-Key") != self.api_key:
            return web.json_response(error_body("UNAUTHORIZED", "Invalid API key"), status=401)
        return None

    async def submit(self, request: web.Request) -> web.StreamResponse:
        if (stop := await self.admit("submit", request)) is not None:
            return stop
        try:
            body = json_body(await request.json())
        except ValueError:
            return web.json_response(error_body("BAD_REQUEST", "Invalid JSON body"), status=400)
        given = request.headers.get("Idempotency-Key")
        key = None if given is None else (self.api_key, given)
        if key is not None and key in self.idempotency:
            task = self.tasks[self.idempotency[key]]
            return web.json_response(
                {"jobId": task.id, "status": self._status(task)},
                status=202,
                headers={"Idempotent-Replayed": "true"},
            )
        if errors := validation_errors(body):
            return web.json_response(
                error_body("VALIDATION_ERROR", errors[0]["message"], details=errors), status=400
            )
        if self.balance is not None and self.balance <= 0:
            return web.json_response(
                error_body("INSUFFICIENT_CREDITS", "Insufficient credits"), status=402
            )
        params = body.get("fluxParams", {})
        task = self.new_task(
            body,
            aspect=params.get("aspect_ratio", "16:9"),
            fmt=params.get("output_format", "jpg"),
        )
        if params.get("seed") is not None:
            task.seed = params["seed"]
        if key is not None:
            self.idempotency[key] = task.id
        return web.json_response({"jobId": task.id, "status": "QUEUED"}, status=202)

    async def job(self, request: web.Request) -> web.StreamResponse:
        if (stop := await self.admit("poll", request)) is not None:
            return stop
        task = self.tasks.get(request.match_info["id"])
        if task is None:
            return web.json_response(error_body("NOT_FOUND", "Job not found"), status=404)
        return web.json_response(self.task_json(task))

    def _status(self, task: FakeTask) -> str:
        if task.finished:
            return "COMPLETED" if task.outcome in ("ok", "nsfw") else "FAILED"
        return "QUEUED" if task.progress() < 0.1 else "PROCESSING"

    def _wall(self, perf: float) -> float:
        return time.time() - (time.perf_counter() - perf)

    def task_json(self, task: FakeTask) -> dict[str, Any]:
        """The job answer for a task in its current state."""
        status = self._status(task)
        answer: dict[str, Any] = {
            "id": task.id,
            "status": status,
            "model": MODEL,
            "progress": 0 if status == "QUEUED" else int(task.progress() * 100),
            "result": None,
            "error": None,
            "creditCost": 0,
            "createdAt": _iso(self._wall(task.created)),
            "completedAt": None,
        }
        if task.completed_at is not None:
            answer["completedAt"] = _iso(self._wall(task.completed_at))
        if status == "COMPLETED":
            answer.update(progress=100, creditCost=CREDIT_COST, result=self._result(task))
        elif status == "FAILED":
            answer["error"] = FAILURES.get(task.outcome, FAILURES["failed"])
        return answer

    def _result(self, task: FakeTask) -> Any:
        if self.result_shape == "string":
            return task.image_urls[0]
        if self.result_shape == "objects":
            return {"images": [{"url": url} for url in task.image_urls]}
        return {"images": list(task.image_urls)}
