"""Starting and stopping: command sync only on change, throttled status edits, SIGTERM."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import sqlite3
import sys
from pathlib import Path

from bot.settings import PROVIDER_VARIABLES
from tests.cogs.conftest import ALICE, OWNER, Rig, RigFactory, settings_for
from tests.fakes.discord import FakeDiscord
from tests.fakes.providers import FAKES, trust_for

ROOT = Path(__file__).parents[2]


async def test_commands_are_synced_only_when_their_definition_changed(make_rig: RigFactory) -> None:
    rig = await make_rig("fal")
    assert rig.fake.command_syncs == 1
    synced = {c["name"] for c in rig.fake.commands[rig.guild.id]}
    assert {"imagine", "credits", "queue"} <= synced
    await rig.restart()
    assert rig.fake.command_syncs == 1, "an unchanged definition is not synced again"
    rig.settings = rig.settings.model_copy(
        update={"wavespeed_api_key": None, "provider_order": ("fal", "wavespeed")}
    )
    await rig.restart()
    assert rig.fake.command_syncs == 1


async def test_status_is_edited_only_when_it_changes_and_not_too_often(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig("fal", latency=3.0, status_edit_seconds=1.0)
    interaction = await rig.imagine()
    await rig.outcome(interaction)
    status = interaction.original
    assert status is not None
    texts = [p.get("content") for p in status.payloads if p.get("content")]
    assert texts, "a 3-second job shows that it is generating"
    assert all(t.startswith("🎨 Generating") for t in texts), "it started at once: no queue line"
    assert all(a != b for a, b in itertools.pairwise(texts)), "only on change"
    assert len(texts) <= 3, f"at most one edit a second over ~3 s, got {len(texts)}"


async def test_sigterm_stops_cleanly_and_the_next_start_delivers(tmp_path: Path) -> None:
    async with FakeDiscord() as fake, FAKES["fal"].cls(latency=600.0) as fal:
        guild = fake.add_guild("Art club", owner_id=OWNER)
        channel = guild.add_channel("gallery")
        adult = guild.add_channel("after-dark", nsfw=True)
        guild.add_member(ALICE, "alice")
        settings = settings_for(tmp_path, fake, {"fal": fal})
        key_var, url_var = PROVIDER_VARIABLES["fal"]
        env = {
            "PATH": os.environ["PATH"],
            "PYTHONPATH": str(ROOT),
            "FAKE_DISCORD_URL": fake.url,
            "DISCORD_TOKEN": fake.token,
            key_var: fal.api_key,
            url_var: FAKES["fal"].base_url(fal),
            **trust_for({"fal": fal}),
            "DATABASE_PATH": str(tmp_path / "bot.db"),
            "DISCORD_DEV_GUILD_ID": str(guild.id),
            "LOG_LEVEL": "WARNING",
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.fakes.bot_process",
            cwd=tmp_path,
            env=env,
            stderr=asyncio.subprocess.PIPE,
        )
        await fake.wait_ready(timeout=30)
        interaction = await fake.slash(
            "imagine",
            guild=guild,
            channel=channel,
            user_id=ALICE,
            options={"prompt": "a lighthouse"},
        )
        await interaction.acknowledged()
        status = interaction.original
        assert status is not None
        await fake.wait_for(lambda m: m.id == status.id and "Generating" in m.content, timeout=20)
        process.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(process.communicate(), 30)
        assert process.returncode == 0, err.decode()[-2000:]
        with sqlite3.connect(tmp_path / "bot.db") as conn:
            [(state,)] = conn.execute("SELECT status FROM jobs").fetchall()
        assert state == "submitted", "left for the next start to resume"

        fal.finish_all()
        with fake.pointed():
            rig = Rig(fake, guild, channel, adult, {"fal": fal}, settings)
            await rig.start()
            message = await rig.outcome(interaction)
            await rig.stop()
        assert len(message.attachments) == 1
        assert len(fal.tasks) == 1, "resumed, not submitted again"
        assert fake.violations == []
