"""Private mode: results only the member sees, ephemerally or by direct message."""

from __future__ import annotations

from tests.cogs.conftest import ALICE, BOB, Rig, RigFactory
from tests.cogs.test_imagine import settings
from tests.cogs.test_mod import mod
from tests.fakes.discord import FakeMessage


async def usage_credits(rig: Rig) -> int:
    assert rig.service is not None
    await rig.service.pipeline.drain()
    now = rig.service.facade.now()
    return (await rig.service.facade.usage(rig.guild.id, since=now - 3600, until=now + 60)).credits


async def test_an_ephemeral_result_is_charged_counted_and_its_buttons_are_the_owners(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig("fal")
    await mod(rig, "allow", "private")
    asked = await rig.imagine(private="ephemeral")
    result = await rig.outcome(asked)
    assert result.ephemeral, "only the member sees it"
    assert result.id == asked.original.id if asked.original else False
    assert len(result.attachments) == 1
    assert not [m for m in rig.fake.messages() if not m.ephemeral], "nothing public at all"
    assert await rig.balance(ALICE) == 54
    assert await usage_credits(rig) == 6, "still on the server's usage"

    reroll = next(i for i in result.custom_ids() if i.startswith("imagine:reroll:"))
    refused = await rig.fake.click(result, reroll, user_id=BOB)
    await refused.acknowledged()
    assert refused.original is not None
    assert "Only the member who asked" in refused.original.content
    assert await rig.balance(BOB) == 60
    again = await rig.fake.click(result, reroll, user_id=ALICE)
    await again.acknowledged()
    assert (await rig.outcome(again)).ephemeral, "a follow-up of a private result stays private"


async def test_a_dm_result_goes_to_direct_messages(make_rig: RigFactory) -> None:
    rig = await make_rig("fal")
    await mod(rig, "allow", "private")
    asked = await rig.imagine(private="dm")
    dm = await rig.fake.dms.wait_for(ALICE)
    assert len(dm.files) == 1
    assert dm.embeds[0]["description"] == "a lighthouse at dusk"
    assert any(i.startswith("imagine:edit:") for i in dm.custom_ids())
    assert asked.original is not None
    told = await rig.fake.wait_for(
        lambda m: "direct messages" in m.content, message_id=asked.original.id
    )
    assert told.ephemeral and not told.attachments
    assert await rig.balance(ALICE) == 54


async def test_a_refused_dm_falls_back_to_the_ephemeral_answer(make_rig: RigFactory) -> None:
    rig = await make_rig("fal")
    await mod(rig, "allow", "private")
    rig.fake.dms.closed.add(ALICE)
    result: FakeMessage = await rig.outcome(await rig.imagine(private="dm"))
    assert result.ephemeral
    assert len(result.attachments) == 1
    assert rig.fake.dms.sent == []
    assert await rig.balance(ALICE) == 54


async def test_private_results_need_the_servers_permission(make_rig: RigFactory) -> None:
    rig = await make_rig("fal")
    asked = await rig.imagine(private="ephemeral")
    reply = await rig.fake.wait_for(lambda m: m.ephemeral and "/mod private" in m.content)
    assert "Nothing was charged" in reply.content
    assert asked.original is not None
    assert rig.providers["fal"].tasks == {}
    await mod(rig, "allow", "private")
    await mod(rig, "deny", "private")
    await rig.imagine(private="dm")
    assert rig.providers["fal"].tasks == {}


async def test_the_nsfw_rules_still_apply_to_private_results(make_rig: RigFactory) -> None:
    rig = await make_rig("fal")
    await mod(rig, "allow", "private")
    await settings(rig, nsfw_policy="block", refund_blocked=True)
    rig.providers["fal"].script("nsfw")
    told = await rig.outcome(await rig.imagine(private="ephemeral"))
    assert not told.attachments
    assert "not shown outside age-restricted channels" in told.content
    assert rig.fake.dms.sent == []
