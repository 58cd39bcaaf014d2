"""The only door the Discord layer uses: jobs, credits, providers, guild rules and reports.

The cogs call this and nothing below it: not the pipeline's parts, not the router, not
storage. What they get back are plain records (the types re-exported here), so a cog needs
no knowledge of how jobs run, which providers exist or where anything is stored, and those
can change behind this module without touching a cog.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from bot.jobs import Job
from bot.models import ASPECT_RATIOS, Defaults, GuildSettings
from bot.pipeline.estimates import Estimate
from bot.pipeline.events import PipelineEvents
from bot.pipeline.guilds import GuildState, phrase_key
from bot.pipeline.preferences import Preferences
from bot.pipeline.service import Admitted, Pipeline, Submission
from bot.providers.capabilities import OWN_FILTER_TOLERANCE, Capabilities
from bot.providers.health import BreakerState
from bot.providers.http import HttpClient
from bot.providers.references import read_reference
from bot.storage.records import (
    DAY,
    AuditEntry,
    Balance,
    BlockedPhrase,
    LedgerEntry,
    ProviderSpend,
    Usage,
    utc_day,
)

__all__ = [
    "DAY",
    "OWN_FILTER_TOLERANCE",
    "Admitted",
    "AuditEntry",
    "Balance",
    "BlockedPhrase",
    "Capabilities",
    "Estimate",
    "Facade",
    "Facts",
    "GuildState",
    "LedgerEntry",
    "ProviderInfo",
    "ProviderSpend",
    "ProviderStatus",
    "Submission",
    "Usage",
    "utc_day",
]


class Facts(Protocol):
    """Where the bot keeps facts about itself between runs (e.g. the commands last synced)."""

    async def recall(self, key: str) -> str | None:
        """The value stored under ``key`` in an earlier run, if any."""

    async def remember(self, key: str, value: str) -> None:
        """Store ``value`` under ``key`` for later runs."""


@dataclass(frozen=True)
class ProviderInfo:
    """An enabled provider as members and staff see it: its name, label and what it can do."""

    name: str
    label: str
    capabilities: Capabilities


@dataclass(frozen=True)
class ProviderStatus:
    """How an enabled provider is doing, for /admin providers."""

    name: str
    label: str
    switched_off: bool  # its breaker is open after failures
    on_trial: bool  # the next job tests whether it works again
    retry_in: float  # seconds until it is tried again, while switched off
    last_error: str | None
    success_rate: float | None  # of its recent jobs, None before any
    recent_jobs: int
    median_seconds: float | None


class Facade:
    """What the Discord layer may ask of the bot, in its own terms."""

    def __init__(self, pipeline: Pipeline, http: HttpClient, facts: Facts) -> None:
        self._pipeline = pipeline
        self._router = pipeline.router
        self._guilds = pipeline.guilds
        self._http = http
        self._facts = facts
        self._preferences = Preferences(pipeline.store, pipeline.clock)

    # --- the bot's life -----------------------------------------------------------------

    def attach(self, events: PipelineEvents) -> None:
        """Tell ``events`` about every job from now on; call before ``start``."""
        self._pipeline.attach(events)

    async def start(self) -> None:
        """Resume unfinished jobs and start taking new ones."""
        await self._pipeline.start()

    async def stop(self, grace: float) -> None:
        """Stop taking jobs; let submits in flight land for up to ``grace`` seconds."""
        await self._pipeline.stop(grace=grace)

    def now(self) -> float:
        """The pipeline's wall clock (unix seconds), which reports and periods follow."""
        return self._pipeline.clock()

    async def recall(self, key: str) -> str | None:
        """A fact the bot stored about itself in an earlier run."""
        return await self._facts.recall(key)

    async def remember(self, key: str, value: str) -> None:
        """Store a fact about the bot for later runs."""
        await self._facts.remember(key, value)

    # --- providers ----------------------------------------------------------------------

    def providers(self) -> list[ProviderInfo]:
        """The enabled providers, in the order they are tried."""
        return [
            ProviderInfo(p.name, p.label, p.capabilities) for p in self._router.providers.values()
        ]

    def provider_label(self, name: str) -> str:
        """How members know a provider; its name when it is no longer enabled."""
        provider = self._router.providers.get(name)
        return provider.label if provider is not None else name

    def aspect_ratios(self) -> list[str]:
        """Every aspect ratio at least one enabled provider can make, widest first."""
        offered = {r for p in self._router.providers.values() for r in p.capabilities.aspect_ratios}
        return [ratio for ratio in ASPECT_RATIOS if ratio in offered] or ["1:1"]

    def provider_status(self) -> list[ProviderStatus]:
        """Each enabled provider's health, in the order they are tried."""
        statuses = []
        for name, provider in self._router.providers.items():
            health = self._router.health[name]
            breaker = health.breaker
            statuses.append(
                ProviderStatus(
                    name=name,
                    label=provider.label,
                    switched_off=breaker.state is BreakerState.OPEN,
                    on_trial=breaker.state is BreakerState.HALF_OPEN,
                    retry_in=breaker.retry_in(),
                    last_error=breaker.last_error,
                    success_rate=health.success_rate,
                    recent_jobs=len(health.outcomes),
                    median_seconds=health.median_seconds,
                )
            )
        return statuses

    def prices(self, settings: GuildSettings) -> dict[str, int]:
        """Credits per image at each enabled provider under a guild's ``settings``."""
        return {name: self._guilds.price_of(settings, name) for name in self._router.providers}

    @property
    def max_tolerance(self) -> int:
        """The operator's ceiling on every safety tolerance (MAX_SAFETY_TOLERANCE)."""
        return self._pipeline.operator.max_safety_tolerance

    # --- a member's jobs and credits ----------------------------------------------------

    async def check_reference_link(self, url: str, declared: str | None) -> None:
        """Fetch a linked reference image as a provider would; InvalidRequest saying why not."""
        await read_reference(self._http, url, declared=declared)

    async def submit(self, submission: Submission) -> Admitted:
        """Admit a job or refuse it with the reason; nothing is charged on refusal."""
        return await self._pipeline.submit(submission)

    async def cancel(self, job_id: int, *, by: int, moderator: bool = False) -> Job:
        """Cancel a job: one queued at once, one at a provider where the provider can."""
        return await self._pipeline.cancel(job_id, by=by, moderator=moderator)

    async def job(self, job_id: int) -> Job | None:
        """One job as stored."""
        return await self._pipeline.job(job_id)

    async def jobs_of(self, guild_id: int, user_id: int) -> list[tuple[Job, Estimate | None]]:
        """A member's unfinished jobs with their queue estimates, oldest first."""
        return await self._pipeline.jobs_of(guild_id, user_id)

    async def ended_with_note(
        self, guild_id: int, user_id: int, key: str, *, limit: int = 20
    ) -> list[Job]:
        """A member's recently ended jobs whose context holds the note ``key``, newest first."""
        return await self._pipeline.ended_with_note(guild_id, user_id, key, limit=limit)

    async def set_context(self, job_id: int, context: dict[str, Any]) -> None:
        """Store the Discord layer's data for a job (message ids and the like)."""
        await self._pipeline.set_context(job_id, context)

    async def balance(self, guild_id: int, user_id: int) -> Balance:
        """A member's credits in a guild (today's allowance topped up first)."""
        return await self._pipeline.balance(guild_id, user_id)

    async def history(self, guild_id: int, user_id: int, *, limit: int) -> list[LedgerEntry]:
        """A member's latest credit movements in a guild, newest first."""
        return await self._pipeline.history(guild_id, user_id, limit=limit)

    # --- saved defaults and history (issue 15) ------------------------------------------

    def vary_strengths(self) -> tuple[float, float]:
        """The reference strengths of Vary (Subtle) and Vary (Strong), as the operator set them."""
        operator = self._pipeline.operator
        return operator.vary_subtle_strength, operator.vary_strong_strength

    async def member_defaults(self, guild_id: int, user_id: int) -> Defaults:
        """A member's own /imagine defaults in a guild."""
        return await self._preferences.of_member(guild_id, user_id)

    async def channel_defaults(self, guild_id: int, channel_id: int) -> Defaults:
        """A channel's /imagine defaults (and pinned prompt suffix)."""
        return await self._preferences.of_channel(guild_id, channel_id)

    async def change_member_defaults(self, guild_id: int, user_id: int, **changes: Any) -> Defaults:
        """Change a member's defaults (None clears one); ValueError if one is not allowed."""
        return await self._preferences.change_member(guild_id, user_id, **changes)

    async def change_channel_defaults(
        self, guild_id: int, channel_id: int, actor_id: int, **changes: Any
    ) -> Defaults:
        """Change a channel's defaults (audited); ValueError if one is not allowed."""
        return await self._preferences.change_channel(guild_id, channel_id, actor_id, **changes)

    async def job_page(
        self, guild_id: int, user_id: int, *, page: int, per_page: int
    ) -> tuple[list[Job], int]:
        """A page (from 1) of a member's jobs in a guild, newest first, and their total."""
        return await self._preferences.job_page(guild_id, user_id, page=page, per_page=per_page)

    # --- a guild's rules, changed by its staff (each change audited) --------------------

    async def settings(self, guild_id: int) -> GuildSettings:
        """A guild's current settings."""
        return await self._guilds.settings(guild_id)

    async def rules(self, guild_id: int) -> GuildState:
        """A guild's settings, blocklist and bans, as admission enforces them."""
        return await self._guilds.state(guild_id)

    async def change_settings(
        self, guild_id: int, actor_id: int, **changes: Any
    ) -> tuple[GuildSettings, GuildSettings]:
        """Change settings (checked together); the settings before and after."""
        return await self._guilds.change_settings(guild_id, actor_id, **changes)

    def phrase_key(self, phrase: str) -> str:
        """The key a phrase is blocked under; PhraseRefused saying why it cannot be one."""
        return phrase_key(phrase)

    async def block(self, guild_id: int, actor_id: int, phrase: str) -> bool:
        """Add a phrase to the blocklist; False if it was there already."""
        return await self._guilds.block(guild_id, actor_id, phrase)

    async def unblock(self, guild_id: int, actor_id: int, phrase: str) -> bool:
        """Take a phrase off the blocklist; False if it was not there."""
        return await self._guilds.unblock(guild_id, actor_id, phrase)

    async def blocklist(self, guild_id: int) -> list[BlockedPhrase]:
        """The blocked phrases as moderators typed them, in the order added."""
        return await self._guilds.blocklist(guild_id)

    async def ban(self, guild_id: int, actor_id: int, user_id: int, reason: str) -> None:
        """Stop a member from generating in a guild."""
        await self._guilds.ban(guild_id, actor_id, user_id, reason)

    async def unban(self, guild_id: int, actor_id: int, user_id: int) -> bool:
        """Let a banned member generate again; False if they were not banned."""
        return await self._guilds.unban(guild_id, actor_id, user_id)

    async def grant(
        self, guild_id: int, actor_id: int, user_id: int, amount: int, note: str
    ) -> int:
        """Give (negative: take back) credits, never below zero; what was applied."""
        return await self._guilds.grant(guild_id, actor_id, user_id, amount, note)

    async def audit_page(
        self, guild_id: int, *, member: int | None, page: int, per_page: int
    ) -> tuple[list[AuditEntry], int]:
        """A page (from 1) of the guild's staff changes, newest first, and their total."""
        return await self._guilds.audit_page(guild_id, member=member, page=page, per_page=per_page)

    # --- reports for a guild's admins ---------------------------------------------------

    async def usage(self, guild_id: int, *, since: float, until: float) -> Usage:
        """Credits spent over a period: totals, top members, per provider."""
        return await self._guilds.usage(guild_id, since=since, until=until)

    async def spend_by_day(
        self, guild_id: int, *, since: float, until: float
    ) -> Sequence[tuple[str, str, int, int]]:
        """(UTC day, provider, credits, images) rows, for the chart."""
        return await self._guilds.spend_by_day(guild_id, since=since, until=until)

    async def ledger_entries(
        self, guild_id: int, *, since: float, until: float
    ) -> list[LedgerEntry]:
        """Every credit movement over a period, for the CSV export."""
        return await self._guilds.ledger_entries(guild_id, since=since, until=until)

    async def provider_spend(
        self, guild_id: int, *, since: float, until: float
    ) -> list[ProviderSpend]:
        """What the providers made for the guild's jobs over a period, in tasks and money."""
        return await self._guilds.provider_spend(guild_id, since=since, until=until)
