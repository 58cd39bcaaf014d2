"""The PostgreSQL store: migrations once for a fleet, a schema version table, clear refusals,
and a ledger that no number of concurrent writers can overdraw."""

from __future__ import annotations

import asyncio
import random
import shutil
from pathlib import Path

import asyncpg
import pytest

from bot.errors import InsufficientCredits
from bot.storage.engines import open_store
from bot.storage.interface import StorageError, Store
from bot.storage.postgres.store import MIGRATIONS, PostgresStore, redact
from tests.engines import Server, need, peek

GUILD, AT, ALLOWANCE = 7, 1_741_600_000.0, 60


@pytest.fixture
def server(postgres: Server | str) -> Server:
    return need(postgres)


async def test_a_new_database_gets_every_table_and_its_schema_version(server: Server) -> None:
    place = await server.schema()
    await (await open_store(place)).close()

    assert await peek(place, "SELECT version FROM schema_version") == [
        (len(list(MIGRATIONS.glob("*.sql"))),)
    ]
    tables = {
        name
        for (name,) in await peek(
            place,
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = current_schema()",
        )
    }
    assert {"jobs", "ledger", "balances", "ledger_movements", "provider_tasks"} <= tables


async def test_a_fleet_starting_at_once_migrates_once(server: Server) -> None:
    place = await server.schema()
    stores = await asyncio.gather(*(open_store(place) for _ in range(4)))
    for store in stores:
        await store.close()
    assert await peek(place, "SELECT count(*) FROM schema_version") == [(1,)]


async def test_an_older_database_is_upgraded_in_place(server: Server, tmp_path: Path) -> None:
    migrations = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, migrations)
    place = await server.schema()
    db = await PostgresStore.open(place, migrations=migrations)
    await db.run(lambda tx: tx.guilds.ban(1, 2, "spam", by=3, at=0))
    await db.close()
    step = len(list(migrations.glob("*.sql"))) + 1
    (migrations / f"{step:04d}_add_note.sql").write_text(
        "ALTER TABLE bans ADD COLUMN note TEXT NOT NULL DEFAULT 'kept';"
    )
    await (await PostgresStore.open(place, migrations=migrations)).close()

    assert await peek(place, "SELECT reason, note FROM bans") == [("spam", "kept")]
    assert await peek(place, "SELECT version FROM schema_version") == [(step,)]


async def test_a_failed_migration_leaves_the_database_as_it_was(
    server: Server, tmp_path: Path
) -> None:
    migrations = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, migrations)
    place = await server.schema()
    await (await PostgresStore.open(place, migrations=migrations)).close()
    step = len(list(migrations.glob("*.sql"))) + 1
    (migrations / f"{step:04d}_broken.sql").write_text(
        "CREATE TABLE half (x INTEGER); SELECT no_such_column FROM jobs;"
    )
    with pytest.raises(StorageError, match=f"migration {step:04d}_broken.sql failed"):
        await PostgresStore.open(place, migrations=migrations)

    assert await peek(place, "SELECT version FROM schema_version") == [(step - 1,)]
    assert await peek(place, "SELECT to_regclass('half') IS NULL") == [(True,)]


async def test_a_newer_database_is_refused_clearly(server: Server) -> None:
    place = await server.schema()
    await (await open_store(place)).close()
    conn = await asyncpg.connect(place)
    await conn.execute("UPDATE schema_version SET version = 999")
    await conn.close()

    with pytest.raises(StorageError) as caught:
        await open_store(place)
    assert "schema version 999" in str(caught.value)
    assert "no downgrade" in str(caught.value)


async def test_someone_elses_tables_are_refused_not_added_to(server: Server) -> None:
    place = await server.schema()
    conn = await asyncpg.connect(place)
    await conn.execute("CREATE TABLE recipes (id INTEGER)")
    await conn.close()

    with pytest.raises(StorageError, match="1 tables of something else"):
        await open_store(place)


async def test_an_unreachable_server_is_one_line_with_the_fix() -> None:
    with pytest.raises(StorageError) as caught:
        await open_store("postgresql://bot:secret@127.0.0.1:9/imagine")
    line = str(caught.value)
    assert "\n" not in line and "secret" not in line
    assert line.startswith("cannot use the database DATABASE_URL=postgresql://bot:***@127.0.0.1:9")
    assert "start PostgreSQL, or correct DATABASE_URL" in line


def test_the_location_never_shows_the_password() -> None:
    assert redact("postgresql://bot:pw@db:5432/x") == "postgresql://bot:***@db:5432/x"
    assert redact("postgresql://bot@db/x") == "postgresql://bot@db/x"


async def test_the_database_itself_refuses_an_overdraft(server: Server) -> None:
    """Even SQL that skips the ledger code cannot take an account below zero."""
    place = await server.schema()
    db = await open_store(place)
    await db.run(
        lambda tx: tx.ledger.grant(
            guild_id=GUILD, user_id=1, amount=20, actor_id=9, note=None, at=AT
        )
    )
    await db.close()
    writers = [await asyncpg.connect(place) for _ in range(8)]
    debit = (
        "UPDATE balances SET amount = amount - 3"
        f" WHERE guild_id = {GUILD} AND user_id = 1 AND account = 'granted'"
    )
    outcomes = await asyncio.gather(*(c.execute(debit) for c in writers), return_exceptions=True)
    for conn in writers:
        await conn.close()

    refused = [o for o in outcomes if isinstance(o, asyncpg.CheckViolationError)]
    assert len(refused) == 2 and outcomes.count("UPDATE 1") == 6
    assert await peek(place, "SELECT amount FROM balances WHERE account = 'granted'") == [(2,)]


async def test_many_concurrent_writers_never_overdraw_and_the_ledger_balances(
    server: Server,
) -> None:
    """Four stores (as four bot processes) debit three members at once: every hold let
    through is covered, no balance goes negative, and legs and balances reconcile."""
    place = await server.schema()
    stores = [await open_store(place) for _ in range(4)]
    members, price, tries = (1, 2, 3), 7, 40
    rng = random.Random(14)

    async def debit(store: Store, job: int, member: int) -> int:
        try:
            await store.run(
                lambda tx: tx.ledger.hold(
                    guild_id=GUILD,
                    user_id=member,
                    job_id=job,
                    amount=price,
                    at=AT,
                    allowance=ALLOWANCE,
                )
            )
        except InsufficientCredits:
            return 0
        if rng.random() < 0.3:  # some jobs end at once, on another store
            other = stores[(stores.index(store) + 1) % len(stores)]
            await other.run(
                lambda tx: tx.ledger.settle(
                    job_id=job, charge=price, provider="bfl", images=1, at=AT
                )
            )
        return 1

    try:
        await stores[0].run(
            lambda tx: tx.ledger.grant(
                guild_id=GUILD, user_id=1, amount=30, actor_id=9, note=None, at=AT
            )
        )
        jobs = [
            (stores[i % len(stores)], 1_000 + i, members[i % len(members)])
            for i in range(tries * len(members))
        ]
        let_through = sum(await asyncio.gather(*(debit(s, j, m) for s, j, m in jobs)))
        problems = await stores[1].run(lambda tx: tx.ledger.reconcile())
    finally:
        for store in stores:
            await store.close()

    assert let_through == len(members) * (ALLOWANCE // price) + 30 // price
    assert problems == []
    assert await peek(
        place,
        "SELECT count(*) FROM balances WHERE account NOT IN ('issued', 'spent') AND amount < 0",
    ) == [(0,)]
    [(movements, owned)] = await peek(
        place, "SELECT COUNT(DISTINCT movement), COUNT(DISTINCT (movement, user_id)) FROM ledger"
    )
    assert movements == owned, "no movement number was given to two writers"


def test_both_engines_have_the_same_numbered_migrations() -> None:
    """One schema, two dialects: each SQLite step has its PostgreSQL twin of the same name
    (PostgreSQL may be a step ahead while a SQLite step is being written)."""
    from bot.storage.sqlite.store import MIGRATIONS as SQLITE

    lite = sorted(p.name for p in SQLITE.glob("*.sql"))
    postgres = sorted(p.name for p in MIGRATIONS.glob("*.sql"))
    assert postgres[: len(lite)] == lite
