"""The remix loop: 🖋 Edit on a result opens a modal pre-filled with the job's prompt,
aspect, raw and seed (and reference strength when there is a reference); submitting it
queues a new job, paid by whoever submits it.

The modal holds no state in the bot: its ``custom_id`` names the job (``imagine:remix:42``)
and a submission is read from the interaction itself, so a modal opened before a restart
still works after it.
"""

from __future__ import annotations

import logging
from typing import Any

import discord
from discord.ext import commands

from bot.errors import ImagineError, InvalidRequest
from bot.jobs import Job
from bot.models import ALLOWED, MAX_PROMPT_CHARS, GenerationRequest
from bot.pipeline.facade import Facade
from cogs import errors
from cogs.imagine import owned_here, privacy_of
from cogs.starter import Starter
from cogs.views import CLICKED, REMIX

log = logging.getLogger(__name__)

MODAL_PREFIX = "imagine:remix:"
RAW_CHOICES = (("Raw on", "on"), ("Raw off", "off"))


def modal_values(data: Any) -> dict[str, str]:
    """A submitted modal's inputs by custom_id: a text input's value, a select's first choice."""
    found: dict[str, str] = {}

    def take(node: dict[str, Any]) -> None:
        if "custom_id" in node and node.get("type") in (3, 4):
            values = node.get("values")
            found[node["custom_id"]] = (
                (values[0] if values else "") if values is not None else (node.get("value") or "")
            )
        for child in node.get("components") or []:
            take(child)
        if isinstance(node.get("component"), dict):
            take(node["component"])

    for node in (data or {}).get("components") or []:
        take(node)
    return found


def edit_modal(job: Job, ratios: list[str]) -> discord.ui.Modal:
    """The Edit modal for ``job``, pre-filled with what it was made with."""
    request = job.request
    seed = job.result.seed if job.result is not None else request.seed
    modal = discord.ui.Modal(title="Edit and make again", custom_id=f"{MODAL_PREFIX}{job.id}")
    modal.add_item(
        discord.ui.Label(
            text="Prompt",
            component=discord.ui.TextInput(
                custom_id="prompt",
                style=discord.TextStyle.paragraph,
                default=request.prompt,
                max_length=MAX_PROMPT_CHARS,
            ),
        )
    )
    shown = ratios if request.aspect_ratio in ratios else [request.aspect_ratio, *ratios]
    aspects = [
        discord.SelectOption(label=r, value=r, default=r == request.aspect_ratio)
        for r in shown[:25]
    ]
    modal.add_item(
        discord.ui.Label(
            text="Aspect", component=discord.ui.Select(custom_id="aspect", options=aspects)
        )
    )
    raw = [
        discord.SelectOption(label=label, value=value, default=(value == "on") == request.raw)
        for label, value in RAW_CHOICES
    ]
    modal.add_item(
        discord.ui.Label(text="Raw", component=discord.ui.Select(custom_id="raw", options=raw))
    )
    modal.add_item(
        discord.ui.Label(
            text="Seed (empty: a new one)",
            component=discord.ui.TextInput(
                custom_id="seed",
                default="" if seed is None else str(seed),
                required=False,
                max_length=10,
            ),
        )
    )
    if request.reference is not None:
        modal.add_item(
            discord.ui.Label(
                text="Reference strength, 0 to 1",
                component=discord.ui.TextInput(
                    custom_id="strength", default=f"{request.reference_strength:g}", max_length=6
                ),
            )
        )
    modal.stop()  # answered statelessly by Remix.on_interaction, before or after a restart
    return modal


def edited(request: GenerationRequest, values: dict[str, str]) -> GenerationRequest:
    """The request with the modal's answers; InvalidRequest naming a bad one."""
    changes: dict[str, Any] = {"prompt": values.get("prompt", request.prompt)}
    if values.get("aspect"):
        changes["aspect_ratio"] = values["aspect"]
    if values.get("raw"):
        changes["raw"] = values["raw"] == "on"
    seed = values.get("seed", "").strip()
    changes["seed"] = _number(int, seed, "seed") if seed else None
    strength = values.get("strength", "").strip()
    if strength and request.reference is not None:
        changes["reference_strength"] = _number(float, strength, "reference_strength")
    return GenerationRequest.parse(**{**request.model_dump(), **changes})


def _number(kind: type[int] | type[float], text: str, field: str) -> Any:
    try:
        return kind(text)
    except ValueError:
        raise InvalidRequest(
            f"{text!r} is not a number", field=field, allowed=ALLOWED[field]
        ) from None


class Remix(commands.Cog):
    """🖋 Edit: the modal, and the job its submission starts."""

    def __init__(self, facade: Facade, starter: Starter) -> None:
        self.facade = facade
        self.starter = starter

    @commands.Cog.listener(f"on_{CLICKED}")
    async def on_button(
        self, interaction: discord.Interaction, action: str, job_id: int, index: int | None
    ) -> None:
        """Open the Edit modal (within Discord's 3 s: one read of the job, then the modal)."""
        if action != REMIX:
            return
        try:
            job = owned_here(interaction, await self.facade.job(job_id))
            await interaction.response.send_modal(edit_modal(job, self.facade.aspect_ratios()))
        except ImagineError as exc:
            await errors.tell(interaction, exc, "button edit")

    @commands.Cog.listener()
    async def on_interaction(self, interaction: discord.Interaction) -> None:
        """A submitted Edit modal: a new job for whoever submitted it."""
        if interaction.type is not discord.InteractionType.modal_submit:
            return
        data: dict[str, Any] = dict(interaction.data or {})
        custom_id = str(data.get("custom_id", ""))
        if not custom_id.startswith(MODAL_PREFIX) or not custom_id[len(MODAL_PREFIX) :].isdigit():
            return
        try:
            job = owned_here(
                interaction, await self.facade.job(int(custom_id[len(MODAL_PREFIX) :]))
            )
            request = edited(job.request, modal_values(data))
        except ImagineError as exc:
            await errors.tell(interaction, exc, "edit")
            return
        await self.starter.start(interaction, request, private=privacy_of(job), source=job)
