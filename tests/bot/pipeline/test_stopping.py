"""A bot that is stopping refuses new jobs for what it is, and charges nothing."""

from __future__ import annotations

import pytest

from bot.errors import ShuttingDown
from tests.bot.pipeline.conftest import GUILD, USER, RigFactory


async def test_a_job_asked_for_while_the_bot_stops_is_refused_as_a_restart(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig()
    await rig.pipeline.stop(grace=0.1)
    with pytest.raises(ShuttingDown) as refused:
        await rig.pipeline.submit(rig.submission())
    told = refused.value.user_message
    assert "restarting" in told
    assert "try again" in told
    assert "No image provider" not in told, "the providers are fine; the bot is stopping"
    assert await rig.pipeline.jobs_of(GUILD, USER) == []
    assert (await rig.balance()).held == 0
