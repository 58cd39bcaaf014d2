"""What the rest of the bot may ask of storage: typed repositories inside one transaction.

A change is an async function of a ``Transaction`` (a *unit*), run atomically by
``Store.run``: everything it does commits together or not at all, and no other unit's
writes appear half-done inside it. The pipeline only ever sees these Protocols; SQL lives
in the engines (``bot.storage.sqlite``, ``bot.storage.postgres``). A unit awaits only its
transaction's methods: an engine may run it anywhere (the SQLite engine runs it on its
database thread, in one hop, grouped with others).

Each method names the guarantee it needs from the engine, so a second engine can meet
them: *atomic* (part of the unit's one transaction), *serialised* (concurrent writers to
the same rows, in this process or another, see each other's committed effect and never
interleave inside the read-then-write the method does), *compare-and-set* (the write
happens only if the stored state is still the one expected).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol, TypeVar

from bot.handles import Intent
from bot.jobs import Job
from bot.models import Defaults, GeneratedImage, GenerationRequest, GuildSettings, JobStatus
from bot.storage.records import (
    AuditEntry,
    Balance,
    Ban,
    BlockedPhrase,
    LedgerEntry,
    ProviderSpend,
    TaskRow,
    Usage,
)

T = TypeVar("T")


class StorageError(Exception):
    """The database cannot be used as it is; the message says why and what to do."""


class JobRepository(Protocol):
    """Jobs and their fetched images (the database is the truth about every job)."""

    async def insert(
        self,
        *,
        guild_id: int,
        user_id: int,
        channel_id: int,
        age_restricted: bool,
        request: GenerationRequest,
        hold: int,
        context: dict[str, Any],
        at: float,
    ) -> Job:
        """Store a new QUEUED job; its id comes from the database."""

    async def get(self, job_id: int) -> Job | None:
        """One job by id."""

    async def many(self, job_ids: Sequence[int]) -> list[Job]:
        """Several jobs by id, in id order."""

    async def transition(self, job_id: int, to: JobStatus, *, at: float, **fields: Any) -> bool:
        """Compare-and-set: move the job to ``to`` only from a status ``bot.jobs.ALLOWED``
        permits, with the given fields; False (nothing changed) when it had moved on. Two
        units racing to end a job: exactly one gets True."""

    async def set_context(self, job_id: int, context: dict[str, Any]) -> None:
        """Replace the Discord layer's data for a job."""

    async def unfinished(self) -> list[Job]:
        """Every job not in an end state, oldest first: what a restart picks up."""

    async def of_user(
        self,
        guild_id: int,
        user_id: int,
        statuses: Iterable[JobStatus] | None = None,
        *,
        limit: int = 50,
    ) -> list[Job]:
        """A member's jobs in a guild, newest first, optionally only some statuses."""

    async def page_of_user(
        self, guild_id: int, user_id: int, *, offset: int, limit: int
    ) -> tuple[list[Job], int]:
        """A page of a member's jobs in a guild, newest first, and how many they have there."""

    async def save_images(self, job_id: int, images: Sequence[GeneratedImage]) -> None:
        """Keep fetched images until delivered (replacing any kept before)."""

    async def load_images(self, job_id: int) -> list[GeneratedImage]:
        """The kept images of a job, in order."""

    async def delete_images(self, job_id: int) -> None:
        """Drop a job's kept images."""

    async def counts_by_status(self) -> dict[JobStatus, int]:
        """How many jobs are in each status."""


class LedgerRepository(Protocol):
    """The double-entry credit ledger: every movement's legs sum to zero, and the stored
    balances equal the legs' sums. The engine refuses a balance below zero by itself (a
    constraint), so a bug cannot overdraw a member."""

    async def balance(self, *, guild_id: int, user_id: int, at: float, allowance: int) -> Balance:
        """The member's balance now, issuing today's allowance first (a write). Serialised
        with every other write to the member's balances."""

    async def hold(
        self,
        *,
        guild_id: int,
        user_id: int,
        job_id: int,
        amount: int,
        at: float,
        allowance: int,
    ) -> Balance:
        """Set a job's price aside (allowance first, then granted); InsufficientCredits and
        nothing written when short. Serialised: two concurrent holds on one member never
        both spend the same credits."""

    async def settle(
        self, *, job_id: int, charge: int, provider: str | None, images: int, at: float
    ) -> int:
        """Charge a delivered job and return the rest of its hold; exactly once (a closed
        hold changes nothing and returns 0)."""

    async def release(self, *, job_id: int, at: float) -> int:
        """Return a job's whole hold; exactly once, like ``settle``."""

    async def open_hold(self, job_id: int) -> int:
        """Credits still held for a job."""

    async def grant(
        self,
        *,
        guild_id: int,
        user_id: int,
        amount: int,
        actor_id: int,
        note: str | None,
        at: float,
    ) -> int:
        """An admin gives (or, negative, takes back no more than the granted balance);
        serialised with the member's other balance writes. The change made."""

    async def reconcile(self) -> list[str]:
        """Every inconsistency between legs and balances, one sentence each (empty: sound)."""


class GuildRepository(Protocol):
    """Per-guild settings, blocklist and bans."""

    async def settings(self, guild_id: int, defaults: dict[str, Any]) -> GuildSettings:
        """The guild's own choices over the operator's defaults."""

    async def change_settings(
        self, guild_id: int, changes: dict[str, Any], defaults: dict[str, Any], *, at: float
    ) -> tuple[GuildSettings, GuildSettings]:
        """Apply changes validated as a whole; (before, after). Serialised per guild: two
        staff members changing different fields at once both keep their change."""

    async def blocklist(self, guild_id: int) -> list[BlockedPhrase]:
        """The guild's blocked phrases, in the order added."""

    async def block(
        self, guild_id: int, normalized: str, phrase: str, *, by: int, at: float
    ) -> bool:
        """Add a phrase; False when an equivalent one is listed."""

    async def unblock(self, guild_id: int, normalized: str) -> bool:
        """Remove a phrase; False when it was not listed."""

    async def ban(
        self, guild_id: int, user_id: int, reason: str, *, by: int, at: float
    ) -> Ban | None:
        """Ban (or re-ban with a new reason); the ban replaced, if any."""

    async def unban(self, guild_id: int, user_id: int) -> Ban | None:
        """Lift a ban; the ban lifted, if any."""

    async def bans(self, guild_id: int) -> list[Ban]:
        """Every ban in the guild."""


class AuditRepository(Protocol):
    """Who changed what in a guild, before and after (JSON values)."""

    async def record(
        self, guild_id: int, actor_id: int, action: str, *, before: Any, after: Any, at: float
    ) -> None:
        """Append one change; atomic with the change it describes."""

    async def recent(self, guild_id: int, *, limit: int = 50) -> list[AuditEntry]:
        """The guild's latest changes, newest first."""

    async def page(
        self, guild_id: int, *, member: int | None = None, offset: int = 0, limit: int = 10
    ) -> tuple[list[AuditEntry], int]:
        """One page of changes (those by or about ``member``), newest first, and the total."""


class ReportRepository(Protocol):
    """What admins read about credits (reads only)."""

    async def usage(self, guild_id: int, *, since: float, until: float, top: int = 10) -> Usage:
        """Spend in a guild over a period: totals, top members, per provider."""

    async def spend_by_day(
        self, guild_id: int, *, since: float, until: float
    ) -> list[tuple[str, str, int, int]]:
        """(day, provider, credits, images) rows, oldest day first."""

    async def user_history(
        self, guild_id: int, user_id: int, *, limit: int = 50
    ) -> list[LedgerEntry]:
        """A member's latest movements, newest first."""

    async def entries(self, guild_id: int, *, since: float, until: float) -> list[LedgerEntry]:
        """Every movement in a guild over a period, oldest first."""


class TaskRepository(Protocol):
    """The provider task log: each task asked of a provider, from the intent to its end."""

    async def record_intent(
        self, *, job_id: int, guild_id: int, intent: Intent, micros_per_image: int
    ) -> None:
        """One row per planned task, written (atomically with the job's move to SUBMITTING)
        before the submit leaves."""

    async def record_answer(
        self,
        token: str,
        *,
        created: Iterable[tuple[int, str]],
        unknown: Iterable[int],
        ended: Iterable[int],
        ended_billed: bool,
        at: float,
    ) -> None:
        """The provider's answer to an attempt; every other planned task was refused."""

    async def end_attempt(
        self,
        token: str,
        *,
        state: str,
        billed: bool | None,
        reason: str,
        at: float,
        indices: Sequence[int] | None = None,
    ) -> None:
        """Close an attempt's open tasks (all, or only ``indices``)."""

    async def end_job(
        self, job_id: int, *, state: str, billed: bool, reason: str | None, at: float
    ) -> None:
        """The job ended: its made tasks end with it; intents still open become in doubt."""

    async def open_intent(self, job_id: int) -> Intent | None:
        """The job's latest submit still awaiting its answer."""

    async def rows(
        self,
        *,
        since: float,
        until: float,
        guild_id: int | None = None,
        job_id: int | None = None,
    ) -> list[TaskRow]:
        """Every task sent in the period, oldest first."""

    async def spend(
        self, *, since: float, until: float, guild_id: int | None = None
    ) -> list[ProviderSpend]:
        """Per provider: tasks made, images delivered, paid, money, in doubt."""


class StateRepository(Protocol):
    """Small facts the bot remembers about itself (key → text)."""

    async def get(self, key: str) -> str | None:
        """The stored value, or None."""

    async def put(self, key: str, value: str, *, at: float) -> None:
        """Store or replace a value."""


class DefaultsRepository(Protocol):
    """Saved /imagine defaults (``scope`` "member": a member of the guild, "channel": a
    channel), one document each; a member's and a channel's are independent rows."""

    async def get(self, guild_id: int, scope: str, target_id: int) -> Defaults:
        """The saved defaults (nothing set when none were saved)."""

    async def put(
        self, guild_id: int, scope: str, target_id: int, saved: Defaults, *, at: float
    ) -> None:
        """Store or replace them whole (nothing set: forget them)."""


class Transaction(Protocol):
    """One atomic unit of work over every repository."""

    @property
    def jobs(self) -> JobRepository: ...

    @property
    def ledger(self) -> LedgerRepository: ...

    @property
    def guilds(self) -> GuildRepository: ...

    @property
    def audit(self) -> AuditRepository: ...

    @property
    def reports(self) -> ReportRepository: ...

    @property
    def tasks(self) -> TaskRepository: ...

    @property
    def state(self) -> StateRepository: ...

    @property
    def defaults(self) -> DefaultsRepository: ...


Unit = Callable[[Transaction], Awaitable[T]]


class Store(Protocol):
    """An open database: units of work, run atomically."""

    @property
    def location(self) -> str:
        """Where the data lives, for messages (a path, or a URL without its password)."""

    async def run(self, unit: Unit[T]) -> T:
        """Run ``unit`` as one transaction: all of it commits, or none (it raised); a unit
        sees the writes of every unit whose ``run`` returned before it started."""

    def transaction(self) -> AbstractAsyncContextManager[Transaction]:
        """The same as ``run``, as ``async with store.transaction() as tx:`` (committed when
        the block ends, rolled back if it raises)."""

    async def close(self) -> None:
        """Finish what was handed over, then close."""
