"""Every cog loads, the commands members see exist, and the core stays free of Discord."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from bot.app import Service, open_service
from bot.settings import Settings
from cogs.launcher import build_client

ROOT = Path(__file__).parents[2]


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[Service]:
    settings = Settings(
        _env_file=None,
        wavespeed_api_key=SecretStr("k"),  # type: ignore[call-arg]
        database_path=tmp_path / "bot.db",
    )
    async with open_service(settings) as opened:
        yield opened


async def test_every_cog_loads_and_registers_its_commands(service: Service) -> None:
    bot = build_client(service)
    await bot.add_parts()
    names = {command.name for command in bot.tree.get_commands()}
    assert {"imagine", "credits", "queue"} <= names
    imagine = bot.tree.get_command("imagine")
    assert imagine is not None
    options = {p.name: p for p in imagine.parameters}  # type: ignore[union-attr]
    assert list(options) == [
        "prompt",
        "aspect",
        "raw",
        "seed",
        "format",
        "reference",
        "reference_strength",
        "count",
        "private",
    ]
    aspects = [c.value for c in options["aspect"].choices]
    assert aspects == ["16:9", "4:3", "1:1", "3:4", "9:16"], "only what WaveSpeed can make"
    assert options["seed"].min_value == 0
    assert options["seed"].max_value == 2147483647
    assert (options["count"].min_value, options["count"].max_value) == (1, 4)
    await bot.close()


def test_the_core_never_imports_discord() -> None:
    code = (
        "import pkgutil, importlib, sys, bot\n"
        "for m in pkgutil.walk_packages(bot.__path__, 'bot.'):\n"
        "    if m.name != 'bot.__main__': importlib.import_module(m.name)\n"
        "print(sorted(n for n in sys.modules if n == 'discord' or n.startswith('discord.')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=True,
    )
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"FAL_KEY": "k"}, "DISCORD_TOKEN is not set"),
        ({"DISCORD_TOKEN": "t"}, "no image provider is configured"),
    ],
)
def test_run_refuses_in_one_line_what_would_make_it_useless(
    tmp_path: Path, env: dict[str, str], says: str
) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "bot", "run"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), **env},
        timeout=60,
    )
    assert out.returncode == 2
    assert says in out.stderr
    assert out.stderr.strip().count("\n") == 0
