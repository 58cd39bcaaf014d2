"""``imagine-bot usage``: a guild's spend from the database, without Discord or provider keys."""

from __future__ import annotations

import asyncio
import csv
import os
import sys
import time
from pathlib import Path

import pytest

from bot import cli
from bot.exports import iso_time
from bot.models import GenerationRequest
from bot.storage.engines import open_store
from bot.storage.interface import Store, Transaction
from bot.storage.records import DAY, utc_day

SCRIPT = Path(sys.executable).parent / "imagine-bot"
GUILD, OTHER = 111_111_111_111, 222_222_222_222
ALICE, BOB, ADMIN = 1002, 1003, 1005
TODAY = (time.time() // DAY) * DAY + 60  # early today (UTC)
LONG_AGO = TODAY - 40 * DAY


async def charge(
    db: Store,
    guild: int,
    user: int,
    *,
    images: int,
    price: int,
    provider: str,
    at: float,
) -> None:
    """One delivered job, through the same storage functions the pipeline uses."""

    async def change(tx: Transaction) -> None:
        job = await tx.jobs.insert(
            guild_id=guild,
            user_id=user,
            channel_id=1,
            age_restricted=False,
            request=GenerationRequest(prompt="a lighthouse", count=images),
            hold=images * price,
            context={},
            at=at,
        )
        await tx.ledger.hold(
            guild_id=guild,
            user_id=user,
            job_id=job.id,
            amount=images * price,
            at=at,
            allowance=60,
        )
        await tx.ledger.settle(
            job_id=job.id, charge=images * price, provider=provider, images=images, at=at + 5
        )

    await db.run(change)


@pytest.fixture
async def database(tmp_path: Path) -> Path:
    """A database with spend in two guilds: today, two days ago, and 40 days ago."""
    path = tmp_path / "data" / "bot.db"
    db = await open_store(path)
    await charge(db, GUILD, ALICE, images=2, price=6, provider="fal", at=TODAY)
    await charge(db, GUILD, BOB, images=1, price=9, provider="bfl", at=TODAY - 2 * DAY)
    await charge(db, GUILD, ALICE, images=1, price=6, provider="fal", at=TODAY - 2 * DAY)
    await charge(db, GUILD, BOB, images=4, price=6, provider="fal", at=LONG_AGO)
    await charge(db, OTHER, ALICE, images=3, price=20, provider="fal", at=TODAY)
    await db.run(
        lambda tx: tx.ledger.grant(
            guild_id=GUILD, user_id=BOB, amount=25, actor_id=ADMIN, note="=1+1", at=TODAY
        )
    )
    await db.close()
    return path


async def run(args: list[str], database: Path, cwd: Path) -> tuple[int, str, str]:
    """The installed script, in a clean environment: only the database's path, no keys."""
    env = {"PATH": os.environ.get("PATH", ""), "LOG_LEVEL": "WARNING"}
    env["DATABASE_PATH"] = str(database)
    process = await asyncio.create_subprocess_exec(
        str(SCRIPT),
        *args,
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_prints_the_last_30_days_of_one_guild(database: Path, tmp_path: Path) -> None:
    code, out, err = await run(["usage", "--guild", str(GUILD)], database, tmp_path)
    assert code == 0, err
    lines = out.splitlines()
    first = utc_day(TODAY + DAY - 30 * DAY)
    assert lines[0] == f"guild {GUILD}, {first} to {utc_day(TODAY)} (UTC)"
    assert lines[1] == "total: 27 credits, 4 images, 3 jobs", "not 40 days ago, not the other guild"
    top = lines[lines.index("top users:") + 1 : lines.index("per provider:")]
    assert [line.split() for line in top] == [
        ["1.", str(ALICE), "18", "credits", "3", "images"],
        ["2.", str(BOB), "9", "credits", "1", "image"],
    ]
    providers = lines[lines.index("per provider:") + 1 : lines.index("per day:")]
    assert [line.split()[:2] for line in providers] == [["fal", "18"], ["bfl", "9"]]
    spend = next(i for i, line in enumerate(lines) if line.startswith("provider spend"))
    days = [line.split()[:3] for line in lines[lines.index("per day:") + 1 : spend]]
    assert days == [
        [utc_day(TODAY - 2 * DAY), "bfl", "9"],
        [utc_day(TODAY - 2 * DAY), "fal", "6"],
        [utc_day(TODAY), "fal", "12"],
    ]


async def test_the_figures_equal_the_ledger_report(database: Path, tmp_path: Path) -> None:
    since = LONG_AGO - DAY
    code, out, _ = await run(
        ["usage", "--guild", str(GUILD), "--since", utc_day(since)], database, tmp_path
    )
    assert code == 0
    db = await open_store(database)
    try:
        start, until = cli.usage_period(utc_day(since), time.time())
        usage = await db.run(lambda tx: tx.reports.usage(GUILD, since=start, until=until))
    finally:
        await db.close()
    assert (usage.credits, usage.images, usage.jobs) == (51, 8, 4)
    assert "total: 51 credits, 8 images, 4 jobs" in out
    assert out.splitlines()[0].startswith(f"guild {GUILD}, {utc_day(since)} to ")


async def test_since_narrows_the_period_and_each_guild_is_apart(
    database: Path, tmp_path: Path
) -> None:
    code, out, _ = await run(
        ["usage", "--guild", str(GUILD), "--since", utc_day(TODAY)], database, tmp_path
    )
    assert code == 0
    assert "total: 12 credits, 2 images, 1 job" in out
    code, out, _ = await run(["usage", "--guild", str(OTHER)], database, tmp_path)
    assert code == 0
    assert "total: 60 credits, 3 images, 1 job" in out
    assert str(BOB) not in out
    code, out, _ = await run(["usage", "--guild", "42"], database, tmp_path)
    assert code == 0
    assert out.splitlines()[1:3] == [
        "total: 0 credits, 0 images, 0 jobs",
        "no credits were spent in this period",
    ]
    assert out.splitlines()[-1] == "  no provider tasks in this period"


async def test_csv_writes_the_ledger_that_parses_back(database: Path, tmp_path: Path) -> None:
    target = tmp_path / "ledger.csv"
    code, out, err = await run(
        ["usage", "--guild", str(GUILD), "--csv", str(target)], database, tmp_path
    )
    assert code == 0, err
    with target.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    db = await open_store(database)
    try:
        start, until = cli.usage_period(None, time.time())
        entries = await db.run(lambda tx: tx.reports.entries(GUILD, since=start, until=until))
    finally:
        await db.close()
    assert out.splitlines()[-1] == f"wrote {len(entries)} ledger movements to {target}"
    assert [r["time"] for r in rows] == [iso_time(e.at) for e in entries]
    assert [(r["user_id"], r["kind"], r["amount"], r["charged"]) for r in rows] == [
        (str(e.user_id), e.kind, str(e.amount), str(e.charged)) for e in entries
    ]
    grant = next(r for r in rows if r["kind"] == "grant")
    assert (grant["actor_id"], grant["note"]) == (str(ADMIN), "'=1+1"), "a formula is made inert"
    assert {r["provider"] for r in rows} == {"", "fal", "bfl"}
    assert sum(int(r["charged"]) for r in rows) == 27


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--guild", "club"], "--guild must be a server id"),
        (["--guild", "0"], "--guild must be a server id"),
        (["--guild", str(GUILD), "--since", "31/01/2025"], "--since must be a date as YYYY-MM-DD"),
        (["--guild", str(GUILD), "--since", "2025-02-30"], "--since must be a date as YYYY-MM-DD"),
        (["--guild", str(GUILD), "--since", utc_day(TODAY + DAY)], "is after today (UTC)"),
    ],
)
async def test_bad_arguments_are_one_line_and_exit_2(
    database: Path, tmp_path: Path, args: list[str], says: str
) -> None:
    code, out, err = await run(["usage", *args], database, tmp_path)
    assert code == 2
    assert out == ""
    assert says in err
    assert err.strip().count("\n") == 0


async def test_a_missing_database_is_one_line_and_exit_2(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "bot.db"
    code, _, err = await run(["usage", "--guild", str(GUILD)], missing, tmp_path)
    assert code == 2
    assert err.strip() == (
        f"imagine-bot: no database at {missing}: the bot has not run with this DATABASE_PATH yet"
    )
    assert not missing.parent.exists(), "nothing was created"
