"""WaveSpeedAI v3 (`wavespeed-ai/flux-1.1-pro-ultra`): a sync-mode call, a poll only on timeout.

Traps handled here: every answer is an envelope, HTTP 200 even when the task failed,
and an envelope ``code`` other than 200 counts as that HTTP status; a sync-mode
timeout answers "processing" (and/or ``data.code`` 5004, or an HTTP 504) while the
task goes on, so the result is then polled; only five aspect ratios; "jpg", not
"jpeg"; seed -1 means random; no safety tolerance, reference image or cancel.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from bot.errors import (
    BadCredentials,
    ContentModerated,
    OutOfCredit,
    ProviderError,
    ProviderRejected,
    RateLimited,
    TaskFailed,
    Transient,
)
from bot.handles import ImageRef, Pending, TaskOutcome, TaskRef, flag_at
from bot.models import MAX_SEED, GenerationRequest, OutputFormat
from bot.providers.answers import get_as
from bot.providers.base import Provider, generic_error
from bot.providers.capabilities import Capabilities, Plan
from bot.providers.http import Response
from bot.providers.sync import sync_timeout

NAME = "wavespeed"
DEFAULT_BASE_URL = "https://api.wavespeed.ai"
MODEL = "wavespeed-ai/flux-1.1-pro-ultra"
SUBMIT_PATH = f"/api/v3/{MODEL}"
RESULT_PATH = "/api/v3/predictions/{id}/result"
# The most the client lets the sync call take: longer than WaveSpeed's gateway window
# (UNCONFIRMED, about 100 s), so the server, not us, ends the wait and says which task goes on
# (a short JOB_TIMEOUT shortens it: see bot.providers.sync).
SYNC_CEILING = 180.0
SYNC_TIMED_OUT = 5004
RANDOM_SEED = -1
PENDING_STATUSES = frozenset({"created", "queued", "pending", "processing", "starting"})
DONE_STATUSES = frozenset({"completed", "succeeded"})
FAILED_STATUSES = frozenset({"failed", "cancelled", "canceled", "timeout"})
MODERATION = re.compile(r"nsfw|flagged|sensitive|polic(y|ies)|moderat|safety|inappropriate", re.I)
NO_BALANCE = re.compile(r"balance|credit|insufficient fund|top ?up|recharge", re.I)
BODY_FIELDS = ("aspect_ratio", "output_format", "seed", "prompt", "raw")

CAPABILITIES = Capabilities(
    aspect_ratios=frozenset({"1:1", "16:9", "9:16", "4:3", "3:4"}),
    formats=frozenset(OutputFormat),
    max_images_per_task=1,
    safety_tolerance=None,
    raw=True,
    seed_range=(0, MAX_SEED),
    cancel=False,
    max_concurrent_tasks=2,
    price_published=False,
)


class SyncTimedOut(Transient):
    """An HTTP 504 to the sync call that still names its task: the task goes on, poll it."""

    def __init__(self, detail: str, *, data: dict[str, Any], status: int | None = None) -> None:
        super().__init__(detail, provider=NAME, status=status, accepted=True)
        self.data = data


def build_body(request: GenerationRequest, plan: Plan, index: int) -> dict[str, Any]:
    """The submit body in WaveSpeed's names and types ("jpg", seed -1 for random, sync mode on)."""
    seed = plan.seeds[index]
    return {
        "prompt": request.prompt,
        "aspect_ratio": request.aspect_ratio,
        "output_format": "jpg" if request.output_format is OutputFormat.JPEG else "png",
        "raw": request.raw,
        "seed": RANDOM_SEED if seed is None else seed,
        "enable_base64_output": False,
        "enable_sync_mode": True,
    }


def message_of(payload: Any) -> str:
    """The human text of an error answer, whichever key the provider used."""
    if isinstance(payload, dict):
        for key in ("message", "error", "detail", "msg"):
            value = payload.get(key)
            if isinstance(value, str) and value:
                return value
        data = payload.get("data")
        if isinstance(data, dict) and isinstance(data.get("error"), str):
            return data["error"]
    return ""


def _json(response: Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _field(message: str) -> str | None:
    lowered = message.lower()
    return next((name for name in BODY_FIELDS if name in lowered), None)


def classify(response: Response, *, submit: bool) -> ProviderError:
    """WaveSpeed's errors: 401 bad key, 402 or "Insufficient balance", 400 with a message, 504."""
    payload = _json(response)
    status = response.status
    message = message_of(payload) or response.text() or f"HTTP {status}"
    data = payload.get("data") if isinstance(payload, dict) else None
    if submit and status == 504 and isinstance(data, dict) and _has_id(data):
        return SyncTimedOut(
            f"sync wait ended with HTTP 504; task {data['id']} goes on", data=data, status=504
        )
    if status in (401, 403):
        return BadCredentials(message, provider=NAME, status=status, accepted=False)
    if status == 402 or (400 <= status < 500 and status != 429 and NO_BALANCE.search(message)):
        return OutOfCredit(message, provider=NAME, status=status, accepted=False)
    if status in (400, 422):
        return ProviderRejected(message, provider=NAME, status=status, field=_field(message))
    if status == 404 and not submit:
        return TaskFailed(
            f"WaveSpeed does not know this task: {message}", provider=NAME, status=404
        )
    return generic_error(response, NAME, submit=submit)


def envelope_error(payload: Any, response: Response, *, submit: bool) -> ProviderError | None:
    """An error ``code`` inside an HTTP 200 envelope, read as the HTTP status it stands for."""
    if not isinstance(payload, dict):
        return None
    code = payload.get("code")
    if type(code) is not int or not 400 <= code <= 599:
        return None
    return classify(Response(code, response.headers, response.body, response.url), submit=submit)


def _has_id(data: dict[str, Any]) -> bool:
    return isinstance(data.get("id"), str) and bool(data["id"])


def task_id(data: Any) -> str:
    """The task id of a prediction; ValueError when the answer has none."""
    if not isinstance(data, dict) or not _has_id(data):
        raise ValueError("answer has no task id")
    return str(data["id"])


def result_url(data: dict[str, Any], base_url: str) -> str:
    """Where to read the task: ``urls.get`` as given, else the documented result path."""
    urls = data.get("urls")
    given = urls.get("get") if isinstance(urls, dict) else None
    if isinstance(given, str) and given.startswith(("https://", "http://")):
        return given
    return base_url + RESULT_PATH.format(id=task_id(data))


def _image_url(output: str) -> str:
    if output.startswith(("https://", "http://", "data:")):
        return output
    return f"data:;base64,{output}"  # enable_base64_output answers bare base64


def parse_task(data: Any, seed: int | None = None) -> Pending | TaskOutcome:
    """Read a prediction: pending, done with images and NSFW flags, or raise moderated/failed."""
    if not isinstance(data, dict):
        raise ValueError("prediction is not an object")
    status = data["status"].lower() if isinstance(data.get("status"), str) else ""
    timed_out = data.get("code") == SYNC_TIMED_OUT
    if status in PENDING_STATUSES or (timed_out and status not in DONE_STATUSES | FAILED_STATUSES):
        return Pending()
    if not status:
        raise ValueError("prediction has no status")
    error = get_as(data, "error", str, "")
    if status in DONE_STATUSES:
        outputs = data.get("outputs")
        if not isinstance(outputs, list) or not outputs:
            raise ValueError("completed prediction without outputs")
        if not all(isinstance(out, str) and out for out in outputs):
            raise ValueError("an output is not a URL")
        flags = data.get("has_nsfw_contents")
        flags = flags if isinstance(flags, list) else []
        timings = get_as(data, "timings", dict, {})
        inference = timings.get("inference")
        return TaskOutcome(
            images=tuple(
                ImageRef(url=_image_url(out), nsfw=flag_at(flags, i))
                for i, out in enumerate(outputs)
            ),
            seed=seed,
            provider_seconds=inference / 1000 if isinstance(inference, int | float) else None,
        )
    if status in FAILED_STATUSES:
        if MODERATION.search(error):
            raise ContentModerated(
                f"WaveSpeed refused the content: {error}",
                reasons=[error],
                provider=NAME,
                accepted=True,
            )
        raise TaskFailed(f"task ended {status}: {error or 'no reason given'}", provider=NAME)
    raise ValueError(f"unknown status {status!r}")


class WaveSpeedProvider(Provider):
    """WaveSpeedAI's v3 API: sync mode for one call per image, the result poll as a fallback."""

    name = NAME
    label = "WaveSpeedAI"
    capabilities = CAPABILITIES

    @property
    def base_url(self) -> str:
        """The API root, WaveSpeed's own unless configured otherwise."""
        return (self.config.base_url or DEFAULT_BASE_URL).rstrip("/")

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.config.api_key.get_secret_value()}"}

    def classify(self, response: Response, *, submit: bool) -> ProviderError:
        return classify(response, submit=submit)

    async def submit_task(self, request: GenerationRequest, plan: Plan, index: int) -> TaskRef:
        started = self.clock()
        body = build_body(request, plan, index)
        try:
            resp = await self.send(
                "POST",
                self.base_url + SUBMIT_PATH,
                json=body,
                submit=True,
                timeout=sync_timeout(self.config.max_wait, SYNC_CEILING),
            )
            data = self._data(resp, submit=True)
        except SyncTimedOut as exc:
            data = exc.data
        try:
            ref = TaskRef(
                id=task_id(data),
                seed=plan.seeds[index],
                urls={"get": result_url(data, self.base_url)},
            )
        except ValueError as exc:
            raise Transient(
                f"malformed submit answer: {exc}", provider=self.name, accepted=None
            ) from exc
        try:
            state = parse_task(data, plan.seeds[index])
        except ValueError:
            return ref  # the task exists: the poll will read it properly
        if isinstance(state, Pending):
            return ref
        self.estimator.observe(self.clock() - started)
        return ref.model_copy(update={"outcome": state})

    async def await_task(self, task: TaskRef, submitted_at: float) -> TaskOutcome:
        url = task.urls.get("get") or self.base_url + RESULT_PATH.format(id=task.id)

        async def check() -> Pending | TaskOutcome:
            data = self._data(await self.send("GET", url), submit=False)
            try:
                return parse_task(data, task.seed)
            except ValueError as exc:
                raise Transient(
                    f"malformed result answer: {exc}", provider=self.name, accepted=True
                ) from exc

        return await self.poll(check, submitted_at)

    async def check_credentials(self) -> None:
        url = self.base_url + RESULT_PATH.format(id=uuid.uuid4().hex)
        try:
            self._payload(await self.send("GET", url), submit=False)
        except (TaskFailed, ProviderRejected):
            return  # an unknown id was looked up: the key was accepted

    def _payload(self, resp: Response, *, submit: bool) -> Any:
        """The answer's JSON, raising the error an envelope ``code`` stands for.

        On a read, a rate limit is raised as Transient: the poll then waits and asks again.
        """
        try:
            payload = resp.json()
        except ValueError as exc:
            raise Transient(
                "malformed answer: not JSON", provider=self.name, accepted=None if submit else True
            ) from exc
        error = envelope_error(payload, resp, submit=submit)
        if isinstance(error, RateLimited) and not submit:
            error = Transient(
                error.detail,
                provider=self.name,
                status=error.status,
                accepted=True,
                retry_after=error.retry_after,
            )
        if error is not None:
            raise self.redact(error)
        return payload

    def _data(self, resp: Response, *, submit: bool) -> dict[str, Any]:
        payload = self._payload(resp, submit=submit)
        data = payload.get("data") if isinstance(payload, dict) else None
        if not isinstance(data, dict):
            raise Transient(
                "malformed answer: no data", provider=self.name, accepted=None if submit else True
            )
        return data
