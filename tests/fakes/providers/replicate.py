"""A fake Replicate API serving ``black-forest-labs/flux-1.1-pro-ultra``, quirks included.

- ``Authorization: Bearer K`` (the official client's scheme; ``Token K`` too); anything
  else is a 401 problem body.
- Create honours ``Prefer: wait`` / ``wait=N`` (1–60): it answers the moment the
  prediction ends, or when the wait runs out with a non-terminal prediction
  (``nonterminal_status``, "starting" by default). ``wait_cap`` shortens every wait,
  so tests reach the poll path without waiting a minute.
- Strict input types: a string ``safety_tolerance``, "jpeg", an unknown ratio ...
  are a 422 with ``invalid_fields``, as Replicate's schema check answers.
- Moderation is ``status: failed`` with ``(E005)`` in ``error``; Replicate has no
  per-image NSFW flag, so an "nsfw" outcome is an ordinary success.
- ``output`` is one URI string on the "delivery" host (``output_as_list`` for a list).
- Out of balance: 402. Cancel: ``POST /v1/predictions/{id}/cancel``.
- ``GET /v1/predictions`` lists every prediction of the account, newest first,
  ``list_page_size`` (100, as documented) a page: ``{"next","previous","results"}``,
  where ``next``/``previous`` are full URLs carrying an opaque ``cursor`` (base64 of
  ``p=<created_at>``, ``r=1`` going back, as Django REST framework's cursor pagination
  writes it); ``created_after`` (inclusive) and ``created_before`` filter, ``source=web``
  finds nothing (every prediction here came from the API). Each item is the
  prediction as GET shows it, without ``logs`` (as the documented example).
"""

from __future__ import annotations

import base64
import binascii
import secrets
import string
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode

from aiohttp import web

from tests.fakes.providers.base import FakeProviderServer, FakeTask, json_body

MODEL = "black-forest-labs/flux-1.1-pro-ultra"
MAX_WAIT = 60
PAGE_SIZE = 100
RATIOS = ("21:9", "16:9", "3:2", "4:3", "5:4", "1:1", "4:5", "3:4", "2:3", "9:16", "9:21")
FORMATS = ("jpg", "png")
MODERATED_ERROR = (
    "The input or output was flagged as sensitive. Please try again with different inputs. (E005)"
)
FAILED_ERROR = "Prediction failed."
_ID_CHARS = string.ascii_lowercase + "234567"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


def problem(status: int, title: str, detail: str, **extra: Any) -> web.Response:
    """An RFC 7807 error answer as Replicate sends them."""
    body = {"title": title, "detail": detail, "status": status, **extra}
    return web.json_response(body, status=status)


def invalid_fields(body: Any) -> list[dict[str, str]]:
    """What Replicate's schema check would list for this create body (empty when valid)."""
    found: list[dict[str, str]] = []

    def bad(name: str, kind: str, description: str) -> None:
        found.append({"type": kind, "field": f"input.{name}", "description": description})

    if not isinstance(body, dict) or not isinstance(body.get("input"), dict):
        return [{"type": "required", "field": "input", "description": "input is required"}]
    given = body["input"]
    if "prompt" not in given:
        bad("prompt", "required", "prompt is required")
    elif not isinstance(given["prompt"], str):
        bad("prompt", "invalid_type", _type_error("string", given["prompt"]))
    checks: list[tuple[str, Any]] = [
        ("aspect_ratio", lambda v: _enum(v, RATIOS)),
        ("output_format", lambda v: _enum(v, FORMATS)),
        ("safety_tolerance", lambda v: _integer(v, 1, 6)),
        ("seed", lambda v: _integer(v, None, None)),
        ("raw", lambda v: None if type(v) is bool else _type_error("boolean", v)),
        ("image_prompt_strength", lambda v: _number(v, 0, 1)),
        ("image_prompt", _uri),
    ]
    for name, check in checks:
        if name in given and given[name] is not None and (why := check(given[name])):
            kind = "invalid_type" if why.startswith("Invalid type") else "enum"
            bad(name, kind, why)
    return found


def _type_name(value: Any) -> str:
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "array"}.get(
        type(value), "object"
    )


def _type_error(expected: str, value: Any) -> str:
    return f"Invalid type. Expected: {expected}, given: {_type_name(value)}"


def _enum(value: Any, allowed: tuple[str, ...]) -> str | None:
    if value in allowed:
        return None
    quoted = ", ".join(f'"{a}"' for a in allowed)
    return f"must be one of the following: {quoted}"


def _integer(value: Any, lo: int | None, hi: int | None) -> str | None:
    if type(value) is not int:
        return _type_error("integer", value)
    if lo is not None and value < lo:
        return f"Must be greater than or equal to {lo}"
    if hi is not None and value > hi:
        return f"Must be less than or equal to {hi}"
    return None


def _number(value: Any, lo: float, hi: float) -> str | None:
    if type(value) not in (int, float):
        return _type_error("number", value)
    if not lo <= value <= hi:
        return f"Must be between {lo} and {hi}"
    return None


def _uri(value: Any) -> str | None:
    if not isinstance(value, str):
        return _type_error("string", value)
    if value.startswith(("http://", "https://")):
        return None
    if value.startswith("data:") and ";base64," in value:
        try:
            base64.b64decode(value.split(",", 1)[1], validate=True)
        except (binascii.Error, ValueError):
            return "Does not match format 'uri'"
        return None
    return "Does not match format 'uri'"


def _micros(value: str | None) -> int | None:
    """An ISO 8601 date-time (from a query or a cursor) in microseconds; ValueError if not one."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO 8601 date-time") from None
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return (aware - EPOCH) // MICROSECOND


def _cursor(value: str | None) -> tuple[bool, int | None]:
    """(going back, position) from a list cursor; ValueError for one this API did not write."""
    if value is None:
        return False, None
    try:
        tokens = parse_qs(base64.b64decode(value, validate=True).decode(), strict_parsing=True)
        return tokens.get("r") == ["1"], _micros(tokens["p"][0])
    except (binascii.Error, UnicodeDecodeError, ValueError, KeyError):
        raise ValueError("Invalid cursor") from None


def _iso(wall: float) -> str:
    return datetime.fromtimestamp(wall, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class FakeReplicate(FakeProviderServer):
    """Replicate's predictions API on an "api" host, outputs on a "delivery" host."""

    hosts = ("api", "delivery")
    media_host = "delivery"
    submit_route = "create"
    fault_routes = ("create", "poll", "list", "cancel", "account", "file")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.wait_cap: float | None = None
        self.nonterminal_status = "starting"
        self.failed_status = "failed"
        self.output_as_list = False
        self.username = "imagine-bot"
        self.list_page_size = PAGE_SIZE
        self._walls: dict[str, float] = {}
        self._created_us: dict[str, int] = {}  # created_at in whole microseconds, unique

    def routes(self, host: str, router: web.UrlDispatcher) -> None:
        if host == "api":
            router.add_post("/v1/models/{owner}/{name}/predictions", self.create)
            router.add_get("/v1/predictions", self.list_predictions)
            router.add_get("/v1/predictions/{id}", self.get)
            router.add_post("/v1/predictions/{id}/cancel", self.cancel_prediction)
            router.add_get("/v1/account", self.account)

    def _auth(self, request: web.Request) -> web.Response | None:
        scheme, _, key = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() not in ("bearer", "token") or key.strip() != self.api_key:
            return problem(401, "Unauthenticated", "You did not pass a valid authentication token")
        return None

    def _wait_seconds(self, request: web.Request) -> float | web.Response | None:
        prefer = request.headers.get("Prefer")
        if prefer is None:
            return None
        name, _, value = prefer.strip().partition("=")
        if name.strip().lower() != "wait":
            return None
        seconds = MAX_WAIT
        if value:
            if not value.strip().isdigit() or not 1 <= int(value) <= MAX_WAIT:
                return problem(
                    400,
                    "Invalid Prefer header",
                    f"wait must be an integer between 1 and {MAX_WAIT} seconds",
                )
            seconds = int(value)
        return seconds if self.wait_cap is None else min(seconds, self.wait_cap)

    async def create(self, request: web.Request) -> web.StreamResponse:
        if (stop := await self.admit("create", request)) is not None:
            return stop
        model = f"{request.match_info['owner']}/{request.match_info['name']}"
        if model != MODEL:
            return problem(404, "Not found", "The requested resource could not be found.")
        wait = self._wait_seconds(request)
        if isinstance(wait, web.Response):
            return wait
        try:
            body = await request.json()
        except ValueError:
            return problem(400, "Bad request", "The request body is not valid JSON.")
        if errors := invalid_fields(body):
            detail = "".join(f"- {e['field']}: {e['description']}\n" for e in errors)
            return problem(422, "Input validation failed", detail, invalid_fields=errors)
        if self.balance is not None and self.balance <= 0:
            return problem(
                402,
                "Insufficient credit",
                "You have insufficient credit to run this model. "
                "Go to https://replicate.com/account/billing#billing to purchase credit.",
            )
        given = json_body(body)["input"]
        task = self.new_task(
            given,
            task_id="".join(secrets.choice(_ID_CHARS) for _ in range(26)),
            aspect=given.get("aspect_ratio", "1:1"),
            fmt=given.get("output_format", "jpg"),
        )
        # created_at orders the list and its cursors: unique and rising, like a database clock
        latest = max(self._created_us.values(), default=0)
        self._created_us[task.id] = max(time.time_ns() // 1000, latest + 1)
        self._walls[task.id] = self._created_us[task.id] / 1e6
        if given.get("seed") is not None:
            task.seed = given["seed"]
        if wait is not None and not await self.wait_done(task, wait):
            return web.json_response(self.prediction(task, self.nonterminal_status), status=201)
        return web.json_response(self.prediction(task), status=201)

    async def get(self, request: web.Request) -> web.StreamResponse:
        if (stop := await self.admit("poll", request)) is not None:
            return stop
        task = self.tasks.get(request.match_info["id"])
        if task is None:
            return problem(404, "Not found", "Not found.")
        return web.json_response(self.prediction(task))

    async def list_predictions(self, request: web.Request) -> web.StreamResponse:
        if (stop := await self.admit("list", request)) is not None:
            return stop
        query = dict(request.query)
        try:
            after = _micros(query.get("created_after"))
            before = _micros(query.get("created_before"))
            reverse, position = _cursor(query.pop("cursor", None))
        except ValueError as exc:
            return problem(400, "Bad request", str(exc))
        newest_first = sorted(self.tasks.values(), key=self._position, reverse=True)
        chosen = [
            task
            for task in newest_first
            if query.get("source") in (None, "api")
            and (after is None or self._position(task) >= after)
            and (before is None or self._position(task) < before)
        ]
        size = self.list_page_size
        if position is None:
            page, older, newer = chosen[:size], len(chosen) > size, False
        elif not reverse:
            rest = [t for t in chosen if self._position(t) < position]
            page, older, newer = rest[:size], len(rest) > size, len(rest) < len(chosen)
        else:
            rest = [t for t in chosen if self._position(t) > position]
            page, older, newer = rest[-size:], len(rest) < len(chosen), len(rest) > size
        link = f"{self.url('api')}/v1/predictions"

        def at(task: FakeTask, back: bool) -> str:
            stamp = str(EPOCH + self._position(task) * MICROSECOND)
            tokens = {"r": "1", "p": stamp} if back else {"p": stamp}
            cursor = base64.b64encode(urlencode(tokens).encode()).decode()
            return f"{link}?{urlencode({**query, 'cursor': cursor})}"

        body = {
            "next": at(page[-1], False) if page and older else None,
            "previous": at(page[0], True) if page and newer else None,
            "results": [
                {k: v for k, v in self.prediction(task).items() if k != "logs"} for task in page
            ],
        }
        return web.json_response(body)

    def _position(self, task: FakeTask) -> int:
        """Where a prediction sits in the list: its created_at in microseconds."""
        return self._created_us[task.id]

    async def cancel_prediction(self, request: web.Request) -> web.StreamResponse:
        if (stop := await self.admit("cancel", request)) is not None:
            return stop
        task = self.tasks.get(request.match_info["id"])
        if task is None:
            return problem(404, "Not found", "Not found.")
        self.cancel(task)
        return web.json_response(self.prediction(task))

    async def account(self, request: web.Request) -> web.StreamResponse:
        if (stop := await self.admit("account", request)) is not None:
            return stop
        return web.json_response(
            {"type": "user", "username": self.username, "name": "Imagine Bot", "github_url": None}
        )

    def status_of(self, task: FakeTask) -> str:
        """The status Replicate would report for this task now."""
        if not task.finished:
            return "starting" if task.progress() < 0.5 else "processing"
        if task.cancelled:
            return "canceled"
        if task.outcome in ("ok", "nsfw"):
            return "succeeded"
        return self.failed_status

    def prediction(self, task: FakeTask, status: str | None = None) -> dict[str, Any]:
        """The prediction JSON for a task, as GET /v1/predictions/{id} returns it."""
        status = status or self.status_of(task)
        created = self._walls.get(task.id, time.time())
        done = status in ("succeeded", "failed", "canceled", "aborted")
        output: Any = None
        error: str | None = None
        if status == "succeeded":
            output = task.image_urls if self.output_as_list else task.image_urls[0]
        elif status in ("failed", "aborted"):
            error = MODERATED_ERROR if task.outcome.startswith("moderated") else FAILED_ERROR
        took = (task.completed_at or time.perf_counter()) - task.created
        api = self.url("api")
        return {
            "id": task.id,
            "model": MODEL,
            "version": "hidden",
            "input": task.body,
            "logs": "",
            "output": output,
            "data_removed": False,
            "error": error,
            "status": status,
            "source": "api",
            "created_at": _iso(created),
            "started_at": _iso(created + 0.01) if status != "starting" else None,
            "completed_at": _iso(created + took) if done else None,
            "urls": {
                "get": f"{api}/v1/predictions/{task.id}",
                "cancel": f"{api}/v1/predictions/{task.id}/cancel",
                "web": f"https://replicate.com/p/{task.id}",
            },
            "metrics": {"predict_time": round(took, 3)} if status == "succeeded" else {},
        }
