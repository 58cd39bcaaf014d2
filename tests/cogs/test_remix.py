"""The remix loop: 🖋 Edit's modal, Vary (Subtle) and (Strong), all after a restart too."""

from __future__ import annotations

from tests.cogs.conftest import ALICE, BOB, Rig, RigFactory
from tests.fakes.discord import FakeInteraction, FakeMessage
from tests.fakes.discord.modals import prefilled


def button(message: FakeMessage, prefix: str) -> str:
    return next(i for i in message.custom_ids() if i.startswith(prefix))


def sent(rig: Rig) -> list[dict]:  # type: ignore[type-arg]
    return [r.body for r in rig.providers["fal"].requests if r.method == "POST"]


async def open_edit(rig: Rig, result: FakeMessage, user: int) -> FakeInteraction:
    opened = await rig.fake.click(result, button(result, "imagine:edit:"), user_id=user)
    delay = await opened.acknowledged()
    assert delay < 3.0, "the modal opens within Discord's 3 s"
    return opened


async def test_edit_opens_a_prefilled_modal_and_its_submission_is_a_new_job_paid_by_the_submitter(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig("fal")
    result = await rig.outcome(await rig.imagine(prompt="a red fox", aspect="16:9", seed=11))
    opened = await open_edit(rig, result, BOB)
    assert opened.response_type == 9
    assert opened.modal is not None
    assert prefilled(opened.modal) == {
        "prompt": "a red fox",
        "aspect": ["16:9"],
        "raw": ["off"],
        "seed": "11",
    }, "no reference: no strength to edit"

    submitted = await rig.fake.submit_modal(
        opened, {"prompt": "a blue fox", "aspect": "9:16", "raw": "on"}
    )
    assert await submitted.acknowledged() < 3.0
    remixed = await rig.outcome(submitted)
    assert remixed.embeds[0]["description"] == "a blue fox"
    body = sent(rig)[-1]
    assert (body["prompt"], body["aspect_ratio"], body["raw"], body["seed"]) == (
        "a blue fox",
        "9:16",
        True,
        11,
    )
    assert await rig.balance(BOB) == 54, "whoever submits pays"
    assert await rig.balance(ALICE) == 54


async def test_edit_offers_the_reference_strength_when_there_is_a_reference(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig("fal")
    result = await rig.outcome(await rig.imagine())
    varied = await rig.outcome(await _click(rig, result, button(result, "imagine:strong:"), ALICE))
    opened = await open_edit(rig, varied, ALICE)
    assert opened.modal is not None
    assert prefilled(opened.modal)["strength"] == "0.4"
    again = await rig.fake.submit_modal(opened, {"strength": "0.65", "seed": ""})
    await again.acknowledged()
    await rig.outcome(again)
    body = sent(rig)[-1]
    assert body["image_prompt_strength"] == 0.65
    assert "seed" not in body, "an emptied seed asks for a new one"


async def test_a_bad_value_in_the_modal_is_refused_and_costs_nothing(make_rig: RigFactory) -> None:
    rig = await make_rig("fal")
    result = await rig.outcome(await rig.imagine())
    opened = await open_edit(rig, result, BOB)
    refused = await rig.fake.submit_modal(opened, {"seed": "lots"})
    await refused.acknowledged()
    reply = await rig.fake.wait_for(lambda m: m.ephemeral and "`seed`" in m.content)
    assert "Allowed" in reply.content
    assert await rig.balance(BOB) == 60


async def _click(rig: Rig, message: FakeMessage, custom_id: str, user: int) -> FakeInteraction:
    interaction = await rig.fake.click(message, custom_id, user_id=user)
    await interaction.acknowledged()
    return interaction


async def test_vary_subtle_and_strong_send_the_operators_strengths(make_rig: RigFactory) -> None:
    rig = await make_rig("fal", vary_subtle_strength=0.9, vary_strong_strength=0.3)
    result = await rig.outcome(await rig.imagine(count=2))
    ids = result.custom_ids()
    per_image = [i.split(":") for i in ids if len(i.split(":")) == 4]
    assert [(p[1], p[3]) for p in per_image] == [
        ("subtle", "0"),
        ("strong", "0"),
        ("subtle", "1"),
        ("strong", "1"),
    ]
    await rig.outcome(await _click(rig, result, button(result, "imagine:subtle:"), BOB))
    subtle = sent(rig)[-1]
    assert (subtle["image_prompt_strength"], subtle["image_url"]) == (
        0.9,
        result.attachments[0].url,
    )
    strong_second = next(i for i in ids if i.startswith("imagine:strong:") and i.endswith(":1"))
    await rig.outcome(await _click(rig, result, strong_second, BOB))
    strong = sent(rig)[-1]
    assert (strong["image_prompt_strength"], strong["image_url"]) == (
        0.3,
        result.attachments[1].url,
    )


async def test_edit_and_vary_work_after_a_restart_and_so_does_an_open_modal(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig("fal")
    result = await rig.outcome(await rig.imagine(prompt="a heron"))
    opened = await open_edit(rig, result, ALICE)
    await rig.restart()
    submitted = await rig.fake.submit_modal(opened, {"prompt": "a heron at night"})
    await submitted.acknowledged()
    assert (await rig.outcome(submitted)).embeds[0]["description"] == "a heron at night"
    reopened = await open_edit(rig, result, BOB)
    assert reopened.modal is not None
    for kind in ("subtle", "strong"):
        varied = await rig.outcome(
            await _click(rig, result, button(result, f"imagine:{kind}:"), BOB)
        )
        assert len(varied.attachments) == 1
