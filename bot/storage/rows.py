"""Jobs as both engines store them: the columns, and a row turned back into a ``Job``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from bot.handles import JobHandle
from bot.jobs import Job, ResultSummary
from bot.models import GenerationRequest, JobStatus

JOB_COLUMNS = (
    "id, guild_id, user_id, channel_id, age_restricted, status, request, hold, provider, "
    "unit_price, handle, result, error, charged, context, not_before, created_at, updated_at, "
    "started_at, finished_at"
)
UPDATABLE = frozenset(
    {
        "provider",
        "unit_price",
        "handle",
        "result",
        "error",
        "charged",
        "context",
        "not_before",
        "started_at",
        "finished_at",
    }
)


def job_from_row(row: Sequence[Any]) -> Job:
    """A job from its row (columns in ``JOB_COLUMNS`` order)."""
    (
        id_,
        guild,
        user,
        channel,
        age_restricted,
        status,
        request,
        hold,
        provider,
        price,
        handle,
        result,
        error,
        charged,
        context,
        not_before,
        created,
        updated,
        started,
        finished,
    ) = row
    return Job(
        id=id_,
        guild_id=guild,
        user_id=user,
        channel_id=channel,
        age_restricted=bool(age_restricted),
        status=JobStatus(status),
        request=GenerationRequest.from_json(request),
        hold=hold,
        provider=provider,
        unit_price=price,
        handle=JobHandle.model_validate_json(handle) if handle else None,
        result=ResultSummary.model_validate_json(result) if result else None,
        error=error,
        charged=charged,
        context=json.loads(context),
        not_before=not_before,
        created_at=created,
        updated_at=updated,
        started_at=started,
        finished_at=finished,
    )


def encode_field(name: str, value: Any) -> Any:
    """A job field as its column stores it (JSON text for models and the context)."""
    if name in ("handle", "result") and value is not None:
        return value.model_dump_json()
    if name == "context":
        return json.dumps(value, separators=(",", ":"))
    return value
