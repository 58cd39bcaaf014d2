"""/history (paged, private) and /show (the owner's or a moderator's re-post of a result)."""

from __future__ import annotations

from typing import Any

from tests.cogs.conftest import ALICE, BOB, MOD, Rig, RigFactory
from tests.cogs.test_mod import mod
from tests.fakes.discord import FakeInteraction


async def run(rig: Rig, name: str, user: int, **options: Any) -> FakeInteraction:
    interaction = await rig.fake.slash(
        name, guild=rig.guild, channel=rig.channel, user_id=user, options=options
    )
    await interaction.acknowledged()
    return interaction


async def test_history_pages_the_members_jobs_newest_first_with_links_and_thumbnails(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig("fal")
    results = [await rig.outcome(await rig.imagine(prompt=f"tower {n}")) for n in range(6)]
    await rig.outcome(await rig.imagine(user=BOB, prompt="not alice's"))
    await rig.balance(ALICE)  # every job settled
    first = await run(rig, "history", ALICE)
    assert first.original is not None and first.original.ephemeral
    cards = first.original.embeds
    assert [c["description"] for c in cards] == [f"tower {n}" for n in (5, 4, 3, 2, 1)]
    assert all(c["title"].endswith(": done") for c in cards)
    newest = results[-1]
    assert cards[0]["url"].endswith(f"/{rig.channel.id}/{newest.id}"), "links the result message"
    assert cards[0]["thumbnail"]["url"] == newest.attachments[0].url
    assert cards[-1]["footer"]["text"].startswith("Page 1 of 2: /history page:<n>")
    second = await run(rig, "history", ALICE, page=2)
    assert second.original is not None
    assert [c["description"] for c in second.original.embeds] == ["tower 0"]
    beyond = await run(rig, "history", ALICE, page=5)
    assert beyond.original is not None and "only 2 pages" in beyond.original.content


async def test_show_reposts_the_card_for_its_owner_or_a_moderator(make_rig: RigFactory) -> None:
    rig = await make_rig("fal")
    result = await rig.outcome(await rig.imagine(prompt="a lantern", count=2))
    job_id = int(
        next(i for i in result.custom_ids() if i.startswith("imagine:reroll:")).split(":")[2]
    )

    refused = await run(rig, "show", BOB, job_id=job_id)
    assert refused.original is not None and refused.original.ephemeral
    assert "Only the member who asked" in refused.original.content

    for user in (ALICE, MOD):
        shown = await run(rig, "show", user, job_id=job_id)
        assert shown.original is not None
        card = await rig.fake.wait_for(
            lambda m, s=shown: m.id == s.original.id and not m.loading  # type: ignore[union-attr]
        )
        assert not card.ephemeral
        assert [a.data for a in card.attachments] == [a.data for a in result.attachments]
        assert card.embeds[0]["description"] == "a lantern"
        assert any(i.startswith(f"imagine:subtle:{job_id}:1") for i in card.custom_ids())

    unknown = await run(rig, "show", ALICE, job_id=job_id + 100)
    assert unknown.original is not None and "no longer known" in unknown.original.content


async def test_show_does_not_repost_a_private_result(make_rig: RigFactory) -> None:
    rig = await make_rig("fal")
    await mod(rig, "allow", "private")
    result = await rig.outcome(await rig.imagine(private="ephemeral"))
    job_id = int(
        next(i for i in result.custom_ids() if i.startswith("imagine:reroll:")).split(":")[2]
    )
    refused = await run(rig, "show", ALICE, job_id=job_id)
    assert refused.original is not None
    assert "private" in refused.original.content
