"""/mod limits offers every per-server limit, and each one holds from the next /imagine."""

from __future__ import annotations

from bot.limits import GUILD_LIMITS
from tests.cogs.conftest import RigFactory
from tests.cogs.test_mod import current, mod


async def test_every_limit_is_an_option_with_its_range(make_rig: RigFactory) -> None:
    rig = await make_rig("fal")
    [command] = [c for c in rig.fake.commands[rig.guild.id] if c["name"] == "mod"]
    [limits] = [o for o in command["options"] if o["name"] == "limits"]
    options = {o["name"]: o for o in limits["options"]}
    assert list(options) == [limit.option for limit in GUILD_LIMITS]
    for limit in GUILD_LIMITS:
        option = options[limit.option]
        assert (option["min_value"], option["max_value"]) == (limit.low, limit.high)
        assert option["description"] == limit.description
        assert option["type"] == (4 if limit.whole else 10), "integer or number"


async def test_the_servers_queue_cap_refuses_and_the_running_cap_holds(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig("fal", latency=600.0)
    reply = await mod(rig, "limits", server_running=1, server_queued=1, burst=2)
    assert "Running jobs (whole server): 4 → **1**" in reply.content
    assert "Queued jobs (whole server): 100 → **1**" in reply.content
    assert "Burst (jobs started at once): 5 → **2**" in reply.content
    settings = await current(rig)
    assert (settings.max_running, settings.max_queued, settings.burst) == (1, 1, 2)

    await rig.imagine(prompt="first runs")
    await rig.providers["fal"].wait_for_tasks(1)
    waiting = await rig.imagine(prompt="second waits: one may run at once")
    refused = await rig.outcome(await rig.imagine(prompt="third is refused"))
    assert refused.ephemeral
    assert "(limit 1)" in refused.content
    assert len(rig.providers["fal"].tasks) == 1, "the running cap held"
    assert waiting.original is not None and not waiting.original.deleted


async def test_an_out_of_range_limit_is_refused_and_nothing_changes(make_rig: RigFactory) -> None:
    rig = await make_rig("fal")
    before = await current(rig)
    bad = await mod(rig, "limits", server_running=5000)
    assert "`server_running` must be a whole number from 1 to 1000" in bad.content
    assert "Nothing was changed" in bad.content
    assert await current(rig) == before
