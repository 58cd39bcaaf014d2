"""Saved defaults: /settings (a member's), /mod defaults (a channel's), and their precedence."""

from __future__ import annotations

from tests.cogs.conftest import ALICE, BOB, MOD, Rig, RigFactory
from tests.cogs.test_imagine import fields
from tests.cogs.test_mod import mod
from tests.fakes.discord import FakeMessage


def sent(rig: Rig) -> list[dict]:  # type: ignore[type-arg]
    return [r.body for r in rig.providers["fal"].requests if r.method == "POST"]


async def settings_panel(rig: Rig, user: int = ALICE) -> FakeMessage:
    interaction = await rig.fake.slash(
        "settings", guild=rig.guild, channel=rig.channel, user_id=user
    )
    await interaction.acknowledged()
    assert interaction.original is not None
    assert interaction.original.ephemeral
    return interaction.original


def panel(message: FakeMessage) -> dict[str, str]:
    return fields(message)


async def choose(rig: Rig, message: FakeMessage, field: str, value: str, user: int = ALICE) -> None:
    picked = await rig.fake.choose(message, f"prefs:{field}", [value], user_id=user)
    await picked.acknowledged()
    assert picked.response_type == 7, "the panel itself is updated"


async def test_settings_panel_shows_and_changes_the_members_own_defaults(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig("fal")
    message = await settings_panel(rig)
    assert panel(message)["Aspect"] == "not set"
    await choose(rig, message, "aspect", "3:2")
    await choose(rig, message, "count", "2")
    raw = await rig.fake.click(message, "prefs:raw", user_id=ALICE)
    await raw.acknowledged()
    shown = panel(message)
    assert (shown["Aspect"], shown["Count"], shown["Raw"]) == ("3:2", "2", "on")
    assert panel(await settings_panel(rig, BOB))["Aspect"] == "not set", "each member their own"

    await rig.restart()
    await choose(rig, message, "aspect", "unset")
    assert panel(message)["Aspect"] == "not set", "the panel works after a restart"
    reset = await rig.fake.click(message, "prefs:reset", user_id=ALICE)
    await reset.acknowledged()
    assert set(panel(message).values()) == {"not set"}


async def test_explicit_beats_member_beats_channel_beats_server_and_the_embed_says_so(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig("fal")
    reply = await mod(rig, "defaults", aspect="9:16", suffix="in watercolour", raw=False)
    shown = fields(reply)
    assert shown["Aspect"] == "9:16"
    assert "in watercolour" in shown["Pinned suffix"]
    message = await settings_panel(rig)
    await choose(rig, message, "aspect", "3:2")
    raw = await rig.fake.click(message, "prefs:raw", user_id=ALICE)
    await raw.acknowledged()

    mine = await rig.outcome(await rig.imagine(prompt="a quiet harbour"))
    body = sent(rig)[-1]
    assert (body["aspect_ratio"], body["raw"]) == ("3:2", True), (
        "the member's own beat the channel's"
    )
    assert body["prompt"] == "a quiet harbour in watercolour"
    assert fields(mine)["Defaults applied"] == (
        "aspect 3:2 (yours), raw on (yours), suffix “in watercolour” (channel)"
    )

    explicit = await rig.outcome(await rig.imagine(prompt="a harbour", aspect="1:1"))
    assert sent(rig)[-1]["aspect_ratio"] == "1:1"
    assert "aspect" not in fields(explicit)["Defaults applied"]

    theirs = await rig.outcome(await rig.imagine(user=BOB, prompt="a harbour"))
    body = sent(rig)[-1]
    assert (body["aspect_ratio"], body.get("raw", False)) == ("9:16", False)
    assert fields(theirs)["Defaults applied"].startswith("aspect 9:16 (channel), raw off (channel)")

    elsewhere = await rig.outcome(
        await rig.imagine(user=BOB, channel=rig.adult, prompt="a harbour")
    )
    assert sent(rig)[-1]["aspect_ratio"] == "1:1", "the server default outside that channel"
    assert "Defaults applied" not in fields(elsewhere)
    assert MOD


async def test_channel_defaults_are_for_moderators_and_can_be_cleared(make_rig: RigFactory) -> None:
    rig = await make_rig("fal")
    refused = await mod(rig, "defaults", user=ALICE, aspect="9:16")
    assert "Only this server's moderators" in refused.content
    await mod(rig, "defaults", aspect="9:16")
    cleared = await mod(rig, "defaults", clear=True)
    assert fields(cleared)["Aspect"] == "not set"


async def test_channel_defaults_changes_are_audited(make_rig: RigFactory) -> None:
    rig = await make_rig("fal")
    await mod(rig, "defaults", aspect="9:16")
    await mod(rig, "allow", "private")
    [embed] = (await mod(rig, "audit")).embeds
    lines = embed["description"].splitlines()
    assert lines[0].endswith(f"<@{MOD}>: private results allowed no → **yes**")
    assert lines[1].endswith(
        f"<@{MOD}>: defaults of <#{rig.channel.id}>: aspect_ratio none → **9:16**"
    )
