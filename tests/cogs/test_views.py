"""/mod audit and /help against the fake Discord (bodies checked against Discord's OpenAPI)."""

from __future__ import annotations

from bot.models import ASPECT_RATIOS
from tests.cogs.conftest import ADMIN, ALICE, BOB, MOD, RigFactory
from tests.cogs.test_admin import admin
from tests.cogs.test_mod import mod, text

# --- /mod audit ---------------------------------------------------------------------------


async def test_audit_shows_who_changed_what_before_and_after_newest_first(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig("fal")
    await mod(rig, "safety", tolerance=4)
    await mod(rig, "limits", user_running=1)
    await mod(rig, "add", "blocklist", phrase="gore")
    await mod(rig, "ban", member=ALICE, reason="spamming the gallery")
    await admin(rig, "grant", member=BOB, amount=25)

    reply = await mod(rig, "audit")
    [embed] = reply.embeds
    assert embed["title"] == "Audit log (5 changes)"
    lines = embed["description"].splitlines()
    assert len(lines) == 5
    assert lines[0].endswith(f"<@{ADMIN}>: granted <@{BOB}> +25 credits")
    assert lines[1].endswith(f"<@{MOD}>: banned <@{ALICE}>: spamming the gallery")
    assert lines[2].endswith(f"<@{MOD}>: blocked “gore”")
    assert lines[3].endswith(f"<@{MOD}>: running jobs per member 3 → **1**")
    assert lines[4].endswith(
        f"<@{MOD}>: age-restricted tolerance 2 → **4**; safety tolerance 2 → **4**"
    )
    assert all(line.startswith("<t:") for line in lines), "each change says when"
    assert embed["footer"]["text"] == "Page 1 of 1"


async def test_audit_for_one_member_shows_their_changes_and_those_made_to_them(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig("fal")
    await mod(rig, "ban", member=ALICE, reason="spam")
    await mod(rig, "unban", member=ALICE)
    await mod(rig, "ban", member=BOB, reason="spam")
    await admin(rig, "grant", member=ALICE, amount=5)
    reply = await mod(rig, "audit", member=ALICE)
    [embed] = reply.embeds
    assert embed["title"] == "Audit log (3 changes)"
    body = embed["description"]
    assert body.startswith(f"Changes by or to <@{ALICE}>, newest first:")
    assert f"granted <@{ALICE}> +5 credits" in body
    assert f"unbanned <@{ALICE}> (was banned: spam)" in body
    assert f"<@{BOB}>" not in body

    nothing = await mod(rig, "audit", member=MOD + 100)
    assert "No changes by or to" in text(nothing)


async def test_a_long_audit_log_is_paged(make_rig: RigFactory) -> None:
    rig = await make_rig("fal")
    for number in range(23):
        await mod(rig, "add", "blocklist", phrase=f"word{number}")
    first = (await mod(rig, "audit")).embeds[0]
    assert first["title"] == "Audit log (23 changes)"
    assert len(first["description"].splitlines()) == 10
    assert "word22" in first["description"]
    assert first["footer"]["text"] == "Page 1 of 3: /mod audit page:<n>"
    last = (await mod(rig, "audit", page=3)).embeds[0]
    assert len(last["description"].splitlines()) == 3
    assert "“word0”" in last["description"]
    beyond = await mod(rig, "audit", page=9)
    assert "There are only 3 pages" in text(beyond)


# --- /help --------------------------------------------------------------------------------


async def help_for(rig, user: int):  # type: ignore[no-untyped-def]
    interaction = await rig.fake.slash(
        "help", guild=rig.guild, channel=rig.channel, user_id=user, options={}
    )
    await interaction.acknowledged()
    reply = await rig.fake.wait_for(
        lambda m: m.interaction is interaction and not m.loading and not m.deleted
    )
    assert reply.ephemeral, "only the member sees their own figures"
    assert reply.allowed_mentions == {"parse": []}
    [embed] = reply.embeds
    return {f["name"]: f["value"] for f in embed["fields"]}, embed


async def test_help_shows_the_members_own_balance_and_limits_and_every_command(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig("fal", provider_prices={"fal": 5})
    fields, embed = await help_for(rig, ALICE)
    assert "FLUX 1.1 [pro] Ultra" in embed["description"]
    assert fields["Your balance here"].startswith("**60 credits** (60 of today's allowance left")
    assert "An image costs 5 credits." in fields["Your balance here"]
    assert fields["Your limits here"].startswith(
        "Up to 3 of your images are made at once and up to 10"
    )
    assert "you have 0 being made and 0 waiting" in fields["Your limits here"]
    for command in ("/imagine", "/credits", "/queue", "/help"):
        assert f"`{command}" in fields["Commands"]
    assert "/mod" not in fields["Commands"], "members are not shown staff commands"
    assert all(ratio in fields["Options of /imagine"] for ratio in ASPECT_RATIOS)

    await rig.outcome(await rig.imagine())
    await mod(rig, "limits", user_running=1)
    fields, _ = await help_for(rig, ALICE)
    assert fields["Your balance here"].startswith("**55 credits**")
    assert fields["Your limits here"].startswith("Up to 1 of your images")


async def test_help_lists_staff_commands_for_staff(make_rig: RigFactory) -> None:
    rig = await make_rig("fal")
    fields, _ = await help_for(rig, MOD)
    assert "`/mod`" in fields["Commands"]
    assert "`/admin`" not in fields["Commands"]
    fields, _ = await help_for(rig, ADMIN)
    assert "`/mod`" in fields["Commands"] and "`/admin`" in fields["Commands"]
