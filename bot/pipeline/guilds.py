"""Each guild's settings, blocklist and bans, cached for admission and changed by staff.

Every change by a moderator or admin is one transaction together with its audit
entry (who, what, before, after); the cache is refreshed from the database after
it, so what the pipeline enforces is always what is stored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from bot.errors import InvalidRequest, PhraseRefused
from bot.models import GuildSettings
from bot.safety import Blocklist, normalize_phrase
from bot.settings import Settings
from bot.storage.interface import Store, Transaction
from bot.storage.records import AuditEntry, BlockedPhrase, LedgerEntry, ProviderSpend, Usage


@dataclass
class GuildState:
    """What admission needs to know about a guild, kept in memory."""

    settings: GuildSettings
    blocklist: Blocklist
    banned: dict[int, str]


class GuildDirectory:
    """The guilds' rules as stored, cached, and the audited ways staff change them."""

    def __init__(
        self,
        store: Store,
        operator: Settings,
        *,
        clock: Callable[[], float],
        on_change: Callable[[int], None] = lambda guild_id: None,
    ) -> None:
        self.store = store
        self.operator = operator
        self.clock = clock
        self.on_change = on_change
        self._cache: dict[int, GuildState] = {}

    def cached_settings(self, guild_id: int) -> GuildSettings:
        """The guild's settings without I/O (operator defaults for a guild not yet loaded)."""
        state = self._cache.get(guild_id)
        if state is not None:
            return state.settings
        return GuildSettings.model_validate(self.operator.guild_defaults())

    async def state(self, guild_id: int) -> GuildState:
        """The guild's settings, blocklist and bans (loaded once, then cached)."""
        cached = self._cache.get(guild_id)
        if cached is None:
            cached = self._cache[guild_id] = await self._load(guild_id)
        return cached

    async def settings(self, guild_id: int) -> GuildSettings:
        """The guild's current settings."""
        return (await self.state(guild_id)).settings

    def price_of(self, settings: GuildSettings, provider: str) -> int:
        """Credits per image at ``provider`` in a guild (its own price, else the operator's)."""
        return settings.prices.get(provider, self.operator.price(provider))

    async def change_settings(
        self, guild_id: int, actor_id: int, **changes: Any
    ) -> tuple[GuildSettings, GuildSettings]:
        """Change guild settings (validated together), audited; returns before and after."""
        defaults, at = self.operator.guild_defaults(), self.clock()

        async def change(tx: Transaction) -> tuple[GuildSettings, GuildSettings]:
            before, after = await tx.guilds.change_settings(guild_id, changes, defaults, at=at)
            await tx.audit.record(
                guild_id,
                actor_id,
                "settings",
                before=before.model_dump(mode="json", include=set(changes)),
                after=after.model_dump(mode="json", include=set(changes)),
                at=at,
            )
            return before, after

        try:
            before, after = await self.store.run(change)
        except ValidationError as exc:
            raise _invalid_setting(exc) from exc
        await self._reload(guild_id)
        return before, after

    async def block(self, guild_id: int, actor_id: int, phrase: str) -> bool:
        """Add a phrase to the guild's blocklist (audited); False if already there."""
        key = phrase_key(phrase)
        at = self.clock()

        async def change(tx: Transaction) -> bool:
            added = await tx.guilds.block(guild_id, key, phrase, by=actor_id, at=at)
            if added:
                await tx.audit.record(guild_id, actor_id, "block", before=None, after=phrase, at=at)
            return added

        added = await self.store.run(change)
        await self._reload(guild_id)
        return added

    async def unblock(self, guild_id: int, actor_id: int, phrase: str) -> bool:
        """Remove a phrase from the blocklist (audited); False if it was not there."""
        key = phrase_key(phrase)
        at = self.clock()

        async def change(tx: Transaction) -> bool:
            removed = await tx.guilds.unblock(guild_id, key)
            if removed:
                await tx.audit.record(
                    guild_id, actor_id, "unblock", before=phrase, after=None, at=at
                )
            return removed

        removed = await self.store.run(change)
        await self._reload(guild_id)
        return removed

    async def ban(self, guild_id: int, actor_id: int, user_id: int, reason: str) -> None:
        """Stop a member from generating in this guild (audited)."""
        at = self.clock()

        async def change(tx: Transaction) -> None:
            previous = await tx.guilds.ban(guild_id, user_id, reason, by=actor_id, at=at)
            await tx.audit.record(
                guild_id,
                actor_id,
                "ban",
                before={"user": user_id, "reason": previous.reason} if previous else None,
                after={"user": user_id, "reason": reason},
                at=at,
            )

        await self.store.run(change)
        await self._reload(guild_id)

    async def unban(self, guild_id: int, actor_id: int, user_id: int) -> bool:
        """Let a banned member generate again (audited); False if they were not banned."""
        at = self.clock()

        async def change(tx: Transaction) -> bool:
            previous = await tx.guilds.unban(guild_id, user_id)
            if previous is not None:
                await tx.audit.record(
                    guild_id,
                    actor_id,
                    "unban",
                    before={"user": user_id, "reason": previous.reason},
                    after=None,
                    at=at,
                )
            return previous is not None

        lifted = await self.store.run(change)
        await self._reload(guild_id)
        return lifted

    async def grant(
        self, guild_id: int, actor_id: int, user_id: int, amount: int, note: str = ""
    ) -> int:
        """Give (or, negative, take back) credits; never below zero. Returns what was applied."""
        at = self.clock()

        async def change(tx: Transaction) -> int:
            applied = await tx.ledger.grant(
                guild_id=guild_id,
                user_id=user_id,
                amount=amount,
                actor_id=actor_id,
                note=note,
                at=at,
            )
            await tx.audit.record(
                guild_id,
                actor_id,
                "grant",
                before=None,
                after={"user": user_id, "asked": amount, "applied": applied},
                at=at,
            )
            return applied

        return await self.store.run(change)

    # --- what admins read (always one guild's rows only) ------------------------------

    async def usage(self, guild_id: int, *, since: float, until: float) -> Usage:
        """Credits spent in the guild over a period: totals, top members, per provider."""
        return await self.store.run(lambda tx: tx.reports.usage(guild_id, since=since, until=until))

    async def provider_spend(
        self, guild_id: int, *, since: float, until: float
    ) -> list[ProviderSpend]:
        """The provider tasks of the guild's jobs over a period: made, delivered, paid, money."""
        return await self.store.run(
            lambda tx: tx.tasks.spend(since=since, until=until, guild_id=guild_id)
        )

    async def spend_by_day(
        self, guild_id: int, *, since: float, until: float
    ) -> list[tuple[str, str, int, int]]:
        """(day, provider, credits, images) rows for the chart."""
        return await self.store.run(
            lambda tx: tx.reports.spend_by_day(guild_id, since=since, until=until)
        )

    async def ledger_entries(
        self, guild_id: int, *, since: float, until: float
    ) -> list[LedgerEntry]:
        """Every credit movement in the guild over a period, for the CSV export."""
        return await self.store.run(
            lambda tx: tx.reports.entries(guild_id, since=since, until=until)
        )

    async def member_history(
        self, guild_id: int, user_id: int, *, limit: int = 50
    ) -> list[LedgerEntry]:
        """One member's latest credit movements in the guild."""
        return await self.store.run(
            lambda tx: tx.reports.user_history(guild_id, user_id, limit=limit)
        )

    async def blocklist(self, guild_id: int) -> list[BlockedPhrase]:
        """The guild's blocked phrases, as moderators typed them, in the order added."""
        return await self.store.run(lambda tx: tx.guilds.blocklist(guild_id))

    async def audit_log(self, guild_id: int, *, limit: int = 50) -> list[AuditEntry]:
        """The guild's latest staff changes."""
        return await self.store.run(lambda tx: tx.audit.recent(guild_id, limit=limit))

    async def audit_page(
        self, guild_id: int, *, member: int | None, page: int, per_page: int
    ) -> tuple[list[AuditEntry], int]:
        """Page ``page`` (from 1) of the guild's staff changes, newest first, and the total."""
        offset = (max(page, 1) - 1) * per_page
        return await self.store.run(
            lambda tx: tx.audit.page(guild_id, member=member, offset=offset, limit=per_page)
        )

    async def _reload(self, guild_id: int) -> None:
        self._cache[guild_id] = await self._load(guild_id)
        self.on_change(guild_id)

    async def _load(self, guild_id: int) -> GuildState:
        defaults = self.operator.guild_defaults()

        async def load(tx: Transaction) -> GuildState:
            blocked = await tx.guilds.blocklist(guild_id)
            return GuildState(
                settings=await tx.guilds.settings(guild_id, defaults),
                blocklist=Blocklist([(b.normalized, b.phrase) for b in blocked]),
                banned={b.user_id: b.reason for b in await tx.guilds.bans(guild_id)},
            )

        return await self.store.run(load)


def _invalid_setting(exc: ValidationError) -> InvalidRequest:
    """A refused settings change, naming the setting and why (nothing was changed)."""
    first = exc.errors(include_url=False, include_input=False)[0]
    loc = first.get("loc") or ()
    reason = first.get("msg", "invalid value").removeprefix("Value error, ")
    return InvalidRequest(reason[:1].lower() + reason[1:], field=str(loc[0]) if loc else None)


def phrase_key(phrase: str) -> str:
    """A phrase as the blocklist keys it, or PhraseRefused saying why it cannot be one."""
    try:
        return normalize_phrase(phrase)
    except ValueError as exc:
        raise PhraseRefused(str(exc)) from exc
