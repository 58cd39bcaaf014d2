"""/mod end to end: the real bot against a fake Discord; settings hold from the next /imagine."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot.models import GuildSettings
from tests.cogs.conftest import ADMIN, ALICE, CAROL, MANAGE_GUILD, MOD, ROLE_MOD, Rig, RigFactory
from tests.fakes.discord import FakeGuild, FakeInteraction, FakeMessage

DEFAULTS = GuildSettings(daily_allowance=60, jobs_per_minute=600.0)


async def answer(rig: Rig, interaction: FakeInteraction) -> FakeMessage:
    """The bot's final reply to a /mod command (the refusal, or the filled-in deferral)."""
    await interaction.acknowledged()
    return await rig.fake.wait_for(
        lambda m: m.interaction is interaction and not m.loading and not m.deleted
    )


async def mod(
    rig: Rig,
    command: str,
    group: str | None = None,
    *,
    user: int = MOD,
    guild: FakeGuild | None = None,
    **options: Any,
) -> FakeMessage:
    """Run ``/mod [group] command options`` and return the reply, checked to be private."""
    guild = guild or rig.guild
    where = rig.channel if guild is rig.guild else rig.other_channel
    assert where is not None
    interaction = await rig.fake.slash(
        "mod",
        subcommand=command,
        group=group,
        guild=guild,
        channel=where,
        user_id=user,
        options=options,
    )
    reply = await answer(rig, interaction)
    assert reply.ephemeral, "staff replies are private"
    assert reply.allowed_mentions == {"parse": []}
    return reply


def text(message: FakeMessage) -> str:
    """Everything a reply says: content, embed titles, descriptions and fields."""
    parts = [message.content]
    for embed in message.embeds:
        parts += [embed.get("title", ""), embed.get("description", "")]
        parts += [f"{f['name']}: {f['value']}" for f in embed.get("fields", [])]
        parts.append(embed.get("footer", {}).get("text", ""))
    return "\n".join(parts)


async def current(rig: Rig, guild: FakeGuild | None = None) -> GuildSettings:
    assert rig.service is not None
    return await rig.service.pipeline.guilds.settings((guild or rig.guild).id)


async def audit(rig: Rig, guild: FakeGuild | None = None) -> list[Any]:
    assert rig.service is not None
    return await rig.service.pipeline.guilds.audit_log((guild or rig.guild).id)


def registered_everywhere(rig: Rig) -> None:
    """The commands as a production bot registers them (globally), so the other guild has them
    too; the test bot syncs to its own guild only."""
    rig.fake.commands[None] = list(rig.fake.commands[rig.guild.id])


def sent(rig: Rig, provider: str) -> list[dict[str, Any]]:
    """Bodies of the submits the provider received, in order."""
    return [r.body for r in rig.providers[provider].requests if r.method == "POST"]


# --- who may use /mod --------------------------------------------------------------------


async def test_discord_is_told_to_show_mod_only_to_manage_server(make_rig: RigFactory) -> None:
    rig = await make_rig("fal")
    [command] = [c for c in rig.fake.commands[rig.guild.id] if c["name"] == "mod"]
    assert command["default_member_permissions"] == str(MANAGE_GUILD)
    assert command["contexts"] == [0], "server only"
    names = {option["name"]: option for option in command["options"]}
    assert set(names) == {
        "safety", "nsfw", "blocklist", "limits", "channel", "ban", "unban", "audit", "show",
        "defaults", "private",
    }  # fmt: skip
    assert {o["name"] for o in names["blocklist"]["options"]} == {"add", "remove", "list"}
    assert {o["name"] for o in names["channel"]["options"]} == {"allow", "deny", "reset"}


EVERY_COMMAND: list[tuple[str, str | None, dict[str, Any]]] = [
    ("safety", None, {"tolerance": 6, "age_restricted": 6}),
    ("nsfw", None, {"policy": "block", "refund": False}),
    ("add", "blocklist", {"phrase": "lighthouse"}),
    ("remove", "blocklist", {"phrase": "gore"}),
    ("list", "blocklist", {}),
    ("limits", None, {"user_queued": 1}),
    ("allow", "channel", {"channel": "adult"}),
    ("deny", "channel", {"channel": "channel"}),
    ("reset", "channel", {}),
    ("ban", None, {"member": MOD, "reason": "revenge"}),
    ("unban", None, {"member": ALICE}),
    ("audit", None, {}),
    ("show", None, {}),
]


@pytest.mark.parametrize(("command", "group", "options"), EVERY_COMMAND)
async def test_a_member_who_got_past_discords_setting_is_refused_and_nothing_changes(
    make_rig: RigFactory, command: str, group: str | None, options: dict[str, Any]
) -> None:
    rig = await make_rig("fal")
    assert rig.service is not None
    guilds = rig.service.pipeline.guilds
    await guilds.block(rig.guild.id, MOD, "gore")
    await guilds.ban(rig.guild.id, MOD, ALICE, "spam")
    before = await current(rig)
    entries = len(await audit(rig))
    options = {k: getattr(rig, v) if k == "channel" else v for k, v in options.items()}
    # The fake, like a server owner's override, lets ALICE run a command Discord would hide.
    reply = await mod(rig, command, group, user=ALICE, **options)
    assert "Only this server's moderators can use /mod" in reply.content
    assert [m for m in rig.fake.messages() if m.interaction is reply.interaction] == [reply]
    assert "Nothing was changed" in reply.content
    assert await current(rig) == before
    assert len(await audit(rig)) == entries
    state = await guilds.state(rig.guild.id)
    assert len(state.blocklist) == 1
    assert state.banned == {ALICE: "spam"}


async def test_manage_server_administrator_and_the_moderator_role_may_use_mod(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig("fal")
    assert rig.service is not None
    await mod(rig, "safety", user=MOD, tolerance=1)
    await mod(rig, "safety", user=ADMIN, tolerance=3)
    refused = await mod(rig, "safety", user=ROLE_MOD, tolerance=4)
    assert "Only this server's moderators" in refused.content
    assert (await current(rig)).safety_tolerance == 3
    await rig.service.pipeline.guilds.change_settings(
        rig.guild.id, ADMIN, moderator_role_id=rig.mod_role
    )
    done = await mod(rig, "safety", user=ROLE_MOD, tolerance=4)
    assert "Everywhere: 3 → **4**" in done.content
    assert (await current(rig)).safety_tolerance == 4
    shown = await mod(rig, "show", user=ROLE_MOD)
    assert f"Moderator role: <@&{rig.mod_role}>" in text(shown)
    assert [(e.actor_id, e.after) for e in (await audit(rig))[:3]] == [
        (ROLE_MOD, {"safety_tolerance": 4, "nsfw_channel_tolerance": 4}),
        (ADMIN, {"moderator_role_id": rig.mod_role}),
        (ADMIN, {"safety_tolerance": 3, "nsfw_channel_tolerance": 3}),
    ]


# --- safety tolerance --------------------------------------------------------------------


async def test_tolerance_zero_skips_fal_rather_than_loosening_it(make_rig: RigFactory) -> None:
    rig = await make_rig("fal")
    reply = await mod(rig, "safety", tolerance=0)
    assert "Everywhere: 2 → **0**" in reply.content
    assert "Age-restricted channels: 2 (unchanged)" in reply.content
    assert (
        "• fal.ai: skipped: cannot apply safety tolerance 0: its strictest is 1; "
        'age-restricted channels: serves, sent "2"'
    ) in reply.content
    refused = await rig.outcome(await rig.imagine())
    assert refused.ephemeral
    assert "No provider can make this image" in refused.content
    assert "cannot apply safety tolerance 0" in refused.content
    assert sent(rig, "fal") == [], "nothing looser than 0 ever reached fal"
    await rig.outcome(await rig.imagine(channel=rig.adult))
    assert [body["safety_tolerance"] for body in sent(rig, "fal")] == ["2"]

    await mod(rig, "safety", tolerance=0, age_restricted=5)
    await rig.outcome(await rig.imagine(channel=rig.adult))
    assert sent(rig, "fal")[-1]["safety_tolerance"] == "5", "age-restricted channels: the ceiling"


async def test_tolerance_zero_goes_only_to_a_provider_that_honours_it(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig("wavespeed", "fal", "replicate", "bfl")
    await mod(rig, "safety", tolerance=0)
    for _ in range(2):
        await rig.outcome(await rig.imagine())
    assert [body["safety_tolerance"] for body in sent(rig, "bfl")] == [0, 0]
    assert sent(rig, "wavespeed") == sent(rig, "fal") == sent(rig, "replicate") == []


async def test_bfl_receives_the_tolerance_as_an_integer(make_rig: RigFactory) -> None:
    rig = await make_rig("bfl")
    reply = await mod(rig, "safety", tolerance=0, age_restricted=6)
    assert "Black Forest Labs: serves, sent 0; age-restricted channels: serves, sent 6" in (
        reply.content
    )
    await rig.outcome(await rig.imagine())
    await rig.outcome(await rig.imagine(channel=rig.adult))
    tolerances = [body["safety_tolerance"] for body in sent(rig, "bfl")]
    assert tolerances == [0, 6]
    assert all(type(t) is int for t in tolerances)


async def test_the_reply_covers_every_provider_in_order(make_rig: RigFactory) -> None:
    rig = await make_rig("wavespeed", "fal", "bfl")
    reply = await mod(rig, "safety", tolerance=1, age_restricted=6)
    lines = reply.content.splitlines()
    start = lines.index("**Which providers serve this server, and what each is sent**")
    assert lines[start + 1 : start + 4] == [
        "• WaveSpeedAI: skipped: cannot apply safety tolerance 1: it takes no tolerance and "
        "its own filter counts as 2; age-restricted channels: serves; takes no tolerance, its "
        "own filter counts as 2",
        '• fal.ai: serves, sent "1"; age-restricted channels: serves, sent "6"',
        "• Black Forest Labs: serves, sent 1; age-restricted channels: serves, sent 6",
    ]


async def test_no_guild_passes_the_operators_ceiling(make_rig: RigFactory) -> None:
    rig = await make_rig("bfl", max_safety_tolerance=3)
    refused = await mod(rig, "safety", tolerance=4)
    assert "`tolerance` can be at most 3 on this bot" in refused.content
    assert "MAX_SAFETY_TOLERANCE" in refused.content
    refused = await mod(rig, "safety", tolerance=1, age_restricted=5)
    assert "`age_restricted` can be at most 3" in refused.content
    assert await current(rig) == DEFAULTS and await audit(rig) == []

    # A guild that chose 6 before the operator lowered the ceiling is still held to it.
    assert rig.service is not None
    await rig.service.pipeline.guilds.change_settings(
        rig.guild.id, MOD, safety_tolerance=6, nsfw_channel_tolerance=6
    )
    shown = await mod(rig, "show")
    assert "Black Forest Labs: serves, sent 3" in text(shown)
    await rig.outcome(await rig.imagine())
    await rig.outcome(await rig.imagine(channel=rig.adult))
    assert [body["safety_tolerance"] for body in sent(rig, "bfl")] == [3, 3]


async def test_a_ceiling_below_the_tolerance_is_refused_and_a_higher_tolerance_lifts_it(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig("fal")
    refused = await mod(rig, "safety", tolerance=4, age_restricted=3)
    assert "can't be below the tolerance (4)" in refused.content
    assert "Allowed: a whole number from 4 to 6" in refused.content
    out_of_range = await mod(rig, "safety", tolerance=9)
    assert "`tolerance` must be a whole number from 0 (strictest) to 6" in out_of_range.content
    assert await current(rig) == DEFAULTS
    assert await audit(rig) == []

    lifted = await mod(rig, "safety", tolerance=4)
    assert "Age-restricted channels: 2 → **4**" in lifted.content
    assert "ceiling was raised to 4" in lifted.content
    settings = await current(rig)
    assert (settings.safety_tolerance, settings.nsfw_channel_tolerance) == (4, 4)
    [entry] = await audit(rig)
    assert (entry.actor_id, entry.action) == (MOD, "settings")
    assert entry.before == {"safety_tolerance": 2, "nsfw_channel_tolerance": 2}
    assert entry.after == {"safety_tolerance": 4, "nsfw_channel_tolerance": 4}


# --- NSFW policy -------------------------------------------------------------------------


async def test_the_block_policy_set_by_command_holds_flagged_images_back(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig("fal")
    reply = await mod(rig, "nsfw", policy="block", refund=False)
    assert "NSFW policy: spoiler → **block**" in reply.content
    assert "Refund blocked images: yes → **no**" in reply.content
    rig.providers["fal"].script("nsfw")
    blocked = await rig.outcome(await rig.imagine())
    assert blocked.ephemeral
    assert "not shown outside age-restricted channels" in blocked.content
    assert await rig.balance(ALICE) == 54, "the server chose not to refund"

    await mod(rig, "nsfw", policy="spoiler")
    rig.providers["fal"].script("nsfw")
    shown = await rig.outcome(await rig.imagine())
    [attachment] = shown.attachments
    assert attachment.spoiler
    [latest, first] = (await audit(rig))[:2]
    assert first.after == {"nsfw_policy": "block", "refund_blocked": False}
    assert (latest.before, latest.after) == ({"nsfw_policy": "block"}, {"nsfw_policy": "spoiler"})


async def test_an_unknown_policy_is_refused(make_rig: RigFactory) -> None:
    rig = await make_rig("fal")
    reply = await mod(rig, "nsfw", policy="hide")
    assert "`policy` must be spoiler or block" in reply.content
    assert await current(rig) == DEFAULTS


# --- blocklist ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "prompt",
    ["a GORE scene", "so much g.o.r.e here", "g o r e", "gоrе everywhere"],
    ids=["case", "dots", "spaces", "cyrillic"],
)
async def test_a_blocked_prompt_costs_nothing_and_names_the_phrase(
    make_rig: RigFactory, prompt: str
) -> None:
    rig = await make_rig("fal")
    added = await mod(rig, "add", "blocklist", phrase="gore")
    assert "Blocked “gore”" in added.content
    assert "Blocked phrases: 0 → **1**" in added.content
    refused = await rig.outcome(await rig.imagine(prompt=prompt))
    assert refused.ephemeral
    assert "contains “gore”" in refused.content
    assert await rig.balance(ALICE) == 60
    assert rig.providers["fal"].requests == []
    assert rig.service is not None
    assert await rig.service.pipeline.jobs_of(rig.guild.id, ALICE) == []


async def test_blocklist_add_remove_and_list(make_rig: RigFactory) -> None:
    rig = await make_rig("fal")
    await mod(rig, "add", "blocklist", phrase="blood bath")
    again = await mod(rig, "add", "blocklist", phrase="BLOOD-bath")
    assert "already blocked" in again.content
    bad = await mod(rig, "add", "blocklist", phrase="!!! ???")
    assert "A blocked phrase needs at least one letter or digit." in bad.content
    listing = await mod(rig, "list", "blocklist")
    assert listing.embeds[0]["title"] == "Blocked phrases (1)"
    assert listing.embeds[0]["description"] == "• blood bath"
    removed = await mod(rig, "remove", "blocklist", phrase="Blood Bath")
    assert "Blocked phrases: 1 → **0**" in removed.content
    missing = await mod(rig, "remove", "blocklist", phrase="blood bath")
    assert "is not on the blocklist" in missing.content
    assert (await mod(rig, "list", "blocklist")).content == "No phrases are blocked in this server."
    await rig.outcome(await rig.imagine(prompt="a bloodbath"))
    assert len(sent(rig, "fal")) == 1, "unblocked phrases are allowed again"
    entries = [(e.actor_id, e.action, e.before, e.after) for e in await audit(rig)]
    assert entries == [
        (MOD, "unblock", "Blood Bath", None),
        (MOD, "block", None, "blood bath"),
    ]


async def test_a_long_blocklist_is_paged_within_discords_limits(make_rig: RigFactory) -> None:
    rig = await make_rig("fal")
    assert rig.service is not None
    words = "a rather long forbidden phrase that fills the page quickly"
    phrases = [f"{words} {n:03d} {words}"[:100] for n in range(45)]
    guilds = rig.service.pipeline.guilds
    await asyncio.gather(*(guilds.block(rig.guild.id, MOD, phrase) for phrase in phrases))
    seen: list[str] = []
    first = await mod(rig, "list", "blocklist")
    pages = int(first.embeds[0]["footer"]["text"].split(" of ")[1].split(":")[0])
    assert pages > 1
    for page in range(1, pages + 1):
        [embed] = (await mod(rig, "list", "blocklist", page=page)).embeds
        assert len(embed["description"]) <= 4096
        assert embed["footer"]["text"].startswith(f"Page {page} of {pages}")
        seen += [line.removeprefix("• ") for line in embed["description"].splitlines()]
    assert sorted(seen) == sorted(phrases), "every phrase once, none cut"


# --- bans --------------------------------------------------------------------------------


async def test_a_banned_member_is_refused_with_the_reason_until_unbanned(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig("fal")
    banned = await mod(rig, "ban", member=ALICE, reason="spamming the gallery")
    assert f"<@{ALICE}>: not banned → **banned** (spamming the gallery)" in banned.content
    refused = await rig.outcome(await rig.imagine())
    assert refused.ephemeral
    assert "Reason: spamming the gallery" in refused.content
    assert await rig.balance(ALICE) == 60
    assert rig.providers["fal"].requests == []

    lifted = await mod(rig, "unban", member=ALICE)
    assert "banned (spamming the gallery) → **not banned**" in lifted.content
    again = await mod(rig, "unban", member=ALICE)
    assert "is not banned" in again.content
    message = await rig.outcome(await rig.imagine())
    assert len(message.attachments) == 1
    entries = [(e.actor_id, e.action, e.before, e.after) for e in await audit(rig)]
    assert entries == [
        (MOD, "unban", {"user": ALICE, "reason": "spamming the gallery"}, None),
        (MOD, "ban", None, {"user": ALICE, "reason": "spamming the gallery"}),
    ]


# --- limits and channels -----------------------------------------------------------------


async def test_limits_show_before_and_after_and_hold(make_rig: RigFactory) -> None:
    rig = await make_rig("fal", latency=600.0)
    bad = await mod(rig, "limits", user_running=0)
    assert "`user_running` must be a whole number from 1 to 100" in bad.content
    assert await current(rig) == DEFAULTS
    reply = await mod(rig, "limits", jobs_per_minute=30.0, user_running=1, user_queued=1)
    assert reply.content.splitlines() == [
        "Jobs started per minute (whole server): 600 → **30**",
        "Burst (jobs started at once): 5 (unchanged)",
        "Running jobs (whole server): 4 (unchanged)",
        "Queued jobs (whole server): 100 (unchanged)",
        "Running jobs per member: 3 → **1**",
        "Queued jobs per member: 10 → **1**",
    ]
    await rig.imagine(prompt="first")
    await rig.providers["fal"].wait_for_tasks(1)
    await rig.imagine(prompt="second waits")
    refused = await rig.outcome(await rig.imagine(prompt="third"))
    assert refused.ephemeral
    assert "(limit 1)" in refused.content
    unchanged = await mod(rig, "limits")
    assert "Nothing changed" in unchanged.content


async def test_channel_deny_allow_and_reset_decide_where_the_bot_works(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig("fal")
    gallery, adult = rig.channel.id, rig.adult.id
    denied = await mod(rig, "deny", "channel", channel=rig.channel)
    assert f"Denied channels: none → **<#{gallery}>**" in denied.content
    assert f"works everywhere except <#{gallery}>" in denied.content
    refused = await rig.outcome(await rig.imagine())
    assert "can't be made in this channel" in refused.content
    await rig.outcome(await rig.imagine(channel=rig.adult))

    allowed = await mod(rig, "allow", "channel", channel=rig.channel)
    assert f"Allowed channels: none → **<#{gallery}>**" in allowed.content
    assert f"Denied channels: <#{gallery}> → **none**" in allowed.content
    assert f"works only in <#{gallery}>" in allowed.content
    refused = await rig.outcome(await rig.imagine(channel=rig.adult))
    assert "can't be made in this channel" in refused.content
    await rig.outcome(await rig.imagine())

    reset = await mod(rig, "reset", "channel")
    assert "works in every channel" in reset.content
    await rig.outcome(await rig.imagine(channel=rig.adult))
    assert len(sent(rig, "fal")) == 3
    assert await rig.balance(ALICE) == 60 - 3 * 6
    [last, middle, first] = (await audit(rig))[:3]
    assert first.after == {"allowed_channels": [], "denied_channels": [gallery]}
    assert middle.after == {"allowed_channels": [gallery], "denied_channels": []}
    assert last.after == {"allowed_channels": [], "denied_channels": []}
    assert adult not in (*first.after["denied_channels"], *middle.after["allowed_channels"])


# --- show --------------------------------------------------------------------------------


async def test_show_has_every_setting_in_one_embed(make_rig: RigFactory) -> None:
    rig = await make_rig("fal", "bfl", provider_prices={"bfl": 8})
    assert rig.service is not None
    await mod(rig, "safety", tolerance=1, age_restricted=4)
    await mod(rig, "nsfw", policy="block")
    await mod(rig, "add", "blocklist", phrase="gore")
    await mod(rig, "ban", member=ALICE, reason="spam")
    await mod(rig, "deny", "channel", channel=rig.adult)
    reply = await mod(rig, "show")
    [embed] = reply.embeds
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields["Safety tolerance"].startswith("1 everywhere, 4 in age-restricted channels")
    assert fields["Providers serving this server"].splitlines() == [
        '• fal.ai: serves, sent "1"; age-restricted channels: serves, sent "4"',
        "• Black Forest Labs: serves, sent 1; age-restricted channels: serves, sent 4",
    ]
    assert fields["NSFW policy"].startswith("block: flagged images are not posted")
    assert "blocked images are refunded" in fields["NSFW policy"]
    assert fields["Limits"].splitlines() == [
        "Jobs started per minute (whole server): 600",
        "Burst (jobs started at once): 5",
        "Running jobs (whole server): 4",
        "Queued jobs (whole server): 100",
        "Running jobs per member: 3",
        "Queued jobs per member: 10",
    ]
    assert f"everywhere except <#{rig.adult.id}>" in fields["Channels"]
    assert (fields["Blocked phrases"], fields["Banned members"]) == ("1", "1")
    assert fields["Moderator role"] == "none (Manage Server only)"
    assert fields["Daily allowance"] == "60 credits"
    assert fields["Price per image"] == "fal.ai: 6, Black Forest Labs: 8"


# --- one guild's staff never touch another's ---------------------------------------------


async def test_another_guilds_staff_change_only_their_own_guild(make_rig: RigFactory) -> None:
    rig = await make_rig("fal")
    assert rig.other is not None
    other = rig.other
    registered_everywhere(rig)
    await mod(rig, "safety", user=CAROL, guild=other, tolerance=6, age_restricted=6)
    await mod(rig, "nsfw", user=CAROL, guild=other, policy="block")
    await mod(rig, "add", "blocklist", user=CAROL, guild=other, phrase="lighthouse")
    await mod(rig, "ban", user=CAROL, guild=other, member=ALICE, reason="elsewhere")
    await mod(rig, "deny", "channel", user=CAROL, guild=other, channel=rig.other_channel)
    assert (await current(rig, other)).safety_tolerance == 6
    assert len(await audit(rig, other)) == 5

    assert await current(rig) == DEFAULTS
    assert await audit(rig) == []
    shown = await mod(rig, "show")
    assert "Blocked phrases: 0" in text(shown)
    assert "Banned members: 0" in text(shown)
    assert (await mod(rig, "list", "blocklist")).content == "No phrases are blocked in this server."
    await rig.outcome(await rig.imagine(prompt="a lighthouse at dusk"))
    assert sent(rig, "fal")[0]["safety_tolerance"] == "2"

    refused = await mod(rig, "show", user=CAROL)
    assert "Only this server's moderators" in refused.content


async def test_a_moderator_here_has_no_rights_in_another_guild(make_rig: RigFactory) -> None:
    rig = await make_rig("fal")
    assert rig.other is not None and rig.service is not None
    registered_everywhere(rig)
    rig.other.add_member(MOD, "mod")
    rig.other.add_member(ROLE_MOD, "rolemod")
    await rig.service.pipeline.guilds.change_settings(
        rig.guild.id, ADMIN, moderator_role_id=rig.mod_role
    )
    before = await current(rig, rig.other)
    for user in (MOD, ROLE_MOD):
        refused = await mod(rig, "safety", user=user, guild=rig.other, tolerance=6)
        assert "Only this server's moderators" in refused.content
        refused = await mod(rig, "ban", user=user, guild=rig.other, member=ALICE, reason="x")
        assert "Only this server's moderators" in refused.content
    assert await current(rig, rig.other) == before
    assert await audit(rig, rig.other) == []
    assert (await rig.service.pipeline.guilds.state(rig.other.id)).banned == {}
