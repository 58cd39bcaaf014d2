"""How to talk to each fake provider as a client would: a valid submit and each read of a task.

Shared by the fake-provider tests that drive every fake the same way.
"""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from bot.origins import origin_of
from bot.providers.http import HttpClient, Response, SseParser
from tests.fakes.providers.base import FakeProviderServer, FakeTask

PROMPT = "a lighthouse at dusk, oil painting"


@dataclass(frozen=True)
class Call:
    """One HTTP request as a client sends it."""

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None


@dataclass(frozen=True)
class Rig:
    """How to drive one fake: a valid submit, and the reads of one task with their routes."""

    fake: str
    submit: Callable[[FakeProviderServer, str], Call]
    reads: Callable[[FakeProviderServer, FakeTask], dict[str, Call]]
    poll: str | None  # the read that shows a task's state; None when the submit answers all
    finished: Callable[[Any], bool] = lambda _: True  # the poll answer shows a finished task


def _bearer(fake: FakeProviderServer) -> dict[str, str]:
    return {"Authorization": f"Bearer {fake.api_key}"}


def _bfl_reads(fake: FakeProviderServer, task: FakeTask) -> dict[str, Call]:
    poll = f"{fake.url('poll')}/v1/get_result?id={task.id}"
    return {"poll": Call("GET", poll, {"x-key": fake.api_key})}


def _fal_reads(fake: FakeProviderServer, task: FakeTask) -> dict[str, Call]:
    root = f"{fake.url('queue')}/fal-ai/flux-pro/requests/{task.id}"
    key = {"Authorization": f"Key {fake.api_key}"}
    return {
        "status": Call("GET", f"{root}/status", key),
        "stream": Call("GET", f"{root}/status/stream", key),
        "result": Call("GET", root, key),
        "cancel": Call("PUT", f"{root}/cancel", key),
    }


def _replicate_reads(fake: FakeProviderServer, task: FakeTask) -> dict[str, Call]:
    api = f"{fake.url('api')}/v1"
    return {
        "poll": Call("GET", f"{api}/predictions/{task.id}", _bearer(fake)),
        "list": Call("GET", f"{api}/predictions", _bearer(fake)),
        "cancel": Call("POST", f"{api}/predictions/{task.id}/cancel", _bearer(fake)),
        "account": Call("GET", f"{api}/account", _bearer(fake)),
    }


def _replicate_submit(wait: bool) -> Callable[[FakeProviderServer, str], Call]:
    def submit(fake: FakeProviderServer, prompt: str) -> Call:
        url = f"{fake.url('api')}/v1/models/black-forest-labs/flux-1.1-pro-ultra/predictions"
        headers = {**_bearer(fake), **({"Prefer": "wait"} if wait else {})}
        return Call("POST", url, headers, {"input": {"prompt": prompt, "seed": 5}})

    return submit


def _wavespeed_submit(sync: bool) -> Callable[[FakeProviderServer, str], Call]:
    def submit(fake: FakeProviderServer, prompt: str) -> Call:
        url = f"{fake.url('api')}/api/v3/wavespeed-ai/flux-1.1-pro-ultra"
        body = {"prompt": prompt, "seed": 5, **({"enable_sync_mode": True} if sync else {})}
        return Call("POST", url, _bearer(fake), body)

    return submit


def _wavespeed_reads(fake: FakeProviderServer, task: FakeTask) -> dict[str, Call]:
    url = f"{fake.url('api')}/api/v3/predictions/{task.id}/result"
    return {"result": Call("GET", url, _bearer(fake))}


def apiframe_submit(fake: FakeProviderServer, prompt: str, key: str | None = None) -> Call:
    """An Apiframe submit with its own Idempotency-Key (a fresh one unless ``key`` is given)."""
    headers = {"X-API-Key": fake.api_key, "Idempotency-Key": key or str(uuid.uuid4())}
    body = {"prompt": prompt, "model": "flux-1.1-pro-ultra", "fluxParams": {"seed": 5}}
    return Call("POST", f"{fake.url('api')}/v2/images/generate", headers, body)


def _apiframe_reads(fake: FakeProviderServer, task: FakeTask) -> dict[str, Call]:
    url = f"{fake.url('api')}/v2/jobs/{task.id}"
    return {"poll": Call("GET", url, {"X-API-Key": fake.api_key})}


def _openai_reads(fake: FakeProviderServer, task: FakeTask) -> dict[str, Call]:
    return {"models": Call("GET", f"{fake.url('api')}/openai/v1/models", _bearer(fake))}


RIGS: dict[str, Rig] = {
    "bfl": Rig(
        "bfl",
        lambda f, p: Call(
            "POST",
            f"{f.url('api')}/v1/flux-pro-1.1-ultra",
            {"x-key": f.api_key},
            {"prompt": p, "seed": 5},
        ),
        _bfl_reads,
        poll="poll",
        finished=lambda answer: answer["status"] == "Ready",
    ),
    "fal": Rig(
        "fal",
        lambda f, p: Call(
            "POST",
            f"{f.url('queue')}/fal-ai/flux-pro/v1.1-ultra",
            {"Authorization": f"Key {f.api_key}"},
            {"prompt": p, "seed": 5},
        ),
        _fal_reads,
        poll="status",
        finished=lambda answer: answer["status"] == "COMPLETED",
    ),
    "replicate": Rig(
        "replicate",
        _replicate_submit(wait=False),
        _replicate_reads,
        poll="poll",
        finished=lambda answer: answer["status"] == "succeeded",
    ),
    "replicate-prefer-wait": Rig(
        "replicate",
        _replicate_submit(wait=True),
        _replicate_reads,
        poll="poll",
        finished=lambda answer: answer["status"] == "succeeded",
    ),
    "wavespeed": Rig(
        "wavespeed",
        _wavespeed_submit(sync=False),
        _wavespeed_reads,
        poll="result",
        finished=lambda answer: answer["data"]["status"] == "completed",
    ),
    "wavespeed-sync": Rig(
        "wavespeed",
        _wavespeed_submit(sync=True),
        _wavespeed_reads,
        poll="result",
        finished=lambda answer: answer["data"]["status"] == "completed",
    ),
    "apiframe": Rig(
        "apiframe",
        apiframe_submit,
        _apiframe_reads,
        poll="poll",
        finished=lambda answer: answer["status"] == "COMPLETED",
    ),
    "aimlapi": Rig(
        "aimlapi",
        lambda f, p: Call(
            "POST",
            f"{f.url('api')}/v1/images/generations",
            _bearer(f),
            {"model": "flux-pro/v1.1-ultra", "prompt": p, "seed": 5},
        ),
        lambda f, t: {},
        poll=None,
    ),
    "openai_compat": Rig(
        "openai_compat",
        lambda f, p: Call(
            "POST",
            f"{f.url('api')}/openai/v1/images/generations",
            _bearer(f),
            {"model": "flux1.1-pro-ultra", "prompt": p, "seed": 5},
        ),
        _openai_reads,
        poll=None,
    ),
}


def reads(fake: FakeProviderServer, rig: Rig, task: FakeTask) -> dict[str, Call]:
    """Every read of ``task`` by route, its first image's download included."""
    return {**rig.reads(fake, task), "file": Call("GET", task.image_urls[0])}


async def send(http: HttpClient, call: Call, timeout: float | None = None) -> Response:
    """Send ``call`` through the bot's own HTTP client, trusting the fake it goes to (these
    tests are about the fakes' answers, not about what the bot may reach)."""
    return await http.trusting(origin_of(call.url)).request(
        call.method,
        call.url,
        provider="fake",
        headers=call.headers,
        json=call.body,
        timeout=timeout,
    )


def readable(route: str, answer: Response) -> bool:
    """Whether a client can read this answer: a whole image, SSE events of JSON, or JSON."""
    try:
        if route == "file":
            with Image.open(io.BytesIO(answer.body)) as image:
                image.load()
        elif route == "stream":
            parser = SseParser()
            lines = answer.body.decode("utf-8").split("\n")
            events = [data for line in lines if (data := parser.feed(line)) is not None]
            return bool(events) and all(json.loads(event) is not None for event in events)
        else:
            answer.json()
    except (OSError, ValueError):
        return False
    return True
