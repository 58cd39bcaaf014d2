"""An in-memory provider whose every submit and wait is scripted: for router and pipeline tests."""

from __future__ import annotations

import asyncio
import base64
import functools
import itertools
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import replace

from pydantic import SecretStr

from bot.errors import Transient
from bot.handles import ImageRef, TaskOutcome, TaskRef
from bot.models import ASPECT_RATIOS, GenerationRequest
from bot.providers.base import Provider, ProviderConfig
from bot.providers.capabilities import Capabilities, Plan
from bot.providers.http import HttpClient
from tests.fakes.providers.base import render


class Lost(Exception):
    """A scripted step: the provider makes the task, then its answer is lost on the way."""


Step = Exception | None
_ids = itertools.count(1)


@functools.cache
def tiny_png_uri() -> str:
    """A data URI of a real 16×9 PNG, so downloads need no server."""
    return "data:image/png;base64," + base64.b64encode(render(16, 9, "png")).decode()


class ScriptedProvider(Provider):
    """Submits and waits succeed unless a scripted exception is queued for them."""

    label = "Scripted"
    capabilities = Capabilities(
        aspect_ratios=frozenset(ASPECT_RATIOS),
        max_images_per_task=4,
        safety_tolerance=(0, 6),
        cancel=True,
    )

    def __init__(
        self,
        name: str,
        http: HttpClient,
        *,
        capabilities: Capabilities | None = None,
        nsfw: bool = False,
        wait_gate: asyncio.Event | None = None,
    ) -> None:
        super().__init__(http, ProviderConfig(api_key=SecretStr("k"), base_url="mem://"))
        self.name = name  # type: ignore[misc]
        if capabilities is not None:
            self.capabilities = capabilities  # type: ignore[misc]
        self.submit_script: deque[Step] = deque()
        self.wait_script: deque[Step] = deque()
        self.submits: list[GenerationRequest] = []
        self.waits = 0
        self.cancelled: list[str] = []
        self.nsfw = nsfw
        self.wait_gate = wait_gate
        self.waiting = asyncio.Event()
        self.on_submit: Callable[[], None] | None = None
        # Every task the provider made, by (attempt token, plan index): what it bills.
        self.made: dict[tuple[str, int], TaskRef] = {}

    def auth_headers(self) -> dict[str, str]:
        return {}

    async def submit_task(self, request: GenerationRequest, plan: Plan, index: int) -> TaskRef:
        self.submits.append(request)
        if self.on_submit is not None:
            self.on_submit()
        step = self.submit_script.popleft() if self.submit_script else None
        if step is not None and not isinstance(step, Lost):
            raise step
        made = self.made.get((plan.token, index)) if self.capabilities.idempotent_submit else None
        if made is None:
            made = TaskRef(
                id=f"{self.name}-{next(_ids)}",
                seed=plan.seeds[index],
                count=plan.images_per_task[index],
            )
            self.made[plan.token, index] = made
        if isinstance(step, Lost):
            raise Transient(f"the answer was lost: {step}", provider=self.name, accepted=None)
        return made

    async def find_tasks(
        self, request: GenerationRequest, plan: Plan, indices: Sequence[int], since: float
    ) -> dict[int, TaskRef | None]:
        """Where the provider lists its tasks, every made task is found and the rest ruled out."""
        if not self.capabilities.lookup:
            return await super().find_tasks(request, plan, indices, since)
        return {i: self.made.get((plan.token, i)) for i in indices}

    async def await_task(self, task: TaskRef, submitted_at: float) -> TaskOutcome:
        self.waits += 1
        self.waiting.set()
        if self.wait_gate is not None:
            await self.wait_gate.wait()
        step = self.wait_script.popleft() if self.wait_script else None
        if step is not None:
            raise step
        images = tuple(ImageRef(url=tiny_png_uri(), nsfw=self.nsfw) for _ in range(task.count))
        return TaskOutcome(images=images, seed=task.seed if task.seed is not None else 7)

    async def cancel_task(self, task: TaskRef) -> bool:
        self.cancelled.append(task.id)
        return True

    async def check_credentials(self) -> None:
        return None


def limited(**changes: object) -> Capabilities:
    """The scripted capabilities with some fields changed."""
    return replace(ScriptedProvider.capabilities, **changes)  # type: ignore[arg-type]
