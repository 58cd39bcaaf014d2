"""What every provider adapter is: submit, wait, cancel, check credentials, behind one flow.

An adapter holds only its provider's protocol: how to build the body, where to
send it, how to read the answers (pure functions in its module). The flow that
is the same everywhere (retries, polling schedule, downloads, partial results,
timings) lives here once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from pydantic import SecretStr

from bot.errors import (
    UNEXPECTED,
    BadCredentials,
    ContentModerated,
    ImagineError,
    InvalidRequest,
    OutOfCredit,
    ProviderError,
    ProviderFault,
    ProviderRejected,
    SubmitUnknown,
    TaskFailed,
    Transient,
    describe,
)
from bot.handles import ImageRef, Intent, JobHandle, Pending, TaskOutcome, TaskRef
from bot.images import ImageRefused, probe
from bot.models import (
    GeneratedImage,
    GenerationRequest,
    GenerationResult,
    Timings,
)
from bot.origins import Origin
from bot.providers.capabilities import Capabilities, Plan, make_plan
from bot.providers.http import (
    HttpClient,
    Response,
    is_retryable_status,
    transient_for_status,
    with_retries,
)
from bot.providers.polling import DurationEstimator, PollPlanner, PollTuning
from bot.providers.references import read_reference
from bot.providers.trust import ApiHosts
from bot.retry import RetryPolicy, backoff_delay

log = logging.getLogger(__name__)

T = TypeVar("T")

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[Any]]


@dataclass(frozen=True)
class ProviderConfig:
    """What an adapter needs from settings: its key, its base URL(s), its model name."""

    api_key: SecretStr
    base_url: str
    model: str | None = None
    extra_urls: Mapping[str, str] = field(default_factory=dict)
    max_wait: float = 600.0
    # More origins that receive the key (PROVIDER_API_HOSTS), besides the base URL's and the
    # provider's documented API hosts.
    api_hosts: tuple[Origin, ...] = ()


# --- the adapter base ---------------------------------------------------------------------

SUBMIT_RETRY = RetryPolicy(attempts=3, max_retry_after=2.0)
READ_RETRY = RetryPolicy(attempts=4, max_retry_after=30.0)


class Provider(ABC):
    """One hosted API serving FLUX 1.1 [pro] Ultra, behind the common models."""

    name: ClassVar[str]
    label: ClassVar[str]
    capabilities: ClassVar[Capabilities]

    def __init__(
        self,
        http: HttpClient,
        config: ProviderConfig,
        *,
        clock: Clock = time.time,
        sleep: Sleep = asyncio.sleep,
        polling: PollTuning = PollTuning(),
    ) -> None:
        self.http = http
        self.config = config
        self.clock = clock
        self.sleep = sleep
        self.polling = polling
        self.estimator = DurationEstimator()
        self.gate: asyncio.Semaphore | None = None

    # hooks each adapter fills in

    @abstractmethod
    def auth_headers(self) -> dict[str, str]:
        """Headers that carry the API key."""

    @abstractmethod
    async def submit_task(self, request: GenerationRequest, plan: Plan, index: int) -> TaskRef:
        """Start task ``index`` of the plan; may return it already finished."""

    @abstractmethod
    async def await_task(self, task: TaskRef, submitted_at: float) -> TaskOutcome:
        """Wait, the cheapest way this provider offers, until the task has images."""

    @abstractmethod
    async def check_credentials(self) -> None:
        """Make the cheapest call that proves the key works; raise BadCredentials if not."""

    def classify(self, response: Response, *, submit: bool) -> ProviderError:
        """Turn a non-2xx answer into the taxonomy; adapters refine the generic reading."""
        return generic_error(response, self.name, submit=submit)

    async def cancel_task(self, task: TaskRef) -> bool:
        """Ask the provider to stop a task; False where it cannot."""
        return False

    # the common flow

    def plan(self, request: GenerationRequest, token: str = "") -> Plan:
        """How this provider will serve ``request`` (call only when ``refusals`` is empty)."""
        return make_plan(self.name, self.capabilities, request, token)

    def finishing(self) -> contextlib.AbstractAsyncContextManager[Any]:
        """The gate a finished task's result and images pass through (see ``Router``)."""
        return self.gate if self.gate is not None else contextlib.nullcontext()

    def proves_not_created(self, response: Response) -> bool:
        """Whether this non-2xx answer to a submit proves the provider made no task.

        Anything it does not prove (a 5xx, a gateway page) leaves the outcome unknown: the
        task may exist and be billed. Adapters narrow or widen the rule from their own docs.
        """
        return refused_before_work(response)

    async def generate(self, request: GenerationRequest) -> GenerationResult:
        """Submit and wait: the whole job in one call (the CLI and tests use it)."""
        return await self.wait(await self.submit(request))

    async def submit(self, request: GenerationRequest, token: str = "") -> JobHandle:
        """Start every task of the plan; keep whatever the provider accepted.

        A task whose answer was lost is looked for again where the provider allows it
        (``find_tasks``). What stays in doubt is listed in ``JobHandle.unknown``; when no task
        is known to exist and some are in doubt, ``SubmitUnknown`` says so, so the caller
        never sends the same image elsewhere.
        """
        plan = self.plan(request, token or new_token())
        started, t0 = self.clock(), time.monotonic()
        count = len(plan.images_per_task)
        results = await _settle_all([self.submit_task(request, plan, i) for i in range(count)])
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, Exception):
                raise result
        tasks: dict[int, TaskRef] = {}
        refused: dict[int, Exception] = {}  # the provider proved it made no task
        ended: dict[int, Exception] = {}  # made, then ended without an image (moderated)
        unknown: dict[int, Exception] = {}  # the answer was lost: a task may exist
        for index, result in enumerate(results):
            if isinstance(result, TaskRef):
                tasks[index] = result.model_copy(update={"index": index})
            elif isinstance(result, ProviderError) and result.accepted is not None:
                (ended if result.accepted else refused)[index] = result
            else:
                assert isinstance(result, Exception)
                unknown[index] = result
        if unknown and self.capabilities.settles_unknown:
            found = await self._find(request, plan, sorted(unknown), started)
            for index, ref in found.items():
                error = unknown.pop(index)
                if ref is None:
                    refused[index] = error
                else:
                    tasks[index] = ref.model_copy(update={"index": index})
        notes = list(plan.notes)
        if not tasks:
            if unknown:
                first = next(iter(unknown.values()))
                raise SubmitUnknown(
                    f"{len(unknown)} of {count} tasks may exist: {describe(first)}",
                    provider=self.name,
                    tasks=len(unknown),
                    indices=tuple(sorted(unknown)),
                    status=getattr(first, "status", None),
                ) from first
            raise _most_telling([*ended.values(), *refused.values()])
        if refused or ended or unknown:
            first = next(iter({**ended, **refused, **unknown}.values()))
            log.warning(
                "%s accepted %d of %d tasks (%d in doubt): %s",
                self.name,
                len(tasks),
                count,
                len(unknown),
                describe(first),
            )
            if refused or ended:
                notes.append(f"{len(refused) + len(ended)} of {count} tasks could not be started")
            if unknown:
                notes.append(f"{len(unknown)} of {count} tasks went unanswered")
        return JobHandle(
            provider=self.name,
            tasks=tuple(tasks[i] for i in sorted(tasks)),
            submitted_at=started,
            submit_seconds=time.monotonic() - t0,
            notes=tuple(notes),
            token=plan.token,
            unknown=tuple(sorted(unknown)),
            ended=tuple(sorted(ended)),
        )

    async def find_tasks(
        self, request: GenerationRequest, plan: Plan, indices: Sequence[int], since: float
    ) -> dict[int, TaskRef | None]:
        """Settle tasks of ``plan`` whose submit answer was lost: each index found (its
        TaskRef), proven absent (None), or left out when it cannot be told.

        The default serves providers that de-duplicate a repeated submit: the same token
        gives the same idempotency keys, so asking again returns the task already made.
        """
        if not self.capabilities.idempotent_submit:
            return {}
        results = await _settle_all([self.submit_task(request, plan, i) for i in indices])
        found: dict[int, TaskRef | None] = {}
        for index, result in zip(indices, results, strict=True):
            if isinstance(result, TaskRef):
                found[index] = result
            elif isinstance(result, ProviderError) and result.accepted is False:
                found[index] = None
            elif not isinstance(result, Exception):
                raise result
        return found

    async def recover(self, request: GenerationRequest, intent: Intent) -> JobHandle:
        """After a restart, settle a submit that was under way: the tasks found make the
        handle; ``SubmitUnknown`` when some cannot be told; ``TaskFailed`` (accepted False)
        when the provider proves it has none, so the job may be sent again."""
        plan = self.plan(request, intent.token)
        indices = list(range(len(plan.images_per_task)))
        found = await self._find(request, plan, indices, intent.at)
        tasks = [ref.model_copy(update={"index": i}) for i, ref in found.items() if ref]
        doubt = [i for i in indices if i not in found]
        if not tasks:
            if doubt:
                raise SubmitUnknown(
                    f"{len(doubt)} task(s) sent before a restart cannot be found or ruled out",
                    provider=self.name,
                    tasks=len(doubt),
                    indices=tuple(doubt),
                )
            raise TaskFailed(
                "none of the tasks sent before a restart reached the provider",
                provider=self.name,
                accepted=False,
            )
        return JobHandle(
            provider=self.name,
            tasks=tuple(sorted(tasks, key=lambda t: t.index)),
            submitted_at=intent.at,
            notes=plan.notes,
            token=intent.token,
            unknown=tuple(doubt),
        )

    async def _find(
        self, request: GenerationRequest, plan: Plan, indices: Sequence[int], since: float
    ) -> dict[int, TaskRef | None]:
        """``find_tasks``, with a failed lookup counting as 'cannot tell'."""
        if not indices or not self.capabilities.settles_unknown:
            return {}
        try:
            return await self.find_tasks(request, plan, indices, since)
        except ImagineError as exc:
            log.warning("%s: could not look up unanswered tasks: %s", self.name, describe(exc))
            return {}

    async def wait(self, handle: JobHandle) -> GenerationResult:
        """Wait for every task, download every image at once, and assemble the result."""
        t0 = time.monotonic()
        settled = await _settle_all(
            [self._outcome(task, handle.submitted_at) for task in handle.tasks]
        )
        outcomes = [o for o in settled if isinstance(o, TaskOutcome)]
        errors = [e for e in settled if isinstance(e, BaseException)]
        for err in errors:
            if not isinstance(err, Exception):
                raise err
        if not outcomes:
            raise _most_telling(errors)
        t1 = time.monotonic()
        refs = [(ref, o.seed) for o in outcomes for ref in o.images]
        async with self.finishing():
            images = (
                [await self._fetch(*refs[0])]
                if len(refs) == 1
                else await asyncio.gather(*(self._fetch(ref, seed) for ref, seed in refs))
            )
        t2 = time.monotonic()
        notes = list(handle.notes)
        if errors:
            telling = _most_telling(errors)
            why = telling.user_message if isinstance(telling, ImagineError) else UNEXPECTED
            notes.append(f"{len(errors)} of {len(settled)} tasks failed: {why}")
        seeds = [o.seed for o in outcomes if o.seed is not None]
        provider_times = [o.provider_seconds for o in outcomes if o.provider_seconds is not None]
        return GenerationResult(
            images=tuple(images),
            seed=seeds[0] if seeds else None,
            provider=self.name,
            job_id=handle.job_id,
            timings=Timings(
                submit=handle.submit_seconds,
                wait=t1 - t0,
                download=t2 - t1,
                provider=max(provider_times) if provider_times else None,
            ),
            notes=tuple(notes),
            prompt=next((o.prompt for o in outcomes if o.prompt), None),
        )

    async def cancel(self, handle: JobHandle) -> bool:
        """Cancel every unfinished task; True only if the provider confirmed each."""
        pending = [task for task in handle.tasks if task.outcome is None]
        if not pending or not self.capabilities.cancel:
            return False
        confirmed = await asyncio.gather(
            *(self.cancel_task(t) for t in pending), return_exceptions=True
        )
        return all(c is True for c in confirmed)

    # helpers for adapters

    async def send(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        submit: bool = False,
        idempotent: bool = False,
        timeout: float | None = None,
    ) -> Response:
        """One authenticated call with the shared retry rule.

        Reads are repeated on retryable errors. A submit is repeated only when the
        provider surely did not take it (or the request is idempotent), so a job is
        never started twice. The key goes only to this provider's own API hosts.
        """
        credentials = self.credentials_for(url)

        async def once() -> Response:
            resp = await self.http.request(
                method,
                url,
                provider=self.name,
                json=json,
                timeout=timeout,
                headers={**credentials, **(headers or {})},
            )
            if not resp.ok:
                error = self.classify(resp, submit=submit)
                if submit and error.accepted is not True:
                    error.accepted = False if self.proves_not_created(resp) else None
                raise self.redact(error)
            return resp

        if submit and not idempotent:
            return await with_retries(
                once, SUBMIT_RETRY, may_repeat=_surely_not_accepted, sleep=self.sleep
            )
        return await with_retries(once, SUBMIT_RETRY if submit else READ_RETRY, sleep=self.sleep)

    def credentials_for(self, url: str) -> dict[str, str]:
        """The key's headers for a request to ``url``; ProviderFault when ``url`` is not
        this provider's own API (an answer pointing elsewhere is not followed)."""
        own = ApiHosts(self.name, self.config.base_url, frozenset(self.config.api_hosts))
        if not own.allows(url):
            raise own.refusal(url)
        return self.auth_headers()

    def parsed(
        self,
        resp: Response,
        parse: Callable[[Any], T],
        *,
        what: str,
        accepted: bool | None,
    ) -> T:
        """Read an answer with a pure parser; one it cannot read is Transient, not a crash."""
        try:
            return parse(resp.json())
        except ValueError as exc:
            raise Transient(
                f"malformed {what}: {exc}", provider=self.name, accepted=accepted
            ) from exc

    async def poll(
        self,
        check: Callable[[], Awaitable[Pending | TaskOutcome]],
        submitted_at: float,
    ) -> TaskOutcome:
        """Poll ``check`` on the learned schedule until it yields an outcome or time runs out."""
        planner = PollPlanner(self.estimator, self.polling)
        await self.sleep(planner.first_delay(self.clock() - submitted_at))
        failures = 0
        while True:
            elapsed = self.clock() - submitted_at
            try:
                state = await check()
            except Transient as exc:
                failures += 1
                if elapsed > self.config.max_wait:
                    raise
                log.warning("%s poll failed (%d in a row): %s", self.name, failures, describe(exc))
                pause = backoff_delay(failures, self.polling.retry)
                await self.sleep(exc.retry_after if exc.retry_after is not None else pause)
                continue
            failures = 0
            elapsed = self.clock() - submitted_at
            if isinstance(state, TaskOutcome):
                planner.done(elapsed)
                return state
            if elapsed > self.config.max_wait:
                raise Transient(
                    f"still pending after {elapsed:.0f} s; gave up waiting",
                    provider=self.name,
                    accepted=True,
                )
            await self.sleep(planner.next_delay(elapsed, state.progress))

    def redact(self, error: ProviderError) -> ProviderError:
        """Remove the API key from an error's detail, whatever the provider echoed."""
        key = self.config.api_key.get_secret_value()
        if key and key in error.detail:
            error.detail = error.detail.replace(key, "[redacted]")
            error.args = (error.detail,)
        return error

    async def _outcome(self, task: TaskRef, submitted_at: float) -> TaskOutcome:
        if task.outcome is not None:
            return task.outcome
        return await self.await_task(task, submitted_at)

    async def _fetch(self, ref: ImageRef, seed: int | None) -> GeneratedImage:
        async def once() -> tuple[bytes, str | None]:
            return await self.http.download(ref.url, provider=self.name)

        data, declared = await with_retries(once, READ_RETRY, sleep=self.sleep)
        try:
            info = probe(data, declared=declared)
        except ImageRefused as exc:
            raise ProviderFault(
                f"result image refused: {exc}", reason=str(exc), provider=self.name
            ) from None
        return GeneratedImage(
            data=data,
            content_type=info.content_type,
            width=info.width,
            height=info.height,
            nsfw=ref.nsfw,
            nsfw_source=None if ref.nsfw is None else "provider",
            seed=ref.seed or seed,
        )


async def _settle_all(work: list[Awaitable[T]]) -> list[T | BaseException]:
    """Await all, keeping exceptions as results; one awaitable needs no task machinery."""
    if len(work) == 1:
        try:
            return [await work[0]]
        except Exception as exc:
            return [exc]
    return await asyncio.gather(*work, return_exceptions=True)


def _surely_not_accepted(error: ProviderError) -> bool:
    return error.accepted is False


def _most_telling(errors: list[BaseException]) -> Exception:
    """The error to report when no task produced an image: moderation first, then the rest."""
    for kind in (ContentModerated, ProviderRejected, BadCredentials, OutOfCredit, TaskFailed):
        for err in errors:
            if isinstance(err, kind):
                return err
    first = errors[0]
    assert isinstance(first, Exception)
    return first


def new_token() -> str:
    """A fresh name for one submit attempt (see ``Intent``)."""
    return uuid.uuid4().hex


# Answers to a submit that prove no task was made, for every provider: the request was
# refused before any work (bad input, key, balance, rate or concurrency limit, wrong path).
NOT_CREATED = frozenset({400, 401, 402, 403, 404, 405, 413, 415, 422, 429})


def refused_before_work(response: Response) -> bool:
    """The common rule: a 4xx refusal proves no task; a 5xx or anything else proves nothing."""
    return response.status in NOT_CREATED


def generic_error(response: Response, provider: str, *, submit: bool) -> ProviderError:
    """The reading of a non-2xx answer that fits most providers; adapters refine it."""
    status, text = response.status, response.text()
    accepted = not submit
    if status in (401, 403):
        return BadCredentials(
            f"HTTP {status}: {text}", provider=provider, status=status, accepted=False
        )
    if status == 402:
        return OutOfCredit(
            f"HTTP {status}: {text}", provider=provider, status=status, accepted=False
        )
    if is_retryable_status(status):
        return transient_for_status(response, provider, accepted=None if submit else accepted)
    if 400 <= status < 500:
        return ProviderRejected(text or f"HTTP {status}", provider=provider, status=status)
    return Transient(
        f"HTTP {status}: {text}",
        provider=provider,
        status=status,
        accepted=None if submit else accepted,
    )


async def fetch_reference(http: HttpClient, url: str, provider: str) -> bytes:
    """Download a linked reference image for a provider that takes only bytes."""
    try:
        data, _ = await read_reference(http, url)
    except InvalidRequest as exc:
        raise ProviderRejected(
            f"the reference image: {exc.detail}", provider=provider, field="reference"
        ) from exc
    return data
