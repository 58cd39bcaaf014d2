"""The buttons under results and status messages; they work after a restart.

Every button is one ``DynamicItem`` whose ``custom_id`` names the action and the
job (``imagine:reroll:42``, ``imagine:subtle:42:2``), so discord.py routes clicks on
messages sent before a restart. A click is dispatched as the client event
``job_button`` (``on_job_button(interaction, action, job_id, index)``), which the
/imagine cog listens to: the button knows no cog and no client. Reroll, Raw and Vary
(Subtle, Strong; plain ``vary`` on messages from before them) start a new job for whoever
clicks (and charge them); Edit opens the remix modal (``cogs.remix``); Delete and Cancel
(``OWNER_ONLY``) are for the requester or a moderator. On a private result every button is
its owner's alone.
"""

from __future__ import annotations

import re
from typing import Any

import discord

from bot.jobs import Job
from bot.text import N_
from cogs.i18n import Locale, tr
from cogs.render import locale_of

OWNER_ONLY = frozenset({"delete", "cancel"})
REMIX = "edit"  # opens a modal (cogs.remix) instead of starting a job at once
CLICKED = "job_button"  # the client event a click becomes

_LOOK: dict[str, tuple[str, str, discord.ButtonStyle]] = {
    "reroll": ("🔁", N_("Reroll"), discord.ButtonStyle.primary),
    "raw": ("", N_("Raw"), discord.ButtonStyle.secondary),
    "vary": ("🎲", N_("Vary"), discord.ButtonStyle.secondary),
    "subtle": ("🎲", N_("Vary (Subtle)"), discord.ButtonStyle.secondary),
    "strong": ("🎲", N_("Vary (Strong)"), discord.ButtonStyle.secondary),
    "edit": ("🖋", N_("Edit"), discord.ButtonStyle.secondary),
    "delete": ("🗑️", N_("Delete"), discord.ButtonStyle.danger),
    "cancel": ("✖", N_("Cancel"), discord.ButtonStyle.danger),
}


class JobButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"imagine:(?P<action>reroll|raw|vary|subtle|strong|edit|delete|cancel):(?P<job>[0-9]+)(?::(?P<index>[0-9]))?",
):
    """One action on one job; the job id travels in the custom id."""

    def __init__(
        self,
        action: str,
        job_id: int,
        index: int | None = None,
        *,
        label: str | None = None,
        locale: Locale = None,
    ) -> None:
        icon, word, style = _LOOK[action]
        text = f"{icon} {tr(locale, word)}".strip()
        custom_id = f"imagine:{action}:{job_id}" + (f":{index}" if index is not None else "")
        super().__init__(discord.ui.Button(label=label or text, style=style, custom_id=custom_id))
        self.action = action
        self.job_id = job_id
        self.index = index

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> JobButton:
        """Rebuild the button from a click, including clicks on pre-restart messages."""
        index = match["index"]
        return cls(match["action"], int(match["job"]), int(index) if index else None)

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        """Hand the click to whoever listens for ``job_button`` (the /imagine cog)."""
        interaction.client.dispatch(CLICKED, interaction, self.action, self.job_id, self.index)


def result_view(job: Job, images: int) -> discord.ui.View:
    """Reroll, Raw on/off, Edit, Delete; Vary (Subtle) and (Strong) for each image."""
    locale = locale_of(job)
    view = discord.ui.View(timeout=None)
    view.add_item(JobButton("reroll", job.id, locale=locale))
    raw_label = tr(locale, "Raw: on → off") if job.request.raw else tr(locale, "Raw: off → on")
    view.add_item(JobButton("raw", job.id, label=raw_label))
    view.add_item(JobButton("edit", job.id, locale=locale))
    view.add_item(JobButton("delete", job.id, locale=locale))
    for i in range(images):
        number = "" if images == 1 else f" V{i + 1}"
        subtle, strong = tr(locale, "Subtle"), tr(locale, "Strong")
        view.add_item(JobButton("subtle", job.id, i, label=f"🎲{number} {subtle}"))
        view.add_item(JobButton("strong", job.id, i, label=f"🎲{number} {strong}"))
    return view


def status_view(job: Job) -> discord.ui.View:
    """A Cancel button while the job waits."""
    view = discord.ui.View(timeout=None)
    view.add_item(JobButton("cancel", job.id, locale=locale_of(job)))
    return view


def queue_view(jobs: list[tuple[int, Job]], locale: Locale = None) -> discord.ui.View | None:
    """Cancel buttons for a member's jobs, numbered as the /queue listing shows them."""
    if not jobs:
        return None
    view = discord.ui.View(timeout=None)
    for number, job in jobs[:25]:
        label = tr(locale, "✖ Cancel #{number}", number=number)
        view.add_item(JobButton("cancel", job.id, label=label))
    return view
