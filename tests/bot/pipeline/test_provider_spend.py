"""What the providers bill, as the operator reads it: `imagine-bot usage` and its task CSV,
checked against what the (scripted) providers actually made."""

from __future__ import annotations

import asyncio
import csv
import os
import sys
import time
from decimal import Decimal
from pathlib import Path

from bot.errors import TaskFailed
from bot.money import usd
from bot.storage.interface import Store
from bot.storage.postgres.store import is_url
from tests.bot.pipeline.conftest import RigFactory
from tests.fakes.providers.scripted import Lost

SCRIPT = Path(sys.executable).parent / "imagine-bot"


def test_money_reads_as_a_price() -> None:
    assert [usd(m) for m in (60_000, 55_000, 12_400_000, 0)] == [
        "$0.06",
        "$0.055",
        "$12.40",
        "$0.00",
    ]


async def usage(database: Path | str, cwd: Path, *args: str) -> str:
    setting = "DATABASE_URL" if is_url(str(database)) else "DATABASE_PATH"
    env = {"PATH": os.environ.get("PATH", ""), setting: str(database)}
    process = await asyncio.create_subprocess_exec(
        str(SCRIPT), "usage", *args, env=env, cwd=cwd, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0
    return out.decode()


async def test_provider_spend_reconciles_with_what_the_providers_made(
    make_rig: RigFactory, db: Store, tmp_path: Path
) -> None:
    rig = await make_rig("bfl", "fal", daily_allowance=600)
    bfl, fal = rig.providers["bfl"], rig.providers["fal"]
    bfl.submit_script.append(Lost("timed out after the task was made"))
    bfl.wait_script.append(TaskFailed("Error status"))
    for n in range(4):
        await rig.pipeline.submit(rig.submission(f"picture {n}"))
    await rig.events.until_finished(4)
    assert (len(bfl.made), len(fal.made)) == (4, 1)

    spend = {
        row.provider: row
        for row in await db.run(lambda tx: tx.tasks.spend(since=0, until=time.time() + 60))
    }
    assert spend["bfl"].made == len(bfl.made) and spend["fal"].made == len(fal.made)
    assert (spend["bfl"].paid, spend["bfl"].doubt, spend["bfl"].delivered_images) == (3, 1, 2)
    assert spend["bfl"].undelivered == {"failed at the provider": 1}
    assert (spend["bfl"].paid_micros, spend["fal"].paid_micros) == (180_000, 60_000)
    delivered = sum(len(p.images) for p in rig.events.posted.values())
    assert sum(row.delivered_images for row in spend.values()) == delivered == 3

    target = tmp_path / "tasks.csv"
    out = await usage(db.location, tmp_path, "--tasks", str(target))
    assert "provider spend for every server" in out
    assert "1 paid task delivered nothing: failed at the provider" in out
    assert "1 task in doubt (the answer was lost): up to $0.06 more" in out
    assert "total $0.24, and up to $0.06 in doubt" in out
    with target.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 5, "every task made, one line each, to tick off against the invoice"
    assert sorted(r["billed"] for r in rows) == ["unknown", "yes", "yes", "yes", "yes"]
    made_ids = {t.id for t in [*bfl.made.values(), *fal.made.values()]}
    assert {r["task_id"] for r in rows if r["task_id"]} <= made_ids
    assert sum(Decimal(r["cost_usd"]) for r in rows if r["billed"] == "yes") == Decimal("0.24")
