"""Machinery shared by the fake provider servers: hosts, tasks with latency, scripts, faults.

A fake is a real aiohttp server on 127.0.0.1 (one port per host it imitates).
Tests script it: ``fake.script("nsfw")`` decides the next task's outcome,
``fake.fail_next("submit", 503, ...)`` injects an answer, ``fake.drop_next("poll")``
cuts a connection, ``fake.garble_next("poll")`` sends a body that is not JSON: all
of these strike BEFORE the work. ``fake.lose_answer_next("submit", how)`` does the
work, then loses the answer (see lost.py); ``fake.submit_delay`` slows submit answers
down after the task exists; ``fake.script_always("failed")`` makes every task fail.
It records every request and when each task completed (``time.perf_counter``),
which the benchmark compares with the moment the client had its result, and which
tasks the provider bills (``billed_tasks()``, ``created_tasks()``).
"""

from __future__ import annotations

import asyncio
import functools
import io
import itertools
import json
import time
import uuid
from collections import Counter, defaultdict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from PIL import Image

from tests.fakes.providers.lost import AnswerFaults, Delay, seconds

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# The sizes providers cite for each ratio; fakes draw images 1/32 of that, same shape.
CITED_SIZES: dict[str, tuple[int, int]] = {
    "21:9": (3136, 1344),
    "16:9": (2752, 1536),
    "3:2": (2496, 1664),
    "4:3": (2368, 1792),
    "5:4": (2240, 1792),
    "1:1": (2048, 2048),
    "4:5": (1792, 2240),
    "3:4": (1792, 2368),
    "2:3": (1664, 2496),
    "9:16": (1536, 2752),
    "9:21": (1344, 3136),
}
SCALE = 32

OUTCOMES = ("ok", "nsfw", "moderated", "moderated_request", "failed")


@dataclass
class Recorded:
    """One request as the fake received it."""

    host: str
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    at: float = field(default_factory=time.perf_counter)  # when the fake read it


@dataclass
class Fault:
    """A scripted answer for the next request on a route."""

    status: int = 500
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    garble: bool = False


@dataclass
class FakeTask:
    """A job inside a fake provider."""

    id: str
    body: dict[str, Any]
    created: float
    latency: float
    outcome: str = "ok"
    count: int = 1
    done: asyncio.Event = field(default_factory=asyncio.Event)
    completed_at: float | None = None
    cancelled: bool = False
    image_urls: list[str] = field(default_factory=list)
    seed: int = 0

    @property
    def finished(self) -> bool:
        """True once the task reached a terminal state."""
        return self.done.is_set()

    def progress(self) -> float:
        """Fraction of the latency elapsed, below 1 while running."""
        if self.latency <= 0:
            return 0.99
        return min(0.99, (time.perf_counter() - self.created) / self.latency)


@dataclass(frozen=True)
class TaskRecord:
    """One task a fake created, as a billing check reads it."""

    id: str
    prompt: Any
    seed: int
    count: int
    outcome: str
    billed: bool
    body: dict[str, Any]


class FakeProviderServer(AnswerFaults):
    """Base of every fake: subclasses add routes per host and the provider's own shapes."""

    hosts: tuple[str, ...] = ("api",)
    media_host: str = "api"

    def __init__(self, *, latency: Delay = 0.05, api_key: str = "test-key") -> None:
        super().__init__()
        # Seconds a task takes, or a callable drawing them for each new task.
        self.latency = latency
        self.api_key = api_key
        self.tasks: dict[str, FakeTask] = {}
        self.requests: list[Recorded] = []
        self.balance: int | None = None
        # Images are the cited size divided by this; 1 and ``noise`` give real-size files.
        self.image_divisor = SCALE
        self.noise = False
        self._faults: dict[str, deque[Fault]] = defaultdict(deque)
        self._outcomes: deque[str] = deque()
        self._always: str | None = None
        self._runners: dict[str, web.AppRunner] = {}
        self._ports: dict[str, int] = {}
        self._images: dict[str, tuple[bytes, str]] = {}
        self._seeds = itertools.count(1000)
        self._task_created = asyncio.Event()
        self._request_seen = asyncio.Event()

    # lifecycle

    async def start(self) -> FakeProviderServer:
        """Start one server per host on a free loopback port."""
        for host in self.hosts:
            app = web.Application(
                client_max_size=64 * 1024 * 1024,
                middlewares=[self._recorder(host), self._answerer()],
            )
            self.routes(host, app.router)
            if host == self.media_host:
                app.router.add_get("/files/{name}", self._serve_file)
            runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            self._runners[host] = runner
            self._ports[host] = runner.addresses[0][1]
        return self

    async def close(self) -> None:
        """Stop every server (held answers are released first, so this stays prompt)."""
        self._stop_answering()
        for runner in self._runners.values():
            await runner.cleanup()

    async def __aenter__(self) -> FakeProviderServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def url(self, host: str = "api") -> str:
        """Base URL of one of the fake's hosts."""
        return f"http://127.0.0.1:{self._ports[host]}"

    def routes(self, host: str, router: web.UrlDispatcher) -> None:
        """Add the provider's routes for ``host``."""
        raise NotImplementedError

    # scripting

    def script(self, *outcomes: str) -> None:
        """Decide the outcomes of the next tasks, in order (default 'ok')."""
        for outcome in outcomes:
            assert outcome in OUTCOMES, outcome
            self._outcomes.append(outcome)

    def script_always(self, outcome: str | None) -> None:
        """Give every task this outcome from now on (None: back to 'ok'); ``script`` goes first."""
        assert outcome is None or outcome in OUTCOMES, outcome
        self._always = outcome

    def fail_next(
        self,
        route: str,
        status: int = 500,
        body: Any = None,
        headers: dict[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` requests on ``route`` with this status and body."""
        for _ in range(times):
            self._faults[route].append(Fault(status, body, dict(headers or {})))

    def drop_next(self, route: str, times: int = 1) -> None:
        """Close the connection on the next requests to ``route`` without answering."""
        for _ in range(times):
            self._faults[route].append(Fault(drop=True))

    def garble_next(self, route: str, times: int = 1) -> None:
        """Answer 200 with a body that is not JSON on the next requests to ``route``."""
        for _ in range(times):
            self._faults[route].append(Fault(200, garble=True))

    async def fault(self, route: str, request: web.Request) -> web.StreamResponse | None:
        """The scripted answer for this request, if one is queued; handlers call it first."""
        queue = self._faults.get(route)
        if not queue:
            return None
        fault = queue.popleft()
        if fault.drop:
            assert request.transport is not None
            request.transport.abort()
            raise asyncio.CancelledError
        if fault.garble:
            return web.Response(
                status=fault.status, text="<html>upstream hiccup</html>", content_type="text/html"
            )
        if isinstance(fault.body, str):
            return web.Response(status=fault.status, text=fault.body, headers=fault.headers)
        if isinstance(fault.body, bytes):
            return web.Response(status=fault.status, body=fault.body, headers=fault.headers)
        return web.json_response(fault.body or {}, status=fault.status, headers=fault.headers)

    def _auth(self, request: web.Request) -> web.Response | None:
        """The provider's own refusal of a missing or wrong key; None when the key is right."""
        return None

    async def admit(self, route: str, request: web.Request) -> web.StreamResponse | None:
        """What a route answers before its own work: a queued fault, else a refused key."""
        if (answer := await self.fault(route, request)) is not None:
            return answer
        if (denied := self._auth(request)) is not None:
            return denied
        self.handled(route, request)
        return None

    def count(
        self, host: str | None = None, method: str | None = None, path_prefix: str = ""
    ) -> int:
        """How many requests matched (for request-count assertions and the benchmark)."""
        return sum(
            1
            for r in self.requests
            if (host is None or r.host == host)
            and (method is None or r.method == method)
            and r.path.startswith(path_prefix)
        )

    # tasks

    def new_task(
        self,
        body: dict[str, Any],
        *,
        count: int = 1,
        task_id: str | None = None,
        aspect: str = "16:9",
        fmt: str = "jpeg",
    ) -> FakeTask:
        """Create a task that completes after the latency with the next scripted outcome."""
        outcome = self._outcomes.popleft() if self._outcomes else (self._always or "ok")
        latency = seconds(self.latency)
        task = FakeTask(
            id=task_id or str(uuid.uuid4()),
            body=body,
            created=time.perf_counter(),
            latency=latency,
            outcome=outcome,
            count=count,
            seed=next(self._seeds),
        )
        self.tasks[task.id] = task
        self._task_created.set()
        if outcome in ("ok", "nsfw"):
            w, h = CITED_SIZES.get(aspect, (2048, 2048))
            size = (max(1, w // self.image_divisor), max(1, h // self.image_divisor))
            for i in range(count):
                task.image_urls.append(
                    self.add_image(f"{task.id}-{i}", aspect, fmt, size=size, noise=self.noise)
                )
        loop = asyncio.get_running_loop()
        if latency <= 0:
            self._complete(task)
        else:
            loop.call_later(latency, self._complete, task)
        return task

    async def wait_for_tasks(self, count: int = 1, timeout: float = 10.0) -> None:
        """Until the provider has received ``count`` tasks (a job is now at the provider)."""

        async def watch() -> None:
            while len(self.tasks) < count:
                self._task_created.clear()
                await self._task_created.wait()

        await asyncio.wait_for(watch(), timeout)

    async def wait_for_requests(
        self,
        count: int = 1,
        host: str | None = None,
        method: str | None = None,
        path_prefix: str = "",
        timeout: float = 10.0,
    ) -> None:
        """Until ``count`` requests like these have arrived: the client has reached that step."""

        async def watch() -> None:
            while self.count(host, method, path_prefix) < count:
                self._request_seen.clear()
                await self._request_seen.wait()

        await asyncio.wait_for(watch(), timeout)

    def _complete(self, task: FakeTask) -> None:
        if task.finished:
            return
        if task.outcome in ("ok", "nsfw") and self.balance is not None:
            self.balance -= task.count
        task.completed_at = time.perf_counter()
        task.done.set()

    def finish_all(self) -> None:
        """Complete every running task now, as if its latency had passed."""
        for task in list(self.tasks.values()):
            self._complete(task)

    def cancel(self, task: FakeTask) -> bool:
        """Cancel a running task; False when it had already finished."""
        if task.finished:
            return False
        task.cancelled = True
        task.outcome = "cancelled"
        task.completed_at = time.perf_counter()
        task.done.set()
        return True

    async def wait_done(self, task: FakeTask, timeout: float) -> bool:
        """Block a handler (sync modes, long polls) until the task ends or ``timeout`` passes."""
        try:
            await asyncio.wait_for(task.done.wait(), timeout)
        except TimeoutError:
            return False
        return True

    # billing

    def charges(self, task: FakeTask) -> bool:
        """Whether the provider bills this task: every task created, unless a fake says not."""
        return True

    def billed_tasks(self) -> list[FakeTask]:
        """The tasks the operator pays for, in the order they were created."""
        return [task for task in self.tasks.values() if self.charges(task)]

    def billed_images(self) -> int:
        """How many images the billed tasks hold (what the invoice counts)."""
        return sum(task.count for task in self.billed_tasks())

    def created_tasks(self) -> list[TaskRecord]:
        """Every task created, billed or not, with what it was asked for: to find duplicates."""
        return [
            TaskRecord(
                id=task.id,
                prompt=task.body.get("prompt"),
                seed=task.seed,
                count=task.count,
                outcome=task.outcome,
                billed=self.charges(task),
                body=task.body,
            )
            for task in self.tasks.values()
        ]

    def billed_per_prompt(self) -> Counter[Any]:
        """How many billed tasks each prompt has: more than one means the image was paid twice."""
        return Counter(task.body.get("prompt") for task in self.billed_tasks())

    # images

    def add_image(
        self,
        name: str,
        aspect: str,
        fmt: str,
        *,
        size: tuple[int, int] | None = None,
        noise: bool = False,
    ) -> str:
        """Make an image file of the given shape and return its URL on the media host."""
        w, h = size or CITED_SIZES.get(aspect, (2048, 2048))
        if size is None:
            w, h = max(1, w // SCALE), max(1, h // SCALE)
        fmt = {"jpg": "jpeg"}.get(fmt, fmt)
        ext = {"jpeg": "jpg"}.get(fmt, fmt)
        self._images[f"{name}.{ext}"] = (render(w, h, fmt, noise=noise), f"image/{fmt}")
        return f"{self.url(self.media_host)}/files/{name}.{ext}"

    async def _serve_file(self, request: web.Request) -> web.StreamResponse:
        if (answer := await self.fault("file", request)) is not None:
            return answer
        self.handled("file", request)
        found = self._images.get(request.match_info["name"])
        if found is None:
            return web.Response(status=404, text="Not Found")
        data, ctype = found
        return web.Response(body=data, content_type=ctype)

    def _recorder(self, host: str) -> Any:
        @web.middleware
        async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
            body: Any = None
            if request.can_read_body:
                raw = await request.read()
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = raw
            self.requests.append(
                Recorded(
                    host,
                    request.method,
                    request.path,
                    dict(request.query),
                    dict(request.headers),
                    body,
                )
            )
            self._request_seen.set()
            return await handler(request)

        return record

    def next_seed(self) -> int:
        """A fresh seed for tasks that were not given one."""
        return next(self._seeds)


def render(width: int, height: int, fmt: str, *, noise: bool = False) -> bytes:
    """A real image file of this size and format (noise makes it incompressible)."""
    if not noise:
        return _plain(width, height, fmt)
    image = Image.frombytes("RGB", (width, height), _noise(width * height * 3))
    return _encoded(image, fmt)


@functools.lru_cache(maxsize=16)
def _plain(width: int, height: int, fmt: str) -> bytes:
    """Plain images are small and always the same: a burst of tasks encodes each shape once."""
    return _encoded(Image.new("RGB", (width, height), (40, 90, 160)), fmt)


def _encoded(image: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    image.save(out, format={"jpg": "JPEG"}.get(fmt, fmt.upper()))
    return out.getvalue()


def _noise(n: int) -> bytes:
    import random

    rng = random.Random(n)
    return rng.randbytes(n)


def enhanced(prompt: Any) -> Any:
    """The prompt as a provider's own enhancement rewrites it (longer, more detailed)."""
    if not isinstance(prompt, str):
        return prompt
    return f"{prompt}, richly detailed, cinematic lighting, sharp focus"


def json_body(request_body: Any) -> dict[str, Any]:
    """The recorded body as a dict (empty when it was not JSON)."""
    return request_body if isinstance(request_body, dict) else {}
