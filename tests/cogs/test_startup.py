"""Every start-up failure of the real `imagine-bot run` process: exit code and one line.

Each test starts the bot as an operator would (its own process, settings from the
environment) against a local fake Discord and fake providers, or against a closed port
where something must be unreachable. The failure must be the one line the process
prints as ``imagine-bot: …`` (log lines carry timestamps), with no traceback.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.heartbeat import heartbeat_path
from tests.fakes.discord import FakeDiscord
from tests.fakes.providers import FAKES
from tests.fakes.providers.base import FakeProviderServer

ROOT = Path(__file__).parents[2]
SCRIPT = Path(sys.executable).parent / "imagine-bot"


HELD: list[socket.socket] = []


def closed_port() -> int:
    """A loopback port nothing listens on (connections to it are refused). The socket stays
    bound, never listening, so no other process on the machine can take the port meanwhile."""
    held = socket.socket()
    held.bind(("127.0.0.1", 0))
    HELD.append(held)
    return held.getsockname()[1]


@pytest.fixture(autouse=True)
def _release_ports() -> Iterator[None]:
    yield
    while HELD:
        HELD.pop().close()


@dataclass
class World:
    fake: FakeDiscord
    fal: FakeProviderServer
    tmp: Path

    def env(self, **changes: str) -> dict[str, str]:
        """The environment an operator would set, pointed at the fakes."""
        env = {
            "PATH": os.environ["PATH"],
            "PYTHONPATH": str(ROOT),
            "FAKE_DISCORD_URL": self.fake.url,
            "DISCORD_TOKEN": self.fake.token,
            "FAL_KEY": self.fal.api_key,
            "FAL_BASE_URL": FAKES["fal"].base_url(self.fal),
            "DATABASE_PATH": str(self.tmp / "data" / "bot.db"),
            "LOG_LEVEL": "INFO",
            "STARTUP_ATTEMPTS": "2",
        }
        env.update(changes)
        return env


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with AsyncExitStack() as stack:
        fake = await stack.enter_async_context(FakeDiscord())
        guild = fake.add_guild("Art club", owner_id=1)
        guild.add_channel("gallery")
        fal = await stack.enter_async_context(FAKES["fal"].cls(latency=0.05))
        yield World(fake, fal, tmp_path)


async def start(env: dict[str, str], cwd: Path, *args: str) -> asyncio.subprocess.Process:
    """The bot as its own process (through the fake-Discord shim unless args are given);
    its stderr goes to a file, so a long log never blocks it."""
    command = [str(SCRIPT), *args] if args else [sys.executable, "-m", "tests.fakes.bot_process"]
    log = tempfile.NamedTemporaryFile(dir=cwd, prefix="stderr-", delete=False)  # noqa: SIM115
    process = await asyncio.create_subprocess_exec(
        *command, cwd=cwd, env=env, stdout=asyncio.subprocess.PIPE, stderr=log
    )
    log.close()
    LOGS[process.pid] = Path(log.name)
    return process


LOGS: dict[int, Path] = {}


def stderr_of(process: asyncio.subprocess.Process) -> str:
    """Everything the process wrote to stderr so far."""
    return LOGS[process.pid].read_text(encoding="utf-8", errors="replace")


async def finish(process: asyncio.subprocess.Process) -> tuple[int, str, list[str]]:
    """Exit code, stderr, and the lines the process itself printed (not log lines)."""
    try:
        await asyncio.wait_for(process.communicate(), 60)
    except TimeoutError:
        process.kill()
        await process.communicate()
        raise AssertionError("the process did not end: " + stderr_of(process)[-3000:]) from None
    text = stderr_of(process)
    assert "Traceback" not in text, text
    assert process.returncode is not None
    own = [line for line in text.splitlines() if line.startswith("imagine-bot")]
    return process.returncode, text, own


async def fails(env: dict[str, str], cwd: Path, *args: str) -> tuple[int, str, str]:
    """Run to the end; the exit code, stderr and the single failure line (checked single)."""
    code, text, own = await finish(await start(env, cwd, *args))
    assert len(own) == 1, text
    assert text.rstrip().endswith(own[0]), "the failure is the last thing said"
    return code, text, own[0]


# --- Discord ----------------------------------------------------------------------------


async def test_unreachable_discord_is_retried_with_a_line_per_attempt_then_one_line(
    world: World,
) -> None:
    port = closed_port()
    env = world.env(FAKE_DISCORD_URL=f"http://127.0.0.1:{port}", STARTUP_ATTEMPTS="3")
    code, text, line = await fails(env, world.tmp)
    assert code == 1
    assert line == (
        f"imagine-bot: could not reach Discord (127.0.0.1:{port}): the connection was refused"
        " — check the network and firewall (tried 3 times)"
    )
    attempts = [x for x in text.splitlines() if "could not reach Discord" in x and "attempt" in x]
    assert len(attempts) == 2, text
    assert "attempt 1 of 3, next in 1 s" in attempts[0]
    assert "attempt 2 of 3, next in 2 s" in attempts[1]


async def test_ctrl_c_while_waiting_for_discord_stops_cleanly(world: World) -> None:
    env = world.env(FAKE_DISCORD_URL=f"http://127.0.0.1:{closed_port()}", STARTUP_ATTEMPTS="50")
    process = await start(env, world.tmp)
    while "attempt 1 of 50" not in stderr_of(process):
        assert process.returncode is None, "it ended before retrying: " + stderr_of(process)
        await asyncio.sleep(0.05)  # polling the log file for the line, not timing anything
    process.send_signal(signal.SIGINT)
    code, text, own = await finish(process)
    assert code == 0, text
    assert own == []
    assert not heartbeat_path(Path(env["DATABASE_PATH"])).exists(), "no heartbeat left behind"


async def test_a_refused_token_is_one_line_and_exit_2(world: World) -> None:
    code, _, line = await fails(world.env(DISCORD_TOKEN="not-the-token"), world.tmp)
    assert code == 2
    assert line.startswith("imagine-bot: Discord refused DISCORD_TOKEN")
    assert "Reset Token" in line
    assert "not-the-token" not in line


async def test_an_unknown_option_is_one_line_and_exit_2(world: World) -> None:
    code, _, line = await fails(world.env(), world.tmp, "run", "--daemon")
    assert code == 2
    assert line == "imagine-bot: unknown option --daemon (see imagine-bot --help)"


# --- providers --------------------------------------------------------------------------


async def test_no_reachable_provider_is_retried_then_one_line_and_exit_1(world: World) -> None:
    port = closed_port()
    env = world.env(FAL_BASE_URL=f"http://127.0.0.1:{port}")
    code, text, line = await fails(env, world.tmp)
    assert code == 1
    assert line == (
        f"imagine-bot: no image provider could be reached: could not reach fal "
        f"(127.0.0.1:{port}): the connection was refused — check your network or FAL_BASE_URL "
        "(tried 2 times)"
    )
    assert "attempt 1 of 2" in text
    assert world.fake.command_syncs == 0, "nothing was done at Discord"


async def test_every_key_refused_is_one_line_naming_the_variable_and_exit_2(world: World) -> None:
    code, _, line = await fails(world.env(FAL_KEY="revoked-key"), world.tmp)
    assert code == 2
    assert line.startswith("imagine-bot: no provider accepted its key: fal refused the key in")
    assert "FAL_KEY (key refused)" in line
    assert "revoked-key" not in line


async def test_one_provider_down_is_a_warning_and_the_bot_runs_and_is_healthy(
    world: World,
) -> None:
    port = closed_port()
    env = world.env(BFL_API_KEY="k", BFL_BASE_URL=f"http://127.0.0.1:{port}")
    process = await start(env, world.tmp)
    await world.fake.wait_ready(timeout=60)
    verdicts = []
    while not any(v.startswith("healthy: connected to Discord") for v in verdicts):
        assert len(verdicts) < 200, verdicts[-3:]
        health = await start(env, world.tmp, "health")
        out, _ = await asyncio.wait_for(health.communicate(), 60)
        assert health.returncode == 0, out
        verdicts.append(out.decode())
    process.send_signal(signal.SIGTERM)
    code, text, own = await finish(process)
    assert code == 0, text
    assert own == []
    [warning] = [x for x in text.splitlines() if "could not reach bfl" in x]
    assert f"(127.0.0.1:{port})" in warning
    assert warning.endswith("BFL_BASE_URL; starting with the other providers")
    health = await start(env, world.tmp, "health")
    out, _ = await asyncio.wait_for(health.communicate(), 60)
    assert health.returncode == 1
    assert out.decode().startswith("unhealthy: no heartbeat")


# --- the database -----------------------------------------------------------------------


async def test_a_database_folder_that_cannot_be_made_is_one_line_and_exit_2(
    world: World,
) -> None:
    blocker = world.tmp / "not-a-folder"
    blocker.write_text("a file where the folder should be")
    env = world.env(DATABASE_PATH=str(blocker / "bot.db"))
    code, _, line = await fails(env, world.tmp)
    assert code == 2
    assert line.startswith(f"imagine-bot: cannot create the folder {blocker} for DATABASE_PATH=")
    assert line.endswith("set DATABASE_PATH to a file in a folder this user can write")


async def test_a_database_path_that_is_a_folder_is_one_line_and_exit_2(world: World) -> None:
    code, _, line = await fails(world.env(DATABASE_PATH=str(world.tmp)), world.tmp)
    assert code == 2
    assert line.startswith(f"imagine-bot: DATABASE_PATH={world.tmp} is a folder")


async def test_a_file_that_is_not_a_database_is_one_line_and_exit_2(world: World) -> None:
    notes = world.tmp / "notes.txt"
    notes.write_text("shopping list\n" * 200)
    code, _, line = await fails(world.env(DATABASE_PATH=str(notes)), world.tmp)
    assert code == 2
    assert line.startswith(f"imagine-bot: DATABASE_PATH={notes} is not an imagine-bot database")
    assert notes.read_text() == "shopping list\n" * 200, "the file is left alone"


async def test_another_programs_database_is_refused_not_changed(world: World) -> None:
    other = world.tmp / "other.sqlite3"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE recipes (name TEXT)")
    code, _, line = await fails(world.env(DATABASE_PATH=str(other)), world.tmp)
    assert code == 2
    assert "is a SQLite database of something else" in line
    with sqlite3.connect(other) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    assert tables == ["recipes"]


async def test_a_database_from_a_newer_version_is_one_line_and_exit_2(world: World) -> None:
    path = world.tmp / "data" / "bot.db"
    path.parent.mkdir()
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE jobs (id INTEGER)")
        conn.execute("PRAGMA user_version = 999")
    code, _, line = await fails(world.env(), world.tmp)
    assert code == 2
    assert "has schema version 999" in line
    assert "restore a backup made before the upgrade" in line


async def test_a_traceback_appears_only_at_debug(world: World) -> None:
    """LOG_LEVEL=DEBUG is how an operator gets the detail behind a one-line failure."""
    port = closed_port()
    env = world.env(
        FAKE_DISCORD_URL=f"http://127.0.0.1:{port}", STARTUP_ATTEMPTS="1", LOG_LEVEL="DEBUG"
    )
    process = await start(env, world.tmp)
    await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 1
    err = stderr_of(process)
    assert "Traceback" in err
    assert err.rstrip().splitlines()[-1].startswith("imagine-bot: could not reach Discord")
