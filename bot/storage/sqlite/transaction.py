"""The SQLite transaction: the repository Protocols over the SQL modules of this package.

Every method hands one SQL function and its arguments to ``call``, which runs it on the
connection. When the store runs a whole unit on its database thread, ``call`` runs the
function at once (the unit never leaves that thread); inside ``Store.transaction()``,
``call`` is one hop to that thread per method.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar

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
from bot.storage.sqlite import audit, defaults, guilds, history, jobs, ledger, reports, state, tasks

T = TypeVar("T")
Call = Callable[..., Awaitable[Any]]


def direct(conn: sqlite3.Connection) -> Call:
    """A ``call`` that runs the SQL function at once (already on the database thread)."""

    async def call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return fn(conn, *args, **kwargs)

    return call


class _Repository:
    def __init__(self, call: Call) -> None:
        self._call = call


class SqliteJobs(_Repository):
    """JobRepository on SQLite."""

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
        """See ``JobRepository.insert``."""
        job: Job = await self._call(
            jobs.insert,
            guild_id=guild_id,
            user_id=user_id,
            channel_id=channel_id,
            age_restricted=age_restricted,
            request=request,
            hold=hold,
            context=context,
            at=at,
        )
        return job

    async def get(self, job_id: int) -> Job | None:
        """See ``JobRepository.get``."""
        job: Job | None = await self._call(jobs.get, job_id)
        return job

    async def many(self, job_ids: Sequence[int]) -> list[Job]:
        """See ``JobRepository.many``."""
        found: list[Job] = await self._call(jobs.many, job_ids)
        return found

    async def transition(self, job_id: int, to: JobStatus, *, at: float, **fields: Any) -> bool:
        """See ``JobRepository.transition``."""
        moved: bool = await self._call(jobs.transition, job_id, to, at=at, **fields)
        return moved

    async def set_context(self, job_id: int, context: dict[str, Any]) -> None:
        """See ``JobRepository.set_context``."""
        await self._call(jobs.set_context, job_id, context)

    async def unfinished(self) -> list[Job]:
        """See ``JobRepository.unfinished``."""
        found: list[Job] = await self._call(jobs.unfinished)
        return found

    async def of_user(
        self,
        guild_id: int,
        user_id: int,
        statuses: Iterable[JobStatus] | None = None,
        *,
        limit: int = 50,
    ) -> list[Job]:
        """See ``JobRepository.of_user``."""
        found: list[Job] = await self._call(jobs.of_user, guild_id, user_id, statuses, limit=limit)
        return found

    async def page_of_user(
        self, guild_id: int, user_id: int, *, offset: int, limit: int
    ) -> tuple[list[Job], int]:
        """See ``JobRepository.page_of_user``."""
        found: tuple[list[Job], int] = await self._call(
            history.page, guild_id, user_id, offset=offset, limit=limit
        )
        return found

    async def save_images(self, job_id: int, images: Sequence[GeneratedImage]) -> None:
        """See ``JobRepository.save_images``."""
        await self._call(jobs.save_images, job_id, images)

    async def load_images(self, job_id: int) -> list[GeneratedImage]:
        """See ``JobRepository.load_images``."""
        images: list[GeneratedImage] = await self._call(jobs.load_images, job_id)
        return images

    async def delete_images(self, job_id: int) -> None:
        """See ``JobRepository.delete_images``."""
        await self._call(jobs.delete_images, job_id)

    async def counts_by_status(self) -> dict[JobStatus, int]:
        """See ``JobRepository.counts_by_status``."""
        counts: dict[JobStatus, int] = await self._call(jobs.counts_by_status)
        return counts


class SqliteLedger(_Repository):
    """LedgerRepository on SQLite: writers are serialised by ``BEGIN IMMEDIATE``, and the
    balances table's CHECK refuses an overdraft."""

    async def balance(self, *, guild_id: int, user_id: int, at: float, allowance: int) -> Balance:
        """See ``LedgerRepository.balance``."""
        found: Balance = await self._call(
            ledger.balance, guild_id=guild_id, user_id=user_id, at=at, allowance=allowance
        )
        return found

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
        """See ``LedgerRepository.hold``."""
        after: Balance = await self._call(
            ledger.hold,
            guild_id=guild_id,
            user_id=user_id,
            job_id=job_id,
            amount=amount,
            at=at,
            allowance=allowance,
        )
        return after

    async def settle(
        self, *, job_id: int, charge: int, provider: str | None, images: int, at: float
    ) -> int:
        """See ``LedgerRepository.settle``."""
        charged: int = await self._call(
            ledger.settle, job_id=job_id, charge=charge, provider=provider, images=images, at=at
        )
        return charged

    async def release(self, *, job_id: int, at: float) -> int:
        """See ``LedgerRepository.release``."""
        returned: int = await self._call(ledger.release, job_id=job_id, at=at)
        return returned

    async def open_hold(self, job_id: int) -> int:
        """See ``LedgerRepository.open_hold``."""
        held: int = await self._call(ledger.open_hold, job_id)
        return held

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
        """See ``LedgerRepository.grant``."""
        changed: int = await self._call(
            ledger.grant,
            guild_id=guild_id,
            user_id=user_id,
            amount=amount,
            actor_id=actor_id,
            note=note,
            at=at,
        )
        return changed

    async def reconcile(self) -> list[str]:
        """See ``LedgerRepository.reconcile``."""
        problems: list[str] = await self._call(ledger.reconcile)
        return problems


class SqliteGuilds(_Repository):
    """GuildRepository on SQLite."""

    async def settings(self, guild_id: int, defaults: dict[str, Any]) -> GuildSettings:
        """See ``GuildRepository.settings``."""
        found: GuildSettings = await self._call(guilds.settings, guild_id, defaults)
        return found

    async def change_settings(
        self, guild_id: int, changes: dict[str, Any], defaults: dict[str, Any], *, at: float
    ) -> tuple[GuildSettings, GuildSettings]:
        """See ``GuildRepository.change_settings``."""
        pair: tuple[GuildSettings, GuildSettings] = await self._call(
            guilds.change_settings, guild_id, changes, defaults, at=at
        )
        return pair

    async def blocklist(self, guild_id: int) -> list[BlockedPhrase]:
        """See ``GuildRepository.blocklist``."""
        found: list[BlockedPhrase] = await self._call(guilds.blocklist, guild_id)
        return found

    async def block(
        self, guild_id: int, normalized: str, phrase: str, *, by: int, at: float
    ) -> bool:
        """See ``GuildRepository.block``."""
        added: bool = await self._call(guilds.block, guild_id, normalized, phrase, by=by, at=at)
        return added

    async def unblock(self, guild_id: int, normalized: str) -> bool:
        """See ``GuildRepository.unblock``."""
        removed: bool = await self._call(guilds.unblock, guild_id, normalized)
        return removed

    async def ban(
        self, guild_id: int, user_id: int, reason: str, *, by: int, at: float
    ) -> Ban | None:
        """See ``GuildRepository.ban``."""
        previous: Ban | None = await self._call(guilds.ban, guild_id, user_id, reason, by=by, at=at)
        return previous

    async def unban(self, guild_id: int, user_id: int) -> Ban | None:
        """See ``GuildRepository.unban``."""
        lifted: Ban | None = await self._call(guilds.unban, guild_id, user_id)
        return lifted

    async def bans(self, guild_id: int) -> list[Ban]:
        """See ``GuildRepository.bans``."""
        found: list[Ban] = await self._call(guilds.bans, guild_id)
        return found


class SqliteAudit(_Repository):
    """AuditRepository on SQLite."""

    async def record(
        self, guild_id: int, actor_id: int, action: str, *, before: Any, after: Any, at: float
    ) -> None:
        """See ``AuditRepository.record``."""
        await self._call(
            audit.record, guild_id, actor_id, action, before=before, after=after, at=at
        )

    async def recent(self, guild_id: int, *, limit: int = 50) -> list[AuditEntry]:
        """See ``AuditRepository.recent``."""
        found: list[AuditEntry] = await self._call(audit.recent, guild_id, limit=limit)
        return found

    async def page(
        self, guild_id: int, *, member: int | None = None, offset: int = 0, limit: int = 10
    ) -> tuple[list[AuditEntry], int]:
        """See ``AuditRepository.page``."""
        found: tuple[list[AuditEntry], int] = await self._call(
            audit.page, guild_id, member=member, offset=offset, limit=limit
        )
        return found


class SqliteReports(_Repository):
    """ReportRepository on SQLite."""

    async def usage(self, guild_id: int, *, since: float, until: float, top: int = 10) -> Usage:
        """See ``ReportRepository.usage``."""
        found: Usage = await self._call(reports.usage, guild_id, since=since, until=until, top=top)
        return found

    async def spend_by_day(
        self, guild_id: int, *, since: float, until: float
    ) -> list[tuple[str, str, int, int]]:
        """See ``ReportRepository.spend_by_day``."""
        found: list[tuple[str, str, int, int]] = await self._call(
            reports.spend_by_day, guild_id, since=since, until=until
        )
        return found

    async def user_history(
        self, guild_id: int, user_id: int, *, limit: int = 50
    ) -> list[LedgerEntry]:
        """See ``ReportRepository.user_history``."""
        found: list[LedgerEntry] = await self._call(
            reports.user_history, guild_id, user_id, limit=limit
        )
        return found

    async def entries(self, guild_id: int, *, since: float, until: float) -> list[LedgerEntry]:
        """See ``ReportRepository.entries``."""
        found: list[LedgerEntry] = await self._call(
            reports.entries, guild_id, since=since, until=until
        )
        return found


class SqliteTasks(_Repository):
    """TaskRepository on SQLite."""

    async def record_intent(
        self, *, job_id: int, guild_id: int, intent: Intent, micros_per_image: int
    ) -> None:
        """See ``TaskRepository.record_intent``."""
        await self._call(
            tasks.record_intent,
            job_id=job_id,
            guild_id=guild_id,
            intent=intent,
            micros_per_image=micros_per_image,
        )

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
        """See ``TaskRepository.record_answer``."""
        await self._call(
            tasks.record_answer,
            token,
            created=created,
            unknown=unknown,
            ended=ended,
            ended_billed=ended_billed,
            at=at,
        )

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
        """See ``TaskRepository.end_attempt``."""
        await self._call(
            tasks.end_attempt,
            token,
            state=state,
            billed=billed,
            reason=reason,
            at=at,
            indices=indices,
        )

    async def end_job(
        self, job_id: int, *, state: str, billed: bool, reason: str | None, at: float
    ) -> None:
        """See ``TaskRepository.end_job``."""
        await self._call(tasks.end_job, job_id, state=state, billed=billed, reason=reason, at=at)

    async def open_intent(self, job_id: int) -> Intent | None:
        """See ``TaskRepository.open_intent``."""
        found: Intent | None = await self._call(tasks.open_intent, job_id)
        return found

    async def rows(
        self,
        *,
        since: float,
        until: float,
        guild_id: int | None = None,
        job_id: int | None = None,
    ) -> list[TaskRow]:
        """See ``TaskRepository.rows``."""
        found: list[TaskRow] = await self._call(
            tasks.rows, since=since, until=until, guild_id=guild_id, job_id=job_id
        )
        return found

    async def spend(
        self, *, since: float, until: float, guild_id: int | None = None
    ) -> list[ProviderSpend]:
        """See ``TaskRepository.spend``."""
        found: list[ProviderSpend] = await self._call(
            tasks.spend, since=since, until=until, guild_id=guild_id
        )
        return found


class SqliteState(_Repository):
    """StateRepository on SQLite."""

    async def get(self, key: str) -> str | None:
        """See ``StateRepository.get``."""
        value: str | None = await self._call(state.get, key)
        return value

    async def put(self, key: str, value: str, *, at: float) -> None:
        """See ``StateRepository.put``."""
        await self._call(state.put, key, value, at=at)


class SqliteDefaults(_Repository):
    """DefaultsRepository on SQLite."""

    async def get(self, guild_id: int, scope: str, target_id: int) -> Defaults:
        """See ``DefaultsRepository.get``."""
        found: Defaults = await self._call(defaults.get, guild_id, scope, target_id)
        return found

    async def put(
        self, guild_id: int, scope: str, target_id: int, saved: Defaults, *, at: float
    ) -> None:
        """See ``DefaultsRepository.put``."""
        await self._call(defaults.put, guild_id, scope, target_id, saved, at=at)


class SqliteTransaction:
    """Every repository over one SQLite transaction."""

    def __init__(self, call: Call) -> None:
        self.jobs = SqliteJobs(call)
        self.ledger = SqliteLedger(call)
        self.guilds = SqliteGuilds(call)
        self.audit = SqliteAudit(call)
        self.reports = SqliteReports(call)
        self.tasks = SqliteTasks(call)
        self.state = SqliteState(call)
        self.defaults = SqliteDefaults(call)
