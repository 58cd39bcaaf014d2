"""What the bot recorded next to what the fake providers made and billed, job by job.

After a fault-injection run (tests/cogs/test_faults.py, ``bench/faults.py``) the bot's
database (jobs, the members' ledger, the provider task log) is read with the fakes' own
records, and each way money could go wrong is one method saying in sentences what does
not add up: an image paid twice, a job sent on while a provider may have had it, the task
log disagreeing with the fakes' bills, a member charged other than once per delivered
image, a ledger that does not reconcile.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bot.storage.sqlite import ledger
from tests.fakes.providers.base import FakeProviderServer, TaskRecord

UNFINISHED = ("queued", "submitting", "submitted", "fetched")
MADE_AN_IMAGE = ("ok", "nsfw")


@dataclass(frozen=True)
class JobRecord:
    """One job as the database has it, with its member's ledger movements."""

    id: int
    prompt: str
    status: str
    charged: int | None
    error: str | None
    asked: int  # images the member asked for
    images: int  # delivered
    price: int  # the hold: credits one image costs times the images asked for
    movements: Counter[str]  # hold / settle / release, each counted once per movement
    spent: int  # credits the ledger moved to the member's spending for this job
    held: int  # credits still held for this job (0 once it ended)


@dataclass(frozen=True)
class LogRow:
    """One row of the provider task log."""

    provider: str
    state: str
    billed: bool | None
    task_id: str | None
    reason: str | None


@dataclass(frozen=True)
class FakeTask:
    """One task a fake provider made, and for which prompt."""

    provider: str
    record: TaskRecord

    @property
    def made_an_image(self) -> bool:
        """Whether this task produced an image (whether or not it reached Discord)."""
        return self.record.outcome in MADE_AN_IMAGE


@dataclass
class Audit:
    """What the bot recorded next to what the fakes made and billed, job by job."""

    jobs: dict[str, JobRecord]
    log: dict[str, list[LogRow]]
    made: dict[str, list[FakeTask]]
    reconcile: list[str]
    strays: list[FakeTask] = field(default_factory=list)  # tasks for prompts no job has

    def tasks_at(self, prompt: str, provider: str) -> list[FakeTask]:
        """The fake tasks ``provider`` made for ``prompt``."""
        return [t for t in self.made.get(prompt, []) if t.provider == provider]

    def rows_at(self, prompt: str, provider: str) -> list[LogRow]:
        """The task log's rows for ``prompt``'s job at ``provider``."""
        return [r for r in self.log.get(prompt, []) if r.provider == provider]

    def paid_twice(self) -> list[str]:
        """Each image paid for more than once: a provider asked for more images than the job
        wants (a task sent twice), or more images made than it wants (each sentence names the
        prompt and the tasks)."""
        found = []
        for prompt, tasks in sorted(self.made.items()):
            asked = self.jobs[prompt].asked
            at: Counter[str] = Counter()
            for task in tasks:
                at[task.provider] += task.record.count
            made = sum(t.record.count for t in tasks if t.made_an_image)
            if max(at.values()) > asked or made > asked:
                listed = ", ".join(
                    f"{t.provider}:{t.record.outcome}{'' if t.record.billed else '(free)'}"
                    for t in tasks
                )
                found.append(f"{prompt!r}: {len(tasks)} tasks ({listed})")
        return found + [f"{t.record.prompt!r}: a task no job asked for" for t in self.strays]

    def moved_on_in_doubt(self, order: tuple[str, ...]) -> list[str]:
        """Jobs sent to a later provider while an earlier one may have had the image: every
        earlier row must say refused or failed (the provider proved it), never in doubt."""
        found = []
        for prompt, rows in sorted(self.log.items()):
            used = [name for name in order if any(r.provider == name for r in rows)]
            for name in used[:-1]:
                doubtful = [r.state for r in rows if r.provider == name]
                if any(state not in ("refused", "failed", "moderated") for state in doubtful):
                    found.append(f"{prompt!r}: sent on after {name} said {doubtful}")
        return found

    def disagreements(self) -> list[str]:
        """Where the task log and the fakes' bills differ, per job and provider: every task a
        fake billed is a row saying billed (1) or in doubt (NULL), and no row says billed
        for a task no fake billed."""
        found = []
        for prompt in sorted(self.jobs):
            providers = {t.provider for t in self.made.get(prompt, [])}
            providers |= {r.provider for r in self.log.get(prompt, [])}
            for name in sorted(providers):
                billed = sum(t.record.billed for t in self.tasks_at(prompt, name))
                rows = self.rows_at(prompt, name)
                sure = sum(r.billed is True for r in rows)
                doubt = sum(r.billed is None for r in rows)
                if not sure <= billed <= sure + doubt:
                    states = [(r.state, r.billed) for r in rows]
                    found.append(
                        f"{prompt!r} at {name}: the fake billed {billed} task(s), the log says "
                        f"{states}"
                    )
        return found

    def wrong_charges(self) -> list[str]:
        """Members charged other than once for a delivered image and zero for the rest."""
        found = []
        for prompt, job in sorted(self.jobs.items()):
            want = {"hold": 1, "settle": int(job.status == "done")}
            want["release"] = 1 - want["settle"]
            charge = job.images * job.price if job.status == "done" else 0
            if job.status in UNFINISHED:
                found.append(f"{prompt!r}: still {job.status}")
            elif dict(job.movements) != {k: v for k, v in want.items() if v} or (
                job.spent != charge or job.charged != charge or job.held != 0
            ):
                found.append(
                    f"{prompt!r} ended {job.status}: charged {job.charged}, spent {job.spent}, "
                    f"still held {job.held}, movements {dict(job.movements)} (want {charge})"
                )
        return found

    def problems(self, order: tuple[str, ...]) -> list[str]:
        """Everything wrong with money, in one list (empty when all is well)."""
        return [
            *(f"paid twice: {p}" for p in self.paid_twice()),
            *(f"moved on in doubt: {p}" for p in self.moved_on_in_doubt(order)),
            *(f"task log: {p}" for p in self.disagreements()),
            *(f"member charge: {p}" for p in self.wrong_charges()),
            *(f"ledger: {p}" for p in self.reconcile),
        ]


def audit(db: Path, providers: Mapping[str, FakeProviderServer]) -> Audit:
    """Read the bot's database (the bot stopped) and the fakes' records, job by job."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT id, request, status, charged, error, result, hold FROM jobs ORDER BY id"
        ).fetchall()
        legs = conn.execute(
            "SELECT job_id, movement, kind, account, amount FROM ledger WHERE job_id IS NOT NULL"
        ).fetchall()
        tasks = conn.execute(
            "SELECT job_id, provider, state, billed, task_id, reason FROM provider_tasks"
            " ORDER BY id"
        ).fetchall()
        problems = ledger.reconcile(conn)
    kinds: dict[int, set[tuple[int, str]]] = defaultdict(set)
    spent: Counter[int] = Counter()
    held: Counter[int] = Counter()
    for job_id, movement, kind, account, amount in legs:
        kinds[job_id].add((movement, kind))
        if account == "spent":
            spent[job_id] += amount
        elif account == "held":
            held[job_id] += amount
    jobs: dict[str, JobRecord] = {}
    prompt_of: dict[int, str] = {}
    for job_id, request, status, charged, error, result, hold in rows:
        asked = json.loads(request)
        prompt = asked["prompt"]
        prompt_of[job_id] = prompt
        jobs[prompt] = JobRecord(
            id=job_id,
            prompt=prompt,
            status=status,
            charged=charged,
            error=error,
            asked=asked.get("count", 1),
            images=json.loads(result)["images"] if result and status == "done" else 0,
            price=hold // asked.get("count", 1),
            movements=Counter(kind for _, kind in kinds[job_id]),
            spent=spent[job_id],
            held=held[job_id],
        )
    log: dict[str, list[LogRow]] = defaultdict(list)
    for job_id, provider, state, billed, task_id, reason in tasks:
        billed_flag = None if billed is None else bool(billed)
        log[prompt_of[job_id]].append(LogRow(provider, state, billed_flag, task_id, reason))
    made: dict[str, list[FakeTask]] = defaultdict(list)
    strays = []
    for name, server in providers.items():
        for record in server.created_tasks():
            task = FakeTask(name, record)
            if record.prompt in jobs:
                made[record.prompt].append(task)
            else:
                strays.append(task)
    return Audit(jobs, dict(log), dict(made), problems, strays)
