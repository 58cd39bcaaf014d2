"""The repository Protocols over an engine's SQL modules, for every engine.

An engine has one module per repository (``jobs``, ``ledger``, ``guilds``, ``audit``,
``reports``, ``tasks``, ``state``) whose functions take the connection first. Every
method here hands one such function and its arguments to the engine's ``call``, which
runs it inside the unit's transaction: SQLite at once on its database thread (or one hop
to it), PostgreSQL by awaiting it on the unit's connection.
"""

from __future__ import annotations

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

T = TypeVar("T")
Call = Callable[..., Awaitable[Any]]


class _Repository:
    def __init__(self, call: Call, sql: Any) -> None:
        self._call = call
        self._sql = sql


class SqlJobs(_Repository):
    """JobRepository over an engine's SQL modules."""

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
            self._sql.jobs.insert,
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
        job: Job | None = await self._call(self._sql.jobs.get, job_id)
        return job

    async def many(self, job_ids: Sequence[int]) -> list[Job]:
        """See ``JobRepository.many``."""
        found: list[Job] = await self._call(self._sql.jobs.many, job_ids)
        return found

    async def transition(self, job_id: int, to: JobStatus, *, at: float, **fields: Any) -> bool:
        """See ``JobRepository.transition``."""
        moved: bool = await self._call(self._sql.jobs.transition, job_id, to, at=at, **fields)
        return moved

    async def set_context(self, job_id: int, context: dict[str, Any]) -> None:
        """See ``JobRepository.set_context``."""
        await self._call(self._sql.jobs.set_context, job_id, context)

    async def unfinished(self) -> list[Job]:
        """See ``JobRepository.unfinished``."""
        found: list[Job] = await self._call(self._sql.jobs.unfinished)
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
        found: list[Job] = await self._call(
            self._sql.jobs.of_user, guild_id, user_id, statuses, limit=limit
        )
        return found

    async def page_of_user(
        self, guild_id: int, user_id: int, *, offset: int, limit: int
    ) -> tuple[list[Job], int]:
        """See ``JobRepository.page_of_user``."""
        found: tuple[list[Job], int] = await self._call(
            self._sql.history.page, guild_id, user_id, offset=offset, limit=limit
        )
        return found

    async def save_images(self, job_id: int, images: Sequence[GeneratedImage]) -> None:
        """See ``JobRepository.save_images``."""
        await self._call(self._sql.jobs.save_images, job_id, images)

    async def load_images(self, job_id: int) -> list[GeneratedImage]:
        """See ``JobRepository.load_images``."""
        images: list[GeneratedImage] = await self._call(self._sql.jobs.load_images, job_id)
        return images

    async def delete_images(self, job_id: int) -> None:
        """See ``JobRepository.delete_images``."""
        await self._call(self._sql.jobs.delete_images, job_id)

    async def counts_by_status(self) -> dict[JobStatus, int]:
        """See ``JobRepository.counts_by_status``."""
        counts: dict[JobStatus, int] = await self._call(self._sql.jobs.counts_by_status)
        return counts


class SqlLedger(_Repository):
    """LedgerRepository over an engine's SQL modules: the engine serialises writers, and
    its balances table's CHECK refuses an overdraft."""

    async def balance(self, *, guild_id: int, user_id: int, at: float, allowance: int) -> Balance:
        """See ``LedgerRepository.balance``."""
        found: Balance = await self._call(
            self._sql.ledger.balance, guild_id=guild_id, user_id=user_id, at=at, allowance=allowance
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
            self._sql.ledger.hold,
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
            self._sql.ledger.settle,
            job_id=job_id,
            charge=charge,
            provider=provider,
            images=images,
            at=at,
        )
        return charged

    async def release(self, *, job_id: int, at: float) -> int:
        """See ``LedgerRepository.release``."""
        returned: int = await self._call(self._sql.ledger.release, job_id=job_id, at=at)
        return returned

    async def open_hold(self, job_id: int) -> int:
        """See ``LedgerRepository.open_hold``."""
        held: int = await self._call(self._sql.ledger.open_hold, job_id)
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
            self._sql.ledger.grant,
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
        problems: list[str] = await self._call(self._sql.ledger.reconcile)
        return problems


class SqlGuilds(_Repository):
    """GuildRepository over an engine's SQL modules."""

    async def settings(self, guild_id: int, defaults: dict[str, Any]) -> GuildSettings:
        """See ``GuildRepository.settings``."""
        found: GuildSettings = await self._call(self._sql.guilds.settings, guild_id, defaults)
        return found

    async def change_settings(
        self, guild_id: int, changes: dict[str, Any], defaults: dict[str, Any], *, at: float
    ) -> tuple[GuildSettings, GuildSettings]:
        """See ``GuildRepository.change_settings``."""
        pair: tuple[GuildSettings, GuildSettings] = await self._call(
            self._sql.guilds.change_settings, guild_id, changes, defaults, at=at
        )
        return pair

    async def blocklist(self, guild_id: int) -> list[BlockedPhrase]:
        """See ``GuildRepository.blocklist``."""
        found: list[BlockedPhrase] = await self._call(self._sql.guilds.blocklist, guild_id)
        return found

    async def block(
        self, guild_id: int, normalized: str, phrase: str, *, by: int, at: float
    ) -> bool:
        """See ``GuildRepository.block``."""
        added: bool = await self._call(
            self._sql.guilds.block, guild_id, normalized, phrase, by=by, at=at
        )
        return added

    async def unblock(self, guild_id: int, normalized: str) -> bool:
        """See ``GuildRepository.unblock``."""
        removed: bool = await self._call(self._sql.guilds.unblock, guild_id, normalized)
        return removed

    async def ban(
        self, guild_id: int, user_id: int, reason: str, *, by: int, at: float
    ) -> Ban | None:
        """See ``GuildRepository.ban``."""
        previous: Ban | None = await self._call(
            self._sql.guilds.ban, guild_id, user_id, reason, by=by, at=at
        )
        return previous

    async def unban(self, guild_id: int, user_id: int) -> Ban | None:
        """See ``GuildRepository.unban``."""
        lifted: Ban | None = await self._call(self._sql.guilds.unban, guild_id, user_id)
        return lifted

    async def bans(self, guild_id: int) -> list[Ban]:
        """See ``GuildRepository.bans``."""
        found: list[Ban] = await self._call(self._sql.guilds.bans, guild_id)
        return found


class SqlAudit(_Repository):
    """AuditRepository over an engine's SQL modules."""

    async def record(
        self, guild_id: int, actor_id: int, action: str, *, before: Any, after: Any, at: float
    ) -> None:
        """See ``AuditRepository.record``."""
        await self._call(
            self._sql.audit.record, guild_id, actor_id, action, before=before, after=after, at=at
        )

    async def recent(self, guild_id: int, *, limit: int = 50) -> list[AuditEntry]:
        """See ``AuditRepository.recent``."""
        found: list[AuditEntry] = await self._call(self._sql.audit.recent, guild_id, limit=limit)
        return found

    async def page(
        self, guild_id: int, *, member: int | None = None, offset: int = 0, limit: int = 10
    ) -> tuple[list[AuditEntry], int]:
        """See ``AuditRepository.page``."""
        found: tuple[list[AuditEntry], int] = await self._call(
            self._sql.audit.page, guild_id, member=member, offset=offset, limit=limit
        )
        return found


class SqlReports(_Repository):
    """ReportRepository over an engine's SQL modules."""

    async def usage(self, guild_id: int, *, since: float, until: float, top: int = 10) -> Usage:
        """See ``ReportRepository.usage``."""
        found: Usage = await self._call(
            self._sql.reports.usage, guild_id, since=since, until=until, top=top
        )
        return found

    async def spend_by_day(
        self, guild_id: int, *, since: float, until: float
    ) -> list[tuple[str, str, int, int]]:
        """See ``ReportRepository.spend_by_day``."""
        found: list[tuple[str, str, int, int]] = await self._call(
            self._sql.reports.spend_by_day, guild_id, since=since, until=until
        )
        return found

    async def user_history(
        self, guild_id: int, user_id: int, *, limit: int = 50
    ) -> list[LedgerEntry]:
        """See ``ReportRepository.user_history``."""
        found: list[LedgerEntry] = await self._call(
            self._sql.reports.user_history, guild_id, user_id, limit=limit
        )
        return found

    async def entries(self, guild_id: int, *, since: float, until: float) -> list[LedgerEntry]:
        """See ``ReportRepository.entries``."""
        found: list[LedgerEntry] = await self._call(
            self._sql.reports.entries, guild_id, since=since, until=until
        )
        return found


class SqlTasks(_Repository):
    """TaskRepository over an engine's SQL modules."""

    async def record_intent(
        self, *, job_id: int, guild_id: int, intent: Intent, micros_per_image: int
    ) -> None:
        """See ``TaskRepository.record_intent``."""
        await self._call(
            self._sql.tasks.record_intent,
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
            self._sql.tasks.record_answer,
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
            self._sql.tasks.end_attempt,
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
        await self._call(
            self._sql.tasks.end_job, job_id, state=state, billed=billed, reason=reason, at=at
        )

    async def open_intent(self, job_id: int) -> Intent | None:
        """See ``TaskRepository.open_intent``."""
        found: Intent | None = await self._call(self._sql.tasks.open_intent, job_id)
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
            self._sql.tasks.rows, since=since, until=until, guild_id=guild_id, job_id=job_id
        )
        return found

    async def spend(
        self, *, since: float, until: float, guild_id: int | None = None
    ) -> list[ProviderSpend]:
        """See ``TaskRepository.spend``."""
        found: list[ProviderSpend] = await self._call(
            self._sql.tasks.spend, since=since, until=until, guild_id=guild_id
        )
        return found


class SqlState(_Repository):
    """StateRepository over an engine's SQL modules."""

    async def get(self, key: str) -> str | None:
        """See ``StateRepository.get``."""
        value: str | None = await self._call(self._sql.state.get, key)
        return value

    async def put(self, key: str, value: str, *, at: float) -> None:
        """See ``StateRepository.put``."""
        await self._call(self._sql.state.put, key, value, at=at)


class SqlDefaults(_Repository):
    """DefaultsRepository over an engine's SQL."""

    async def get(self, guild_id: int, scope: str, target_id: int) -> Defaults:
        """See ``DefaultsRepository.get``."""
        found: Defaults = await self._call(self._sql.defaults.get, guild_id, scope, target_id)
        return found

    async def put(
        self, guild_id: int, scope: str, target_id: int, saved: Defaults, *, at: float
    ) -> None:
        """See ``DefaultsRepository.put``."""
        await self._call(self._sql.defaults.put, guild_id, scope, target_id, saved, at=at)


class SqlTransaction:
    """Every repository over one transaction of an engine."""

    def __init__(self, call: Call, sql: Any) -> None:
        self.jobs = SqlJobs(call, sql)
        self.ledger = SqlLedger(call, sql)
        self.guilds = SqlGuilds(call, sql)
        self.audit = SqlAudit(call, sql)
        self.reports = SqlReports(call, sql)
        self.tasks = SqlTasks(call, sql)
        self.state = SqlState(call, sql)
        self.defaults = SqlDefaults(call, sql)
