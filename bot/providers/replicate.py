"""Replicate: create a prediction with ``Prefer: wait`` (≤60 s), poll ``urls.get`` if still running.

Traps handled here: the blocking create can still answer a non-terminal
``starting`` (the wait ran out) or ``processing`` prediction, so it is polled
until terminal; ``output`` is one URI string (a list is tolerated); moderation
is ``status: failed`` with ``(E005)`` in ``error``; errors are RFC 7807 bodies,
and a 429 may give its wait only in the text ("resets in ~30s"); outputs are
deleted after an hour (the base downloads at once). The tolerance is an int 1–6,
the format "jpg", and the aspect ratio is always sent (Replicate defaults to 1:1).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
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
from bot.handles import ImageRef, Pending, TaskOutcome, TaskRef
from bot.models import ASPECT_RATIOS, GenerationRequest, OutputFormat
from bot.providers.answers import get_as
from bot.providers.base import Provider, generic_error
from bot.providers.capabilities import Capabilities, Plan
from bot.providers.http import Response, parse_retry_after
from bot.providers.sync import prefer_wait, sync_timeout

MODEL = "black-forest-labs/flux-1.1-pro-ultra"
# The longest a blocking create may hold (the client's limit; ``Prefer: wait`` a little under
# it): Replicate's 60-second wait plus the answer's own time, or less with a short JOB_TIMEOUT.
CREATE_CEILING = 75.0
RUNNING = ("starting", "processing")
MODERATION_CODE = "(E005)"

CAPABILITIES = Capabilities(
    aspect_ratios=frozenset(ASPECT_RATIOS),
    reference_bytes=True,
    reference_url=True,
    safety_tolerance=(1, 6),
    cancel=True,
    lookup=True,
)
# A lost create is looked for in the prediction list, newest first, back to a little before
# the attempt (clocks differ), over at most this many pages.
LOOKUP_SKEW = 30.0
LOOKUP_PAGES = 5

# Replicate's input names where they differ from ours, for ProviderRejected.field.
OUR_FIELD = {"image_prompt": "reference", "image_prompt_strength": "reference_strength"}

_FORMATS = {OutputFormat.JPEG: "jpg", OutputFormat.PNG: "png"}
_FIELD_IN_TEXT = re.compile(r"input\.([A-Za-z_]+)")
_RESETS_IN = re.compile(r"resets in ~?\s*(\d+(?:\.\d+)?)\s*s", re.IGNORECASE)
_SEED_IN_LOGS = re.compile(r"\bseed\b\s*[:=]?\s*(\d+)", re.IGNORECASE)
_PERCENT_IN_LOGS = re.compile(r"(\d{1,3})%\s*\|")


def build_input(request: GenerationRequest, plan: Plan, index: int) -> dict[str, Any]:
    """The prediction ``input``: Replicate's names and types (int tolerance 1–6, "jpg")."""
    body: dict[str, Any] = {
        "prompt": request.prompt,
        "aspect_ratio": request.aspect_ratio,
        "output_format": _FORMATS[request.output_format],
        "raw": request.raw,
    }
    if plan.safety_tolerance is not None:
        body["safety_tolerance"] = plan.safety_tolerance
    if plan.seeds[index] is not None:
        body["seed"] = plan.seeds[index]
    ref = request.reference
    if ref is not None:
        body["image_prompt"] = ref.url if ref.url is not None else ref.data_uri()
        body["image_prompt_strength"] = request.reference_strength
    return body


def parse_created(body: Any, base_url: str) -> tuple[str, dict[str, str]]:
    """The prediction id and its get/cancel URLs (rebuilt from the id when missing)."""
    if not isinstance(body, dict) or not isinstance(body.get("id"), str) or not body["id"]:
        raise ValueError("prediction has no id")
    pid = body["id"]
    given = get_as(body, "urls", dict, {})
    urls = {
        "get": f"{base_url}/v1/predictions/{pid}",
        "cancel": f"{base_url}/v1/predictions/{pid}/cancel",
    }
    for key in urls:
        if isinstance(given.get(key), str) and given[key].startswith("http"):
            urls[key] = given[key]
    return pid, urls


def parse_prediction(body: Any, *, provider: str = "replicate") -> Pending | TaskOutcome:
    """Read a prediction: running, succeeded, or raise moderated/failed/malformed."""
    if not isinstance(body, dict) or not isinstance(body.get("status"), str):
        raise ValueError("prediction has no status")
    status = body["status"]
    logs = get_as(body, "logs", str, "")
    if status in RUNNING:
        return Pending(_progress(logs))
    if status == "succeeded":
        urls = _output_urls(body.get("output"))
        if not urls:
            raise ValueError("succeeded prediction without an output URL")
        seed = _seed(body, logs)
        metrics = get_as(body, "metrics", dict, {})
        took = metrics.get("predict_time")
        return TaskOutcome(
            images=tuple(ImageRef(url=url, seed=seed) for url in urls),
            seed=seed,
            provider_seconds=float(took) if isinstance(took, int | float) else None,
        )
    error = str(body.get("error") or "")
    if status == "failed" and MODERATION_CODE in error:
        raise ContentModerated(
            f"prediction flagged: {error}", reasons=[error], provider=provider, accepted=True
        )
    if status in ("failed", "aborted"):
        raise TaskFailed(f"prediction {status}: {error or 'no error given'}", provider=provider)
    if status == "canceled":
        raise TaskFailed("prediction was canceled", provider=provider)
    raise ValueError(f"unknown status {status!r}")


def parse_page(body: Any) -> tuple[list[dict[str, Any]], str | None]:
    """The predictions of one list page and the next page's URL (None on the last)."""
    if not isinstance(body, dict) or not isinstance(body.get("results"), list):
        raise ValueError("prediction list has no results")
    following = body.get("next")
    return (
        [item for item in body["results"] if isinstance(item, dict)],
        following if isinstance(following, str) and following.startswith("http") else None,
    )


def created_at(prediction: dict[str, Any]) -> float | None:
    """A prediction's ``created_at`` as a unix time; None when it is missing or unreadable."""
    text = prediction.get("created_at")
    if not isinstance(text, str):
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def matches(prediction: dict[str, Any], model: str, expected: dict[str, Any]) -> bool:
    """Whether a listed prediction is the task made from ``expected`` (its prompt and seed)."""
    given = prediction.get("input")
    if not isinstance(given, dict) or prediction.get("model", model) != model:
        return False
    return all(given.get(key) == value for key, value in expected.items())


def _output_urls(output: Any) -> list[str]:
    items = output if isinstance(output, list) else [output]
    return [
        item
        for item in items
        if isinstance(item, str) and item.startswith(("https://", "http://", "data:"))
    ]


def _seed(body: dict[str, Any], logs: str) -> int | None:
    given = get_as(body, "input", dict, {})
    if type(given.get("seed")) is int:
        return given["seed"]
    found = _SEED_IN_LOGS.search(logs)
    return int(found.group(1)) if found else None


def _progress(logs: str) -> float | None:
    found = _PERCENT_IN_LOGS.findall(logs)
    return min(100, int(found[-1])) / 100 if found else None


def _problem(response: Response) -> dict[str, Any]:
    try:
        payload = response.json()
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}


def rejected_field(problem: dict[str, Any]) -> str | None:
    """Which of our request fields a 400/422 blames, from ``invalid_fields`` or the detail text."""
    name: str | None = None
    invalid = problem.get("invalid_fields")
    if isinstance(invalid, list) and invalid and isinstance(invalid[0], dict):
        raw = invalid[0].get("field")
        if isinstance(raw, str) and raw:
            name = raw.removeprefix("input.")
    if name is None:
        found = _FIELD_IN_TEXT.search(str(problem.get("detail") or ""))
        name = found.group(1) if found else None
    return OUR_FIELD.get(name, name) if name else None


def rate_limit_wait(response: Response, detail: str) -> float | None:
    """Retry-After, or the "resets in ~30s" of the text when the header is missing."""
    header = parse_retry_after(response.headers.get("Retry-After"))
    if header is not None:
        return header
    found = _RESETS_IN.search(detail)
    return float(found.group(1)) if found else None


def classify(response: Response, *, submit: bool, provider: str = "replicate") -> ProviderError:
    """Replicate's RFC 7807 errors: 401 key, 402 credit, 429 throttled, 400/422 invalid input."""
    problem = _problem(response)
    status = response.status
    detail = str(problem.get("detail") or problem.get("title") or response.text()).strip()
    if status == 401:
        return BadCredentials(detail, provider=provider, status=401, accepted=False)
    if status == 402:
        return OutOfCredit(detail, provider=provider, status=402, accepted=False)
    if status == 429:
        return RateLimited(
            detail,
            provider=provider,
            status=429,
            accepted=False,
            retry_after=rate_limit_wait(response, detail),
        )
    if status in (400, 422):
        field = rejected_field(problem)
        return ProviderRejected(
            detail.removeprefix("- ") or f"HTTP {status}",
            provider=provider,
            status=status,
            field=field,
        )
    if status == 404 and not submit:
        return TaskFailed(f"prediction not found: {detail}", provider=provider, status=404)
    return generic_error(response, provider, submit=submit)


class ReplicateProvider(Provider):
    """Replicate's hosted ``black-forest-labs/flux-1.1-pro-ultra``."""

    name = "replicate"
    label = "Replicate"
    capabilities = CAPABILITIES

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.config.api_key.get_secret_value()}"}

    def classify(self, response: Response, *, submit: bool) -> ProviderError:
        return classify(response, submit=submit, provider=self.name)

    async def submit_task(self, request: GenerationRequest, plan: Plan, index: int) -> TaskRef:
        url = f"{self.config.base_url}/v1/models/{self.config.model or MODEL}/predictions"
        timeout = sync_timeout(self.config.max_wait, CREATE_CEILING)
        resp = await self.send(
            "POST",
            url,
            json={"input": build_input(request, plan, index)},
            headers={"Prefer": f"wait={prefer_wait(timeout)}"},
            submit=True,
            timeout=timeout,
        )
        try:
            body = resp.json()
            pid, urls = parse_created(body, self.config.base_url)
        except ValueError as exc:
            raise Transient(
                f"malformed create answer: {exc}", provider=self.name, accepted=None
            ) from exc
        task = TaskRef(id=pid, seed=plan.seeds[index], urls=urls)
        try:
            state = parse_prediction(body, provider=self.name)
        except ValueError:
            return task  # accepted with an id; polling will read the state properly
        if isinstance(state, TaskOutcome):
            return task.model_copy(update={"outcome": state})
        return task

    async def await_task(self, task: TaskRef, submitted_at: float) -> TaskOutcome:
        async def check() -> Pending | TaskOutcome:
            resp = await self.send("GET", task.urls["get"])
            return self.parsed(
                resp,
                lambda body: parse_prediction(body, provider=self.name),
                what="prediction",
                accepted=True,
            )

        return await self.poll(check, submitted_at)

    async def cancel_task(self, task: TaskRef) -> bool:
        resp = await self.send("POST", task.urls["cancel"])
        try:
            body = resp.json()
        except ValueError:
            return False
        return isinstance(body, dict) and body.get("status") == "canceled"

    async def check_credentials(self) -> None:
        await self.send("GET", f"{self.config.base_url}/v1/account")

    async def find_tasks(
        self, request: GenerationRequest, plan: Plan, indices: Sequence[int], since: float
    ) -> dict[int, TaskRef | None]:
        """Find lost creates in the prediction list by prompt and seed (the plan fixes a seed
        for every task). Absent once the list reaches back past the attempt without them."""
        model = self.config.model or MODEL
        wanted = {
            i: {"prompt": request.prompt, "seed": plan.seeds[i]}
            for i in indices
            if plan.seeds[i] is not None
        }
        found: dict[int, TaskRef | None] = {}
        url: str | None = f"{self.config.base_url}/v1/predictions"
        for _ in range(LOOKUP_PAGES):
            if url is None or not wanted:
                break
            resp = await self.send("GET", url)
            items, url = self.parsed(resp, parse_page, what="prediction list", accepted=None)
            reached_back = False
            for item in items:
                when = created_at(item)
                if when is not None and when < since - LOOKUP_SKEW:
                    reached_back = True
                    continue
                for index, expected in list(wanted.items()):
                    if matches(item, model, expected):
                        pid, urls = parse_created(item, self.config.base_url)
                        found[index] = TaskRef(id=pid, seed=plan.seeds[index], urls=urls)
                        del wanted[index]
                        break
            if reached_back:
                url = None
        if url is None:
            found.update(dict.fromkeys(wanted))  # the whole window was read: they do not exist
        return found
