"""`imagine-bot backup` while the bot writes, and `imagine-bot restore` of that copy.

The bot runs a burst of /imagine (each job several transactions: admission with its
hold, submission, result, settlement) while the command copies the live WAL database.
Every copy must be a consistent database on its own (integrity, a ledger that
reconciles, nothing committed before the copy began missing), and a restored copy must
run the bot again.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import sys
import time
from pathlib import Path

from bot import heartbeat
from bot.heartbeat import heartbeat_path
from bot.storage.sqlite.ledger import reconcile
from tests.cogs.conftest import ALICE, BOB, RigFactory

SCRIPT = Path(sys.executable).parent / "imagine-bot"


async def command(*args: str, database: Path, cwd: Path) -> tuple[int, str, str]:
    """Run the installed command with only DATABASE_PATH set, as on the operator's machine."""
    env = {"PATH": os.environ["PATH"], "DATABASE_PATH": str(database)}
    process = await asyncio.create_subprocess_exec(
        str(SCRIPT),
        *args,
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def committed_jobs(path: Path) -> set[int]:
    """Job ids committed in a database (read through SQLite, WAL included)."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return {row[0] for row in conn.execute("SELECT id FROM jobs")}


async def test_backups_taken_while_the_bot_writes_are_whole_and_restore(
    make_rig: RigFactory, tmp_path: Path
) -> None:
    rig = await make_rig("fal", latency=0.2)
    live = rig.settings.database_path
    copies = tmp_path / "backups"
    copies.mkdir()
    burst = [rig.imagine(user=ALICE if i % 2 else BOB, prompt=f"burst {i}") for i in range(12)]
    writing = asyncio.gather(*burst)
    made = []
    for number in range(3):
        before = committed_jobs(live)
        target = copies / f"copy-{number}.sqlite3"
        code, out, err = await command("backup", str(target), database=live, cwd=tmp_path)
        assert code == 0, err
        assert out.startswith(f"backed up {live} to {target} (schema ")
        assert err == ""
        assert not target.with_name(target.name + "-wal").exists(), "one self-contained file"
        with contextlib.closing(sqlite3.connect(target)) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            assert reconcile(conn) == []
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        assert before <= committed_jobs(target), "everything committed before the copy is in it"
        made.append(target)
    interactions = await writing
    for interaction in interactions:
        await rig.outcome(interaction)
    assert rig.service is not None
    await rig.service.pipeline.drain()
    final_jobs = committed_jobs(live)
    balance = await rig.balance(ALICE)

    # A backup after the burst, then a restore of it in place of the (stopped) bot's database.
    last = copies / "after.sqlite3"
    code, _, err = await command("backup", str(last), database=live, cwd=tmp_path)
    assert code == 0, err
    await rig.stop()
    code, out, err = await command("restore", str(last), database=live, cwd=tmp_path)
    assert code == 0, err
    assert out.startswith(f"restored {last} to {live} (schema ")
    assert "the previous database is kept as" in out
    assert committed_jobs(live) == final_jobs
    await rig.start()
    assert await rig.balance(ALICE) == balance, "the restored bot has the same ledger"
    await rig.outcome(await rig.imagine(prompt="after the restore"))


async def test_restore_is_refused_while_the_bot_runs(make_rig: RigFactory, tmp_path: Path) -> None:
    rig = await make_rig("fal")
    live = rig.settings.database_path
    copy = tmp_path / "copy.sqlite3"
    assert (await command("backup", str(copy), database=live, cwd=tmp_path))[0] == 0
    # The in-process Rig writes no heartbeat; write the one `imagine-bot run` keeps fresh.
    heartbeat.write(heartbeat_path(live), heartbeat.Beat(time.time(), 4242, True, 0.0))
    code, out, err = await command("restore", str(copy), database=live, cwd=tmp_path)
    assert code == 1
    assert out == ""
    assert err.startswith(f"imagine-bot: the bot is running on {live} (pid 4242): stop it first")


async def test_backup_refusals_are_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "none.db"
    code, _, err = await command("backup", str(tmp_path / "x.db"), database=missing, cwd=tmp_path)
    assert (code, err) == (2, f"imagine-bot: no database at {missing}: check DATABASE_PATH\n")
    with contextlib.closing(sqlite3.connect(tmp_path / "recipes.db")) as conn:
        conn.execute("CREATE TABLE recipes (name TEXT)")
    code, _, err = await command(
        "backup", str(tmp_path / "x.db"), database=tmp_path / "recipes.db", cwd=tmp_path
    )
    assert code == 2
    assert "is not an imagine-bot database" in err
    assert not (tmp_path / "x.db").exists()
