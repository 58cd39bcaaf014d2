"""Saved /imagine defaults (a member's, a channel's) and a member's job history.

The pipeline never reads these: the Discord layer resolves them into a plain
GenerationRequest before it submits a job. A channel's defaults are a staff change, so
they are audited like the guild's other settings.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.jobs import Job
from bot.models import Defaults
from bot.storage.interface import Store, Transaction

MEMBER, CHANNEL = "member", "channel"


class Preferences:
    """Reads and changes saved defaults; pages through a member's jobs."""

    def __init__(self, store: Store, clock: Callable[[], float]) -> None:
        self.store = store
        self.clock = clock

    async def of_member(self, guild_id: int, user_id: int) -> Defaults:
        """A member's own defaults in a guild."""
        return await self._get(guild_id, MEMBER, user_id)

    async def of_channel(self, guild_id: int, channel_id: int) -> Defaults:
        """A channel's defaults."""
        return await self._get(guild_id, CHANNEL, channel_id)

    async def change_member(self, guild_id: int, user_id: int, **changes: Any) -> Defaults:
        """Change some of a member's defaults (None clears one); the defaults after."""
        return await self._change(guild_id, MEMBER, user_id, None, changes)

    async def change_channel(
        self, guild_id: int, channel_id: int, actor_id: int, **changes: Any
    ) -> Defaults:
        """Change some of a channel's defaults (audited); the defaults after."""
        return await self._change(guild_id, CHANNEL, channel_id, actor_id, changes)

    async def job_page(
        self, guild_id: int, user_id: int, *, page: int, per_page: int
    ) -> tuple[list[Job], int]:
        """Page ``page`` (from 1) of a member's jobs, newest first, and their total."""

        async def read(tx: Transaction) -> tuple[list[Job], int]:
            return await tx.jobs.page_of_user(
                guild_id, user_id, offset=(page - 1) * per_page, limit=per_page
            )

        return await self.store.run(read)

    async def _get(self, guild_id: int, scope: str, target_id: int) -> Defaults:
        async def read(tx: Transaction) -> Defaults:
            return await tx.defaults.get(guild_id, scope, target_id)

        return await self.store.run(read)

    async def _change(
        self,
        guild_id: int,
        scope: str,
        target_id: int,
        actor_id: int | None,
        changes: dict[str, Any],
    ) -> Defaults:
        at = self.clock()

        async def change(tx: Transaction) -> Defaults:
            before = await tx.defaults.get(guild_id, scope, target_id)
            after = Defaults.model_validate({**before.model_dump(), **changes})
            await tx.defaults.put(guild_id, scope, target_id, after, at=at)
            if actor_id is not None:
                await tx.audit.record(
                    guild_id,
                    actor_id,
                    f"defaults:{target_id}",
                    before=before.model_dump(mode="json", include=set(changes)),
                    after=after.model_dump(mode="json", include=set(changes)),
                    at=at,
                )
            return after

        return await self.store.run(change)
