"""Status lines and the result embed say what members need, and nothing that pings."""

from __future__ import annotations

from bot.images import Upload
from bot.jobs import Job, ResultSummary
from bot.models import GenerationRequest, JobStatus, Timings
from bot.pipeline.estimates import Estimate
from bot.safety import DeliveryPlan, PostedImage
from cogs import render


def job(**changes: object) -> Job:
    base = Job(
        id=7,
        guild_id=1,
        user_id=2,
        channel_id=3,
        status=JobStatus.QUEUED,
        request=GenerationRequest(prompt="a cat @everyone", aspect_ratio="16:9", seed=5),
        hold=6,
        created_at=0.0,
        updated_at=0.0,
        unit_price=6,
    )
    for name, value in changes.items():
        setattr(base, name, value)
    return base


def test_queued_text_gives_position_and_wait() -> None:
    assert "Next in line" in render.queued_text(job(), Estimate(0, 0.0))
    text = render.queued_text(job(), Estimate(3, 42.0))
    assert "3 ahead of you" in text
    assert "about 40 s" in text
    assert "> a cat \\@everyone" in text, "shown to others: @everyone escaped"
    assert "Waiting" in render.queued_text(job(), None)


def test_generating_text_changes_only_every_five_seconds() -> None:
    texts = {render.generating_text(job(), t) for t in (5.0, 6.0, 9.9)}
    assert len(texts) == 1
    assert render.generating_text(job(), 10.0) not in texts


def test_ended_text_says_why_and_that_nothing_was_charged() -> None:
    text = render.ended_text(job(status=JobStatus.MODERATED, error="Refused by the filter."))
    assert text.startswith("🛡️ Refused by the filter. Nothing was charged.")


def test_result_embed_fields() -> None:
    done = job(
        status=JobStatus.DONE,
        result=ResultSummary(
            provider="fal",
            provider_job_id="r1",
            seed=99,
            images=2,
            nsfw=(False, True),
            timings=Timings(),
            notes=("safety tolerance 0 sent as 1 (fal accepts 1–6)",),
        ),
    )
    plan = DeliveryPlan(
        post=(PostedImage(0, False), PostedImage(1, True)),
        withheld=(),
        charged_images=2,
        notice="1 image was flagged as NSFW by the provider and is shown as a spoiler.",
    )
    uploads = [
        Upload(b"x", "image/jpeg", 16, 9),
        Upload(b"y", "image/jpeg", 16, 9, reencoded="re-encoded as JPEG (quality 85)"),
    ]
    embed = render.result_embed(done, uploads, plan, provider_label="fal.ai", seconds=7.25)
    fields = {f.name: f.value for f in embed.fields}
    assert fields == {
        "Seed": "99",
        "Aspect": "16:9",
        "Provider": "fal.ai",
        "Credits": "12",
        "Time": "7.2 s",
    }
    assert embed.description == "a cat \\@everyone"
    footer = embed.footer.text or ""
    assert "spoiler" in footer
    assert "image 2 re-encoded as JPEG (quality 85)" in footer
    assert "sent as 1" in footer
