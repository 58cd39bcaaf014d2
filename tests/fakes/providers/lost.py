"""Answers lost AFTER the work was done: the provider made (and bills) a task the client never sees.

A fake queues a loss per route with ``fake.lose_answer_next(route, how)``; the next
request on that route that the fake handles (past its key check and any fault queued
with ``fail_next``/``drop_next``/``garble_next``, which strike before the work) does
its work as usual, then its answer is lost one of these ways:

- "drop": the connection is closed without any HTTP answer;
- "502" / "504": a gateway error page as a proxy or load balancer in front of the
  provider sends it (nginx's HTML page, none of the provider's own headers);
- "garble": the real status, but only the first half of the real body (not JSON);
- "hang": no answer at all until the client gives up (disconnects) or the fake closes.

Every loss applied is recorded as a ``Loss``, whose ``done`` event is set once the
client can no longer get the answer, so tests wait on events, not on time.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

LOSSES = ("drop", "502", "504", "garble", "hang")
ROUTE_KEY = web.RequestKey("fake_route", str)  # set once the fake handles a request (past admit)
HANG_CHECK = 0.02  # how often a held answer looks whether the client is still there

GATEWAY_TITLES = {502: "502 Bad Gateway", 504: "504 Gateway Time-out"}

Delay = float | Callable[[], float]


@dataclass
class Loss:
    """One answer the fake lost after doing the work."""

    route: str
    how: str
    at: float = field(default_factory=time.perf_counter)
    done: asyncio.Event = field(default_factory=asyncio.Event)


def gateway_page(status: int) -> web.Response:
    """The error page nginx sends when the provider behind it fails or times out."""
    title = GATEWAY_TITLES[status]
    page = (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    )
    return web.Response(
        status=status, text=page, content_type="text/html", headers={"Server": "nginx"}
    )


def truncated(answer: web.StreamResponse) -> web.Response:
    """The real answer's status and type with only the first half of its body: unreadable."""
    body = answer.body if isinstance(answer, web.Response) else None
    data = body if isinstance(body, bytes) and len(body) > 2 else b'{"status": "'
    return web.Response(
        status=answer.status, body=data[: len(data) // 2], content_type=answer.content_type
    )


def abort(request: web.Request) -> NoReturn:
    """Close the connection with no answer at all."""
    if request.transport is not None:
        request.transport.abort()
    raise asyncio.CancelledError


async def hold(request: web.Request, closing: asyncio.Event) -> None:
    """Return once the client has gone away or the fake is closing, never answering before."""
    while not closing.is_set():
        transport = request.transport
        if transport is None or transport.is_closing():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(closing.wait(), HANG_CHECK)


def seconds(delay: Delay) -> float:
    """A delay setting (seconds, or a callable drawing them) as a number of seconds."""
    return float(delay() if callable(delay) else delay)


def uniform(low: float, high: float, seed: int = 7) -> Callable[[], float]:
    """Delays drawn from a seeded uniform range: varied, yet the same on every run."""
    rng = random.Random(seed)
    return lambda: rng.uniform(low, high)


class LostAnswers:
    """The queued losses of one fake, and the record of those applied."""

    def __init__(self) -> None:
        self.queues: dict[str, deque[str]] = defaultdict(deque)
        self.applied: list[Loss] = []
        self.closing = asyncio.Event()
        self._changed = asyncio.Event()

    def add(self, route: str, how: str, times: int) -> None:
        """Queue ``times`` losses of kind ``how`` for ``route``."""
        if how not in LOSSES:
            raise ValueError(f"unknown loss {how!r}: one of {', '.join(LOSSES)}")
        self.queues[route].extend([how] * times)

    def take(self, request: web.Request) -> tuple[str, str] | None:
        """(route, loss) queued for this handled request, if any; taken at most once per request."""
        route = request.pop(ROUTE_KEY, None)
        if route is None or not self.queues.get(route):
            return None
        return route, self.queues[route].popleft()

    async def apply(
        self, how: str, route: str, request: web.Request, answer: web.StreamResponse
    ) -> web.StreamResponse:
        """Lose ``answer`` the way ``how`` says; what the client gets instead, if anything."""
        loss = Loss(route, how)
        self.applied.append(loss)
        try:
            if how == "garble":
                return truncated(answer)
            if how in ("502", "504"):
                return gateway_page(int(how))
            if how == "hang":
                await hold(request, self.closing)
            abort(request)
        finally:
            loss.done.set()
            self._changed.set()

    async def wait(self, count: int, timeout: float) -> None:
        """Until ``count`` losses are complete (for "hang": the client has given up)."""

        async def watch() -> None:
            while sum(loss.done.is_set() for loss in self.applied) < count:
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(watch(), timeout)

    async def pause(self, delay: Delay) -> None:
        """Wait ``delay`` seconds before an answer, cut short when the fake closes."""
        wait = seconds(delay)
        if wait <= 0 or self.closing.is_set():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.closing.wait(), wait)


class AnswerFaults:
    """What every fake offers on top of its protocol: lost answers and slow submit answers.

    ``submit_route`` names the route that creates tasks; ``fault_routes`` every route
    name a fake's handlers pass to ``admit`` (plus "file" for its media host).
    """

    submit_route: str = "submit"
    fault_routes: tuple[str, ...] = ("submit", "file")

    def __init__(self) -> None:
        # Seconds (or a callable drawing them) between creating a task and answering its submit.
        self.submit_delay: Delay = 0.0
        self._lost = LostAnswers()

    def lose_answer_next(self, route: str, how: str, times: int = 1) -> None:
        """Let the next ``times`` requests on ``route`` do their work, then lose each answer."""
        if route not in self.fault_routes:
            raise ValueError(f"{type(self).__name__} has no route {route!r}: {self.fault_routes}")
        self._lost.add(route, how, times)

    @property
    def losses(self) -> list[Loss]:
        """Every answer lost so far, in order."""
        return list(self._lost.applied)

    async def wait_losses(self, count: int = 1, timeout: float = 10.0) -> None:
        """Until ``count`` answers are lost for good (a held one: once its client gave up)."""
        await self._lost.wait(count, timeout)

    def handled(self, route: str, request: web.Request) -> None:
        """Mark ``request`` as handled on ``route``: a loss queued there strikes after its work."""
        request[ROUTE_KEY] = route

    async def lose_now(
        self, request: web.Request, answer: web.StreamResponse
    ) -> web.StreamResponse | None:
        """If a loss is queued for this handled request, what the client gets instead of ``answer``.

        None: answer as usual. "drop" and "hang" never return. Handlers that stream call
        this before they start; the middleware calls it for every other answer.
        """
        if (taken := self._lost.take(request)) is None:
            return None
        route, how = taken
        return await self._lost.apply(how, route, request, answer)

    def _answerer(self) -> Any:
        """Middleware: after a handled request's work, delay a submit answer, then maybe lose it."""

        @web.middleware
        async def answer(request: web.Request, handler: Handler) -> web.StreamResponse:
            response = await handler(request)
            route = request.get(ROUTE_KEY)
            if route is None or response.prepared:
                return response
            if route == self.submit_route:
                await self._lost.pause(self.submit_delay)
            lost = await self.lose_now(request, response)
            return response if lost is None else lost

        return answer

    def _stop_answering(self) -> None:
        """Release held answers and cut delays short: the fake is closing."""
        self._lost.closing.set()
