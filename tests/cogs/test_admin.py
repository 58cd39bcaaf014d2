"""/admin end to end: what a server's admins see and decide, and what nobody else can."""

from __future__ import annotations

import csv
import io
import re
import time
from typing import Any

import pytest
from PIL import Image

from bot.exports import iso_time
from bot.storage.records import DAY, LedgerEntry
from tests.cogs.conftest import ADMIN, ALICE, BOB, CAROL, MOD, OWNER, ROLE_MOD, Rig, RigFactory
from tests.fakes.discord import FakeChannel, FakeGuild, FakeInteraction, FakeMessage

SUBCOMMANDS: dict[str, dict[str, Any]] = {
    "usage": {"period": "all"},
    "export": {"period": "all"},
    "providers": {},
    "grant": {"member": BOB, "amount": 500, "note": "gift"},
    "allowance": {"amount": 1000},
    "price": {"provider": "fal", "credits": 1},
    "modrole": {"clear": True},
}
REFUSED = "You need the Administrator permission to do that here. Nothing was changed."
FOREVER = 10 * 365 * DAY


async def answer(rig: Rig, interaction: FakeInteraction) -> FakeMessage:
    """The bot's reply: the interaction's own message once it stops loading, or a follow-up."""
    await interaction.acknowledged()

    def replied(message: FakeMessage) -> bool:
        if any(message is f for f in interaction.followups):
            return True
        return message is interaction.original and not message.loading

    return await rig.fake.wait_for(replied)


async def admin(
    rig: Rig,
    sub: str,
    *,
    user: int = ADMIN,
    guild: FakeGuild | None = None,
    channel: FakeChannel | None = None,
    **options: Any,
) -> FakeMessage:
    """Type ``/admin <sub> options…`` and return the private reply."""
    interaction = await rig.fake.slash(
        "admin",
        subcommand=sub,
        guild=guild or rig.guild,
        channel=channel or rig.channel,
        user_id=user,
        options=options,
    )
    reply = await answer(rig, interaction)
    assert reply.ephemeral, "admin replies are private"
    assert reply.allowed_mentions == {"parse": []}, "admin replies never ping"
    return reply


def job_id(message: FakeMessage) -> int:
    """The job behind a result message (its Reroll button carries the id)."""
    [found] = [c for c in message.custom_ids() if c.startswith("imagine:reroll:")]
    return int(found.rsplit(":", 1)[1])


async def spend(rig: Rig, *runs: tuple[int, int]) -> list[int]:
    """Run /imagine for (user, images) in turn; the delivered jobs' ids."""
    ids = []
    for user, count in runs:
        message = await rig.outcome(await rig.imagine(user, count=count))
        assert message.attachments, message.content
        ids.append(job_id(message))
    assert rig.service is not None
    await rig.service.pipeline.drain()
    return ids


async def charged(rig: Rig, ids: list[int]) -> dict[int, int]:
    """Credits charged per member for these jobs, as the jobs themselves record."""
    assert rig.service is not None
    totals: dict[int, int] = {}
    for job in [await rig.service.pipeline.job(i) for i in ids]:
        assert job is not None
        totals[job.user_id] = totals.get(job.user_id, 0) + (job.charged or 0)
    return totals


async def ledger(rig: Rig, guild: FakeGuild | None = None) -> list[LedgerEntry]:
    assert rig.service is not None
    return await rig.service.pipeline.guilds.ledger_entries(
        (guild or rig.guild).id, since=0, until=time.time() + DAY
    )


def group(rig: Rig) -> Any:
    assert rig.bot is not None
    return rig.bot.get_cog("Administration").group  # type: ignore[union-attr]


def embed_fields(message: FakeMessage) -> dict[str, str]:
    [embed] = message.embeds
    return {f["name"]: f["value"] for f in embed.get("fields", [])}


async def test_discord_shows_admin_only_to_administrators(make_rig: RigFactory) -> None:
    rig = await make_rig("fal", "bfl")
    [command] = [c for c in rig.fake.commands[rig.guild.id] if c["name"] == "admin"]
    assert command["default_member_permissions"] == "8", "Administrator"
    assert command["dm_permission"] is False
    subs = {o["name"]: o for o in command["options"]}
    assert set(subs) == set(SUBCOMMANDS)
    provider = next(o for o in subs["price"]["options"] if o["name"] == "provider")
    assert [c["value"] for c in provider["choices"]] == ["fal", "bfl"], "the enabled providers"


@pytest.mark.parametrize("user", [MOD, ALICE, ROLE_MOD])
async def test_everyone_but_administrators_is_refused_and_nothing_changes(
    make_rig: RigFactory, user: int
) -> None:
    rig = await make_rig("fal")
    await admin(rig, "modrole", role=rig.mod_role)
    await spend(rig, (ALICE, 1))
    assert rig.service is not None
    directory = rig.service.pipeline.guilds
    settings, entries = await directory.settings(rig.guild.id), await ledger(rig)
    audit = await directory.audit_log(rig.guild.id)
    for sub, options in SUBCOMMANDS.items():
        reply = await admin(rig, sub, user=user, **options)
        assert reply.content == REFUSED, sub
        assert not reply.attachments
        assert not reply.embeds
    assert await directory.settings(rig.guild.id) == settings
    assert await ledger(rig) == entries
    assert await directory.audit_log(rig.guild.id) == audit
    assert await rig.balance(BOB) == 60


async def test_usage_equals_the_ledger_with_a_chart_per_day(make_rig: RigFactory) -> None:
    rig = await make_rig("fal")
    ids = await spend(rig, (ALICE, 1), (BOB, 1), (ALICE, 2))
    await admin(rig, "grant", member=BOB, amount=25)
    reply = await admin(rig, "usage", period="all")
    assert rig.service is not None
    usage = await rig.service.pipeline.guilds.usage(rig.guild.id, since=0, until=time.time() + DAY)
    per_member = await charged(rig, ids)
    assert usage.credits == sum(per_member.values()) == 24
    assert (usage.images, usage.jobs) == (4, 3)
    [embed] = reply.embeds
    assert embed["title"] == "Credits spent: all time"
    assert embed["description"] == "**24** credits · 4 images · 3 jobs"
    fields = embed_fields(reply)
    assert fields["Top members"].splitlines() == [
        f"1. <@{ALICE}>: {per_member[ALICE]} credits, 3 images",
        f"2. <@{BOB}>: {per_member[BOB]} credits, 1 image",
    ]
    assert fields["Per provider"] == "fal.ai: 24 credits, 4 images"
    [chart] = reply.attachments
    assert chart.filename == "spend.png"
    assert embed["image"]["url"] == "attachment://spend.png"
    with Image.open(io.BytesIO(chart.data)) as image:
        assert image.format == "PNG"
        assert image.size == (1000, 500)


async def test_periods_count_whole_utc_days_back_from_now(make_rig: RigFactory) -> None:
    rig = await make_rig("fal")
    await spend(rig, (ALICE, 1))
    now = time.time()
    for period in ("day", "week", "month", "all"):
        reply = await admin(rig, "usage", period=period)
        assert reply.embeds[0]["description"].startswith("**6** credits"), period
    group(rig).clock = lambda: now + 8 * DAY
    for period, credits in (("day", 0), ("week", 0), ("month", 6), ("all", 6)):
        reply = await admin(rig, "usage", period=period)
        assert reply.embeds[0]["description"].startswith(f"**{credits}** credits"), period
        assert bool(reply.attachments) == bool(credits), "a chart only when something was spent"
    quiet = await admin(rig, "usage", period="week")
    assert quiet.embeds[0]["footer"]["text"] == "No credits were spent in this period."


async def test_member_usage_shows_their_spend_and_history(make_rig: RigFactory) -> None:
    rig = await make_rig("fal")
    ids = await spend(rig, (ALICE, 2), (BOB, 1), (ALICE, 1))
    await admin(rig, "grant", member=ALICE, amount=40, note="contest prize")
    reply = await admin(rig, "usage", member=ALICE, period="month")
    [embed] = reply.embeds
    mine = (await charged(rig, ids))[ALICE]
    assert embed["description"] == (
        f"<@{ALICE}> spent **{mine}** credits on 3 images in 2 jobs; granted +40 in this period."
    )
    history = embed_fields(reply)["Latest movements"].splitlines()
    assert history[0].endswith(f"grant: +40 by <@{ADMIN}> (contest prize)")
    assert history[1].endswith("image delivered: charged 6 at fal")
    assert history[2].endswith("held for a job: -6")
    assert str(BOB) not in embed["description"]


async def test_export_is_the_ledger_as_csv(make_rig: RigFactory) -> None:
    rig = await make_rig("fal")
    await spend(rig, (ALICE, 1), (BOB, 2))
    await admin(rig, "grant", member=BOB, amount=30, note="=HYPERLINK(evil)")
    await admin(rig, "grant", member=ALICE, amount=-5)
    reply = await admin(rig, "export", period="week")
    [attachment] = reply.attachments
    assert attachment.filename.startswith(f"ledger-{rig.guild.id}-week-")
    assert attachment.filename.endswith(".csv")
    rows = list(csv.DictReader(io.StringIO(attachment.data.decode("utf-8"))))
    entries = await ledger(rig)
    assert reply.content == f"{len(entries)} credit movements, the last 7 days."
    assert len(rows) == len(entries) > 0
    for row, e in zip(rows, entries, strict=True):
        assert row["time"] == iso_time(e.at)
        assert row["time"].endswith("+00:00")
        assert row == {
            "time": row["time"],
            "day": e.day,
            "user_id": str(e.user_id),
            "kind": e.kind,
            "amount": str(e.amount),
            "charged": str(e.charged),
            "job_id": "" if e.job_id is None else str(e.job_id),
            "provider": e.provider or "",
            "images": str(e.images),
            "actor_id": "" if e.actor_id is None else str(e.actor_id),
            "note": "'=HYPERLINK(evil)" if e.note == "=HYPERLINK(evil)" else (e.note or ""),
        }
    assert {r["kind"] for r in rows} == {"allowance", "hold", "settle", "grant"}
    assert [r["amount"] for r in rows if r["kind"] == "grant"] == ["30"], "nothing to take back"


async def test_an_export_over_the_upload_limit_is_explained(make_rig: RigFactory) -> None:
    rig = await make_rig("fal")
    await spend(rig, (ALICE, 1), (BOB, 1))
    rig.guild.attachment_size_limit = 200
    reply = await admin(rig, "export", period="all")
    assert not reply.attachments
    assert "over this server's upload limit" in reply.content
    assert f"imagine-bot usage --guild {rig.guild.id} --csv FILE" in reply.content


async def test_grant_gives_and_takes_back_never_below_zero(make_rig: RigFactory) -> None:
    rig = await make_rig("fal")
    gave = await admin(rig, "grant", member=BOB, amount=50, note="welcome")
    assert gave.content == f"Gave <@{BOB}> 50 credits; granted credits never expire."
    assert await rig.balance(BOB) == 110
    took = await admin(rig, "grant", member=BOB, amount=-80)
    assert took.content.startswith(f"Took back 50 credits from <@{BOB}>, not 80")
    assert await rig.balance(BOB) == 60, "the daily allowance is not taken back"
    none_left = await admin(rig, "grant", member=BOB, amount=-1)
    assert "no granted credits to take back" in none_left.content
    zero = await admin(rig, "grant", member=BOB, amount=0)
    assert zero.content.startswith("`amount` is not valid")
    assert rig.service is not None
    grants = [
        a.after
        for a in await rig.service.pipeline.guilds.audit_log(rig.guild.id)
        if a.action == "grant"
    ]
    assert {"user": BOB, "asked": -80, "applied": -50} in grants
    assert {"user": BOB, "asked": 50, "applied": 50} in grants


async def test_allowance_applies_at_once_and_zero_turns_it_off(make_rig: RigFactory) -> None:
    rig = await make_rig("fal")
    assert await rig.balance(BOB) == 60
    raised = await admin(rig, "allowance", amount=100)
    assert raised.content.startswith("Daily allowance: 60 → 100 credits per member.")
    assert await rig.balance(BOB) == 100, "topped up today"
    credits = await rig.fake.slash(
        "credits", guild=rig.guild, channel=rig.channel, user_id=ALICE, options={}
    )
    shown = await answer(rig, credits)
    assert shown.embeds[0]["title"] == "100 credits available"
    off = await admin(rig, "allowance", amount=0)
    assert off.content == "The daily allowance is off (it was 100)."
    assert await rig.balance(OWNER) == 0, "a member new today gets nothing"
    refused = await rig.outcome(await rig.imagine(OWNER))
    assert "you have 0" in refused.content
    too_much = await admin(rig, "allowance", amount=-1)
    assert too_much.content.startswith("`amount` is not valid")
    assert rig.service is not None
    [*_, last] = [
        a
        for a in await rig.service.pipeline.guilds.audit_log(rig.guild.id)
        if a.action == "settings"
    ]
    assert last.actor_id == ADMIN


async def test_price_applies_to_the_next_imagine(make_rig: RigFactory) -> None:
    rig = await make_rig("fal")
    reply = await admin(rig, "price", provider="fal", credits=10)
    assert reply.content.startswith("Price per image at fal: 6 → 10 credits.")
    message = await rig.outcome(await rig.imagine(ALICE, count=2))
    assert message.embeds[0]["fields"][3] == {"name": "Credits", "value": "20", "inline": True}
    assert await rig.balance(ALICE) == 40
    assert rig.service is not None
    job = await rig.service.pipeline.job(job_id(message))
    assert job is not None
    assert (job.hold, job.unit_price, job.charged) == (20, 10, 20)
    not_enabled = await admin(rig, "price", provider="bfl", credits=1)
    assert not_enabled.content.startswith("`provider` is not valid: 'bfl' is not enabled")
    too_dear = await admin(rig, "price", provider="fal", credits=100_001)
    assert too_dear.content.startswith("`credits` is not valid")
    assert (await rig.service.pipeline.guilds.settings(rig.guild.id)).prices == {"fal": 10}


async def test_modrole_sets_shows_and_clears_the_moderator_role(make_rig: RigFactory) -> None:
    rig = await make_rig("fal")
    assert rig.service is not None
    directory = rig.service.pipeline.guilds
    shown = await admin(rig, "modrole")
    assert shown.content.startswith("Moderator role: not set.")
    set_ = await admin(rig, "modrole", role=rig.mod_role)
    assert set_.content.startswith(f"Moderator role: none → <@&{rig.mod_role}>.")
    assert (await directory.settings(rig.guild.id)).moderator_role_id == rig.mod_role
    everyone = await admin(rig, "modrole", role=rig.guild.id)
    assert "@everyone" in everyone.content
    both = await admin(rig, "modrole", role=rig.mod_role, clear=True)
    assert both.content.startswith("`role` is not valid")
    cleared = await admin(rig, "modrole", clear=True)
    assert cleared.content.startswith(f"Moderator role cleared (was <@&{rig.mod_role}>).")
    assert (await directory.settings(rig.guild.id)).moderator_role_id is None
    changes = [a for a in await directory.audit_log(rig.guild.id) if a.action == "settings"]
    assert len(changes) == 2, "setting and clearing are audited; refusals change nothing"


async def test_providers_shows_order_health_and_a_switched_off_provider(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig("fal", "bfl")
    await admin(rig, "price", provider="bfl", credits=9)
    before = embed_fields(await admin(rig, "providers"))
    assert list(before) == ["1. fal.ai (fal)", "2. Black Forest Labs (bfl)"]
    assert before["1. fal.ai (fal)"].startswith("✅ on\nno jobs yet")
    assert before["2. Black Forest Labs (bfl)"].endswith("9 credits per image")
    rig.providers["fal"].fail_next("submit", 401, {"detail": "Invalid key"})
    message = await rig.outcome(await rig.imagine(ALICE))
    assert message.embeds[0]["fields"][2]["value"] == "Black Forest Labs", "failed over"
    after = embed_fields(await admin(rig, "providers"))
    fal, bfl = after["1. fal.ai (fal)"], after["2. Black Forest Labs (bfl)"]
    assert fal.startswith("⛔ switched off after failures; tried again in about 10 min")
    assert "0% of the last 1 job delivered" in fal
    assert bfl.startswith("✅ on\n100% of the last 1 job delivered · median ")
    assert re.search(r"median \d+\.\d s", bfl)


async def test_providers_shows_what_each_provider_made_and_billed(make_rig: RigFactory) -> None:
    rig = await make_rig("fal", "bfl")
    rig.providers["fal"].lose_answer_next("submit", "502")
    lost = await rig.outcome(await rig.imagine(ALICE, prompt="first"))
    assert lost.ephemeral and "risk paying for it twice" in lost.content
    await rig.outcome(await rig.imagine(ALICE, prompt="second"))
    assert await rig.balance(ALICE) == 54, "charged once, for the image delivered (settled)"
    fields = embed_fields(await admin(rig, "providers"))
    fal = fields["1. fal.ai (fal)"]
    assert "💵 2 tasks made, 1 image delivered, $0.06 paid" in fal
    assert "1 task in doubt, up to $0.06" in fal
    assert "💵" not in fields["2. Black Forest Labs (bfl)"], "bfl was never sent the lost image"
    assert len(rig.providers["fal"].billed_tasks()) == 2
    assert rig.providers["bfl"].tasks == {}


async def test_each_guilds_admins_see_and_change_only_their_own(make_rig: RigFactory) -> None:
    rig = await make_rig("fal")
    assert rig.other is not None
    assert rig.other_channel is not None
    # The rig syncs to one guild; in production the commands are global, in both guilds.
    rig.fake.commands[rig.other.id] = rig.fake.commands[rig.guild.id]
    here = await spend(rig, (ALICE, 2), (BOB, 1))
    there = await rig.fake.slash(
        "imagine",
        guild=rig.other,
        channel=rig.other_channel,
        user_id=ALICE,
        options={"prompt": "a harbour"},
    )
    await there.acknowledged()
    elsewhere = job_id(await rig.outcome(there))
    await admin(rig, "grant", member=BOB, amount=20)

    usage = await admin(rig, "usage", user=CAROL, guild=rig.other, channel=rig.other_channel)
    assert usage.embeds[0]["description"] == "**6** credits · 1 image · 1 job"
    assert embed_fields(usage)["Top members"] == f"1. <@{ALICE}>: 6 credits, 1 image"
    bob = await admin(
        rig, "usage", user=CAROL, guild=rig.other, channel=rig.other_channel, member=BOB
    )
    assert bob.embeds[0]["description"].startswith(f"<@{BOB}> spent **0** credits")
    assert "none yet" in embed_fields(bob)["Latest movements"], "BOB's grant was elsewhere"

    exported = await admin(rig, "export", user=CAROL, guild=rig.other, channel=rig.other_channel)
    rows = list(csv.DictReader(io.StringIO(exported.attachments[0].data.decode())))
    assert {r["job_id"] for r in rows} - {""} == {str(elsewhere)}
    assert len(rows) == len(await ledger(rig, rig.other))
    assert not {str(i) for i in here} & {r["job_id"] for r in rows}

    entries = await ledger(rig)
    refused = await admin(rig, "grant", user=CAROL, member=CAROL, amount=1000)
    assert refused.content == REFUSED
    assert await ledger(rig) == entries
    from_here = await admin(rig, "usage", guild=rig.other, channel=rig.other_channel)
    assert from_here.content == REFUSED, "an admin here is nobody there"
