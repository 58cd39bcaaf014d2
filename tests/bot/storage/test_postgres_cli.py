"""The operator's commands for PostgreSQL: `copy-db` moves a server's SQLite data, ledger
balances and all, checked before it commits and never into a database that holds data;
`migrate` readies a database for a fleet; `backup` and `restore` point at pg_dump."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from bot.app import open_service
from bot.handles import Intent
from bot.models import GeneratedImage, GenerationRequest, JobStatus
from bot.settings import Settings
from bot.storage.engines import open_store
from bot.storage.interface import Store, Transaction
from tests.engines import Server, need, peek

SCRIPT = Path(sys.executable).parent / "imagine-bot"
GUILD, ALICE, BOB, ADMIN = 10, 1, 2, 99
AT = 1_741_600_000.0
DEFAULTS: dict[str, object] = {}


@pytest.fixture
def server(postgres: Server | str) -> Server:
    return need(postgres)


async def copy_db(source: Path, url: str, cwd: Path) -> tuple[int, str, str]:
    """Run the installed copy-db, as an operator would."""
    return await command(cwd, "copy-db", str(source), url)


async def command(cwd: Path, *args: str, **env: str) -> tuple[int, str, str]:
    """Run the installed command with only these settings, as on the operator's machine."""
    process = await asyncio.create_subprocess_exec(
        str(SCRIPT),
        *args,
        env={"PATH": os.environ["PATH"], **env},
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def a_servers_life(db: Store) -> None:
    """Jobs, images, holds, charges, refunds, grants, settings, bans, tasks: a bit of all."""

    async def unit(tx: Transaction) -> None:
        for n, user in enumerate((ALICE, BOB, ALICE)):
            job = await tx.jobs.insert(
                guild_id=GUILD,
                user_id=user,
                channel_id=5,
                age_restricted=bool(n % 2),
                request=GenerationRequest(prompt=f"lighthouse {n}"),
                hold=12,
                context={"message": n},
                at=AT + n,
            )
            await tx.ledger.hold(
                guild_id=GUILD, user_id=user, job_id=job.id, amount=12, at=AT + n, allowance=60
            )
        await tx.ledger.grant(
            guild_id=GUILD, user_id=BOB, amount=25, actor_id=ADMIN, note="prize", at=AT + 5
        )
        await tx.jobs.transition(1, JobStatus.SUBMITTING, at=AT + 6, started_at=AT + 6)
        await tx.tasks.record_intent(
            job_id=1,
            guild_id=GUILD,
            intent=Intent(provider="bfl", token="t1", images=(1,), at=AT + 6),
            micros_per_image=60_000,
        )
        await tx.tasks.record_answer(
            "t1", created=[(0, "task-1")], unknown=[], ended=[], ended_billed=False, at=AT + 7
        )
        await tx.jobs.save_images(
            1, [GeneratedImage(data=b"\x89PNG-bytes", content_type="image/png", width=4, height=3)]
        )
        await tx.ledger.settle(job_id=1, charge=6, provider="bfl", images=1, at=AT + 8)
        await tx.ledger.release(job_id=2, at=AT + 9)
        await tx.guilds.change_settings(GUILD, {"price_per_image": 3}, DEFAULTS, at=AT)
        await tx.guilds.ban(GUILD, 7, "spam", by=ADMIN, at=AT)
        await tx.guilds.block(GUILD, "sea serpent", "Sea Serpent", by=ADMIN, at=AT)
        await tx.audit.record(GUILD, ADMIN, "ban", before=None, after={"user": 7}, at=AT)
        await tx.state.put("commands", "abc", at=AT)

    await db.run(unit)


async def what_it_says(db: Store) -> tuple[object, ...]:
    """Everything a member, an admin and a restart read from the database."""

    async def unit(tx: Transaction) -> tuple[object, ...]:
        balances = [
            await tx.ledger.balance(guild_id=GUILD, user_id=u, at=AT + 10, allowance=0)
            for u in (ALICE, BOB)
        ]
        return (
            balances,
            await tx.jobs.unfinished(),
            await tx.jobs.get(1),
            await tx.jobs.load_images(1),
            await tx.reports.usage(GUILD, since=AT - 10, until=AT + 100),
            await tx.reports.user_history(GUILD, ALICE),
            await tx.tasks.rows(since=AT - 10, until=AT + 100),
            await tx.guilds.settings(GUILD, DEFAULTS),
            await tx.guilds.bans(GUILD),
            await tx.guilds.blocklist(GUILD),
            await tx.audit.recent(GUILD),
            await tx.state.get("commands"),
            await tx.ledger.reconcile(),
        )

    return await db.run(unit)


async def test_a_server_moves_to_postgres_whole(server: Server, tmp_path: Path) -> None:
    source = tmp_path / "bot.sqlite3"
    lite = await open_store(source)
    await a_servers_life(lite)
    before = await what_it_says(lite)
    await lite.close()
    target = await server.schema()

    code, out, err = await copy_db(source, target, tmp_path)

    assert (code, err) == (0, "")
    assert out.startswith(f"copied {source} to {target}: 3 jobs, ")
    assert "the ledger reconciles" in out
    pg = await open_store(target)
    try:
        assert await what_it_says(pg) == before
        job = await pg.run(
            lambda tx: tx.jobs.insert(
                guild_id=GUILD,
                user_id=BOB,
                channel_id=5,
                age_restricted=False,
                request=GenerationRequest(prompt="after the move"),
                hold=6,
                context={},
                at=AT + 20,
            )
        )
        assert job.id == 4, "new ids follow the copied ones"
        await pg.run(
            lambda tx: tx.ledger.hold(
                guild_id=GUILD, user_id=BOB, job_id=4, amount=6, at=AT + 20, allowance=0
            )
        )
        assert await pg.run(lambda tx: tx.ledger.reconcile()) == []
    finally:
        await pg.close()
    [(movements, numbered)] = await peek(
        target,
        "SELECT COUNT(DISTINCT movement), COUNT(*) FROM ledger_movements, ledger"
        " WHERE ledger.movement = ledger_movements.id",
    )
    assert movements > 0 and numbered > 0


async def test_a_database_that_holds_data_is_refused_and_left_alone(
    server: Server, tmp_path: Path
) -> None:
    source = tmp_path / "bot.sqlite3"
    lite = await open_store(source)
    await a_servers_life(lite)
    await lite.close()
    target = await server.schema()
    pg = await open_store(target)
    await pg.run(lambda tx: tx.state.put("mine", "already here", at=AT))
    await pg.close()

    code, out, err = await copy_db(source, target, tmp_path)

    assert (code, out) == (2, "")
    assert err == (
        f"imagine-bot: DATABASE_URL={target} already holds data (1 bot_state): copy-db only "
        "fills an empty database; create a new one (createdb) and point DATABASE_URL at it\n"
    )
    assert await peek(target, "SELECT count(*) FROM jobs") == [(0,)]


async def test_a_missing_file_or_a_non_url_is_one_line(server: Server, tmp_path: Path) -> None:
    target = await server.schema()
    code, _, err = await copy_db(tmp_path / "nope.sqlite3", target, tmp_path)
    assert (code, err) == (
        2,
        f"imagine-bot: no SQLite database at {tmp_path / 'nope.sqlite3'}: give the bot's "
        "database file\n",
    )
    code, _, err = await copy_db(tmp_path / "nope.sqlite3", "data/other.sqlite3", tmp_path)
    assert code == 2 and "is not a PostgreSQL URL" in err and err.count("\n") == 1


async def test_migrate_readies_a_database_once_for_a_fleet(server: Server, tmp_path: Path) -> None:
    target = await server.schema()
    for _ in range(2):
        code, out, err = await command(tmp_path, "migrate", DATABASE_URL=target)
        assert (code, out, err) == (0, f"the database {target} is up to date\n", "")
    assert await peek(target, "SELECT count(*) FROM schema_version") == [(1,)]


async def test_backup_and_restore_point_at_pg_dump(tmp_path: Path) -> None:
    url = "postgresql://bot:secret@127.0.0.1:5432/imagine"
    for name in ("backup", "restore"):
        code, out, err = await command(tmp_path, name, "x.sqlite3", DATABASE_URL=url)
        assert (code, out) == (2, "")
        assert err == (
            f"imagine-bot: {name} works on a SQLite file, but DATABASE_URL names PostgreSQL: "
            "use pg_dump to back it up and pg_restore (or psql) to restore it\n"
        )


def test_database_url_picks_the_engine(tmp_path: Path) -> None:
    url = "postgresql://bot:secret@db:5432/imagine"
    on_postgres = Settings(_env_file=None, database_url=url)  # type: ignore[call-arg]
    assert on_postgres.database() == url
    assert url in on_postgres.secrets(), "the password never reaches a log"
    as_path = Settings(_env_file=None, database_url=str(tmp_path / "x.sqlite3"))  # type: ignore[call-arg]
    assert as_path.database() == tmp_path / "x.sqlite3" and as_path.database_url is None
    assert Settings(_env_file=None).database() == Path("data/imagine-bot.sqlite3")  # type: ignore[call-arg]


async def test_several_processes_share_one_postgres_database(
    server: Server, tmp_path: Path
) -> None:
    """No file lock on PostgreSQL: two services open on one database and see each other."""
    url = await server.schema()
    settings = Settings(_env_file=None, database_url=url, database_path=tmp_path / "x.db")  # type: ignore[call-arg]
    async with open_service(settings) as first, open_service(settings) as second:
        await first.store.run(lambda tx: tx.state.put("from", "first", at=AT))
        assert await second.store.run(lambda tx: tx.state.get("from")) == "first"
    assert not (tmp_path / "x.db").exists() and not (tmp_path / "x.db.lock").exists()
